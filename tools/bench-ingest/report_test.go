package main

import (
	"bytes"
	"fmt"
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

// aftermath's own time per webhook comes from its histogram's buckets,
// the phase's share (after minus before): the p99 bound is the first bucket
// holding 99 % of the phase's webhooks.
func TestOwnLatencyFromTheHistogram(t *testing.T) {
	expo := func(counts ...int) string {
		les := []string{"0.0005", "0.001", "0.0025", "0.005", "+Inf"}
		var b strings.Builder
		b.WriteString("# TYPE aftermath_webhook_ingest_duration_seconds histogram\n")
		for i, le := range les {
			fmt.Fprintf(&b, "aftermath_webhook_ingest_duration_seconds_bucket{outcome=\"queued\",le=\"%s\"} %d\n", le, counts[i])
			fmt.Fprintf(&b, "aftermath_webhook_ingest_duration_seconds_bucket{outcome=\"duplicate\",le=\"%s\"} 7\n", le)
		}
		return b.String()
	}
	before, err := parseOwn(strings.NewReader(expo(10, 10, 10, 10, 10)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseOwn(strings.NewReader(expo(910, 995, 1008, 1010, 1010)))
	if err != nil {
		t.Fatal(err)
	}
	l := ownDelta(before, after)
	if l.total() != 1000 || l.quantileBound(0.99) != 0.0025 || l.within(0.001) != 0.985 {
		t.Fatalf("total %v, p99 bound %v, within 1 ms %v", l.total(), l.quantileBound(0.99), l.within(0.001))
	}
	want := "p99 <= 2.5 ms (90.00% within 0.5 ms, 98.50% within 1 ms, 99.80% within 2.5 ms, 100.00% within 5 ms; 1000 webhooks)"
	if got := l.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	st := &state{cfg: config{rate: 1000, conns: 32}, rssAft: map[string]int64{}, rssBase: map[string]int64{}, rssSelf: map[string]int64{}}
	fixed := phase("aftermath", "fixed-rate", 15000, 15*time.Second, 6*time.Second, time.Second, time.Millisecond)
	fixed.offered, fixed.own = 1000, &l
	st.results = []*result{phase("baseline", "fixed-rate", 15000, 15*time.Second, 3*time.Second, 0, time.Millisecond), fixed}
	var out bytes.Buffer
	report(&out, st)
	if line := "aftermath's own time per queued webhook, fixed 1000 req/s"; !strings.Contains(out.String(), line+" (its histogram, handler start to answer; the wait before the handler runs is outside it): "+want) {
		t.Fatalf("report lacks %q:\n%s", line, out.String())
	}
	if _, err := parseOwn(strings.NewReader("other_metric 1\n")); err == nil {
		t.Fatal("a /metrics without the histogram parsed")
	}
}
