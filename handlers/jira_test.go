package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// fakeEpics records the statuses applied; PM-1 is the one tracked epic.
type fakeEpics struct {
	mu      sync.Mutex
	applied []string
	fail    bool
}

func (f *fakeEpics) ApplyEpicEvent(_ context.Context, _, key, jiraStatus string, _ time.Time) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return "", "", errors.New("redis: connection refused")
	}
	if key != "PM-1" {
		return "", store.ChangeIgnored, nil
	}
	f.applied = append(f.applied, jiraStatus)
	outcome := store.ChangeUnchanged
	if len(f.applied) == 1 {
		outcome = store.ChangeUpdated
	}
	return map[string]string{"Reviewed": "Reviewed", "In Review": "In Review"}[jiraStatus], outcome, nil
}

const jiraSecret = "a-long-jira-webhook-secret"

// jiraEventAt is the body of Jira's jira:issue_updated for the issue key
// in status, raised at at.
func jiraEventAt(key, status string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"timestamp": at.UnixMilli(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
		"issue": map[string]any{"key": key, "fields": map[string]any{"status": map[string]string{"name": status}}}})
	return b
}

func jiraEvent(key, status string) []byte {
	return jiraEventAt(key, status, time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
}

func hubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// POST /webhooks/jira: Cloud's signature or Data Center's secret in the
// URL; anything else is refused and changes nothing. Only the events that
// can carry a new status are applied.
func TestJiraWebhook(t *testing.T) {
	epics := &fakeEpics{}
	e := New(Options{EpicStatuses: epics, JiraWebhookSecret: jiraSecret})
	send := func(path string, body []byte, sig string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if sig != "" {
			req.Header.Set("X-Hub-Signature", sig)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	signed := func(b string) (string, []byte, string) {
		return "/webhooks/jira", []byte(b), hubSignature(jiraSecret, []byte(b))
	}
	reviewed := jiraEvent("PM-1", "Reviewed")
	for _, tc := range []struct {
		name, path string
		body       []byte
		sig        string
		code       int
		want       string
	}{
		{"no secret", "/webhooks/jira", reviewed, "", 401, "missing or wrong secret"},
		{"wrong signature", "/webhooks/jira", reviewed, hubSignature("not-the-secret", reviewed), 401, "missing or wrong secret"},
		{"signature of another body", "/webhooks/jira", reviewed, hubSignature(jiraSecret, jiraEvent("PM-1", "Done")), 401, "missing or wrong secret"},
		{"malformed signature", "/webhooks/jira", reviewed, "sha256=zz", 401, "missing or wrong secret"},
		{"wrong query secret", "/webhooks/jira?secret=guess", reviewed, "", 401, "missing or wrong secret"},
		{"not an issue event", "/webhooks/jira", []byte(`{"webhookEvent":"jira:issue_updated","timestamp":1}`), hubSignature(jiraSecret, []byte(`{"webhookEvent":"jira:issue_updated","timestamp":1}`)), 400, "not a Jira issue event"},
		{"too large", "/webhooks/jira?secret=" + jiraSecret, bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1), "", 413, "body exceeds"},
		{"an epic aftermath does not track", "/webhooks/jira", jiraEvent("OPS-7", "Done"), hubSignature(jiraSecret, jiraEvent("OPS-7", "Done")), 200, `"status":"ignored"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(tc.path, tc.body, tc.sig)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("answer %d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	// Bodies Jira would not send for a status change: a clear 400, or an
	// event that cannot change a status answered 200 ignored.
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"not JSON", `status=Reviewed`, 400, "not a Jira webhook"},
		{"no webhookEvent", `{"timestamp":1764000000000,"issue":{"key":"PM-1","fields":{"status":{"name":"Reviewed"}}}}`, 400, "not a Jira webhook"},
		{"no timestamp", `{"webhookEvent":"jira:issue_updated","issue":{"key":"PM-1","fields":{"status":{"name":"Reviewed"}}}}`, 400, "want timestamp"},
		{"a comment", `{"timestamp":1764000000000,"webhookEvent":"comment_created","issue":{"key":"PM-1","fields":{"status":{"name":"Reviewed"}}}}`, 200, `"reason":"event comment_created cannot change a status"`},
		{"a deleted issue", `{"timestamp":1764000000000,"webhookEvent":"jira:issue_deleted","issue":{"key":"PM-1","fields":{"status":{"name":"Done"}}}}`, 200, `"status":"ignored"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, body, sig := signed(tc.body)
			code, answer := send(path, body, sig)
			if code != tc.code || !strings.Contains(answer, tc.want) {
				t.Fatalf("answer %d %s, want %d with %q", code, answer, tc.code, tc.want)
			}
		})
	}
	if len(epics.applied) != 0 {
		t.Fatalf("refused or ignored requests applied %v", epics.applied)
	}
	if code, body := send("/webhooks/jira", reviewed, hubSignature(jiraSecret, reviewed)); code != 200 || !strings.Contains(body, `"status":"updated"`) || !strings.Contains(body, `"postmortem_status":"Reviewed"`) {
		t.Fatalf("Cloud-signed: %d %s", code, body)
	}
	if code, body := send("/webhooks/jira?secret="+jiraSecret, reviewed, ""); code != 200 || !strings.Contains(body, `"status":"unchanged"`) {
		t.Fatalf("Data Center secret: %d %s", code, body)
	}
	epics.fail = true
	if code, _ := send("/webhooks/jira?secret="+jiraSecret, reviewed, ""); code != 503 {
		t.Fatalf("store down: %d, want 503 so Jira retries", code)
	}
	off := New(Options{EpicStatuses: epics})
	rec := httptest.NewRecorder()
	off.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/jira?secret=x", bytes.NewReader(reviewed)))
	if rec.Code != 404 {
		t.Fatalf("without JIRA_WEBHOOK_SECRET: %d, want 404", rec.Code)
	}
}

// jiraLifecycle is the route over the real deadline keeper and a store on
// the test Redis, with one tracked post-mortem Q1 on epic PM-1, registered
// at registered; now is the store's clock.
type jiraLifecycle struct {
	t     *testing.T
	e     http.Handler
	st    *store.Store
	clock *testutil.Clock
}

func newJiraLifecycle(t *testing.T, registered time.Time) *jiraLifecycle {
	t.Helper()
	r := redistest.New(t)
	clock := testutil.NewClock(registered)
	st := store.New(r.Client, r.Prefix).WithClock(clock.Now)
	if err := st.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rl, err := rules.Load("r.yaml", []byte("status_map:\n  To Do: Draft\n  In Review: In Review\n  Reviewed: Reviewed\n  Done: Closed\n"))
	if err != nil {
		t.Fatal(err)
	}
	meeting := registered.Add(72 * time.Hour)
	if _, err := st.Register(context.Background(), store.Postmortem{Incident: "Q1", Key: "PM-1", ResolvedAt: registered,
		MeetingDue: meeting, ReviewDue: meeting.Add(-24 * time.Hour)}, 5); err != nil {
		t.Fatal(err)
	}
	k := &deadlines.Keeper{Store: st, Rules: func() *rules.Rules { return rl }, Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: deadlines.NewMetrics(nil)}
	return &jiraLifecycle{t: t, e: New(Options{EpicStatuses: k, JiraWebhookSecret: jiraSecret}), st: st, clock: clock}
}

// deliver posts a Cloud-signed delivery with the identifier id ("" none)
// and returns the answer's status and post-mortem status.
func (l *jiraLifecycle) deliver(id string, body []byte) (string, string) {
	l.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/jira", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature", hubSignature(jiraSecret, body))
	if id != "" {
		req.Header.Set("X-Atlassian-Webhook-Identifier", id)
	}
	rec := httptest.NewRecorder()
	l.e.ServeHTTP(rec, req)
	var a jiraAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != 200 {
		l.t.Fatalf("delivery %s: %d %s", id, rec.Code, rec.Body)
	}
	return a.Status, a.Postmortem
}

