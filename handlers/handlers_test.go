package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/aftermath-dev/aftermath/store"
)

// The signing secret of the webhook samples (testspecs.Sample), and the
// event ID of incident.resolved.json.
const (
	sampleSecret          = "HvPtlQNKMPpHSSqJpCdndXfo7HnGXa1pnH6w5axpxLFn9aRBNBGh4e8/HlonK5mz"
	resolvedSampleEventID = "01FKZSYE5HCMM576S6JUVIGLQT"
	adminToken            = "admin-token-for-tests-0123456789abcdef"
)

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	store  *store.Store
	redis  *redistest.Redis
	reg    *prometheus.Registry
	client *http.Client
}

type fixtureOpts struct {
	rdb        redis.UniversalClient // default: the test Redis
	adminToken string
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	r := redistest.New(t)
	rdb := o.rdb
	if rdb == nil {
		rdb = r.Client
	}
	st := store.New(rdb, r.Prefix)
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.NewCollector(st))
	e := New(Options{
		Verifier:   webhook.NewVerifier([]string{"some-other-secret", sampleSecret}),
		Queue:      st,
		Records:    st,
		Ready:      st.Ping,
		AdminToken: o.adminToken,
		Registerer: reg,
		Gatherer:   reg,
		Logger:     slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, store: st, redis: r, reg: reg, client: srv.Client()}
}

type answer struct {
	code int
	body map[string]any
	raw  string
}

func (f *fixture) do(method, path string, body []byte, header map[string]string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (f *fixture) post(body []byte, header map[string]string) answer {
	return f.do(http.MethodPost, "/webhooks/pagerduty", body, header)
}

func signed(secret string, body []byte, webhookID string) map[string]string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	h := map[string]string{webhook.SignatureHeader: "v1=" + hex.EncodeToString(m.Sum(nil)), "Content-Type": "application/json"}
	if webhookID != "" {
		h[WebhookIDHeader] = webhookID
	}
	return h
}

// resolvedBody returns a signed-able incident.resolved body with its own event
// ID and incident ID.
func resolvedBody(eventID, incidentID string) []byte {
	return titledBody(eventID, incidentID, "Checkout down")
}

// titledBody is resolvedBody with the incident's title given.
func titledBody(eventID, incidentID, title string) []byte {
	return []byte(fmt.Sprintf(`{"event":{"id":%q,"event_type":"incident.resolved","resource_type":"incident","occurred_at":"2026-11-21T10:00:00.000Z","agent":null,"client":null,"data":{"id":%q,"type":"incident","number":7,"status":"resolved","title":%q,"created_at":"2026-11-21T09:00:00Z","service":{"id":"PSVC001","type":"service_reference"},"assignees":[],"priority":{"id":"P1ID","type":"priority_reference","summary":"P1"}}}}`, eventID, incidentID, title))
}

// streamLen counts queued entries; keyCount counts every key the test wrote.
func (f *fixture) streamLen() int64 {
	f.t.Helper()
	n, err := f.redis.Client.XLen(context.Background(), f.redis.Prefix+":{queue}:events").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) keyCount() int { return len(f.redis.Keys(f.t)) }

