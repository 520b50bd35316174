package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/store"
)

// paddedBody is an incident.resolved body whose title is pad bytes long, so
// that concurrent webhooks have bodies of many sizes.
func paddedBody(eventID, incidentID string, pad int) []byte {
	return titledBody(eventID, incidentID, strings.Repeat(string(rune('a'+pad%26)), pad))
}

// The handler reuses body buffers between webhooks, and the decoded IDs
// share the body's memory. Concurrent webhooks of many sizes, with and
// without Content-Length, must each be answered with their own IDs, logged
// with them, and stored with their own body, byte for byte.
func TestWebhookConcurrentBodiesStayTheirOwn(t *testing.T) {
	// Each buffer is overwritten as it is released: a body, answer or log
	// line read after its release shows it, whatever the scheduling.
	release := releaseBody
	releaseBody = func(buf *[]byte) {
		b := (*buf)[:cap(*buf)]
		for i := range b {
			b[i] = 'X'
		}
		release(buf)
	}
	t.Cleanup(func() { releaseBody = release })
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	var logs bytes.Buffer
	var mu sync.Mutex
	e := New(Options{
		Verifier:   webhook.NewVerifier([]string{sampleSecret}),
		Queue:      st,
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil)),
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	const workers, each = 16, 12
	sent := map[string][]byte{} // event ID -> body
	var sentMu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ev, inc := fmt.Sprintf("E-%02d-%02d", w, i), fmt.Sprintf("Q-%02d-%02d", w, i)
				body := paddedBody(ev, inc, (w*each+i)*97%6000)
				sentMu.Lock()
				sent[ev] = body
				sentMu.Unlock()
				var rd io.Reader = bytes.NewReader(body)
				if i%3 == 0 {
					rd = io.MultiReader(rd) // no length known: sent chunked
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/pagerduty", rd)
				for k, v := range signed(sampleSecret, body, "W-"+ev) {
					req.Header.Set(k, v)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf(`{"status":"queued","event_id":%q,"event_type":"incident.resolved","incident_id":%q}`, ev, inc)
				if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(raw)) != want {
					t.Errorf("%s: %d %s, want 202 %s", ev, resp.StatusCode, raw, want)
				}
			}
		})
	}
	wg.Wait()

	entries, err := r.Client.XRange(context.Background(), r.Prefix+":{queue}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != workers*each {
		t.Fatalf("stream holds %d entries, want %d", len(entries), workers*each)
	}
	stored := map[string]bool{}
	for _, x := range entries {
		ev, _ := x.Values["event_id"].(string)
		if stored[ev] {
			t.Errorf("event %q stored twice", ev)
		}
		stored[ev] = true
		body, _ := x.Values["body"].(string)
		if want, ok := sent[ev]; !ok || body != string(want) {
			t.Errorf("entry %s (event %q): stored body of %d bytes is not the body sent for it (%d bytes)", x.ID, ev, len(body), len(want))
		}
		if inc, _ := x.Values["incident_id"].(string); "Q"+strings.TrimPrefix(ev, "E") != inc {
			t.Errorf("entry %s: event %q stored with incident %q", x.ID, ev, inc)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != workers*each {
		t.Fatalf("%d log lines, want one per webhook (%d)", len(lines), workers*each)
	}
	for _, l := range lines {
		var ev, inc string
		if i := strings.Index(l, `"event":"`); i >= 0 {
			ev, _, _ = strings.Cut(l[i+len(`"event":"`):], `"`)
		}
		if i := strings.Index(l, `"incident":"`); i >= 0 {
			inc, _, _ = strings.Cut(l[i+len(`"incident":"`):], `"`)
		}
		if ev == "" || "Q"+strings.TrimPrefix(ev, "E") != inc {
			t.Errorf("log line names event %q and incident %q: %s", ev, inc, l)
		}
	}
}

// BenchmarkWebhookIngest serves signed incident.resolved webhooks in
// process (no network) through aftermath's handler, storing each in the
// test Redis, and through a bare Echo handler that reads the body and
// answers {"status":"queued"} (bench-ingest's baseline): the baseline, in
// the same run. Its figures to read are the allocations (B/op, allocs/op),
// which depend little on the machine's load (a GC cycle empties the pools,
// so they move a little with how often one runs); make bench-ingest
// measures CPU over the network.
//
//	go test -run '^$' -bench WebhookIngest -benchmem ./handlers/
func BenchmarkWebhookIngest(b *testing.B) {
	r := redistest.New(b)
	st := store.New(r.Client, r.Prefix)
	aftermath := New(Options{
		Verifier:   webhook.NewVerifier([]string{sampleSecret}),
		Queue:      st,
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	bare := echo.New()
	bare.POST("/webhooks/pagerduty", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]string{"status": "queued"})
	})
	run := 0 // each call of a sub-benchmark sends new events
	for _, s := range []struct {
		name string
		h    http.Handler
	}{{"aftermath", aftermath}, {"bare-echo", bare}} {
		b.Run(s.name, func(b *testing.B) {
			run++
			bodies := make([][]byte, b.N)
			heads := make([]map[string]string, b.N)
			for i := range b.N {
				ev := fmt.Sprintf("E-%s-%d-%09d", s.name, run, i)
				bodies[i] = paddedBody(ev, "Q-"+ev, 400)
				heads[i] = signed(sampleSecret, bodies[i], "W-"+ev)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(bodies[i]))
				for k, v := range heads[i] {
					req.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				s.h.ServeHTTP(w, req)
				if w.Code != http.StatusAccepted {
					b.Fatalf("%s: %d %s", s.name, w.Code, w.Body)
				}
			}
		})
	}
}
