package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

func printHeader(w io.Writer, st *state) {
	m, c := st.machine, st.cfg
	fmt.Fprintln(w, "== bench-ingest: aftermath webhook ingest against a bare Echo baseline, same run ==")
	fmt.Fprintf(w, "command:  %s\n", m.command)
	fmt.Fprintf(w, "settings: -conns %d -duration %s -warmup %s -rate %.0f -max-rate-cap %.0f -drain %s -rounds %d\n",
		c.conns, c.duration, c.warmup, c.rate, c.rateCap, c.drain, c.rounds)
	if c.together {
		fmt.Fprintln(w, "roles:    -one-process: ingest and the queue worker in one aftermath process (the server's CPU includes the worker's)")
	} else {
		fmt.Fprintln(w, "roles:    aftermath serve --roles ingest (measured) and a second process, aftermath serve --roles worker, on the same queue")
		fmt.Fprintln(w, "          (the worker is stopped while the baseline runs, so that its backlog never takes the baseline's CPU)")
		if c.pdsim {
			fmt.Fprintln(w, "          the worker works against a PagerDuty simulator in bench-ingest, paced by PagerDuty's rate limit as in production")
		} else {
			fmt.Fprintln(w, "          -worker-pagerduty=false: the worker has no PAGERDUTY_API_TOKEN and parks every event in the dead-letter stream at full speed")
		}
	}
	if c.pause {
		fmt.Fprintln(w, "DIAGNOSTIC RUN: -pause-worker: the worker is stopped while aftermath is measured too, and drains the queue after each phase")
	}
	if c.profile != "" {
		fmt.Fprintf(w, "profile:  aftermath's CPU and allocation profiles during its measured phases, into %s\n", c.profile)
	}
	if c.serveArg != "" {
		fmt.Fprintf(w, "DIAGNOSTIC RUN: aftermath serve %s (not the production defaults)\n", c.serveArg)
	}
	fmt.Fprintf(w, "machine:  nproc %d, %s, %s RAM, %s\n", m.nproc, m.cpu, m.memory, m.kernel)
	fmt.Fprintf(w, "go:       %s\n", m.goVer)
	fmt.Fprintf(w, "date:     %s\n", m.date)
}

func (st *state) find(target, mode string) *result {
	for _, r := range st.results {
		if r.target == target && r.mode == mode {
			return r
		}
	}
	return nil
}

// maxPair is one max-rate round: the baseline's phase and aftermath's.
type maxPair struct{ base, aft *result }

// maxPairs returns the max-rate rounds in which both servers ran and the
// baseline answered (without it a round gives no ratio at all).
func (st *state) maxPairs() []maxPair {
	var out []maxPair
	for _, a := range st.results {
		if a.target != "aftermath" || a.mode != "max-rate" {
			continue
		}
		for _, b := range st.results {
			if b.target == "baseline" && b.mode == "max-rate" && b.round == a.round && b.rec.ok > 0 && b.throughput() > 0 && b.cpu.server > 0 {
				out = append(out, maxPair{b, a})
				break
			}
		}
	}
	return out
}

