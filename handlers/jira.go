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
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/aftermath-dev/aftermath/store"
)

// EpicStatuses applies an epic's Jira status to its post-mortem.
type EpicStatuses interface {
	// ApplyEpicEvent applies the Jira status the epic had at at, as the
	// webhook delivery delivery (the same on every retry) reported it. It
	// returns the post-mortem's status ("" when the epic is not a tracked
	// post-mortem's or its Jira status is not mapped) and what was done:
	// store.ChangeUpdated, ChangeUnchanged, ChangeStale, ChangeDuplicate or
	// ChangeIgnored.
	ApplyEpicEvent(ctx context.Context, delivery, key, jiraStatus string, at time.Time) (status, outcome string, err error)
}

const (
	// jiraSignatureHeader carries Jira Cloud's HMAC of the body.
	jiraSignatureHeader = "X-Hub-Signature"
	// jiraDeliveryHeader identifies a delivery; Jira's retries of it carry
	// the same value.
	jiraDeliveryHeader = "X-Atlassian-Webhook-Identifier"
)

// jiraStatusEvents are the webhook events that can carry a new status:
// an issue made or edited. Every other event (comments, worklogs, a
// deleted issue, ...) is answered "ignored".
var jiraStatusEvents = map[string]bool{"jira:issue_created": true, "jira:issue_updated": true}

// jiraWebhook is POST /webhooks/jira: an epic's status change, applied at
// once instead of at the next status sync. Jira Cloud signs admin webhooks
// with the secret (X-Hub-Signature: sha256=<hex HMAC of the body>); Data
// Center cannot sign, so its webhook URL carries the secret as ?secret=,
// which is why nothing here logs more of the URL than its path.
//
// A signature proves who sent a body, not when: a delivery is applied once
// (by X-Atlassian-Webhook-Identifier, or the body's digest without one),
// and a change older than the status applied last (the body's timestamp)
// is stale, so a replayed or late delivery cannot move the post-mortem back.
type jiraWebhook struct {
	secret   []byte
	statuses EpicStatuses
	max      int64
	log      *slog.Logger
}

type jiraAnswer struct {
	Status     string `json:"status,omitempty"` // updated, unchanged, ignored, stale, duplicate
	Key        string `json:"key,omitempty"`
	Postmortem string `json:"postmortem_status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
}

// jiraPayload is what aftermath reads of a Jira webhook's body.
type jiraPayload struct {
	Event     string `json:"webhookEvent"`
	Timestamp int64  `json:"timestamp"` // when Jira raised the event, Unix ms
	Issue     struct {
		Key    string `json:"key"`
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
	} `json:"issue"`
}

func (h *jiraWebhook) serve(c echo.Context) error {
	req := c.Request()
	// The path only: a Data Center URL's query holds the secret.
	log := h.logger().With("path", req.URL.Path, "remote", c.RealIP())
	if req.ContentLength > h.max {
		log.Warn("Jira webhook refused: body too large", "content_length", req.ContentLength)
		return c.JSON(http.StatusRequestEntityTooLarge, jiraAnswer{Error: fmt.Sprintf("body exceeds %d bytes", h.max)})
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, h.max+1))
	switch {
	case err != nil:
		log.Warn("Jira webhook refused: reading the body failed", "err", err)
		return c.JSON(http.StatusBadRequest, jiraAnswer{Error: "could not read the request body"})
	case int64(len(body)) > h.max:
		log.Warn("Jira webhook refused: body too large")
		return c.JSON(http.StatusRequestEntityTooLarge, jiraAnswer{Error: fmt.Sprintf("body exceeds %d bytes", h.max)})
	case !h.authentic(req, body):
		log.Warn("Jira webhook refused: missing or wrong secret")
		return c.JSON(http.StatusUnauthorized, jiraAnswer{Error: "missing or wrong secret: sign with X-Hub-Signature (Jira Cloud) or add ?secret= to the URL (Data Center)"})
	}
	delivery := req.Header.Get(jiraDeliveryHeader)
	if delivery == "" {
		// Without an identifier, a byte-identical body is the same delivery.
		sum := sha256.Sum256(body)
		delivery = "sha256:" + hex.EncodeToString(sum[:])
	}
	log = log.With("delivery", clipHeader(delivery))
	var ev jiraPayload
	if err := json.Unmarshal(body, &ev); err != nil || ev.Event == "" {
		log.Warn("Jira webhook refused: not a Jira webhook")
		return c.JSON(http.StatusBadRequest, jiraAnswer{Error: "not a Jira webhook: want a JSON object with webhookEvent"})
	}
	if !jiraStatusEvents[ev.Event] {
		log.Debug("Jira webhook ignored", "event", clipHeader(ev.Event))
		return c.JSON(http.StatusOK, jiraAnswer{Status: store.ChangeIgnored, Reason: "event " + clipHeader(ev.Event) + " cannot change a status"})
	}
	if ev.Issue.Key == "" || ev.Issue.Fields.Status.Name == "" || ev.Timestamp <= 0 {
		log.Warn("Jira webhook refused: not an issue event", "event", ev.Event)
		return c.JSON(http.StatusBadRequest, jiraAnswer{Error: "not a Jira issue event: want timestamp, issue.key and issue.fields.status.name"})
	}
	key := clipHeader(ev.Issue.Key)
	log = log.With("event", ev.Event, "key", key)
	status, outcome, err := h.statuses.ApplyEpicEvent(req.Context(), delivery, ev.Issue.Key, ev.Issue.Fields.Status.Name, time.UnixMilli(ev.Timestamp))
	if err != nil {
		log.Error("Jira webhook not applied; answering 503 so Jira retries", "err", err)
		return c.JSON(http.StatusServiceUnavailable, jiraAnswer{Error: "post-mortem store unavailable; retry later"})
	}
	log.Info("Jira webhook", "outcome", outcome, "postmortem_status", status)
	answer := jiraAnswer{Status: outcome, Key: ev.Issue.Key, Postmortem: status}
	switch outcome {
	case store.ChangeStale:
		answer.Reason = "a newer status was applied since this event"
	case store.ChangeDuplicate:
		answer.Reason = "this delivery was applied before"
	}
	return c.JSON(http.StatusOK, answer)
}

func (h *jiraWebhook) logger() *slog.Logger {
	if h.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.log
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
	// Digests of equal length: ConstantTimeCompare returns at once on
	// unequal lengths, which would tell a guesser the secret's length.
	got, want := sha256.Sum256([]byte(q)), sha256.Sum256(h.secret)
	return q != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
