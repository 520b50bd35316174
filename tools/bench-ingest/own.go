package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ownMetric is aftermath's histogram of its own time per webhook, from the
// handler reading it to the handler answering it (HTTP parsing, the
// kernel and the scheduler's wait before the handler runs are outside it).
const ownMetric = "aftermath_webhook_ingest_duration_seconds_bucket"

// buckets is a cumulative histogram: upper bound in seconds (+Inf last) to
// the count of observations at or under it.
type buckets map[float64]float64

// scrapeOwn reads aftermath's histogram of queued webhooks from /metrics.
func scrapeOwn(addr string) (buckets, error) {
	body, err := getMetrics(addr)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return parseOwn(body)
}

// parseOwn reads the queued outcome's buckets of ownMetric from the text
// exposition format.
func parseOwn(r io.Reader) (buckets, error) {
	out := buckets{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, ownMetric+"{") || !strings.Contains(line, `outcome="queued"`) {
			continue
		}
		_, rest, _ := strings.Cut(line, `le="`)
		le, rest, ok := strings.Cut(rest, `"`)
		fields := strings.Fields(rest)
		if !ok || len(fields) == 0 {
			return nil, fmt.Errorf("unreadable line %q", line)
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unreadable line %q", line)
		}
		out[bound] = n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s{outcome=\"queued\"} in /metrics", ownMetric)
	}
	return out, sc.Err()
}

// ownLatency is the phase's share of aftermath's histogram: after minus
// before.
type ownLatency struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative counts at each bound
	err    error
}

func ownDelta(before, after buckets) ownLatency {
	var l ownLatency
	for b := range after {
		l.bounds = append(l.bounds, b)
	}
	sort.Float64s(l.bounds)
	for _, b := range l.bounds {
		l.counts = append(l.counts, after[b]-before[b])
	}
	return l
}

func (l ownLatency) total() float64 {
	if len(l.counts) == 0 {
		return 0
	}
	return l.counts[len(l.counts)-1]
}

// within is the share of the phase's webhooks at or under bound (one of
// the histogram's bounds).
func (l ownLatency) within(bound float64) float64 {
	for i, b := range l.bounds {
		if b == bound && l.total() > 0 {
			return l.counts[i] / l.total()
		}
	}
	return math.NaN()
}

// quantileBound is the smallest bucket bound under which at least the
// share q of the webhooks fell: the quantile is at most that.
func (l ownLatency) quantileBound(q float64) float64 {
	for i, b := range l.bounds {
		if l.total() > 0 && l.counts[i] >= q*l.total() {
			return b
		}
	}
	return math.Inf(1)
}

// String prints the phase's own-time line of the report.
func (l ownLatency) String() string {
	if l.err != nil {
		return "unreadable: " + l.err.Error()
	}
	if l.total() == 0 {
		return "no queued webhook observed"
	}
	var parts []string
	for i, b := range l.bounds {
		if math.IsInf(b, 1) || b > 0.01 {
			break
		}
		parts = append(parts, fmt.Sprintf("%.2f%% within %s", 100*l.counts[i]/l.total(), secs(b)))
	}
	return fmt.Sprintf("p99 <= %s (%s; %.0f webhooks)", secs(l.quantileBound(0.99)), strings.Join(parts, ", "), l.total())
}

func secs(s float64) string {
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(s*1000, 'f', -1, 64) + " ms"
}

// ownPhase reads the histogram after a phase and returns the phase's share.
func ownPhase(addr string, before buckets, err error) *ownLatency {
	var after buckets
	if err == nil {
		after, err = scrapeOwn(addr)
	}
	if err != nil {
		return &ownLatency{err: err}
	}
	l := ownDelta(before, after)
	return &l
}
