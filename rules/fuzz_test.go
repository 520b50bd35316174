package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad: any input loads or fails with positioned problems, without
// panicking, in bounded time.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "../config/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("x: &x [1,2]\ny: &y [*x,*x,*x,*x]\nz: &z [*y,*y,*y,*y]\nw: [*z,*z,*z,*z]\n"))
	// The same expansion under keys the decoder does walk.
	f.Add([]byte("jira:\n  labels: &a [a, b, c, d]\nprocess: &b [*a, *a, *a, *a]\nfollowups:\n  markers: &c [*b, *b, *b, *b]\nholidays:\n  dates: [*c, *c, *c, *c]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		start := time.Now()
		r, err := Load("fuzz.yaml", src)
		if d := time.Since(start); d > 20*time.Second { // runaway work only; see TestLoaderBoundsHostileInput
			t.Fatalf("Load took %v", d)
		}
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || len(re.Problems) == 0 {
				t.Fatalf("error without problems: %T %v", err, err)
			}
			for _, p := range re.Problems {
				if p.Line < 1 || p.Col < 1 || p.Msg == "" || p.File != "fuzz.yaml" {
					t.Fatalf("problem without a position: %+v", p)
				}
			}
			return
		}
		if r.Location() == nil || len(r.Severities) == 0 || r.Summary() == "" {
			t.Fatalf("loaded rules are incomplete")
		}
		for _, s := range r.Severities {
			if _, err := r.MeetingDeadline(s.Name, start); err != nil {
				t.Fatalf("deadline of %s: %v", s.Name, err)
			}
		}
	})
}
