package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/redistest"
)

func clientFor(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	opts.DialTimeout = 300 * time.Millisecond
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testRedis is the Redis a store test works against: one server, or the
// package's Redis Cluster on the second run (see TestMain).
type testRedis struct {
	Client redis.UniversalClient
	Prefix string
}

// newStore returns a store under a prefix of its own, with the OneSlot hook
// on its client: the test fails if a script or transaction spans slots.
func newStore(t *testing.T) (*Store, *testRedis) {
	t.Helper()
	r := redistest.New(t) // the prefix, and the client on the first run
	tr := &testRedis{Client: r.Client, Prefix: r.Prefix}
	if cluster != nil {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs})
		t.Cleanup(func() { _ = c.Close() })
		tr.Client = c
	}
	watchSlots(t, tr.Client)
	return New(tr.Client, tr.Prefix), tr
}

func delivery(eventID, webhookID, incidentID string) Delivery {
	return Delivery{
		WebhookID: webhookID, EventID: eventID, EventType: "incident.resolved", IncidentID: incidentID,
		OccurredAt: time.Date(2026, 11, 21, 3, 4, 5, 0, time.UTC), ReceivedAt: time.Now(),
		Body: []byte(`{"event":"` + eventID + `"}`),
	}
}

func TestEnqueueDeduplicatesByWebhookIDAndEventID(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()

	first, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1"))
	if err != nil || first.Duplicate || first.ID == "" {
		t.Fatalf("first delivery: %+v %v", first, err)
	}
	cases := []struct {
		name string
		d    Delivery
	}{
		{"same webhook ID and event ID (a retry)", delivery("E1", "W1", "Q1")},
		{"new webhook ID, same event ID (a redelivery)", delivery("E1", "W2", "Q1")},
		{"same webhook ID, other event ID", delivery("E2", "W1", "Q1")},
		{"no webhook ID, same event ID", delivery("E1", "", "Q1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Enqueue(ctx, tc.d)
			if err != nil || !res.Duplicate || res.ID != first.ID {
				t.Fatalf("got %+v %v; want a duplicate of %s", res, err, first.ID)
			}
		})
	}
	if n := r.Client.XLen(ctx, s.streamKey()).Val(); n != 1 {
		t.Fatalf("stream holds %d entries, want 1", n)
	}

	// A genuinely new event is queued.
	if res, err := s.Enqueue(ctx, delivery("E3", "W3", "Q1")); err != nil || res.Duplicate {
		t.Fatalf("new event: %+v %v", res, err)
	}
	// The dedupe keys outlive PagerDuty's 48-hour retry window.
	for _, k := range []string{s.seenEventKey("E1"), s.seenWebhookKey("W1")} {
		ttl := r.Client.TTL(ctx, k).Val()
		if ttl <= 48*time.Hour || ttl > DedupeTTL {
			t.Errorf("TTL of %s = %v, want above 48h and at most %v", k, ttl, DedupeTTL)
		}
	}
}

func TestEnqueueConcurrentIdenticalDeliveriesMakeOneEntry(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	results := make([]EnqueueResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Half are retries (same webhook ID), half redeliveries (new one).
			wid := "W-same"
			if i%2 == 1 {
				wid = fmt.Sprintf("W-%d", i)
			}
			results[i], errs[i] = s.Enqueue(ctx, delivery("E-concurrent", wid, "Q1"))
		}()
	}
	close(start)
	wg.Wait()
	queued := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if !results[i].Duplicate {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("%d deliveries were queued, want exactly 1", queued)
	}
	if got := r.Client.XLen(ctx, s.streamKey()).Val(); got != 1 {
		t.Fatalf("stream holds %d entries, want 1", got)
	}
}

func TestEnqueueWithRedisDownWritesNothing(t *testing.T) {
	srv := redistest.StartServer(t)
	r := redistest.New(t) // only for a unique prefix
	s := New(clientFor(t, srv.URL), r.Prefix)
	ctx := context.Background()

	srv.Stop(t)
	if _, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1")); err == nil {
		t.Fatal("Enqueue with Redis stopped should fail")
	}
	srv.Start(t)
	// Nothing was half-written: the same delivery is new, not a duplicate.
	res, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1"))
	if err != nil || res.Duplicate {
		t.Fatalf("after restart: %+v %v", res, err)
	}
}

// When the append fails inside the script (here: the stream key holds the
// wrong type), no dedupe key is left: PagerDuty's retry is queued, not
// answered "duplicate".
func TestEnqueueFailingAppendLeavesNoDedupeKey(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	if err := r.Client.Set(ctx, s.streamKey(), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1")); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Enqueue onto a non-stream: %v", err)
	}
	for _, k := range []string{s.seenEventKey("E1"), s.seenWebhookKey("W1")} {
		if n := r.Client.Exists(ctx, k).Val(); n != 0 {
			t.Fatalf("dedupe key %s was written by a failed enqueue", k)
		}
	}
	r.Client.Del(ctx, s.streamKey())
	if res, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1")); err != nil || res.Duplicate {
		t.Fatalf("the retry must be queued: %+v %v", res, err)
	}
}

