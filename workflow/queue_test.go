package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/store"
)

// The tests that run the workflow through the queue, as production does:
// the queue's own tests are in package queue.

// fast keeps the tests quick: small timeouts, tiny backoff.
func fast(consumer string) queue.Config {
	return queue.Config{
		Consumer: consumer, Concurrency: 2, VisibilityTimeout: 600 * time.Millisecond,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		JobTimeout: 10 * time.Second, LockTTL: 3 * time.Second, ShutdownTimeout: 2 * time.Second,
		ReadBlock: 100 * time.Millisecond,
	}
}

// env is a queue in Redis with the workers a test starts on it.
type env struct {
	t     *testing.T
	r     *redistest.Redis
	store *store.Store
}

func resolved(eventID, incidentID string) store.Delivery {
	body := fmt.Sprintf(`{"event":{"id":%q,"event_type":"incident.resolved","resource_type":"incident","occurred_at":"2026-11-21T10:00:00Z","agent":null,"client":null,"data":{"id":%q,"type":"incident","title":"x","number":1}}}`, eventID, incidentID)
	return store.Delivery{
		EventID: eventID, WebhookID: "W-" + eventID, EventType: "incident.resolved", IncidentID: incidentID,
		OccurredAt: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), ReceivedAt: time.Now(), Body: []byte(body),
	}
}

func (e *env) enqueue(ds ...store.Delivery) []string {
	e.t.Helper()
	var ids []string
	for _, d := range ds {
		res, err := e.store.Enqueue(context.Background(), d)
		if err != nil || res.Duplicate {
			e.t.Fatalf("enqueue %s: %+v %v", d.EventID, res, err)
		}
		ids = append(ids, res.ID)
	}
	return ids
}

// start runs a worker until the test ends or stop is called; stop waits for Run
// to return.
func (e *env) start(cfg queue.Config, proc queue.Processor) (stop func()) {
	e.t.Helper()
	return testutil.Run(e.t, queue.NewWorker(cfg, e.store, proc, slog.New(slog.DiscardHandler), queue.NewMetrics(nil)).Run)
}

func (e *env) stats() store.QueueStats {
	e.t.Helper()
	st, err := e.store.Stats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// record reads the incident's record. The worker writes an attempt's record
// after it acknowledged the entry, so a test that saw the queue drain must
// still wait for the attempt it wants to read.
func (e *env) record(incident string) store.IncidentRecord {
	e.t.Helper()
	rec, _, err := e.store.IncidentRecord(context.Background(), incident)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// TestMain runs the child process of TestResolutionSurvivesSIGKILL: a worker
// running the real workflow.
func TestMain(m *testing.M) {
	if os.Getenv("AFTERMATH_TEST_CHILD") == "resolution-worker" {
		runResolutionChild()
		return
	}
	if os.Getenv("AFTERMATH_TEST_CHILD") == "confluence-worker" {
		runConfluenceChild()
		return
	}
	os.Exit(m.Run())
}