func TestWebhookContract(t *testing.T) {
	sample := testspecs.Sample(t, "webhooks/incident.resolved.json")
	ping := testspecs.Sample(t, "webhooks/pagey.ping.json")
	triggered := testspecs.Sample(t, "webhooks/incident.triggered.json")

	t.Run("valid incident.resolved is queued: 202", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		a := f.post(sample, map[string]string{webhook.SignatureHeader: testspecs.Sign(sampleSecret, sample), WebhookIDHeader: "W1"})
		if a.code != http.StatusAccepted || a.body["status"] != "queued" || a.body["event_id"] != resolvedSampleEventID || a.body["incident_id"] != "Q2CKYRLH85UNN4" {
			t.Fatalf("got %d %s", a.code, a.raw)
		}
		if n := f.streamLen(); n != 1 {
			t.Fatalf("stream holds %d entries, want 1", n)
		}
		// What is queued is the body exactly as signed.
		msgs := f.redis.Client.XRange(context.Background(), f.redis.Prefix+":{queue}:events", "-", "+").Val()
		if got := msgs[0].Values["body"]; got != string(sample) {
			t.Fatalf("queued body differs from the received body")
		}
	})

	t.Run("other event types and ping: 200 ignored, nothing stored", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		for name, c := range map[string]struct {
			body   []byte
			header string
		}{
			"ping":      {ping, testspecs.Sign(sampleSecret, ping)},
			"triggered": {triggered, testspecs.Sign(sampleSecret, triggered)},
		} {
			a := f.post(c.body, map[string]string{webhook.SignatureHeader: c.header, WebhookIDHeader: "W-" + name})
			if a.code != http.StatusOK || a.body["status"] != "ignored" || a.body["reason"] == nil {
				t.Fatalf("%s: got %d %s", name, a.code, a.raw)
			}
		}
		if n := f.keyCount(); n != 0 {
			t.Fatalf("ignored events wrote %d keys", n)
		}
	})

	t.Run("same delivery again: 200 duplicate, nothing queued twice", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		hdr := map[string]string{webhook.SignatureHeader: testspecs.Sign(sampleSecret, sample), WebhookIDHeader: "W1"}
		if a := f.post(sample, hdr); a.code != http.StatusAccepted {
			t.Fatalf("first: %d %s", a.code, a.raw)
		}
		keys := f.keyCount()
		if a := f.post(sample, hdr); a.code != http.StatusOK || a.body["status"] != "duplicate" {
			t.Fatalf("retry with the same X-Webhook-Id: %d %s", a.code, a.raw)
		}
		hdr[WebhookIDHeader] = "W2-a-new-delivery"
		if a := f.post(sample, hdr); a.code != http.StatusOK || a.body["status"] != "duplicate" {
			t.Fatalf("redelivery with a new X-Webhook-Id, same event.id: %d %s", a.code, a.raw)
		}
		if n := f.streamLen(); n != 1 {
			t.Fatalf("stream holds %d entries, want 1", n)
		}
		if n := f.keyCount(); n != keys {
			t.Fatalf("duplicates wrote keys: %d before, %d after", keys, n)
		}
	})

	t.Run("missing or wrong signature: 401, nothing stored", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		for name, hdr := range map[string]map[string]string{
			"missing":        {WebhookIDHeader: "W1"},
			"empty":          {webhook.SignatureHeader: "", WebhookIDHeader: "W1"},
			"wrong":          {webhook.SignatureHeader: "v1=" + strings.Repeat("ab", 32), WebhookIDHeader: "W1"},
			"malformed":      {webhook.SignatureHeader: "sha256=abc", WebhookIDHeader: "W1"},
			"other secret":   signed("not-configured", sample, "W1"),
			"tampered body":  {webhook.SignatureHeader: testspecs.Sign(sampleSecret, sample)},
			"signature of v": {webhook.SignatureHeader: "v1=0e83584cbab86f98c51517cf96a70c90e910532d3d2f067d58c753cc8980a05b"},
		} {
			body := sample
			if name == "tampered body" {
				body = bytes.Replace(sample, []byte(`"Test"`), []byte(`"Tset"`), 1)
			}
			a := f.post(body, hdr)
			if a.code != http.StatusUnauthorized || a.body["error"] == nil {
				t.Errorf("%s: got %d %s, want 401", name, a.code, a.raw)
			}
		}
		if n := f.keyCount(); n != 0 {
			t.Fatalf("refused webhooks wrote %d keys", n)
		}
	})

	t.Run("body not a V3 envelope: 400 with a reason", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		for name, c := range map[string]struct{ body, reason string }{
			"not JSON":           {`hello`, "not a JSON object"},
			"no event":           {`{"messages":[]}`, "no event object"},
			"no event id":        {`{"event":{"event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":"Q","type":"incident"}}}`, "event.id is missing"},
			"resolved, no inc.":  {`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"type":"ping"}}}`, "want \"incident\""},
			"trailing garbage":   {string(resolvedBody("E", "Q")) + "x", "unexpected data"},
			"V2 webhook payload": {`{"messages":[{"event":"incident.resolve","incident":{"id":"Q"}}]}`, "no event object"},
		} {
			a := f.post([]byte(c.body), signed(sampleSecret, []byte(c.body), "W-"+name))
			if a.code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(a.body["error"]), c.reason) {
				t.Errorf("%s: got %d %s, want 400 saying %q", name, a.code, a.raw, c.reason)
			}
		}
		a := f.post(nil, map[string]string{webhook.SignatureHeader: testspecs.Sign(sampleSecret, sample)})
		if a.code != http.StatusBadRequest {
			t.Errorf("empty body: got %d %s, want 400", a.code, a.raw)
		}
		if n := f.keyCount(); n != 0 {
			t.Fatalf("refused webhooks wrote %d keys", n)
		}
	})

	t.Run("body over 1 MiB: 413", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		// A valid envelope padded past the limit, correctly signed.
		pad := strings.Repeat("x", DefaultMaxBodyBytes)
		big := []byte(`{"event":{"id":"E-big","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":"Q","type":"incident","title":"` + pad + `"}}}`)
		if a := f.post(big, signed(sampleSecret, big, "W-big")); a.code != http.StatusRequestEntityTooLarge {
			t.Fatalf("with Content-Length: got %d %s", a.code, a.raw)
		}
		// Without Content-Length (chunked), the limit holds while reading.
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/pagerduty", io.MultiReader(bytes.NewReader(big)))
		for k, v := range signed(sampleSecret, big, "W-big2") {
			req.Header.Set(k, v)
		}
		req.ContentLength = -1
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked: got %d", resp.StatusCode)
		}
		// Exactly at the limit is accepted (signature and shape permitting).
		exact := append(resolvedBody("E-exact", "Q"), bytes.Repeat([]byte(" "), 0)...)
		exact = append(exact, bytes.Repeat([]byte(" "), DefaultMaxBodyBytes-len(exact))...)
		if a := f.post(exact, signed(sampleSecret, exact, "W-exact")); a.code != http.StatusAccepted {
			t.Fatalf("a body of exactly 1 MiB: got %d %s", a.code, a.raw)
		}
		if n := f.streamLen(); n != 1 {
			t.Fatalf("stream holds %d entries, want only the one at the limit", n)
		}
	})
}

