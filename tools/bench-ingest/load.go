package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server under test.
type target struct {
	name   string
	url    string // the webhook route
	expect int    // the only status code that is not an error
	bodies *bodySource
}

// newTransport is the one transport every request goes through: keep-alive,
// no proxy (traffic stays on 127.0.0.1), enough idle connections per host that
// none is closed and reopened between requests.
func newTransport(conns int) *http.Transport {
	idle := max(1024, 4*conns)
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// outcome of one request.
type outcome struct {
	status int    // 0: no response
	err    error  // transport error
	sample string // start of an unexpected response's body
}

func send(ctx context.Context, client *http.Client, t *target, d delivery) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(d.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header = http.Header{
		"Content-Type":          {"application/json; charset=utf-8"},
		"User-Agent":            {"PagerDuty-Webhook/V3.0"},
		"X-Pagerduty-Signature": {d.signature},
		"X-Webhook-Id":          {d.webhookID},
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{status: resp.StatusCode}
	if resp.StatusCode != t.expect {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		o.sample = strings.TrimSpace(string(b))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return o
}

// recorder collects one goroutine's (or one run's) results.
type recorder struct {
	ok      int
	bad     int
	kinds   map[string]int    // error kind -> count
	samples map[string]string // error kind -> first response body
	lat     []time.Duration   // requests that got a response
}

func newRecorder(capacity int) *recorder {
	return &recorder{kinds: map[string]int{}, samples: map[string]string{}, lat: make([]time.Duration, 0, capacity)}
}

func (r *recorder) add(t *target, o outcome, lat time.Duration) {
	if o.err == nil {
		r.lat = append(r.lat, lat)
	}
	if o.err == nil && o.status == t.expect {
		r.ok++
		return
	}
	r.bad++
	kind := errorKind(o)
	r.kinds[kind]++
	if _, seen := r.samples[kind]; !seen && o.sample != "" {
		r.samples[kind] = o.sample
	}
}

func errorKind(o outcome) string {
	if o.err != nil {
		s := o.err.Error()
		if len(s) > 120 {
			s = s[:120] + "..."
		}
		return "transport error: " + s
	}
	k := fmt.Sprintf("HTTP %d", o.status)
	if o.status == http.StatusOK && strings.Contains(o.sample, `"duplicate"`) {
		k += " duplicate (a bug in bench-ingest: it reused an event)"
	}
	return k
}

func (r *recorder) merge(o *recorder) {
	r.ok += o.ok
	r.bad += o.bad
	for k, v := range o.kinds {
		r.kinds[k] += v
	}
	for k, v := range o.samples {
		if _, seen := r.samples[k]; !seen {
			r.samples[k] = v
		}
	}
	r.lat = append(r.lat, o.lat...)
}

// result is one measured phase.
type result struct {
	target   string
	mode     string
	offered  float64 // requests/s asked for (fixed rate), 0 for max rate
	elapsed  time.Duration
	rec      *recorder
	lag      []time.Duration // fixed rate: actual send time minus scheduled time, sorted
	inflight int             // fixed rate: most requests outstanding at once
	cpu      cpuUse          // CPU time each process used during the phase
	own      *ownLatency     // aftermath: its own histogram's share of the phase
	round    int             // max rate: which round (1 on), 0 for fixed rate
}

func (r *result) requests() int { return r.rec.ok + r.rec.bad }

// throughput counts only answers with the expected status.
func (r *result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.rec.ok) / r.elapsed.Seconds()
}

func (r *result) pct(p float64) time.Duration { return percentile(r.rec.lat, p) }

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// closedLoop runs conns clients, each sending its next request as soon as the
// previous one is answered, for d. Latency is from just before the request is
// sent to the end of its response body.
func closedLoop(ctx context.Context, client *http.Client, t *target, conns int, d time.Duration) *result {
	start := time.Now()
	end := start.Add(d)
	recs := make([]*recorder, conns)
	var wg sync.WaitGroup
	for c := range conns {
		recs[c] = newRecorder(1 << 14)
		wg.Go(func() {
			rec := recs[c]
			for ctx.Err() == nil && time.Now().Before(end) {
				body := t.bodies.get()
				t0 := time.Now()
				o := send(ctx, client, t, body)
				rec.add(t, o, time.Since(t0))
				if o.err != nil {
					time.Sleep(time.Millisecond) // do not spin on a dead server
				}
			}
		})
	}
	wg.Wait()
	res := &result{target: t.name, mode: "max-rate", elapsed: time.Since(start), rec: newRecorder(0)}
	for _, r := range recs {
		res.rec.merge(r)
	}
	slices.Sort(res.rec.lat)
	return res
}

// openLoop sends rate requests a second for d on a fixed schedule, each on its
// own goroutine so that a slow answer never delays the next send. Latency is
// measured from the scheduled send time, so a stall on either side is counted
// in full for every request it delays (no coordinated omission).
func openLoop(ctx context.Context, client *http.Client, t *target, rate float64, d time.Duration) *result {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	type slot struct {
		o         outcome
		lat, lag  time.Duration
		done      time.Time
		completed bool
	}
	slots := make([]slot, n)
	var inflight, peak atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(5 * time.Millisecond)
	sent := 0
	for k := range n {
		sched := start.Add(time.Duration(k) * interval)
		sleepUntil(sched)
		if ctx.Err() != nil {
			break
		}
		body := t.bodies.get()
		sent++
		wg.Go(func() {
			cur := inflight.Add(1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			s := &slots[k]
			s.lag = time.Since(sched)
			s.o = send(ctx, client, t, body)
			s.done = time.Now()
			s.lat = s.done.Sub(sched)
			s.completed = true
			inflight.Add(-1)
		})
	}
	wg.Wait()
	res := &result{target: t.name, mode: "fixed-rate", offered: rate, rec: newRecorder(sent), inflight: int(peak.Load())}
	last := start
	for k := range sent {
		s := &slots[k]
		if !s.completed {
			continue
		}
		res.rec.add(t, s.o, s.lat)
		res.lag = append(res.lag, s.lag)
		if s.done.After(last) {
			last = s.done
		}
	}
	res.elapsed = last.Sub(start)
	slices.Sort(res.rec.lat)
	slices.Sort(res.lag)
	return res
}

// errorLines describes a result's errors, most frequent first.
func errorLines(r *result) []string {
	kinds := make([]string, 0, len(r.rec.kinds))
	for k := range r.rec.kinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return r.rec.kinds[kinds[i]] > r.rec.kinds[kinds[j]] })
	var out []string
	for _, k := range kinds {
		line := fmt.Sprintf("%d x %s", r.rec.kinds[k], k)
		if s := r.rec.samples[k]; s != "" {
			line += ": " + s
		}
		out = append(out, line)
	}
	return out
}
