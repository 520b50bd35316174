package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func phase(target, mode string, ok int, elapsed, server, worker time.Duration, lat time.Duration) *result {
	rec := newRecorder(ok)
	rec.ok = ok
	for range ok {
		rec.lat = append(rec.lat, lat)
	}
	return &result{target: target, mode: mode, offered: 1000, elapsed: elapsed, rec: rec, cpu: cpuUse{server: server, worker: worker}}
}

// The report prints issue 23's two lines, with MET or NOT MET against the
// targets, from the server process's CPU per accepted webhook at max rate.
func TestReportPrintsTheIssue23Lines(t *testing.T) {
	for _, tc := range []struct {
		name           string
		aftCPU, aftP99 time.Duration
		want           []string
	}{
		{"met", 15 * time.Second, time.Millisecond, []string{
			"CPU per webhook: aftermath 150.0 µs, bare Echo 100.0 µs, ratio 1.50 (target <= 2.0: MET)",
			"with its worker process aftermath's is 160.0 µs",
			"p99 at 1000/s: aftermath 1.000 ms, bare Echo 0.500 ms (target < 2ms: MET)",
			"PASS  CPU per webhook <= 2.0x the baseline's at max rate: 1.50x",
		}},
		{"not met", 25 * time.Second, 3 * time.Millisecond, []string{
			"CPU per webhook: aftermath 250.0 µs, bare Echo 100.0 µs, ratio 2.50 (target <= 2.0: NOT MET)",
			"p99 at 1000/s: aftermath 3.000 ms, bare Echo 0.500 ms (target < 2ms: NOT MET)",
			"FAIL  CPU per webhook <= 2.0x the baseline's at max rate: 2.50x",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &state{cfg: config{rate: 1000, conns: 32}, rssAft: map[string]int64{}, rssBase: map[string]int64{}, rssSelf: map[string]int64{}}
			st.results = []*result{
				phase("baseline", "fixed-rate", 15000, 15*time.Second, 3*time.Second, 0, 500*time.Microsecond),
				phase("aftermath", "fixed-rate", 15000, 15*time.Second, 6*time.Second, time.Second, tc.aftP99),
				phase("baseline", "max-rate", 150000, 15*time.Second, 15*time.Second, 0, time.Millisecond),
				phase("aftermath", "max-rate", 100000, 15*time.Second, tc.aftCPU, time.Second, time.Millisecond),
			}
			var out bytes.Buffer
			report(&out, st)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