func TestQueueLifecycle(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatalf("EnsureGroup must be idempotent: %v", err)
	}
	want := delivery("E1", "W1", "Q1")
	res, err := s.Enqueue(ctx, want)
	if err != nil {
		t.Fatal(err)
	}

	entries, perrs, err := s.Read(ctx, "c1", 10, 100*time.Millisecond)
	if err != nil || len(entries) != 1 || perrs[0] != nil {
		t.Fatalf("Read: %v %v %v", entries, perrs, err)
	}
	got := entries[0]
	if got.ID != res.ID || got.EventID != "E1" || got.WebhookID != "W1" || got.IncidentID != "Q1" ||
		string(got.Body) != string(want.Body) || !got.OccurredAt.Equal(want.OccurredAt) || !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Fatalf("entry = %+v, want %+v", got, want)
	}
	// Nothing new for another consumer.
	if more, _, err := s.Read(ctx, "c2", 10, 50*time.Millisecond); err != nil || len(more) != 0 {
		t.Fatalf("second read: %v %v", more, err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st != (QueueStats{Length: 1, Pending: 1}) {
		t.Fatalf("stats = %+v %v", st, err)
	}

	// Only the owner can touch; another consumer cannot.
	if err := s.Touch(ctx, "c1", got.ID); err != nil {
		t.Fatalf("Touch by owner: %v", err)
	}
	if err := s.Touch(ctx, "c2", got.ID); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Touch by other: %v, want ErrNotOwner", err)
	}
	// Not idle long enough to be reclaimed.
	if rec, _, _, err := s.Reclaim(ctx, "c2", time.Minute, 10, "0-0"); err != nil || len(rec) != 0 {
		t.Fatalf("Reclaim of a live entry: %v %v", rec, err)
	}

	// Release makes it reclaimable at once and uncounts the attempt.
	if n, _ := s.StartAttempt(ctx, got.ID); n.Attempt != 1 {
		t.Fatalf("attempt = %d", n)
	}
	if err := s.Release(ctx, "c1", got.ID, true); err != nil {
		t.Fatalf("Release: %v", err)
	}
	rec, _, _, err := s.Reclaim(ctx, "c2", time.Minute, 10, "0-0")
	if err != nil || len(rec) != 1 || rec[0].ID != got.ID {
		t.Fatalf("Reclaim after release: %v %v", rec, err)
	}
	if n, _ := s.StartAttempt(ctx, got.ID); n.Attempt != 1 {
		t.Fatalf("attempt after release = %d, want 1 (the released attempt is not counted)", n)
	}
	// The old owner lost it.
	if err := s.Touch(ctx, "c1", got.ID); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Touch by previous owner: %v, want ErrNotOwner", err)
	}

	if err := s.Ack(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Stats(ctx)
	if st != (QueueStats{}) {
		t.Fatalf("stats after ack = %+v, want all zero", st)
	}
	if n := r.Client.HLen(ctx, s.attemptsKey()).Val(); n != 0 {
		t.Fatalf("attempt counters left: %d", n)
	}
}

// Release without uncount keeps the attempt count: only an interrupted
// attempt is taken back.
func TestReleaseKeepsCountUnlessAsked(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	s.Enqueue(ctx, delivery("E1", "W1", "Q1"))
	got, _, _ := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	id := got[0].ID
	for range 3 {
		s.StartAttempt(ctx, id)
	}
	if err := s.Release(ctx, "c1", id, false); err != nil {
		t.Fatal(err)
	}
	s.Reclaim(ctx, "c1", 0, 1, "0-0")
	if n, _ := s.StartAttempt(ctx, id); n.Attempt != 4 {
		t.Fatalf("attempt after a release during backoff = %d, want 4", n)
	}
	if err := s.Release(ctx, "c2", id, true); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release by a non-owner: %v", err)
	}
}

// Reclaim follows the cursor: an abandoned entry behind many live ones is
// found within one pass of the pending list.
func TestReclaimFollowsTheCursor(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		s.Enqueue(ctx, delivery(fmt.Sprintf("E%02d", i), "", "Q1"))
	}
	live, _, _ := s.Read(ctx, "live", 29, 100*time.Millisecond)
	dead, _, _ := s.Read(ctx, "dead", 1, 100*time.Millisecond)
	// The margins are wide: touching 29 entries and paging through the
	// list must finish before a touched entry idles past minIdle again,
	// even on a busy machine.
	const minIdle = time.Second
	time.Sleep(minIdle + 200*time.Millisecond)
	for _, e := range live {
		if err := s.Touch(ctx, "live", e.ID); err != nil {
			t.Fatal(err)
		}
	}
	cursor, calls := "0-0", 0
	var found []Entry
	for {
		got, _, next, err := s.Reclaim(ctx, "rescuer", minIdle, 1, cursor)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, got...)
		calls++
		cursor = next
		if cursor == "0-0" || calls > 20 {
			break
		}
	}
	if len(found) != 1 || found[0].ID != dead[0].ID {
		t.Fatalf("one pass found %v, want only the abandoned entry %s", found, dead[0].ID)
	}
}

