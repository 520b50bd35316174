package pagerdutytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
)

// These tests drive the simulator with the real go-pagerduty client under
// New, so every request they send is also checked against the official spec.

var (
	alice = User{ID: "PUALICE", Name: "Alice Example", Email: "alice@example.com"}
	bob   = User{ID: "PUBOB01", Name: "Bob Example", Email: "bob@example.com"}
	web   = Service{ID: "PSVCWEB", Name: "Web"}
	db    = Service{ID: "PSVCDB1", Name: "Database"}
)

// t0 is a whole second so RFC 3339 rendering round-trips exactly, and recent
// so incidents fall in GET /incidents' default one-month window.
var t0 = time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)

func seeded(t *testing.T) (*Server, *pagerduty.Client) {
	t.Helper()
	s := New(t)
	s.AddUser(alice)
	s.AddUser(bob)
	s.AddService(web)
	s.AddService(db)
	return s, pagerduty.NewClient(s.Token(), pagerduty.WithAPIEndpoint(s.URL()))
}

func apiErr(t *testing.T, err error) pagerduty.APIError {
	t.Helper()
	var ae pagerduty.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not a pagerduty.APIError", err)
	}
	return ae
}

func TestListIncidentsPaginatesAndFilters(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	var webIDs []string
	for i := range 230 {
		svc := web
		if i%5 == 0 {
			svc = db
		}
		x := s.AddIncident(NewIncident{ID: fmt.Sprintf("PI%04d", i), Title: fmt.Sprintf("incident %d", i), ServiceID: svc.ID, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
		if svc == web {
			webIDs = append(webIDs, x.ID)
		}
	}
	s.Acknowledge("PI0001", alice.ID, t0.Add(time.Hour))
	s.Resolve("PI0002", bob.ID, t0.Add(time.Hour))
	s.AddIncident(NewIncident{ID: "POLD", Title: "old", ServiceID: web.ID, CreatedAt: t0.AddDate(0, -2, 0)})

	var got []string
	pages := 0
	for offset := uint(0); ; {
		resp, err := c.ListIncidentsWithContext(ctx, pagerduty.ListIncidentsOptions{Limit: 100, Offset: offset, Total: true, ServiceIDs: []string{web.ID}})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if resp.Limit != 100 || resp.Offset != offset || resp.Total != uint(len(webIDs)) {
			t.Fatalf("page %d: limit %d offset %d total %d", pages, resp.Limit, resp.Offset, resp.Total)
		}
		for _, in := range resp.Incidents {
			got = append(got, in.ID)
		}
		if !resp.More {
			break
		}
		offset += uint(len(resp.Incidents))
	}
	if pages != 2 || !slices.Equal(got, webIDs) {
		t.Fatalf("got %d incidents in %d pages, want %d in 2 (oldest first, no POLD outside the default window)", len(got), pages, len(webIDs))
	}

	cases := []struct {
		name string
		opts pagerduty.ListIncidentsOptions
		want []string
	}{
		{"statuses", pagerduty.ListIncidentsOptions{Statuses: []string{"acknowledged", "resolved"}}, []string{"PI0001", "PI0002"}},
		{"since until", pagerduty.ListIncidentsOptions{Since: t0.Add(10 * time.Minute).Format(time.RFC3339), Until: t0.Add(13 * time.Minute).Format(time.RFC3339)}, []string{"PI0010", "PI0011", "PI0012"}},
		{"date_range all", pagerduty.ListIncidentsOptions{DateRange: "all", SortBy: "created_at:asc", Limit: 2}, []string{"POLD", "PI0000"}},
		{"sort desc", pagerduty.ListIncidentsOptions{DateRange: "all", SortBy: "incident_number:desc", Limit: 1}, []string{"POLD"}},
		{"limit clamps to 100", pagerduty.ListIncidentsOptions{Limit: 500, ServiceIDs: []string{db.ID}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.ListIncidentsWithContext(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if resp.Limit != 100 || len(resp.Incidents) != 46 || resp.More {
					t.Fatalf("limit %d, %d incidents, more %v; want 100, 46, false", resp.Limit, len(resp.Incidents), resp.More)
				}
				return
			}
			var ids []string
			for _, in := range resp.Incidents {
				ids = append(ids, in.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestGetIncident(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	s.AddIncident(NewIncident{ID: "PABC123", Number: 42, Title: "Checkout down", ServiceID: web.ID, Priority: "P2", CreatedAt: t0, TriggeredBy: alice.ID})
	s.Assign("PABC123", bob.ID, t0.Add(time.Minute))
	s.Acknowledge("PABC123", bob.ID, t0.Add(2*time.Minute))

	in, err := c.GetIncidentWithContext(ctx, "PABC123")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"title", in.Title, "Checkout down"},
		{"status", in.Status, "acknowledged"},
		{"service", in.Service.ID, web.ID},
		{"priority", in.Priority.Name, "P2"},
		{"priority id", in.Priority.ID, "PPRIO02"},
		{"urgency", in.Urgency, "high"},
		{"created_at", in.CreatedAt, t0.Format(time.RFC3339)},
		{"html_url", in.HTMLURL, s.URL() + "/incidents/PABC123"},
		{"summary", in.Summary, "[#42] Checkout down"},
		{"assignee", in.Assignments[0].Assignee.ID, bob.ID},
		{"acknowledger", in.Acknowledgements[0].Acknowledger.ID, bob.ID},
		{"last_status_change_by", in.LastStatusChangeBy.ID, bob.ID},
		{"first trigger", in.FirstTriggerLogEntry.Type, "trigger_log_entry_reference"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if in.IncidentNumber != 42 {
		t.Errorf("incident_number = %d", in.IncidentNumber)
	}

	_, err = c.GetIncidentWithContext(ctx, "PNOPE00")
	if ae := apiErr(t, err); !ae.NotFound() || ae.APIError.ErrorObject.Code != 2100 {
		t.Fatalf("unknown incident: %v", err)
	}
}

func TestLogEntriesPaginateNewestFirst(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	id := s.AddIncident(NewIncident{Title: "Disk full", ServiceID: db.ID, CreatedAt: t0}).ID
	s.Assign(id, alice.ID, t0.Add(1*time.Second))
	s.AddNotifyEntries(id, 150, t0.Add(2*time.Second))
	s.Acknowledge(id, alice.ID, t0.Add(3*time.Second))
	s.Annotate(id, alice.ID, "looking", t0.Add(4*time.Second))
	s.SetPriority(id, "P1", alice.ID, t0.Add(5*time.Second))
	s.Escalate(id, bob.ID, t0.Add(6*time.Second))
	s.Resolve(id, bob.ID, t0.Add(7*time.Second))

	var all []pagerduty.LogEntry
	for offset := uint(0); ; {
		resp, err := c.ListIncidentLogEntriesWithContext(ctx, id, pagerduty.ListIncidentLogEntriesOptions{Limit: 100, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, resp.LogEntries...)
		if !resp.More {
			break
		}
		offset += uint(len(resp.LogEntries))
	}
	if len(all) != 157 {
		t.Fatalf("got %d log entries, want 157", len(all))
	}
	first, last := all[0], all[len(all)-1]
	if first.Type != "resolve_log_entry" || first.Agent.ID != bob.ID || last.Type != "trigger_log_entry" || last.Agent.Type != "service_reference" {
		t.Fatalf("newest %s by %s, oldest %s by %s", first.Type, first.Agent.ID, last.Type, last.Agent.Type)
	}
	if first.Incident.ID != id || first.Service.ID != db.ID || first.HTMLURL == "" || first.Channel.Type == "" {
		t.Fatalf("resolve entry lacks incident/service/html_url/channel: %+v", first)
	}

	resp, err := c.ListIncidentLogEntriesWithContext(ctx, id, pagerduty.ListIncidentLogEntriesOptions{IsOverview: true, TimeZone: "Asia/Tokyo", Total: true})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range resp.LogEntries {
		types = append(types, strings.TrimSuffix(e.Type, "_log_entry"))
	}
	want := []string{"resolve", "escalate", "priority_change", "annotate", "acknowledge", "assign", "trigger"}
	if !slices.Equal(types, want) || resp.Total != 7 {
		t.Fatalf("overview %v (total %d), want %v", types, resp.Total, want)
	}
	if got := resp.LogEntries[6].CreatedAt; got != t0.In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339) {
		t.Fatalf("time_zone not applied: %s", got)
	}
	if n := len(s.LogEntries(id)); n != 157 {
		t.Fatalf("LogEntries = %d", n)
	}
}

func TestNotes(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	id := s.AddIncident(NewIncident{Title: "Slow", ServiceID: web.ID, CreatedAt: t0}).ID
	s.Annotate(id, bob.ID, "seeded note", t0.Add(time.Minute))

	note, err := c.CreateIncidentNoteWithContext(ctx, id, pagerduty.IncidentNote{Content: "postmortem: PM-1", User: pagerduty.APIObject{Summary: alice.Email}})
	if err != nil {
		t.Fatal(err)
	}
	if note.ID == "" || note.User.ID != alice.ID || note.Content != "postmortem: PM-1" {
		t.Fatalf("created note %+v", note)
	}
	notes, err := c.ListIncidentNotesWithContext(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].Content != "seeded note" || notes[1].ID != note.ID {
		t.Fatalf("notes %+v", notes)
	}
	got := s.Notes(id)
	log := s.LogEntries(id)
	if len(got) != 2 || got[1].UserID != alice.ID || log[len(log)-1].Type != AnnotateLogEntry || log[len(log)-1].AgentID != alice.ID {
		t.Fatalf("state: notes %+v, last log %+v", got, log[len(log)-1])
	}
}

func TestManageIncidents(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	a := s.AddIncident(NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	b := s.AddIncident(NewIncident{Title: "B", ServiceID: web.ID, CreatedAt: t0, Priority: "P3"}).ID

	resp, err := c.ManageIncidentsWithContext(ctx, bob.Email, []pagerduty.ManageIncidentsOptions{
		{ID: a, Priority: &pagerduty.APIReference{ID: "PPRIO01", Type: "priority_reference"}, Status: "resolved", Resolution: "rolled back"},
		{ID: b, Status: "acknowledged"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Incidents) != 2 || resp.Incidents[0].Status != "resolved" || resp.Incidents[0].Priority.Name != "P1" || resp.Incidents[1].Status != "acknowledged" {
		t.Fatalf("answer %+v", resp.Incidents)
	}
	x, _ := s.Incident(a)
	if x.Status != StatusResolved || x.Priority != "P1" || x.LastStatusChangeBy != bob.ID || x.ResolvedAt.IsZero() {
		t.Fatalf("incident %+v", x)
	}
	var types []string
	for _, e := range x.LogEntries {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{TriggerLogEntry, PriorityChangeLogEntry, ResolveLogEntry}) || x.LogEntries[2].Note != "rolled back" || x.LogEntries[1].AgentID != bob.ID {
		t.Fatalf("log %+v", x.LogEntries)
	}

	// Changing the priority of the resolved incident: allowed by default,
	// refused when the account refuses it.
	if _, err := c.ManageIncidentsWithContext(ctx, bob.Email, []pagerduty.ManageIncidentsOptions{{ID: a, Priority: &pagerduty.APIReference{ID: "PPRIO02", Type: "priority_reference"}}}); err != nil {
		t.Fatal(err)
	}
	s.RefusePriorityOnResolved(true)
	_, err = c.ManageIncidentsWithContext(ctx, bob.Email, []pagerduty.ManageIncidentsOptions{{ID: a, Priority: &pagerduty.APIReference{ID: "PPRIO03", Type: "priority_reference"}}})
	if ae := apiErr(t, err); ae.StatusCode != 400 {
		t.Fatalf("priority on resolved: %v", err)
	}
	if x, _ := s.Incident(a); x.Priority != "P2" {
		t.Fatalf("refused change applied: %s", x.Priority)
	}
}

func TestMergeIncidents(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	target := s.AddIncident(NewIncident{Title: "target", ServiceID: web.ID, CreatedAt: t0}).ID
	src1 := s.AddIncident(NewIncident{Title: "dup 1", ServiceID: web.ID, CreatedAt: t0}).ID
	src2 := s.AddIncident(NewIncident{Title: "dup 2", ServiceID: db.ID, CreatedAt: t0}).ID
	s.Acknowledge(src1, alice.ID, t0.Add(time.Minute))

	in, err := c.MergeIncidentsWithContext(ctx, alice.Email, target, []pagerduty.MergeIncidentsOptions{{ID: src1, Type: "incident_reference"}, {ID: src2, Type: "incident_reference"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != target || in.Status != "triggered" || in.AlertCounts.All != 3 {
		t.Fatalf("answer %+v", in)
	}
	for _, id := range []string{src1, src2} {
		x, _ := s.Incident(id)
		last := x.LogEntries[len(x.LogEntries)-1]
		if x.Status != StatusResolved || x.ResolveReason == nil || x.ResolveReason.Type != "merge_resolve_reason" || x.ResolveReason.IncidentID != target || len(x.Acknowledgements) != 0 || last.Type != ResolveLogEntry || last.AgentID != alice.ID {
			t.Fatalf("source %s: %+v", id, x)
		}
		got, err := c.GetIncidentWithContext(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ResolveReason.Type != "merge_resolve_reason" || got.ResolveReason.Incident.ID != target {
			t.Fatalf("resolve_reason %+v", got.ResolveReason)
		}
	}

	// A resolved target refuses the merge and nothing changes.
	closed := s.AddIncident(NewIncident{Title: "closed", ServiceID: web.ID, CreatedAt: t0}).ID
	s.Resolve(closed, bob.ID, t0.Add(time.Minute))
	other := s.AddIncident(NewIncident{Title: "other", ServiceID: web.ID, CreatedAt: t0}).ID
	_, err = c.MergeIncidentsWithContext(ctx, alice.Email, closed, []pagerduty.MergeIncidentsOptions{{ID: other, Type: "incident_reference"}})
	ae := apiErr(t, err)
	if ae.StatusCode != 400 || !slices.ContainsFunc(ae.APIError.ErrorObject.Errors, func(e string) bool { return strings.Contains(e, "The target incident must be open") }) {
		t.Fatalf("merge into resolved: %v", err)
	}
	if x, _ := s.Incident(other); x.Status != StatusTriggered {
		t.Fatalf("refused merge changed the source: %s", x.Status)
	}
}

func TestPrioritiesAndUsers(t *testing.T) {
	_, c := seeded(t)
	ctx := context.Background()
	ps, err := c.ListPrioritiesWithContext(ctx, pagerduty.ListPrioritiesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps.Priorities {
		names = append(names, p.ID+"="+p.Name)
	}
	if want := []string{"PPRIO01=P1", "PPRIO02=P2", "PPRIO03=P3", "PPRIO04=P4", "PPRIO05=P5"}; !slices.Equal(names, want) {
		t.Fatalf("priorities %v", names)
	}

	u, err := c.GetUserWithContext(ctx, alice.ID, pagerduty.GetUserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != alice.Email || u.Name != alice.Name {
		t.Fatalf("user %+v", u)
	}
	users, err := c.ListUsersWithContext(ctx, pagerduty.ListUsersOptions{Query: "bob@"})
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 1 || users.Users[0].ID != bob.ID {
		t.Fatalf("users %+v", users.Users)
	}
	_, err = c.GetUserWithContext(ctx, "PUNKNWN", pagerduty.GetUserOptions{})
	if !apiErr(t, err).NotFound() {
		t.Fatalf("unknown user: %v", err)
	}
}

// TestConcurrentClients runs readers and writers at once; with -race it
// checks the single mutex covers the state and the shared spec validator.
func TestConcurrentClients(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	id := s.AddIncident(NewIncident{Title: "busy", ServiceID: web.ID, CreatedAt: t0}).ID
	const workers, each = 6, 10
	errs := make(chan error, workers*each*2)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				_, err := c.CreateIncidentNoteWithContext(ctx, id, pagerduty.IncidentNote{Content: fmt.Sprintf("w%d n%d", w, i), User: pagerduty.APIObject{Summary: bob.Email}})
				errs <- err
				_, err = c.ListIncidentLogEntriesWithContext(ctx, id, pagerduty.ListIncidentLogEntriesOptions{Limit: 100})
				errs <- err
				_ = s.Calls()
				_, _ = s.Incident(id)
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Notes(id)); n != workers*each {
		t.Fatalf("%d notes, want %d", n, workers*each)
	}
	// Snapshots are copies.
	x, _ := s.Incident(id)
	x.Notes[0].Content = "changed"
	if s.Notes(id)[0].Content == "changed" {
		t.Fatal("snapshot shares state")
	}
}