func TestWebhookRedisUnreachable(t *testing.T) {
	// A port nothing listens on.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	f := newFixture(t, fixtureOpts{rdb: dead})
	body := resolvedBody("E1", "Q1")
	a := f.post(body, signed(sampleSecret, body, "W1"))
	if a.code != http.StatusServiceUnavailable || a.body["error"] == nil {
		t.Fatalf("got %d %s, want 503", a.code, a.raw)
	}
	if a := f.do(http.MethodGet, "/readyz", nil, nil); a.code != http.StatusServiceUnavailable {
		t.Fatalf("readyz: got %d %s, want 503", a.code, a.raw)
	}
	if a := f.do(http.MethodGet, "/healthz", nil, nil); a.code != http.StatusOK {
		t.Fatalf("healthz must not depend on Redis: got %d", a.code)
	}
}

func TestWebhookRedisStoppedThenBack(t *testing.T) {
	srv := redistest.StartServer(t)
	opts, _ := redis.ParseURL(srv.URL)
	opts.MaxRetries = -1
	opts.DialTimeout = 300 * time.Millisecond
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	f := newFixture(t, fixtureOpts{rdb: rdb})
	body := resolvedBody("E1", "Q1")
	hdr := signed(sampleSecret, body, "W1")

	srv.Stop(t)
	if a := f.post(body, hdr); a.code != http.StatusServiceUnavailable {
		t.Fatalf("Redis stopped: got %d %s, want 503", a.code, a.raw)
	}
	if a := f.do(http.MethodGet, "/readyz", nil, nil); a.code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis stopped: %d", a.code)
	}
	srv.Start(t)
	// PagerDuty's retry of the same delivery is queued: nothing was
	// half-written by the failed attempt.
	if a := f.post(body, hdr); a.code != http.StatusAccepted {
		t.Fatalf("after restart: got %d %s, want 202", a.code, a.raw)
	}
	if n := rdb.XLen(context.Background(), f.redis.Prefix+":{queue}:events").Val(); n != 1 {
		t.Fatalf("stream holds %d entries, want 1", n)
	}
	if a := f.do(http.MethodGet, "/readyz", nil, nil); a.code != http.StatusOK {
		t.Fatalf("readyz after restart: %d", a.code)
	}
}