func TestRemoveConsumer(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	s.Enqueue(ctx, delivery("E1", "W1", "Q1"))
	s.Read(ctx, "busy", 1, 100*time.Millisecond)
	r.Client.XGroupCreateConsumer(ctx, s.streamKey(), Group, "idle")
	consumers := func() int { return len(r.Client.XInfoConsumers(ctx, s.streamKey(), Group).Val()) }
	if n := consumers(); n != 2 {
		t.Fatalf("%d consumers", n)
	}
	if err := s.RemoveConsumer(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveConsumer(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers left, want only the one holding an entry", n)
	}
	if st, _ := s.Stats(ctx); st.Pending != 1 {
		t.Fatalf("the busy consumer's entry must stay pending: %+v", st)
	}
}

func TestDeadLetter(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1")); err != nil {
		t.Fatal(err)
	}
	entries, _, _ := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	id := entries[0].ID

	if _, err := s.DeadLetter(ctx, "c2", id, "boom", 3); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("dead-letter by non-owner: %v, want ErrNotOwner", err)
	}
	deadID, err := s.DeadLetter(ctx, "c1", id, "boom", 3)
	if err != nil || deadID == "" {
		t.Fatalf("DeadLetter: %q %v", deadID, err)
	}
	st, _ := s.Stats(ctx)
	if st != (QueueStats{Dead: 1}) {
		t.Fatalf("stats = %+v, want only one dead letter", st)
	}
	list, err := s.DeadLetters(ctx, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("DeadLetters: %v %v", list, err)
	}
	d := list[0]
	if d.ID != deadID || d.OriginalID != id || d.EventID != "E1" || d.IncidentID != "Q1" || d.Reason != "boom" || d.Attempts != 3 || d.FailedAt == "" {
		t.Fatalf("dead letter = %+v", d)
	}
}

func TestMalformedEntryIsReportedNotDropped(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Client.XAdd(ctx, &redis.XAddArgs{Stream: s.streamKey(), Values: map[string]any{"event_id": "E"}}).Err(); err != nil {
		t.Fatal(err)
	}
	entries, perrs, err := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	if err != nil || len(entries) != 1 || !errors.Is(perrs[0], ErrMalformedEntry) {
		t.Fatalf("got %v %v %v, want one entry with ErrMalformedEntry", entries, perrs, err)
	}
}