// cpuRatioOf is a round's CPU per accepted webhook, aftermath's over the
// baseline's: +Inf when aftermath accepted none.
func cpuRatioOf(p maxPair) float64 {
	a := perWebhook(p.aft, p.aft.cpu.server)
	if a == 0 {
		return math.Inf(1)
	}
	return a / perWebhook(p.base, p.base.cpu.server)
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func mb(b int64) string {
	return fmt.Sprintf("%.1f MB (%.1f MiB)", float64(b)/1e6, float64(b)/(1<<20))
}

// report prints the results and the verdicts; it returns true when a target
// was missed or a request failed.
func report(w io.Writer, st *state) bool {
	c := st.cfg
	fmt.Fprintln(w, "== results ==")
	fmt.Fprintf(w, "tree:     %s (git describe --tags --always --dirty)\n", st.machine.tree)
	fmt.Fprintf(w, "redis:    %s, key prefix %s\n", st.machine.redis, st.prefix)
	fmt.Fprintf(w, "bodies:   %d pre-signed; aftermath got %d requests, every one a new event.id and X-Webhook-Id", st.pregen, st.sentAft)
	if st.lazyAft > 0 {
		fmt.Fprintf(w, "; %d of them were signed on the fly (raise -max-rate-cap)", st.lazyAft)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "%-22s %-10s %9s %7s %10s %10s %10s %10s %10s\n", "mode", "server", "requests", "errors", "req/s", "p50", "p99", "p99.9", "max")
	for _, r := range st.results {
		mode := modeLabel(r, c)
		worst := time.Duration(0)
		if n := len(r.rec.lat); n > 0 {
			worst = r.rec.lat[n-1]
		}
		fmt.Fprintf(w, "%-22s %-10s %9d %7d %10.0f %10s %10s %10s %10s\n", mode, r.target, r.requests(), r.rec.bad,
			r.throughput(), ms(r.pct(50)), ms(r.pct(99)), ms(r.pct(99.9)), ms(worst))
	}
	fmt.Fprintln(w, "(latency: max rate from send to end of response; fixed rate from the scheduled send time)")

	fmt.Fprintf(w, "\n%-22s %-10s %24s %24s %24s %24s %11s %11s %11s\n", "CPU during the phase", "server", "server process", "aftermath worker", "redis-server", "bench-ingest", "irq+softirq", "other procs", "steal")
	for _, r := range st.results {
		mode := modeLabel(r, c)
		workerCell := "-"
		if r.target == "aftermath" && !c.together {
			workerCell = cpuCell(r, r.cpu.worker)
		}
		fmt.Fprintf(w, "%-22s %-10s %24s %24s %24s %24s %11s %11s %11s\n", mode, r.target, cpuCell(r, r.cpu.server), workerCell, cpuCell(r, r.cpu.redis), cpuCell(r, r.cpu.generator),
			cores(r, r.cpu.irq), cores(r, r.cpu.others()), cores(r, r.cpu.steal))
	}
	together := "aftermath's server process is ingest alone; its queue worker runs as a second process (column aftermath worker)"
	if c.together {
		together = "aftermath's server process includes its queue worker (-one-process)"
	}
	fmt.Fprintf(w, "(cores = CPU seconds / wall seconds, of %d; us/req = CPU per answered request. %s;\n"+
		" redis-server's includes any other client of that Redis; irq+softirq is mostly loopback TCP; other procs = everything else on the machine)\n", st.machine.nproc, together)
	fmt.Fprintf(w, "load average: %s at start, %s at the end\n", st.loadStart, st.loadEnd)

	anyErrors := false
	for _, r := range st.results {
		if r.rec.bad > 0 {
			anyErrors = true
			fmt.Fprintf(w, "errors, %s %s:\n", r.target, r.mode)
			for _, l := range errorLines(r) {
				fmt.Fprintf(w, "  %s\n", l)
			}
		}
	}

	pairs := st.maxPairs()
	bFix, aFix := st.find("baseline", "fixed-rate"), st.find("aftermath", "fixed-rate")
	fmt.Fprintln(w)
	// Each max-rate ratio is the median of the rounds' ratios, each taken
	// within one round (baseline and aftermath back to back), every one
	// over the same rounds. A round where aftermath accepted nothing counts
	// as the worst CPU ratio there is, never as a free one.
	var tputs, cpus, p99s []float64
	for _, p := range pairs {
		tputs = append(tputs, p.aft.throughput()/p.base.throughput())
		cpus = append(cpus, cpuRatioOf(p))
		p99s = append(p99s, ratio(p.aft.pct(99), p.base.pct(99)))
	}
	tputRatio, cpuRatio := median(tputs), median(cpus)
	roundsNote := ""
	if len(pairs) > 1 {
		roundsNote = fmt.Sprintf(" (median of %d rounds)", len(pairs))
	}
	if len(pairs) > 0 {
		fmt.Fprintf(w, "aftermath/baseline%s: throughput at max rate %.2f; p99 at max rate %.2fx", roundsNote, tputRatio, median(p99s))
	}
	if bFix != nil && aFix != nil {
		fmt.Fprintf(w, "; p99 at %.0f req/s %.2fx", c.rate, ratio(aFix.pct(99), bFix.pct(99)))
	}
	fmt.Fprintln(w)
	for _, r := range []*result{bFix, aFix} {
		if r != nil && len(r.lag) > 0 {
			fmt.Fprintf(w, "fixed-rate generator, %s run: send lag behind schedule p50 %s, p99 %s, max %s; at most %d requests in flight\n",
				r.target, ms(percentile(r.lag, 50)), ms(percentile(r.lag, 99)), ms(r.lag[len(r.lag)-1]), r.inflight)
		}
	}

	if st.rssBeforeSame != nil {
		fmt.Fprintf(w, "peak RSS before the same-load phase: aftermath %s (VmRSS then %s)\n", mb(st.rssBeforeSame["VmHWM"]), mb(st.rssBeforeSame["VmRSS"]))
	}
	fmt.Fprintf(w, "peak RSS (VmHWM, read before SIGTERM): aftermath %s (VmRSS then %s), baseline %s; bench-ingest itself %s",
		mb(st.rssAft["VmHWM"]), mb(st.rssAft["VmRSS"]), mb(st.rssBase["VmHWM"]), mb(st.rssSelf["VmHWM"]))
	if st.rssWork != nil {
		fmt.Fprintf(w, "; aftermath worker %s", mb(st.rssWork["VmHWM"]))
	}
	fmt.Fprintln(w)
	for _, q := range st.queue {
		fmt.Fprintf(w, "queue %s:{queue}:events %s\n", st.prefix, q)
	}
	ls := st.logStats
	var levels []string
	for _, l := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
		if n := ls.levels[l]; n > 0 {
			levels = append(levels, fmt.Sprintf("%s %d", l, n))
		}
	}
	fmt.Fprintf(w, "aftermath log: %d lines, %.1f MB (%s)\n", ls.lines, float64(ls.bytes)/1e6, strings.Join(levels, ", "))
	for _, e := range ls.errors {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if len(st.metrics) > 0 {
		fmt.Fprintf(w, "aftermath counters: %s\n", strings.Join(st.metrics, "; "))
	}
	fmt.Fprintf(w, "cleanup: deleted the run's %d keys (SCAN MATCH %s:* + DEL); nothing else was touched\n", st.keysDeleted, st.prefix)
	for _, n := range st.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}

	for _, t := range st.profTops {
		fmt.Fprintf(w, "\n%s", t)
	}

	// The two lines issue 23 asks for, measured in this run.
	fmt.Fprintln(w)
	met := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	for _, p := range pairs {
		a, b := perWebhook(p.aft, p.aft.cpu.server), perWebhook(p.base, p.base.cpu.server)
		fmt.Fprintf(w, "CPU per webhook, max rate%s: aftermath %.1f µs, bare Echo %.1f µs, ratio %.2f; throughput ratio %.2f",
			roundLabel(p.aft, len(pairs)), a, b, cpuRatioOf(p), p.aft.throughput()/p.base.throughput())
		if !c.together {
			fmt.Fprintf(w, "; with its worker process aftermath's is %.1f µs", perWebhook(p.aft, p.aft.cpu.server+p.aft.cpu.worker))
		}
		fmt.Fprintln(w)
	}
	if len(pairs) > 0 {
		fmt.Fprintf(w, "CPU per webhook: ratio %.2f%s (target <= %.1f: %s)\n", cpuRatio, roundsNote, targetCPURatio, met(cpuRatio <= targetCPURatio))
		fmt.Fprintln(w, "  (server process CPU per accepted webhook at max rate, each round's aftermath against that round's baseline)")
	}
	if bSame, aSame := st.find("baseline", "same-load"), st.find("aftermath", "same-load"); bSame != nil && aSame != nil {
		a, b := perWebhook(aSame, aSame.cpu.server), perWebhook(bSame, bSame.cpu.server)
		worker := "the worker stopped"
		if c.together {
			worker = "the worker running inside aftermath (-one-process)"
		}
		fmt.Fprintf(w, "  at the same load, %.0f req/s (60%% of aftermath's max rate, %s) for both: aftermath %.1f µs, bare Echo %.1f µs, ratio %.2f (for information: the two servers at one rate)\n",
			aSame.offered, worker, a, b, a/b)
	}
	if bAt := st.find("baseline", "at-aftermath-max"); bAt != nil && len(pairs) > 0 {
		var afts []float64
		for _, p := range pairs {
			afts = append(afts, perWebhook(p.aft, p.aft.cpu.server))
		}
		a, b := median(afts), perWebhook(bAt, bAt.cpu.server)
		fmt.Fprintf(w, "  at aftermath's max rate, %.0f req/s: aftermath %.1f µs (median of its rounds), bare Echo at that rate %.1f µs, ratio %.2f (for information: aftermath at its max rate against Echo at the same rate)\n",
			bAt.offered, a, b, a/b)
	}
	if bFix != nil && aFix != nil {
		a, b := perWebhook(aFix, aFix.cpu.server), perWebhook(bFix, bFix.cpu.server)
		fmt.Fprintf(w, "  at %.0f req/s: aftermath %.1f µs, bare Echo %.1f µs, ratio %.2f (for information)\n", c.rate, a, b, a/b)
		fmt.Fprintf(w, "p99 at %.0f/s: aftermath %s, bare Echo %s (target < %s: %s)\n", c.rate, ms(aFix.pct(99)), ms(bFix.pct(99)), targetP99, met(aFix.rec.ok > 0 && aFix.pct(99) < targetP99))
	}
	for _, r := range st.results {
		if r.target == "aftermath" && r.own != nil {
			fmt.Fprintf(w, "  aftermath's own time per queued webhook, %s (its histogram, handler start to answer; the wait before the handler runs is outside it): %s\n", modeLabel(r, c), r.own)
		}
	}

	fmt.Fprintln(w)
	failed := false
	verdict := func(ok bool, format string, args ...any) {
		word := "PASS"
		if !ok {
			word, failed = "FAIL", true
		}
		fmt.Fprintf(w, "%s  %s\n", word, fmt.Sprintf(format, args...))
	}
	if len(pairs) > 0 {
		var each []string
		for _, p := range pairs {
			each = append(each, fmt.Sprintf("%.0f/%.0f req/s", p.aft.throughput(), p.base.throughput()))
		}
		verdict(tputRatio >= targetThroughputRatio, "throughput at max rate >= %.0f%% of baseline: %.1f%%%s (aftermath/baseline: %s)",
			targetThroughputRatio*100, tputRatio*100, roundsNote, strings.Join(each, ", "))
	}
	if aFix != nil {
		p99 := aFix.pct(99)
		verdict(p99 < targetP99 && aFix.rec.ok > 0, "p99 < %s at %.0f req/s: %s (p99.9 %s)", targetP99, c.rate, ms(p99), ms(aFix.pct(99.9)))
	}
	if len(pairs) > 0 {
		verdict(cpuRatio > 0 && cpuRatio <= targetCPURatio, "CPU per webhook <= %.1fx the baseline's at max rate: %.2fx%s", targetCPURatio, cpuRatio, roundsNote)
	}
	hwm := st.rssAft["VmHWM"]
	if st.rssBeforeSame != nil {
		hwm = st.rssBeforeSame["VmHWM"] // the target's phases; the same load is for information
	}
	verdict(hwm > 0 && hwm < targetRSS, "aftermath peak RSS < 60 MB: %s", mb(hwm))
	verdict(!anyErrors, "every request answered 202, no duplicates, no errors")
	return failed
}