// Redis answering an error (not just being unreachable) is a 503 too, and
// leaves nothing behind.
func TestWebhookRedisErrorAnswers503(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	streamKey := f.redis.Prefix + ":{queue}:events"
	f.redis.Client.Set(ctx, streamKey, "not a stream", 0)
	body := resolvedBody("E1", "Q1")
	hdr := signed(sampleSecret, body, "W1")
	if a := f.post(body, hdr); a.code != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s, want 503", a.code, a.raw)
	}
	if keys := f.redis.Keys(t); len(keys) != 1 || keys[0] != streamKey {
		t.Fatalf("a failed enqueue left keys: %v", keys)
	}
	f.redis.Client.Del(ctx, streamKey)
	if a := f.post(body, hdr); a.code != http.StatusAccepted {
		t.Fatalf("PagerDuty's retry: got %d %s, want 202", a.code, a.raw)
	}
}

func TestWebhookConcurrentIdenticalDeliveries(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	sample := testspecs.Sample(t, "webhooks/incident.resolved.json")
	const n = 200
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/pagerduty", bytes.NewReader(sample))
			req.Header.Set(webhook.SignatureHeader, testspecs.Sign(sampleSecret, sample))
			req.Header.Set(WebhookIDHeader, "W-identical")
			resp, err := f.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusOK] != n-1 {
		t.Fatalf("answers: %v; want one 202 and %d × 200 duplicate", count, n-1)
	}
	if got := f.streamLen(); got != 1 {
		t.Fatalf("stream holds %d entries, want exactly 1", got)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if a := f.do(http.MethodGet, "/healthz", nil, nil); a.code != http.StatusOK || a.body["status"] != "ok" {
		t.Fatalf("healthz: %d %s", a.code, a.raw)
	}
	if a := f.do(http.MethodGet, "/readyz", nil, nil); a.code != http.StatusOK || a.body["status"] != "ready" {
		t.Fatalf("readyz: %d %s", a.code, a.raw)
	}
	body := resolvedBody("E1", "Q1")
	f.post(body, signed(sampleSecret, body, "W1"))
	f.post(body, signed(sampleSecret, body, "W1"))
	f.post(body, nil)

	a := f.do(http.MethodGet, "/metrics", nil, nil)
	if a.code != http.StatusOK {
		t.Fatalf("metrics: %d", a.code)
	}
	for _, want := range []string{
		`aftermath_webhooks_total{outcome="queued"} 1`,
		`aftermath_webhooks_total{outcome="duplicate"} 1`,
		`aftermath_webhooks_total{outcome="unauthorized"} 1`,
		`aftermath_webhook_ingest_duration_seconds_count{outcome="queued"} 1`,
		`aftermath_queue_length 1`,
		`aftermath_queue_pending 0`,
		`aftermath_queue_dead_letters 0`,
		`aftermath_redis_up 1`,
	} {
		if !strings.Contains(a.raw, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if a := f.do(http.MethodGet, "/nope", nil, nil); a.code != http.StatusNotFound || a.body["error"] == nil {
		t.Fatalf("unknown route: %d %s", a.code, a.raw)
	}
	if a := f.do(http.MethodGet, "/webhooks/pagerduty", nil, nil); a.code != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the webhook: %d %s", a.code, a.raw)
	}
}

func TestAdminAPI(t *testing.T) {
	t.Run("disabled without a token: 403", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		for _, p := range []string{"/api/v1/incidents/Q1", "/api/v1/dead-letters"} {
			if a := f.do(http.MethodGet, p, nil, map[string]string{"Authorization": "Bearer anything"}); a.code != http.StatusForbidden {
				t.Errorf("%s: %d %s", p, a.code, a.raw)
			}
		}
	})

	f := newFixture(t, fixtureOpts{adminToken: adminToken})
	auth := map[string]string{"Authorization": "Bearer " + adminToken}
	t.Run("token required: 401", func(t *testing.T) {
		for name, h := range map[string]map[string]string{
			"none":   nil,
			"wrong":  {"Authorization": "Bearer nope"},
			"prefix": {"Authorization": "Bearer " + adminToken[:5]},
			"basic":  {"Authorization": "Basic " + adminToken},
		} {
			if a := f.do(http.MethodGet, "/api/v1/incidents/Q1", nil, h); a.code != http.StatusUnauthorized {
				t.Errorf("%s: %d %s", name, a.code, a.raw)
			}
		}
	})
	t.Run("unknown incident: 404", func(t *testing.T) {
		if a := f.do(http.MethodGet, "/api/v1/incidents/QUNKNOWN", nil, auth); a.code != http.StatusNotFound || !strings.Contains(a.raw, "QUNKNOWN") {
			t.Fatalf("%d %s", a.code, a.raw)
		}
	})
	t.Run("record of a processed incident: 200", func(t *testing.T) {
		ctx := context.Background()
		now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
		if err := f.store.RecordEvent(ctx, "Q1", store.EventRecord{EventID: "E1", EventType: "incident.resolved", EntryID: "1-0", OccurredAt: now, ReceivedAt: now, ProcessedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.RecordAttempt(ctx, "Q1", store.AttemptRecord{EntryID: "1-0", EventID: "E1", Attempt: 1, Outcome: store.OutcomeRetry, Error: "jira said 503"}); err != nil {
			t.Fatal(err)
		}
		a := f.do(http.MethodGet, "/api/v1/incidents/Q1", nil, auth)
		if a.code != http.StatusOK {
			t.Fatalf("%d %s", a.code, a.raw)
		}
		var rec store.IncidentRecord
		if err := json.Unmarshal([]byte(a.raw), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.IncidentID != "Q1" || len(rec.Events) != 1 || len(rec.Attempts) != 1 || rec.Attempts[0].Error != "jira said 503" {
			t.Fatalf("record = %+v", rec)
		}
	})
	t.Run("dead letters", func(t *testing.T) {
		a := f.do(http.MethodGet, "/api/v1/dead-letters?limit=5", nil, auth)
		if a.code != http.StatusOK || a.body["dead_letters"] == nil {
			t.Fatalf("%d %s", a.code, a.raw)
		}
		if a := f.do(http.MethodGet, "/api/v1/dead-letters?limit=0", nil, auth); a.code != http.StatusBadRequest {
			t.Fatalf("limit=0: %d", a.code)
		}
	})
}

// FuzzWebhookHandler throws arbitrary bodies and headers at the whole route:
// it must never panic and only ever give a contract answer.
func FuzzWebhookHandler(f *testing.F) {
	r := redistest.New(f)
	st := store.New(r.Client, r.Prefix)
	e := New(Options{
		Verifier:     webhook.NewVerifier([]string{sampleSecret}),
		Queue:        st,
		Records:      st,
		MaxBodyBytes: 64 << 10,
		Logger:       slog.New(slog.DiscardHandler),
	})
	f.Add(resolvedBody("E1", "Q1"), true, "", "W1")
	f.Add([]byte(`{"event":{"id":"E","event_type":"pagey.ping","occurred_at":"2025-04-07T03:00:55.532Z","data":{"type":"ping"}}}`), true, "", "")
	f.Add([]byte(`{}`), true, "", "")
	f.Add([]byte(`not json`), false, "v1=00", "W")
	f.Add([]byte{}, false, "", "")
	f.Fuzz(func(t *testing.T, body []byte, sign bool, sigHeader, webhookID string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
		if sign {
			sigHeader = signed(sampleSecret, body, "")[webhook.SignatureHeader] + "," + sigHeader
		}
		if sigHeader != "" {
			req.Header.Set(webhook.SignatureHeader, sanitizeHeader(sigHeader))
		}
		if webhookID != "" {
			req.Header.Set(WebhookIDHeader, sanitizeHeader(webhookID))
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted, http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("answer %d is not in the contract: %s", rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		if !sign && rec.Code < 300 {
			// Without our signature only an astronomically lucky header passes.
			t.Fatalf("unsigned body accepted with %d", rec.Code)
		}
	})
}

// sanitizeHeader keeps a fuzzed header value within what net/http can carry.
func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r > '~' {
			return -1
		}
		return r
	}, s)
}

type fakeReloader struct {
	problems []string
	calls    int
}

func (f *fakeReloader) ReloadRules() (string, []string, error) {
	f.calls++
	if f.problems != nil {
		return "", f.problems, fmt.Errorf("%d problems", len(f.problems))
	}
	return "rules.yaml: OK: 2 severities", nil, nil
}

func TestReloadEndpoint(t *testing.T) {
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	rl := &fakeReloader{}
	mk := func(token string) *httptest.Server {
		srv := httptest.NewServer(New(Options{
			Verifier: webhook.NewVerifier([]string{sampleSecret}), Queue: st, Records: st, Reloader: rl,
			AdminToken: token, Registerer: prometheus.NewRegistry(), Gatherer: prometheus.NewRegistry(),
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	post := func(srv *httptest.Server, auth string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/reload", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}

	if code, _ := post(mk(""), "Bearer x"); code != http.StatusForbidden {
		t.Fatalf("without a configured token: %d", code)
	}
	srv := mk(adminToken)
	if code, _ := post(srv, ""); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", code)
	}
	if code, _ := post(srv, "Bearer wrong"); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	if rl.calls != 0 {
		t.Fatal("an unauthorised request reloaded the rules")
	}
	code, body := post(srv, "Bearer "+adminToken)
	if code != http.StatusOK || body["status"] != "reloaded" || body["summary"] == nil {
		t.Fatalf("good reload: %d %v", code, body)
	}
	rl.problems = []string{"rules.yaml:3:11: unknown time zone \"Mars\"", "rules.yaml:7:5: unknown key \"x\""}
	code, body = post(srv, "Bearer "+adminToken)
	probs, _ := body["problems"].([]any)
	if code != http.StatusUnprocessableEntity || len(probs) != 2 || probs[0] != rl.problems[0] || !strings.Contains(fmt.Sprint(body["error"]), "previous rules stay in force") {
		t.Fatalf("bad reload: %d %v", code, body)
	}
}

// The runtime profiles are the admin API's: off without a token, 401
// without the right one, and served with it (a CPU profile and a delta
// allocation profile, as make bench-ingest -profile reads them).
func TestProfilesNeedTheAdminToken(t *testing.T) {
	paths := []string{"/debug/pprof/", "/debug/pprof/allocs", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"}
	off := newFixture(t, fixtureOpts{})
	for _, p := range paths {
		if a := off.do(http.MethodGet, p, nil, map[string]string{"Authorization": "Bearer " + adminToken}); a.code != http.StatusForbidden {
			t.Errorf("no admin token configured, %s: %d %s, want 403", p, a.code, a.raw)
		}
	}
	f := newFixture(t, fixtureOpts{adminToken: adminToken})
	for _, p := range paths {
		for name, h := range map[string]map[string]string{"none": nil, "wrong": {"Authorization": "Bearer nope"}} {
			if a := f.do(http.MethodGet, p, nil, h); a.code != http.StatusUnauthorized {
				t.Errorf("%s token, %s: %d %s, want 401", name, p, a.code, a.raw)
			}
		}
	}
	auth := map[string]string{"Authorization": "Bearer " + adminToken}
	if a := f.do(http.MethodGet, "/debug/pprof/", nil, auth); a.code != http.StatusOK || !strings.Contains(a.raw, "allocs") {
		t.Errorf("index: %d %.200s", a.code, a.raw)
	}
	for _, p := range []string{"/debug/pprof/profile?seconds=1", "/debug/pprof/allocs?seconds=1"} {
		a := f.do(http.MethodGet, p, nil, auth)
		// A profile is gzipped protobuf: it starts with gzip's magic.
		if a.code != http.StatusOK || !strings.HasPrefix(a.raw, "\x1f\x8b") {
			t.Errorf("%s: %d %.200q, want 200 with a gzipped profile", p, a.code, a.raw)
		}
	}
}

// The cuts of issue 23 keep the contract: a body signed with two secrets
// (a rotation) is queued once; a Content-Length the body does not fill is
// a 400; a body without Content-Length is read up to the limit; the queued
// line names the webhook, its event and entry, never a signature or secret;
// each outcome is counted in its own series.
func TestWebhookIngestEdges(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	s := newSecured(t, nil, func(o *Options) {
		o.Verifier = webhook.NewVerifier([]string{"the-new-secret", sampleSecret})
		o.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	})
	post := func(body []byte, hdr map[string]string, contentLength int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
		req.RemoteAddr = "192.0.2.7:4000"
		req.ContentLength = contentLength
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		return rec
	}
	body := resolvedBody("E-rot", "Q-rot")
	both := signed("the-new-secret", body, "W-rot")
	both[webhook.SignatureHeader] += "," + signed(sampleSecret, body, "")[webhook.SignatureHeader]
	if rec := post(body, both, int64(len(body))); rec.Code != http.StatusAccepted {
		t.Fatalf("signed with both secrets: %d %s", rec.Code, rec.Body)
	}
	if rec := post(body, both, int64(len(body))); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"duplicate"`) {
		t.Fatalf("the same delivery again: %d %s", rec.Code, rec.Body)
	}
	only := signed("a-retired-secret", body, "W-old")
	if rec := post(body, only, int64(len(body))); rec.Code != http.StatusUnauthorized {
		t.Fatalf("signed with a secret not configured: %d %s", rec.Code, rec.Body)
	}

	short := resolvedBody("E-short", "Q-short")
	if rec := post(short, signed(sampleSecret, short, "W-short"), int64(len(short))+10); rec.Code != http.StatusBadRequest {
		t.Fatalf("Content-Length past the body: %d %s", rec.Code, rec.Body)
	}
	chunked := resolvedBody("E-chunked", "Q-chunked")
	if rec := post(chunked, signed(sampleSecret, chunked, "W-chunked"), -1); rec.Code != http.StatusAccepted {
		t.Fatalf("no Content-Length: %d %s", rec.Code, rec.Body)
	}
	big := append(resolvedBody("E-big", "Q-big"), bytes.Repeat([]byte(" "), DefaultMaxBodyBytes)...)
	if rec := post(big, signed(sampleSecret, big, "W-big"), -1); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit without Content-Length: %d %s", rec.Code, rec.Body)
	}
	if n, err := s.store.Stats(context.Background()); err != nil || n.Length != 2 {
		t.Fatalf("queue: %+v %v, want the rotation's and the chunked body's entries", n, err)
	}

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	var queued map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "webhook queued" && m["event"] == "E-rot" {
			queued = m
		}
	}
	want := map[string]any{"level": "INFO", "remote": "192.0.2.7", "webhook_id": "W-rot", "event": "E-rot", "event_type": "incident.resolved", "incident": "Q-rot"}
	for k, v := range want {
		if queued[k] != v {
			t.Errorf("queued line: %s = %v, want %v (line %v)", k, queued[k], v, queued)
		}
	}
	if queued["entry"] == nil || queued["entry"] == "" {
		t.Errorf("queued line lacks the entry: %v", queued)
	}
	for _, secret := range []string{"the-new-secret", sampleSecret, both[webhook.SignatureHeader][3:20]} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a secret or a signature: %q", secret)
		}
	}
	if !strings.Contains(out, `"msg":"webhook refused: signature"`) || !strings.Contains(out, `"msg":"webhook refused: body too large"`) {
		t.Errorf("refusals are not logged:\n%s", out)
	}

	a := httptest.NewRecorder()
	s.h.ServeHTTP(a, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range []string{
		`aftermath_webhooks_total{outcome="queued"} 2`, `aftermath_webhooks_total{outcome="duplicate"} 1`,
		`aftermath_webhooks_total{outcome="unauthorized"} 1`, `aftermath_webhooks_total{outcome="bad_request"} 1`,
		`aftermath_webhooks_total{outcome="too_large"} 1`, `aftermath_webhook_ingest_duration_seconds_count{outcome="queued"} 2`,
	} {
		if !strings.Contains(a.Body.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// writeAnswer's bytes and headers are c.JSON's, for plain answers (written
// without encoding/json) and for answers that need escaping or ?pretty
// (written by c.JSON itself).
func TestWebhookAnswerIsCJSONs(t *testing.T) {
	e := New(Options{})
	for _, a := range []webhookAnswer{
		{Status: "queued", EventID: "01FKZSYE5HCMM576S6JUVIGLQT", EventType: "incident.resolved", IncidentID: "Q2CKYRLH85UNN4"},
		{Status: "duplicate", EventID: "E1"},
		{Status: "ignored", EventID: "E", EventType: "pagey.ping", Reason: "aftermath acts on incident.resolved only"},
		{Error: "body exceeds 1048576 bytes"},
		{Error: `not a PagerDuty V3 webhook: event.event_type "x" is not of the form resource.action`},
		{Status: "queued", EventID: "<script>&", IncidentID: "Q\u2028\x01é"},
		{},
	} {
		for _, target := range []string{"/webhooks/pagerduty", "/webhooks/pagerduty?pretty"} {
			fast, ref := httptest.NewRecorder(), httptest.NewRecorder()
			if err := writeAnswer(e.NewContext(httptest.NewRequest(http.MethodPost, target, nil), fast), http.StatusAccepted, a); err != nil {
				t.Fatal(err)
			}
			if err := e.NewContext(httptest.NewRequest(http.MethodPost, target, nil), ref).JSON(http.StatusAccepted, a); err != nil {
				t.Fatal(err)
			}
			if fast.Code != ref.Code || fast.Body.String() != ref.Body.String() || fmt.Sprint(fast.Header()) != fmt.Sprint(ref.Header()) {
				t.Errorf("%s %+v:\nwriteAnswer %d %v %q\nc.JSON      %d %v %q", target, a, fast.Code, fast.Header(), fast.Body, ref.Code, ref.Header(), ref.Body)
			}
		}
	}
}

func FuzzWebhookAnswerIsCJSONs(f *testing.F) {
	f.Add("queued", "", "E1", "incident.resolved", "Q1", "")
	f.Add("", "bad <input> & \"quotes\"", "", "", "", "\x00\xff")
	e := New(Options{})
	f.Fuzz(func(t *testing.T, status, errMsg, eventID, eventType, incidentID, reason string) {
		a := webhookAnswer{Status: status, Error: errMsg, EventID: eventID, EventType: eventType, IncidentID: incidentID, Reason: reason}
		fast, ref := httptest.NewRecorder(), httptest.NewRecorder()
		_ = writeAnswer(e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), fast), http.StatusOK, a)
		_ = e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), ref).JSON(http.StatusOK, a)
		if fast.Body.String() != ref.Body.String() || fmt.Sprint(fast.Header()) != fmt.Sprint(ref.Header()) {
			t.Fatalf("writeAnswer %q, c.JSON %q", fast.Body, ref.Body)
		}
	})
}