func (l *jiraLifecycle) deadline() store.Deadline {
	l.t.Helper()
	d, found, err := l.st.Deadline(context.Background(), "Q1")
	if err != nil || !found {
		l.t.Fatalf("deadline: %v %v", found, err)
	}
	return d
}

// A signed delivery is applied once, and in order: Jira's retry of a
// delivery (same X-Atlassian-Webhook-Identifier), a byte-identical body
// without one, and a delivery older than the status applied last (a
// replay from 40 days earlier, or a late one overtaken by a newer one)
// change nothing.
func TestJiraWebhookReplayedOrLateChangesNothing(t *testing.T) {
	reg := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	l := newJiraLifecycle(t, reg)
	ctx := context.Background()
	// 40 days ago the post-mortem was closed (this is the delivery that
	// will be replayed); its status was applied then.
	old := jiraEventAt("PM-1", "Done", reg.Add(time.Hour))
	l.clock.Set(reg.Add(time.Hour))
	if got, _ := l.deliver("d-old", old); got != store.ChangeUpdated {
		t.Fatalf("the original Done: %s", got)
	}
	// It was reopened since, then put in review, as Jira reported.
	l.clock.Set(reg.Add(40 * 24 * time.Hour))
	inReview := reg.Add(40*24*time.Hour - time.Minute)
	for _, step := range []struct {
		id, status string
		at         time.Time
		want       string
	}{
		{"d-reopen", "To Do", inReview.Add(-time.Hour), store.ChangeUpdated},
		{"d-review", "In Review", inReview, store.ChangeUpdated},
		{"d-review", "In Review", inReview, store.ChangeDuplicate}, // Jira's retry
		// A later delivery of an older change: overtaken.
		{"d-late", "To Do", inReview.Add(-30 * time.Minute), store.ChangeStale},
	} {
		if got, _ := l.deliver(step.id, jiraEventAt("PM-1", step.status, step.at)); got != step.want {
			t.Fatalf("%s (%s): %s, want %s", step.id, step.status, got, step.want)
		}
	}
	// The replay: the same signed body 40 days on, with its identifier and
	// without one (the body's digest is then the identifier).
	if got, _ := l.deliver("d-old", old); got != store.ChangeDuplicate {
		t.Fatalf("replayed with its identifier: %s", got)
	}
	if got, pm := l.deliver("", old); got != store.ChangeStale || pm != store.StatusInReview {
		t.Fatalf("replayed without an identifier: %s %s, want stale, In Review", got, pm)
	}
	if got, _ := l.deliver("", old); got != store.ChangeDuplicate {
		t.Fatalf("the same body again: %s, want duplicate", got)
	}
	d := l.deadline()
	open, _ := l.st.Open(ctx)
	if d.Status != store.StatusInReview || len(open) != 1 || d.NextReminder == "" {
		t.Fatalf("after the replays: status %s, open %v, next reminder %q; want In Review, open, reminders", d.Status, open, d.NextReminder)
	}
	var path []string
	for _, h := range d.History {
		path = append(path, h.Status)
	}
	if got := strings.Join(path, ","); got != "Draft,Closed,Draft,In Review" {
		t.Fatalf("history %s", got)
	}
}