func TestIncidentRecord(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, found, err := s.IncidentRecord(ctx, "QNONE"); err != nil || found {
		t.Fatalf("unknown incident: found=%v err=%v", found, err)
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ev := EventRecord{EventID: "E1", EventType: "incident.resolved", EntryID: "1-0", OccurredAt: t0, ReceivedAt: t0, ProcessedAt: t0}
	// Recording the same event twice keeps one copy.
	for range 2 {
		if err := s.RecordEvent(ctx, "Q1", ev); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		if err := s.RecordAttempt(ctx, "Q1", AttemptRecord{EntryID: "1-0", Attempt: i, Outcome: OutcomeRetry, Error: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordStep(ctx, "Q1", StepRecord{Name: "record_event", Status: StepDone, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	rec, found, err := s.IncidentRecord(ctx, "Q1")
	if err != nil || !found {
		t.Fatalf("found=%v err=%v", found, err)
	}
	if len(rec.Events) != 1 || rec.Events[0].EventID != "E1" || len(rec.Attempts) != 3 || rec.Attempts[2].Attempt != 3 || len(rec.Steps) != 1 {
		t.Fatalf("record = %+v", rec)
	}
}

func TestAttemptHistoryIsBounded(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for i := 1; i <= maxAttemptsKept+20; i++ {
		if err := s.RecordAttempt(ctx, "Q1", AttemptRecord{Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	rec, _, _ := s.IncidentRecord(ctx, "Q1")
	if len(rec.Attempts) != maxAttemptsKept || rec.Attempts[0].Attempt != 21 {
		t.Fatalf("kept %d attempts starting at %d; want the last %d", len(rec.Attempts), rec.Attempts[0].Attempt, maxAttemptsKept)
	}
}

func TestIncidentLock(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	l, err := s.LockIncident(ctx, "Q1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockIncident(ctx, "Q1", time.Second); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	other, err := s.LockIncident(ctx, "Q2", time.Second)
	if err != nil {
		t.Fatalf("another incident's lock must be free: %v", err)
	}
	defer other.Release(ctx)
	if err := l.Refresh(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Refresh(ctx, time.Second); !errors.Is(err, ErrLockLost) {
		t.Fatalf("refresh after release: %v, want ErrLockLost", err)
	}
	l2, err := s.LockIncident(ctx, "Q1", time.Second)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = l2.Release(ctx)
}

func TestKeyPart(t *testing.T) {
	for in, want := range map[string]string{
		"Q2CKYRLH85UNN4":             "Q2CKYRLH85UNN4",
		"01FKZSYE5HCMM576S6JUVIGLQT": "01FKZSYE5HCMM576S6JUVIGLQT",
	} {
		if got := keyPart(in); got != want {
			t.Errorf("keyPart(%q) = %q", in, got)
		}
	}
	for _, in := range []string{"", "a b", "x{y}", "a*", "é", string(make([]byte, 101))} {
		if got := keyPart(in); len(got) != len("sha256-")+32 {
			t.Errorf("keyPart(%q) = %q, want a hash", in, got)
		}
	}
}

func TestStepsKeepIntentAndResult(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if st, err := s.Steps(ctx, "Q1"); err != nil || len(st) != 0 {
		t.Fatalf("steps of an unknown incident = %v %v", st, err)
	}
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if err := s.RecordStep(ctx, "Q1", StepRecord{Name: "link_back", Status: StepStarted, Intent: "add the note", UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStep(ctx, "Q1", StepRecord{Name: "link_back", Status: StepDone, Intent: "add the note", Result: "PNOTE1", UpdatedAt: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Steps(ctx, "Q1")
	if err != nil || len(st) != 1 {
		t.Fatalf("steps = %v %v", st, err)
	}
	if got := st["link_back"]; got.Status != StepDone || got.Intent != "add the note" || got.Result != "PNOTE1" || !got.UpdatedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("step = %+v", got)
	}
	rec, _, err := s.IncidentRecord(ctx, "Q1")
	if err != nil || len(rec.Steps) != 1 || rec.Steps[0].Result != "PNOTE1" {
		t.Fatalf("record = %+v %v", rec, err)
	}
}

// The trace of reads is kept apart from the checkpoints of writes, and the
// record shows both as one list in time order.
func TestTraceIsApartFromSteps(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if err := s.RecordTrace(ctx, "Q1", StepRecord{Name: "severity", Status: StepDone, Detail: "P1 is SEV-1", UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStep(ctx, "Q1", StepRecord{Name: "link_back", Status: StepDone, Result: "PNOTE1", UpdatedAt: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTrace(ctx, "Q1", StepRecord{Name: "owner", Status: StepDone, UpdatedAt: at.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	steps, err := s.Steps(ctx, "Q1")
	if err != nil || len(steps) != 1 || steps["link_back"].Result != "PNOTE1" {
		t.Fatalf("steps = %v %v, want the checkpoint only", steps, err)
	}
	trace, err := s.Trace(ctx, "Q1")
	if err != nil || len(trace) != 2 || trace["severity"].Detail != "P1 is SEV-1" {
		t.Fatalf("trace = %v %v", trace, err)
	}
	rec, found, err := s.IncidentRecord(ctx, "Q1")
	if err != nil || !found {
		t.Fatalf("record: %v %v", found, err)
	}
	var names []string
	for _, st := range rec.Steps {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "severity,link_back,owner" {
		t.Fatalf("record steps = %v, want the trace and the checkpoints in time order", names)
	}
}

// ProbeQueue writes to the queue's hash slot, so it fails where an enqueue
// would, including on a server that answers PING but refuses writes.
func TestProbeQueueFailsWhereAnEnqueueWould(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	if err := s.ProbeQueue(ctx); err != nil {
		t.Fatal(err)
	}
	key := r.Prefix + ":{queue}:ready"
	if redistest.Slot(key) != redistest.Slot(s.streamKey()) {
		t.Fatalf("%s is not in the queue's slot", key)
	}
	if ttl := r.Client.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("%s expires in %s, want within a minute", key, ttl)
	}

	srv := redistest.StartServer(t, "--min-replicas-to-write", "1")
	refusing := New(clientFor(t, srv.URL), r.Prefix)
	if err := refusing.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := refusing.Enqueue(ctx, delivery("E1", "W1", "Q1")); err == nil {
		t.Fatal("enqueue on a server that refuses writes succeeded")
	}
	if err := refusing.ProbeQueue(ctx); err == nil || !strings.Contains(err.Error(), "NOREPLICAS") {
		t.Fatalf("ProbeQueue on a server that refuses writes: %v, want NOREPLICAS", err)
	}
}
