package pagerduty

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// The status page, its post linked to an incident (found past the first
// page of posts, among maintenance posts and posts of other incidents), and
// its postmortem written, read back and rewritten; every request passes the
// official spec.
func TestStatusPagePostmortem(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "checkout down", ServiceID: web.ID, CreatedAt: t0})
	other := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "db slow", ServiceID: db.ID, CreatedAt: t0})
	f.sim.AddStatusPage(pagerdutytest.StatusPage{ID: "PSTATUS1", Name: "Acme status", URL: "https://status.acme.example"})
	f.sim.AddStatusPage(pagerdutytest.StatusPage{ID: "PSTATUS2", Name: "Internal", URL: "https://internal.acme.example"})
	for i := range PageSize + 20 {
		f.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: fmt.Sprintf("earlier %d", i), IncidentID: other.ID})
	}
	f.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "maintenance", PostType: "maintenance", IncidentID: in.ID})
	post := f.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout degraded", IncidentID: in.ID})

	sp, found, err := f.pd.StatusPage(ctx, "PSTATUS1")
	if err != nil || !found || sp.URL != "https://status.acme.example" || sp.Name != "Acme status" {
		t.Fatalf("StatusPage = %+v %v %v", sp, found, err)
	}
	if _, found, err := f.pd.StatusPage(ctx, "PNOPAGE"); err != nil || found {
		t.Fatalf("an unknown status page: found %v, err %v", found, err)
	}

	got, found, err := f.pd.LinkedPost(ctx, "PSTATUS1", in.ID)
	if err != nil || !found {
		t.Fatalf("LinkedPost: found %v, err %v", found, err)
	}
	if got.ID != post.ID || got.Linked != in.ID || got.PostType != "incident" || got.Postmortem != "" || got.Title != "Checkout degraded" {
		t.Fatalf("LinkedPost = %+v, want post %s", got, post.ID)
	}
	if n := f.sim.Count("GET /status_pages/{id}/posts"); n != 2 {
		t.Fatalf("%d requests for the posts, want 2 (two pages)", n)
	}
	if _, found, err := f.pd.LinkedPost(ctx, "PSTATUS2", in.ID); err != nil || found {
		t.Fatalf("a page with no posts: found %v, err %v", found, err)
	}
	if _, _, err := f.pd.LinkedPost(ctx, "PNOPAGE", in.ID); !IsNotFound(err) {
		t.Fatalf("an unknown page: %v, want a 404", err)
	}

	if _, found, err := f.pd.Postmortem(ctx, "PSTATUS1", post.ID); err != nil || found {
		t.Fatalf("Postmortem before any: found %v, err %v", found, err)
	}
	msg := "<p>Checkout was degraded from 14:00 to 15:12 UTC.</p>"
	pm, err := f.pd.PutPostmortem(ctx, "PSTATUS1", post.ID, msg, false)
	if err != nil || pm.Message != msg || pm.PostID != post.ID || pm.ID == "" || pm.ReportedAt.IsZero() {
		t.Fatalf("PutPostmortem = %+v, %v", pm, err)
	}
	read, found, err := f.pd.Postmortem(ctx, "PSTATUS1", post.ID)
	if err != nil || !found || read.Message != msg || read.NotifySubscribers {
		t.Fatalf("Postmortem = %+v %v %v", read, found, err)
	}
	if got, _, _ := f.pd.LinkedPost(ctx, "PSTATUS1", in.ID); got.Postmortem != pm.ID {
		t.Fatalf("the post's postmortem reference = %q, want %q", got.Postmortem, pm.ID)
	}
	if _, err := f.pd.PutPostmortem(ctx, "PSTATUS1", post.ID, msg, true); err != nil {
		t.Fatal(err)
	}
	sim, _ := f.sim.StatusPagePost("PSTATUS1", post.ID)
	if sim.PostmortemWrites != 2 || sim.Notified != 1 || sim.Postmortem.ID != pm.ID {
		t.Fatalf("simulated post = %+v, want 2 writes of one postmortem, 1 notification", sim)
	}
	for _, c := range callsTo(f.sim, "PUT /status_pages/{id}/posts/{post_id}/postmortem") {
		if c.Status/100 != 2 {
			t.Errorf("PUT answered %d", c.Status)
		}
	}
}

// PagerDuty's refusals and limits come back as errors that say whether a
// retry helps, and a message over PagerDuty's limit is not sent.
func TestStatusPagePostmortemRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "checkout down", ServiceID: web.ID, CreatedAt: t0})
	f.sim.AddStatusPage(pagerdutytest.StatusPage{ID: "PSTATUS1", Name: "Acme status", URL: "https://status.acme.example"})
	post := f.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout degraded", IncidentID: in.ID})

	e := wantError(t, func() error {
		_, err := f.pd.PutPostmortem(ctx, "PSTATUS1", post.ID, strings.Repeat("é", MaxPostmortemMessage+1), false)
		return err
	}())
	if e.Status != http.StatusBadRequest || e.Retryable() || !strings.Contains(e.Message, "at most 10000") {
		t.Fatalf("a message over the limit: %+v", e)
	}
	if n := f.sim.Count("PUT /status_pages/{id}/posts/{post_id}/postmortem"); n != 0 {
		t.Fatalf("a message over the limit was sent (%d requests)", n)
	}

	e = wantError(t, func() error { _, err := f.pd.PutPostmortem(ctx, "PSTATUS1", "PNOPOST", "x", false); return err }())
	if e.Status != http.StatusNotFound || e.Retryable() {
		t.Fatalf("an unknown post: %+v", e)
	}

	f.sim.Inject("PUT /status_pages/{id}/posts/{post_id}/postmortem", pagerdutytest.Fault{Status: 502, AfterApply: true})
	e = wantError(t, func() error { _, err := f.pd.PutPostmortem(ctx, "PSTATUS1", post.ID, "x", false); return err }())
	if e.Status != http.StatusBadGateway || !e.Retryable() || e.Unapplied() {
		t.Fatalf("a 502 after the write: %+v", e)
	}
	if p, _ := f.sim.StatusPagePost("PSTATUS1", post.ID); p.PostmortemWrites != 1 {
		t.Fatalf("a 502 was retried by the client: %d writes", p.PostmortemWrites)
	}

	// A 429 did nothing: the client waits and sends it again.
	f.sim.Inject("PUT /status_pages/{id}/posts/{post_id}/postmortem", pagerdutytest.Fault{Status: 429, RetryAfter: "0"})
	if _, err := f.pd.PutPostmortem(ctx, "PSTATUS1", post.ID, "y", false); err != nil {
		t.Fatalf("a 429 then a success: %v", err)
	}
	if p, _ := f.sim.StatusPagePost("PSTATUS1", post.ID); p.PostmortemWrites != 2 || p.Postmortem.Message != "y" {
		t.Fatalf("after a 429: %+v", p)
	}
}
