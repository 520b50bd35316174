package simkit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// faultTable holds the faults injected per route. F is the simulator's
// own fault description; the table only queues and hands them out. Every
// method is safe for concurrent use.
type faultTable[F any] struct {
	sim    string
	routes []string

	mu    sync.Mutex
	queue map[string][]*pendingFault[F]
}

type pendingFault[F any] struct {
	f    F
	left int
}

// newFaultTable returns an empty table for the simulator named sim (for
// messages) that serves routes.
func newFaultTable[F any](sim string, routes []string) *faultTable[F] {
	return &faultTable[F]{sim: sim, routes: routes, queue: map[string][]*pendingFault[F]{}}
}

// inject queues f for the next times requests to route (times <= 0 means
// once); see Server.Inject.
func (t *faultTable[F]) inject(route string, f F, times int) {
	if !slices.Contains(t.routes, route) {
		panic(fmt.Sprintf("%s: Inject: route %q is not simulated (have %s)", t.sim, route, strings.Join(t.routes, ", ")))
	}
	if times <= 0 {
		times = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queue[route] = append(t.queue[route], &pendingFault[F]{f: f, left: times})
}

// take returns the fault for a request to route, using up one of its
// times, or false (and the zero F) when none is queued.
func (t *faultTable[F]) take(route string) (F, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queue[route]
	if len(q) == 0 {
		var zero F
		return zero, false
	}
	p := q[0]
	p.left--
	if p.left == 0 {
		t.queue[route] = q[1:]
	}
	return p.f, true
}

// Plan is what an injected fault does to the request it hits; the zero
// Plan is no fault.
type Plan struct {
	Status     int           // answer this status instead (0 = answer normally, after Latency)
	Latency    time.Duration // delay before answering
	AfterApply bool          // perform the request's effect first, then answer with Status
}

// apply serves a request under p. handle performs the request and returns
// its reply; fault returns the reply for p.Status. With AfterApply the
// request is handled before the latency, otherwise after it and only when
// no Status is set. apply returns false, having answered nothing, when ctx
// ends during the latency.
func apply[R any](ctx context.Context, p Plan, handle, fault func() R) (R, bool) {
	var rep R
	if p.AfterApply {
		rep = handle()
	}
	if p.Latency > 0 {
		t := time.NewTimer(p.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			var zero R
			return zero, false
		}
	}
	switch {
	case p.Status != 0:
		return fault(), true
	case p.AfterApply:
		return rep, true
	default:
		return handle(), true
	}
}
