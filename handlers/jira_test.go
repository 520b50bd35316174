package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeEpics records the statuses applied; PM-1 is the one tracked epic.
type fakeEpics struct {
	mu      sync.Mutex
	applied []string
	fail    bool
}

func (f *fakeEpics) ApplyEpicStatus(_ context.Context, key, jiraStatus string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return "", false, errors.New("redis: connection refused")
	}
	if key != "PM-1" {
		return "", false, nil
	}
	f.applied = append(f.applied, jiraStatus)
	return map[string]string{"Reviewed": "Reviewed", "In Review": "In Review"}[jiraStatus], len(f.applied) == 1, nil
}

const jiraSecret = "a-long-jira-webhook-secret"

func jiraEvent(key, status string) []byte {
	b, _ := json.Marshal(map[string]any{"webhookEvent": "jira:issue_updated",
		"issue": map[string]any{"key": key, "fields": map[string]any{"status": map[string]string{"name": status}}}})
	return b
}

func hubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// POST /webhooks/jira: Cloud's signature or Data Center's secret in the
// URL; anything else is refused and changes nothing.
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
		{"not an issue event", "/webhooks/jira", []byte(`{"webhookEvent":"jira:issue_updated"}`), hubSignature(jiraSecret, []byte(`{"webhookEvent":"jira:issue_updated"}`)), 400, "not a Jira issue event"},
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
	if len(epics.applied) != 0 {
		t.Fatalf("refused requests applied %v", epics.applied)
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
