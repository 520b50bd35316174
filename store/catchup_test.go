package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func missed(incidentID string) Delivery {
	d := delivery(MissedEventID(incidentID), "", incidentID)
	d.EventType = EventResolved
	return d
}

// A missed resolution is queued once between replays and sweeps, and not at
// all when a webhook queued it, its processing recorded it or it is grouped.
func TestEnqueueMissed(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	first, err := s.EnqueueMissed(ctx, missed("QNEW"))
	if err != nil || first.Known != "" || first.ID == "" {
		t.Fatalf("first = %+v, %v", first, err)
	}
	again, err := s.EnqueueMissed(ctx, missed("QNEW"))
	if err != nil || again.Known != KnownQueued || again.ID != first.ID {
		t.Fatalf("again = %+v, %v; want known as queued by %s", again, err, first.ID)
	}

	hook := delivery("EV1", "W1", "QHOOK")
	hook.EventType = EventResolved
	if _, err := s.Enqueue(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if r, err := s.EnqueueMissed(ctx, missed("QHOOK")); err != nil || r.Known != KnownQueued {
		t.Fatalf("after a webhook: %+v, %v", r, err)
	}
	// A triggered event does not make the resolution known.
	trig := delivery("EV2", "W2", "QTRIG")
	trig.EventType = "incident.triggered"
	if _, err := s.Enqueue(ctx, trig); err != nil {
		t.Fatal(err)
	}
	if known, err := s.ResolutionKnown(ctx, "QTRIG"); err != nil || known != "" {
		t.Fatalf("triggered only: known %q, %v", known, err)
	}

	// Processing recorded a resolved event (its dedupe keys long gone).
	if err := s.RecordEvent(ctx, "QREC", EventRecord{EventID: "EV9", EventType: EventResolved}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.EnqueueMissed(ctx, missed("QREC")); err != nil || r.Known != KnownRecorded {
		t.Fatalf("recorded: %+v, %v", r, err)
	}
	// Only a triggered event recorded: the resolution is still unknown.
	if err := s.RecordEvent(ctx, "QTRIG", EventRecord{EventID: "EV2", EventType: "incident.triggered"}); err != nil {
		t.Fatal(err)
	}
	if known, err := s.ResolutionKnown(ctx, "QTRIG"); err != nil || known != "" {
		t.Fatalf("triggered recorded: known %q, %v", known, err)
	}
	if _, err := s.EnqueueMissed(ctx, delivery("other", "", "QX")); err == nil {
		t.Fatal("a delivery with another event ID was accepted")
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Length != 3 { // QNEW, QHOOK, QTRIG
		t.Fatalf("queue length %d, %v; want 3", st.Length, err)
	}
}

// Many replicas racing for one interval: one wins.
func TestClaimSweepOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimSweep(ctx, string(rune('a'+i)), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d replicas claimed the sweep, want 1", won.Load())
	}
}

// The cursor only moves forward, and is absent before the first sweep.
func TestSweepCursor(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, ok, err := s.SweepCursor(ctx); ok || err != nil {
		t.Fatalf("cursor before any sweep: %v %v", ok, err)
	}
	t1 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t1, t1.Add(-time.Hour)} {
		if err := s.AdvanceSweepCursor(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := s.SweepCursor(ctx); !ok || err != nil || !got.Equal(t1) {
		t.Fatalf("cursor %v %v %v, want %v", got, ok, err, t1)
	}
}
