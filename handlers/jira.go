package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// EpicStatuses applies an epic's Jira status to its post-mortem.
type EpicStatuses interface {
	// ApplyEpicStatus returns the post-mortem's status, "" when the epic is
	// not a tracked post-mortem's or its Jira status is not mapped, and
	// whether it changed.
	ApplyEpicStatus(ctx context.Context, key, jiraStatus string) (status string, changed bool, err error)
}

// jiraSignatureHeader carries Jira Cloud's HMAC of the body.
const jiraSignatureHeader = "X-Hub-Signature"

// jiraWebhook is POST /webhooks/jira: an epic's status change, applied at
// once instead of at the next status sync. Jira Cloud signs admin webhooks
// with the secret (X-Hub-Signature: sha256=<hex HMAC of the body>); Data
// Center cannot sign, so its webhook URL carries the secret as ?secret=.
type jiraWebhook struct {
	secret   []byte
	statuses EpicStatuses
	max      int64
}

type jiraAnswer struct {
	Status     string `json:"status,omitempty"` // updated, unchanged, ignored
	Key        string `json:"key,omitempty"`
	Postmortem string `json:"postmortem_status,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (h *jiraWebhook) serve(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > h.max {
		return c.JSON(http.StatusRequestEntityTooLarge, jiraAnswer{Error: fmt.Sprintf("body exceeds %d bytes", h.max)})
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, h.max+1))
	switch {
	case err != nil:
		return c.JSON(http.StatusBadRequest, jiraAnswer{Error: "could not read the request body"})
	case int64(len(body)) > h.max:
		return c.JSON(http.StatusRequestEntityTooLarge, jiraAnswer{Error: fmt.Sprintf("body exceeds %d bytes", h.max)})
	case !h.authentic(req, body):
		return c.JSON(http.StatusUnauthorized, jiraAnswer{Error: "missing or wrong secret: sign with X-Hub-Signature (Jira Cloud) or add ?secret= to the URL (Data Center)"})
	}
	var ev struct {
		Event string `json:"webhookEvent"`
		Issue struct {
			Key    string `json:"key"`
			Fields struct {
				Status struct {
					Name string `json:"name"`
				} `json:"status"`
			} `json:"fields"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Issue.Key == "" || ev.Issue.Fields.Status.Name == "" {
		return c.JSON(http.StatusBadRequest, jiraAnswer{Error: "not a Jira issue event: want issue.key and issue.fields.status.name"})
	}
	status, changed, err := h.statuses.ApplyEpicStatus(req.Context(), ev.Issue.Key, ev.Issue.Fields.Status.Name)
	switch {
	case err != nil:
		return c.JSON(http.StatusServiceUnavailable, jiraAnswer{Error: "post-mortem store unavailable; retry later"})
	case status == "":
		return c.JSON(http.StatusOK, jiraAnswer{Status: "ignored", Key: ev.Issue.Key})
	case !changed:
		return c.JSON(http.StatusOK, jiraAnswer{Status: "unchanged", Key: ev.Issue.Key, Postmortem: status})
	}
	return c.JSON(http.StatusOK, jiraAnswer{Status: "updated", Key: ev.Issue.Key, Postmortem: status})
}

// authentic checks the body's signature, or the secret in the query.
func (h *jiraWebhook) authentic(req *http.Request, body []byte) bool {
	if sig, ok := strings.CutPrefix(req.Header.Get(jiraSignatureHeader), "sha256="); ok {
		got, err := hex.DecodeString(sig)
		mac := hmac.New(sha256.New, h.secret)
		mac.Write(body)
		return err == nil && hmac.Equal(got, mac.Sum(nil))
	}
	q := req.URL.Query().Get("secret")
	return q != "" && subtle.ConstantTimeCompare([]byte(q), h.secret) == 1
}