func modeLabel(r *result, c config) string {
	switch r.mode {
	case "fixed-rate":
		return fmt.Sprintf("fixed %.0f req/s", r.offered)
	case "same-load":
		return fmt.Sprintf("same load %.0f req/s", r.offered)
	case "at-aftermath-max":
		return fmt.Sprintf("at aft. max %.0f/s", r.offered)
	}
	return fmt.Sprintf("max rate, %d conns", c.conns) + roundLabel(r, c.rounds)
}

// roundLabel names a max-rate round when there is more than one.
func roundLabel(r *result, rounds int) string {
	if rounds < 2 || r.round == 0 {
		return ""
	}
	return fmt.Sprintf(" #%d", r.round)
}

func cpuCell(r *result, d time.Duration) string {
	if r.elapsed <= 0 || r.requests() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f cores %6.1f us/req", d.Seconds()/r.elapsed.Seconds(), float64(d.Microseconds())/float64(r.requests()))
}

// perWebhook is CPU time in µs per accepted webhook (202) of a phase.
func perWebhook(r *result, d time.Duration) float64 {
	if r.rec.ok == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1e3 / float64(r.rec.ok)
}

func cores(r *result, d time.Duration) string {
	if r.elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f cores", d.Seconds()/r.elapsed.Seconds())
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