// The route logs the URL's path and never its query, where Data Center
// puts the secret: for every answer, from refused to applied.
func TestJiraWebhookLogsThePathNotTheQuery(t *testing.T) {
	var logs testutil.Buffer
	epics := &fakeEpics{}
	e := New(Options{EpicStatuses: epics, JiraWebhookSecret: jiraSecret, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	bodies := [][]byte{jiraEvent("PM-1", "Reviewed"), jiraEvent("OPS-7", "Done"), []byte(`{"webhookEvent":"comment_created","timestamp":1}`),
		[]byte(`{}`), []byte("not json"), bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1)}
	for i, b := range bodies {
		for _, q := range []string{jiraSecret, "wrong-" + jiraSecret} {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/jira?secret="+q+"&n="+fmt.Sprint(i), bytes.NewReader(b))
			req.Header.Set("X-Atlassian-Webhook-Identifier", fmt.Sprintf("d-%d", i))
			e.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	epics.fail = true
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/webhooks/jira?secret="+jiraSecret, bytes.NewReader(bodies[0])))
	out := logs.String()
	if strings.Count(out, `"path":"/webhooks/jira"`) < 2*len(bodies) {
		t.Fatalf("not every request logged its path:\n%s", out)
	}
	for _, leak := range []string{jiraSecret, "secret=", "?"} {
		if strings.Contains(out, leak) {
			t.Fatalf("the log holds %q:\n%s", leak, out)
		}
	}
}
