package rules

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftermath-dev/aftermath/internal/testutil"
)

func writeRules(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestManagerReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, "jira:\n  project: PM\n")
	logs := &testutil.Buffer{}
	m, err := NewManager(path, slog.New(slog.NewJSONHandler(logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	first := m.Current()
	if first.Jira.Project != "PM" || promtest.ToFloat64(m.lastSuccess) != 1 {
		t.Fatal("initial load")
	}

	// A good file swaps in.
	writeRules(t, path, "jira:\n  project: OPS\n")
	if _, err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if m.Current().Jira.Project != "OPS" {
		t.Fatal("good reload did not swap")
	}
	// Work that started before keeps the rules it started with.
	if first.Jira.Project != "PM" {
		t.Fatal("a reload changed rules a reader held")
	}

	// A bad file keeps the old rules, reports every problem with its
	// position, and drops the gauge.
	writeRules(t, path, "jira:\n  project: ops\ntimezone: Mars/Olympus\n")
	_, err = m.Reload()
	var re *Error
	if !errors.As(err, &re) || len(re.Problems) != 2 {
		t.Fatalf("bad reload: %v", err)
	}
	if m.Current().Jira.Project != "OPS" {
		t.Fatal("a bad file replaced the rules")
	}
	if promtest.ToFloat64(m.lastSuccess) != 0 {
		t.Fatal("the success gauge should be 0 after a failed reload")
	}
	for _, want := range []string{path + ":2:12: ", path + ":3:11: unknown time zone"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}

	// A missing file is a failed reload too.
	os.Remove(path)
	if _, err := m.Reload(); err == nil || m.Current().Jira.Project != "OPS" {
		t.Fatalf("missing file: %v", err)
	}

	writeRules(t, path, "jira:\n  project: FIX\n")
	if _, err := m.Reload(); err != nil || promtest.ToFloat64(m.lastSuccess) != 1 || m.Current().Jira.Project != "FIX" {
		t.Fatalf("recovery: %v", err)
	}
}

func TestManagerRefusesToStartOnBadRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, "versoin: 1\n")
	if _, err := NewManager(path, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), path+":1:1: unknown key") {
		t.Fatalf("got %v", err)
	}
	m, err := NewManager("", slog.New(slog.DiscardHandler), nil)
	if err != nil || m.Current().Source() != BuiltinSource {
		t.Fatalf("no path means the built-in rules: %v", err)
	}
}

// Readers never see a torn or nil value while reloads run (go test -race).
func TestManagerConcurrentReadersDuringReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, "jira:\n  project: AAA\n")
	m, err := NewManager(path, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := m.Current()
				p := r.Jira.Project
				if p != "AAA" && p != "BBB" {
					t.Errorf("reader saw project %q", p)
					return
				}
				if s, _, ok := r.SeverityFor("P1"); !ok || s.Name != "SEV-1" {
					t.Error("reader saw incomplete rules")
					return
				}
			}
		}()
	}
	for i := range 50 {
		proj := "AAA"
		if i%2 == 0 {
			proj = "BBB"
		}
		src := "jira:\n  project: " + proj + "\n"
		if i%5 == 0 {
			src = "jira:\n  project: bad-key\n" // failed reloads in between
		}
		writeRules(t, path, src)
		_, _ = m.Reload()
	}
	close(stop)
	wg.Wait()
}
