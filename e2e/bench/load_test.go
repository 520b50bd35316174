package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
)

// atOnce is how many incidents BenchmarkResolveAtOnce resolves together.
const atOnce = 200

// BenchmarkResolveAtOnce resolves 200 SEV-1 and SEV-2 incidents at once
// (one webhook each, spread over the replicas) with both APIs at 100 ms
// and PagerDuty limited to 960 requests a minute, and measures the time
// from the first webhook to the last post-mortem done (its link-back note
// on PagerDuty, the workflow's last step; every epic and its follow-ups
// are checked). Baselines, same run: the ideal implied by the requests
// counted and the pacing (target: within 1.2×), and, on 3 replicas, a
// plain Go loop sending as many PagerDuty requests through the same proxy
// at the same pace. It also reports the requests per incident by step and
// the replicas' memory at rest and at peak (target under 60 MB).
func BenchmarkResolveAtOnce(b *testing.B) {
	for _, n := range []int{3, 1} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) { resolveAtOnce(b, n) })
	}
}

func resolveAtOnce(b *testing.B, replicas int) {
	w := newWorld(b, replicas)
	ctx := context.Background()

	// Memory at rest (started, ready, idle 5 s): the baseline of the peak
	// under the load.
	time.Sleep(5 * time.Second)
	rest := make([]e2ekit.Mem, replicas)
	for i := range replicas {
		m, err := w.rs.Memory(i)
		if err != nil {
			b.Fatal(err)
		}
		rest[i] = m
	}

	ids := make([]string, atOnce)
	resolvers := make([]string, atOnce)
	seqs := make([]int, atOnce)
	for i := range atOnce {
		ids[i], resolvers[i] = w.incident()
		seqs[i] = w.seq
	}
	hooks := make([]func() e2ekit.Delivery, atOnce)
	for i := range atOnce {
		wh := w.webhook(ids[i], resolvers[i])
		hooks[i] = func() e2ekit.Delivery { return w.snd.Deliver(ctx, ids[i], wh, i%replicas) }
	}
	rtt := w.roundTrip(ids[0], 10) // the proxy's round trip, at rest
	before, tooManyBefore := w.apiRequests()
	w.sims.PDProxy.ResetStats()
	w.sims.JiraProxy.ResetStats()

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range atOnce {
		wg.Go(func() {
			if d := hooks[i](); d.Acked.IsZero() || d.Status != "queued" {
				b.Errorf("webhook for %s: %+v", ids[i], d)
			}
		})
	}
	wg.Wait()
	acked := time.Since(start)

	done := map[string]time.Time{}
	deadline := time.Now().Add(8 * time.Minute)
	for len(done) < atOnce {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d post-mortems done after 8 minutes\n%s", len(done), atOnce, tail(w.rs.Logs(0), 40))
		}
		time.Sleep(250 * time.Millisecond)
		epics := w.epics()
		for _, id := range ids {
			if _, ok := done[id]; ok {
				continue
			}
			if e, ok := epics[id]; ok {
				if at, ok := w.linkBack(id, e.Key); ok {
					done[id] = at
				}
			}
		}
	}
	var last time.Time
	for _, at := range done {
		if at.After(last) {
			last = at
		}
	}
	elapsed := last.Sub(start)
	b.StopTimer()

	// Every post-mortem is whole: one epic each, its follow-ups.
	epics, children := w.epics(), w.children()
	for i, id := range ids {
		if got, want := children[epics[id].Key], expectedFollowups(seqs[i]); got != want {
			b.Errorf("%s: %d follow-ups, want %d", id, got, want)
		}
	}
	if n := len(epics); n != atOnce {
		b.Errorf("%d epics, want %d", n, atOnce)
	}

	peak := make([]e2ekit.Mem, replicas)
	for i := range replicas {
		m, err := w.rs.Memory(i)
		if err != nil {
			b.Fatal(err)
		}
		peak[i] = m
	}
	after, tooManyAfter := w.apiRequests()
	used := after.Minus(before)
	tooMany := tooManyAfter - tooManyBefore
	pdStats, jiraStats := w.sims.PDProxy.Stats(), w.sims.JiraProxy.Stats()
	rpm429 := pdStats.Injected[e2ekit.InjectedRPMLimit]
	pdOK := pdStats.Requests - rpm429

	// The ideal, from the requests counted: PagerDuty's at aftermath's
	// pace (900 a minute, burst 10, shared by every replica) plus the last
	// one's round trip; Jira's the same way (its pace is shared too); one
	// incident's requests one after the other.
	pace := float64(outboundPerMinute) / 60
	idealPD := time.Duration(float64(max(0, pdOK-outboundBurst))/pace*float64(time.Second)) + rtt
	idealJira := time.Duration(float64(max(0, jiraStats.Requests-outboundBurst))/pace*float64(time.Second)) + rtt
	perIncident := float64(pdOK+jiraStats.Requests) / atOnce
	idealPath := time.Duration(perIncident * float64(rtt))
	ideal := max(idealPD, idealJira, idealPath)
	ratio := float64(elapsed) / float64(ideal)

	fmt.Printf("\n### %d incidents resolved at once, %d replica(s), APIs at %s, PagerDuty limited to %d/min\n\n", atOnce, replicas, apiLatency, pdPerMinute)
	fmt.Printf("| | time |\n| --- | ---: |\n")
	fmt.Printf("| first webhook → all %d webhooks acknowledged | %s |\n", atOnce, acked.Round(time.Millisecond))
	fmt.Printf("| **first webhook → last post-mortem done** | **%s** |\n", elapsed.Round(time.Millisecond))
	fmt.Printf("| ideal, PagerDuty: %d requests answered at %d/min, burst %d, + %s | %s |\n", pdOK, outboundPerMinute, outboundBurst, ms(rtt), idealPD.Round(time.Millisecond))
	fmt.Printf("| ideal, Jira: %d requests at %d/min | %s |\n", jiraStats.Requests, outboundPerMinute, idealJira.Round(time.Millisecond))
	fmt.Printf("| ideal, one incident's %.1f requests in a row × %s | %s |\n", perIncident, ms(rtt), idealPath.Round(time.Millisecond))
	fmt.Printf("\n**ratio actual/ideal %.3f** (target ≤ 1.2: %s)\n", ratio, verdict(ratio <= 1.2))
	at960 := time.Duration(float64(pdOK) / (float64(pdPerMinute) / 60) * float64(time.Second))
	fmt.Printf("(against PagerDuty's own limit instead of aftermath's pace, %d requests at %d/min take %s: ratio %.3f)\n",
		pdOK, pdPerMinute, at960.Round(time.Millisecond), float64(elapsed)/float64(at960))
	fmt.Printf("PagerDuty: %d requests reached the proxy, %d answered 429 over %d/min (aftermath counted %d 429s)\n", pdStats.Requests, rpm429, pdPerMinute, tooMany)
	b.ReportMetric(elapsed.Seconds(), "s-all-done")
	b.ReportMetric(ideal.Seconds(), "s-ideal")
	b.ReportMetric(ratio, "actual/ideal")
	b.ReportMetric(float64(rpm429), "pd-429")

	if replicas == 3 {
		loop, loop429 := pacedLoop(w, ids, pdOK)
		fmt.Printf("baseline, same run: a Go loop sent %d GETs through the same proxy at %d/min (burst %d) in %s (%d answered 429): **actual/loop %.3f**, loop/ideal %.3f\n",
			pdOK, outboundPerMinute, outboundBurst, loop.Round(time.Millisecond), loop429, float64(elapsed)/float64(loop), float64(loop)/float64(idealPD))
		b.ReportMetric(float64(elapsed)/float64(loop), "actual/loop")
	}

	fmt.Printf("\n#### API requests per incident by step (%d incidents, %d replica(s))\n\n%s", atOnce, replicas, requestTable(used, atOnce))

	fmt.Printf("\n#### Memory (%d replica(s))\n\n| replica | RSS at rest | peak RSS (VmHWM) after the load | RSS after the load |\n| --- | ---: | ---: | ---: |\n", replicas)
	var maxPeak, maxRest int64
	for i := range replicas {
		fmt.Printf("| %d | %.1f MB | %.1f MB | %.1f MB |\n", i, mb(rest[i].RSS), mb(peak[i].Peak), mb(peak[i].RSS))
		maxPeak, maxRest = max(maxPeak, peak[i].Peak), max(maxRest, rest[i].RSS)
	}
	fmt.Printf("\nhighest peak %.1f MB, %.2f× the highest RSS at rest; target < 60 MB: %s\n", mb(maxPeak), float64(maxPeak)/float64(maxRest), verdict(maxPeak < 60e6))
	b.ReportMetric(mb(maxPeak), "peak-MB")
	b.ReportMetric(mb(maxRest), "rest-MB")
	b.ReportMetric(float64(maxPeak)/float64(maxRest), "peak/rest")
}

// pacedLoop is the throughput baseline: n GETs of the incidents through
// the PagerDuty proxy (its per-minute window cleared, same latency and
// limit), started at aftermath's pace, each on its own goroutine. It
// returns the time until the last answer and the 429s.
func pacedLoop(w *world, ids []string, n int) (time.Duration, int) {
	p := w.sims.PDProxy
	p.Reset()
	p.SetLatency(apiLatency)
	p.SetRateLimit(pdPerMinute)
	lim := rate.NewLimiter(rate.Limit(float64(outboundPerMinute)/60), outboundBurst)
	var mu sync.Mutex
	tooMany := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if err := lim.Wait(context.Background()); err != nil {
			w.b.Fatal(err)
		}
		wg.Go(func() {
			switch code := w.pdGet("/incidents/" + ids[i%len(ids)]); code {
			case http.StatusOK:
			case http.StatusTooManyRequests:
				mu.Lock()
				defer mu.Unlock()
				tooMany++
			default:
				w.b.Errorf("paced loop: GET answered %d", code)
			}
		})
	}
	wg.Wait()
	return time.Since(start), tooMany
}
