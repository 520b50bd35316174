package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

// These tests run the client against the stateful simulator, which checks
// every request against PagerDuty's official OpenAPI document.

// secretToken is distinctive so that a plain substring search finds it in
// a log line or an error message.
const secretToken = "pd-secret-TOKEN-123"

var (
	bot   = pagerdutytest.User{ID: "PUBOT01", Name: "Aftermath Bot", Email: "bot@example.com"}
	alice = pagerdutytest.User{ID: "PUALICE", Name: "Alice Example", Email: "alice@example.com"}
	bob   = pagerdutytest.User{ID: "PUBOB01", Name: "Bob Example", Email: "bob@example.com"}
	web   = pagerdutytest.Service{ID: "PSVCWEB", Name: "Web"}
	db    = pagerdutytest.Service{ID: "PSVCDB1", Name: "Database"}
)

// t0 is a whole second, so RFC 3339 answers round-trip exactly.
var t0 = time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)

// fastTransport keeps retries quick. Tests of a server-requested wait raise
// MaxBackoff, which caps Retry-After.
var fastTransport = TransportConfig{
	RequestsPerMinute: 600_000, Burst: 1000, MaxRetries: 3,
	MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, AttemptTimeout: 10 * time.Second,
}

type fixture struct {
	sim  *pagerdutytest.Server
	pd   *Client
	logs *testutil.Buffer
}

type fixtureConfig struct {
	cfg  Config
	tc   TransportConfig
	base http.RoundTripper
}

type option func(*fixtureConfig)

func withTransport(f func(*TransportConfig)) option {
	return func(c *fixtureConfig) { f(&c.tc) }
}

func withConfig(f func(*Config)) option {
	return func(c *fixtureConfig) { f(&c.cfg) }
}

func withBase(rt http.RoundTripper) option {
	return func(c *fixtureConfig) { c.base = rt }
}

// newFixture starts a simulator with the secret token and the spec
// validator, seeded with users and services, and a client logging JSON at
// debug level into a buffer. At cleanup it fails the test on any spec
// violation and on the token appearing in the logs.
func newFixture(t *testing.T, opts ...option) *fixture {
	t.Helper()
	sim := pagerdutytest.NewServer(pagerdutytest.Options{Token: secretToken, Validate: pagerdutytest.Validator(t)})
	for _, u := range []pagerdutytest.User{bot, alice, bob} {
		sim.AddUser(u)
	}
	sim.AddService(web)
	sim.AddService(db)

	fc := fixtureConfig{cfg: Config{APIURL: sim.URL(), Token: sim.Token(), From: bot.Email}, tc: fastTransport}
	for _, o := range opts {
		o(&fc)
	}
	logs := &testutil.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := &fixture{sim: sim, logs: logs, pd: New(fc.cfg, log, NewHTTPClient(fc.tc, fc.base, log))}
	t.Cleanup(func() {
		sim.Close()
		for _, v := range sim.Violations() {
			t.Errorf("pagerdutytest: %s", v)
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, secretToken) {
				t.Errorf("the API token is in a log line: %s", line)
			}
		}
	})
	return f
}

// wantError fails unless err is a *Error (possibly wrapped) whose text
// does not carry the token, and returns it.
func wantError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	noSecret(t, err)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not a *pagerduty.Error", err, err)
	}
	return e
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretToken) {
		t.Errorf("the API token is in an error: %v", err)
	}
}

// callsTo returns the calls the simulator received on route.
func callsTo(sim *pagerdutytest.Server, route string) []pagerdutytest.Call {
	var out []pagerdutytest.Call
	for _, c := range sim.Calls() {
		if c.Route == route {
			out = append(out, c)
		}
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// incidentView is what TestIncident compares of an Incident.
type incidentView struct {
	Number                   int
	Title, Status, Urgency   string
	Service, ServiceName     string
	PriorityID, PriorityName string
	CreatedAt, ResolvedAt    string
	Assignees                []string
	LastStatusChangeBy       string
	MergedInto               string
	Open                     bool
}

func viewOf(in Incident) incidentView {
	v := incidentView{
		Number: in.Number, Title: in.Title, Status: in.Status, Urgency: in.Urgency,
		Service: in.Service.ID, ServiceName: in.Service.Summary, PriorityName: in.PriorityName(),
		CreatedAt: rfc3339(in.CreatedAt), ResolvedAt: rfc3339(in.ResolvedAt),
		LastStatusChangeBy: in.LastStatusChangeBy.ID, MergedInto: in.MergedInto, Open: in.Open(),
	}
	if in.Priority != nil {
		v.PriorityID = in.Priority.ID
	}
	for _, a := range in.Assignees {
		v.Assignees = append(v.Assignees, a.ID)
	}
	return v
}

func TestIncident(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sim := f.sim
	sim.AddIncident(pagerdutytest.NewIncident{ID: "PACK042", Number: 42, Title: "Checkout down", ServiceID: web.ID, Priority: "P2", CreatedAt: t0, TriggeredBy: alice.ID})
	sim.Assign("PACK042", bob.ID, t0.Add(time.Minute))
	sim.Acknowledge("PACK042", bob.ID, t0.Add(2*time.Minute))

	sim.AddIncident(pagerdutytest.NewIncident{ID: "PTRIG01", Number: 43, Title: "Disk filling", ServiceID: db.ID, Urgency: "low", CreatedAt: t0.Add(5 * time.Minute)})
	sim.Assign("PTRIG01", alice.ID, t0.Add(6*time.Minute))
	sim.Assign("PTRIG01", bob.ID, t0.Add(7*time.Minute))

	sim.AddIncident(pagerdutytest.NewIncident{ID: "PRES001", Number: 44, Title: "Slow search", ServiceID: web.ID, Priority: "P4", CreatedAt: t0.Add(10 * time.Minute)})
	sim.Assign("PRES001", alice.ID, t0.Add(11*time.Minute))
	sim.Resolve("PRES001", alice.ID, t0.Add(40*time.Minute))

	sim.AddIncident(pagerdutytest.NewIncident{ID: "PTARGET", Number: 45, Title: "Payments failing", ServiceID: web.ID, CreatedAt: t0.Add(20 * time.Minute)})
	sim.AddIncident(pagerdutytest.NewIncident{ID: "PMERGED", Number: 46, Title: "Payments timeouts", ServiceID: web.ID, Priority: "P3", CreatedAt: t0.Add(21 * time.Minute)})
	if _, err := f.pd.Merge(ctx, "PTARGET", []string{"PMERGED"}); err != nil {
		t.Fatal(err)
	}
	merged, _ := sim.Incident("PMERGED")

	cases := []struct {
		name string
		id   string
		want incidentView
	}{
		{"acknowledged with a priority", "PACK042", incidentView{
			Number: 42, Title: "Checkout down", Status: StatusAcknowledged, Urgency: "high",
			Service: web.ID, ServiceName: web.Name, PriorityID: "PPRIO02", PriorityName: "P2",
			CreatedAt: rfc3339(t0), Assignees: []string{bob.ID}, LastStatusChangeBy: bob.ID, Open: true,
		}},
		{"triggered without a priority, two assignees", "PTRIG01", incidentView{
			Number: 43, Title: "Disk filling", Status: StatusTriggered, Urgency: "low",
			Service: db.ID, ServiceName: db.Name,
			CreatedAt: rfc3339(t0.Add(5 * time.Minute)), Assignees: []string{alice.ID, bob.ID}, LastStatusChangeBy: db.ID, Open: true,
		}},
		{"resolved", "PRES001", incidentView{
			Number: 44, Title: "Slow search", Status: StatusResolved, Urgency: "high",
			Service: web.ID, ServiceName: web.Name, PriorityID: "PPRIO04", PriorityName: "P4",
			CreatedAt: rfc3339(t0.Add(10 * time.Minute)), ResolvedAt: rfc3339(t0.Add(40 * time.Minute)), LastStatusChangeBy: alice.ID,
		}},
		{"merged away", "PMERGED", incidentView{
			Number: 46, Title: "Payments timeouts", Status: StatusResolved, Urgency: "high",
			Service: web.ID, ServiceName: web.Name, PriorityID: "PPRIO03", PriorityName: "P3",
			CreatedAt: rfc3339(t0.Add(21 * time.Minute)), ResolvedAt: rfc3339(merged.ResolvedAt.Truncate(time.Second)),
			LastStatusChangeBy: bot.ID, MergedInto: "PTARGET",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := f.pd.Incident(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if got := viewOf(in); !equalJSON(got, tc.want) {
				t.Errorf("Incident(%s)\n got %+v\nwant %+v", tc.id, got, tc.want)
			}
			if in.ID != tc.id || in.HTMLURL != sim.URL()+"/incidents/"+tc.id {
				t.Errorf("id %q html_url %q", in.ID, in.HTMLURL)
			}
		})
	}

	t.Run("unknown incident", func(t *testing.T) {
		sim.ResetCalls()
		_, err := f.pd.Incident(ctx, "PNOPE00")
		e := wantError(t, err)
		if !IsNotFound(err) || retryable(err) || StatusOf(err) != http.StatusNotFound {
			t.Errorf("IsNotFound %v, IsRetryable %v, StatusOf %d; want true, false, 404", IsNotFound(err), retryable(err), StatusOf(err))
		}
		if !strings.Contains(e.Error(), "get incident PNOPE00") || !strings.Contains(e.Error(), "Not Found") {
			t.Errorf("error %q lacks the operation or PagerDuty's message", e)
		}
		if n := sim.Count(""); n != 1 {
			t.Errorf("%d requests, want 1: a 404 is not retried", n)
		}
	})
}

// The conference bridge comes with the incident, read or listed: the client
// asks for it (include[]=conference_bridge), and an incident without one
// has none.
func TestIncidentConferenceBridge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bridge := &pagerdutytest.ConferenceBridge{URL: "https://meet.example.com/inc-42", Number: "+1-415-555-1212,,,,1234#"}
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: "PCALL01", Title: "With a call", ServiceID: web.ID, CreatedAt: t0, Conference: bridge})
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNOCALL", Title: "Without", ServiceID: web.ID, CreatedAt: t0.Add(time.Minute)})
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: "PLATER1", Title: "Call added later", ServiceID: web.ID, CreatedAt: t0.Add(2 * time.Minute)})
	f.sim.SetConferenceBridge("PLATER1", &pagerdutytest.ConferenceBridge{URL: "https://chat.example.com/inc"})
	want := map[string]*Conference{
		"PCALL01": {URL: bridge.URL, Number: bridge.Number},
		"PNOCALL": nil,
		"PLATER1": {URL: "https://chat.example.com/inc"},
	}
	f.sim.ResetCalls()
	for id, w := range want {
		in, err := f.pd.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !equalJSON(in.Conference, w) {
			t.Errorf("Incident(%s).Conference = %+v, want %+v", id, in.Conference, w)
		}
	}
	list, err := f.pd.Incidents(ctx, []string{web.ID}, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if !equalJSON(in.Conference, want[in.ID]) {
			t.Errorf("listed %s: Conference = %+v, want %+v", in.ID, in.Conference, want[in.ID])
		}
	}
	for _, c := range f.sim.Calls() {
		if !slices.Contains(c.Query["include[]"], "conference_bridge") {
			t.Errorf("%s %s does not ask for the conference bridge", c.Route, c.Query.Encode())
		}
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestIncidents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	since, until := t0, t0.Add(200*time.Minute)
	// 230 incidents a minute apart from since-10m: ten before the range,
	// twenty from until on (until is exclusive), every fifth on db.
	at := make(map[string]time.Time)
	svc := make(map[string]string)
	for n := range 230 {
		id := fmt.Sprintf("PINC%04d", n)
		at[id], svc[id] = since.Add(time.Duration(n-10)*time.Minute), web.ID
		if n%5 == 0 {
			svc[id] = db.ID
		}
		f.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "incident " + id, ServiceID: svc[id], CreatedAt: at[id]})
	}
	// Every status is listed.
	f.sim.Acknowledge("PINC0011", alice.ID, t0.Add(time.Hour))
	f.sim.Resolve("PINC0012", bob.ID, t0.Add(time.Hour))
	want := func(services ...string) []string {
		var ids []string
		for n := range 230 {
			id := fmt.Sprintf("PINC%04d", n)
			if !at[id].Before(since) && at[id].Before(until) && slices.Contains(services, svc[id]) {
				ids = append(ids, id)
			}
		}
		return ids
	}

	cases := []struct {
		name     string
		services []string
		want     []string
		requests int
	}{
		{"one service over two pages", []string{web.ID}, want(web.ID), 2},
		{"two services, two full pages", []string{web.ID, db.ID}, want(web.ID, db.ID), 2},
		{"no incidents", []string{"PSVCNONE"}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.sim.ResetCalls()
			got, err := f.pd.Incidents(ctx, tc.services, since, until)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("got %d incidents %v\nwant %d %v", len(ids), ids, len(tc.want), tc.want)
			}
			calls := f.sim.Calls()
			if len(calls) != tc.requests {
				t.Fatalf("%d requests, want %d", len(calls), tc.requests)
			}
			for i, c := range calls {
				q := c.Query
				if c.Route != "GET /incidents" || q.Get("limit") != "100" {
					t.Errorf("request %d: %s limit=%q, want GET /incidents limit=100", i, c.Route, q.Get("limit"))
				}
				if off := q.Get("offset"); off != strconv.Itoa(i*100) && (i != 0 || off != "") {
					t.Errorf("request %d: offset=%q, want %d", i, off, i*100)
				}
				if !slices.Equal(q["service_ids[]"], tc.services) || q.Get("since") != rfc3339(since) || q.Get("until") != rfc3339(until) {
					t.Errorf("request %d: service_ids %v since %q until %q", i, q["service_ids[]"], q.Get("since"), q.Get("until"))
				}
				if st := q["statuses[]"]; len(st) != 3 {
					t.Errorf("request %d: statuses %v, want all three", i, st)
				}
			}
		})
	}
}

func TestLogEntries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sim := f.sim
	const id = "PLOG001"
	sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "Disk full", ServiceID: db.ID, CreatedAt: t0})
	// Assigned and notified in the second it triggered, as PagerDuty does:
	// entries with equal times must keep the order they were written in.
	sim.Assign(id, alice.ID, t0)
	sim.AddNotifyEntries(id, 150, t0.Add(time.Second))
	sim.Acknowledge(id, alice.ID, t0.Add(3*time.Second))
	sim.Annotate(id, alice.ID, "rolled back the deploy", t0.Add(4*time.Second))
	sim.SetPriority(id, "P1", alice.ID, t0.Add(5*time.Second))
	sim.Escalate(id, bob.ID, t0.Add(6*time.Second))
	sim.Resolve(id, bob.ID, t0.Add(7*time.Second))

	var all, overview []string
	for _, e := range sim.LogEntries(id) { // oldest first
		all = append(all, e.ID)
		if e.Type != pagerdutytest.NotifyLogEntry {
			overview = append(overview, e.ID)
		}
	}
	cases := []struct {
		name     string
		overview bool
		want     []string
		requests int
	}{
		{"full log over two pages", false, all, 2},
		{"overview drops notifications", true, overview, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.ResetCalls()
			got, err := f.pd.LogEntries(ctx, id, tc.overview)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
				if tc.overview && e.Type == pagerdutytest.NotifyLogEntry {
					t.Errorf("overview has notify entry %s", e.ID)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("got %d entries, want %d, oldest first:\n got %v\nwant %v", len(ids), len(tc.want), ids, tc.want)
			}
			calls := sim.Calls()
			if len(calls) != tc.requests {
				t.Fatalf("%d requests, want %d", len(calls), tc.requests)
			}
			for i, c := range calls {
				q := c.Query
				if q.Get("limit") != "100" || q.Get("offset") != strconv.Itoa(i*100) || q.Get("is_overview") != strconv.FormatBool(tc.overview) {
					t.Errorf("request %d: %s", i, q.Encode())
				}
			}

			byType := map[string]LogEntry{}
			for _, e := range got {
				byType[e.Type] = e
			}
			trigger, note, esc := byType["trigger_log_entry"], byType["annotate_log_entry"], byType["escalate_log_entry"]
			if trigger.Agent.ID != db.ID || trigger.Agent.Type != "service_reference" || !trigger.CreatedAt.Equal(t0) || trigger.IncidentID != id {
				t.Errorf("trigger entry %+v", trigger)
			}
			if note.Note != "rolled back the deploy" || note.Agent.ID != alice.ID || note.Channel != "note" || !note.CreatedAt.Equal(t0.Add(4*time.Second)) {
				t.Errorf("annotate entry %+v, want the note's text, by alice, on the note channel", note)
			}
			if len(esc.Assignees) != 1 || esc.Assignees[0].ID != bob.ID || esc.HTMLURL == "" {
				t.Errorf("escalate entry %+v", esc)
			}
		})
	}

	t.Run("unknown incident", func(t *testing.T) {
		_, err := f.pd.LogEntries(ctx, "PNOPE00", true)
		wantError(t, err)
		if !IsNotFound(err) || retryable(err) {
			t.Errorf("error %v: want a 404, not retryable", err)
		}
	})
}

func TestNotes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "Slow", ServiceID: web.ID, CreatedAt: t0}).ID
	f.sim.Annotate(id, alice.ID, "seen on checkout too", t0.Add(time.Minute))

	notes, err := f.pd.Notes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || notes[0].ID == "" || notes[0].Content != "seen on checkout too" || notes[0].User.ID != alice.ID ||
		notes[0].User.Summary != alice.Name || !notes[0].CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("notes %+v", notes)
	}

	f.sim.ResetCalls()
	n, err := f.pd.AddNote(ctx, id, "Post-mortem: PM-7")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID == "" || n.Content != "Post-mortem: PM-7" || n.User.ID != bot.ID || n.CreatedAt.IsZero() {
		t.Errorf("AddNote returned %+v", n)
	}
	calls := f.sim.Calls()
	if len(calls) != 1 || calls[0].Route != "POST /incidents/{id}/notes" || calls[0].From != bot.Email {
		t.Fatalf("calls %+v; want one POST note with From %s", calls, bot.Email)
	}
	if got := f.sim.Notes(id); len(got) != 2 || got[1].ID != n.ID || got[1].UserID != bot.ID {
		t.Errorf("simulator notes %+v", got)
	}
	notes, err = f.pd.Notes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[1].ID != n.ID {
		t.Errorf("notes after AddNote %+v", notes)
	}

	_, err = f.pd.Notes(ctx, "PNOPE00")
	wantError(t, err)
	if !IsNotFound(err) {
		t.Errorf("notes of an unknown incident: %v", err)
	}
}

// TestWritesNeedFrom: without a From user every write fails at once with
// a clear error, before any request.
func TestWritesNeedFrom(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.From = "" }))
	ctx := context.Background()
	a := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	b := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "B", ServiceID: web.ID, CreatedAt: t0}).ID
	cases := []struct {
		name  string
		write func() error
	}{
		{"AddNote", func() error { _, err := f.pd.AddNote(ctx, a, "hello"); return err }},
		{"SetPriority", func() error { return f.pd.SetPriority(ctx, a, "PPRIO01") }},
		{"Resolve", func() error { return f.pd.Resolve(ctx, []string{a, b}) }},
		{"Merge", func() error { _, err := f.pd.Merge(ctx, a, []string{b}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, tc.write())
			if e.Status != 0 || e.Retryable() || !strings.Contains(e.Error(), "PAGERDUTY_FROM_EMAIL") || !strings.Contains(e.Error(), "From") {
				t.Errorf("error %q (status %d, retryable %v): want a clear, permanent error naming the From setting", e, e.Status, e.Retryable())
			}
		})
	}
	if n := f.sim.Count(""); n != 0 {
		t.Errorf("%d requests sent without a From user", n)
	}
	if f.pd.From() != "" {
		t.Errorf("From() = %q", f.pd.From())
	}
}

func TestSetPriority(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0, Priority: "P3"}).ID
	p, err := f.pd.PriorityByName(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	f.sim.ResetCalls()
	if err := f.pd.SetPriority(ctx, id, p.ID); err != nil {
		t.Fatal(err)
	}
	x, _ := f.sim.Incident(id)
	last := x.LogEntries[len(x.LogEntries)-1]
	if x.Priority != "P1" || last.Type != pagerdutytest.PriorityChangeLogEntry || last.AgentID != bot.ID {
		t.Errorf("priority %q, last entry %s by %s; want P1 set by the bot", x.Priority, last.Type, last.AgentID)
	}
	if calls := f.sim.Calls(); len(calls) != 1 || calls[0].Route != "PUT /incidents" || calls[0].From != bot.Email {
		t.Errorf("calls %+v", calls)
	}

	err = f.pd.SetPriority(ctx, id, "PNOSUCH")
	e := wantError(t, err)
	if e.Status != http.StatusBadRequest || e.Retryable() || !strings.Contains(e.Message, "Invalid Priority") {
		t.Errorf("unknown priority: %v (retryable %v)", e, e.Retryable())
	}
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		ids = append(ids, f.sim.AddIncident(pagerdutytest.NewIncident{Title: fmt.Sprint("dup ", i), ServiceID: web.ID, CreatedAt: t0}).ID)
	}
	if err := f.pd.Resolve(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if n := f.sim.Count("PUT /incidents"); n != 1 {
		t.Errorf("%d requests for 3 incidents, want one bulk update", n)
	}
	for _, id := range ids {
		if x, _ := f.sim.Incident(id); x.Status != pagerdutytest.StatusResolved || x.LastStatusChangeBy != bot.ID {
			t.Errorf("%s: %s by %q, want resolved by the bot", id, x.Status, x.LastStatusChangeBy)
		}
	}

	f.sim.ResetCalls()
	if err := f.pd.Resolve(ctx, nil); err != nil || f.sim.Count("") != 0 {
		t.Errorf("Resolve(nil) = %v after %d requests; want nil and none", err, f.sim.Count(""))
	}

	open := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "open", ServiceID: web.ID, CreatedAt: t0}).ID
	err := f.pd.Resolve(ctx, []string{open, "PNOPE00"})
	wantError(t, err)
	if !IsNotFound(err) {
		t.Errorf("resolve with an unknown incident: %v", err)
	}
	if x, _ := f.sim.Incident(open); x.Status != pagerdutytest.StatusTriggered {
		t.Errorf("a refused bulk update resolved %s", open)
	}
}

func TestMerge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	add := func(title string) string {
		return f.sim.AddIncident(pagerdutytest.NewIncident{Title: title, ServiceID: web.ID, CreatedAt: t0}).ID
	}

	t.Run("into an open target", func(t *testing.T) {
		target, s1, s2 := add("target"), add("dup 1"), add("dup 2")
		f.sim.ResetCalls()
		in, err := f.pd.Merge(ctx, target, []string{s1, s2})
		if err != nil {
			t.Fatal(err)
		}
		if in.ID != target || !in.Open() {
			t.Errorf("Merge returned %+v, want the open target", in)
		}
		if c := f.sim.Calls(); len(c) != 1 || c[0].Route != "PUT /incidents/{id}/merge" || c[0].From != bot.Email {
			t.Errorf("calls %+v", c)
		}
		for _, id := range []string{s1, s2} {
			src, err := f.pd.Incident(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if src.MergedInto != target || src.Open() {
				t.Errorf("%s: merged into %q, open %v", id, src.MergedInto, src.Open())
			}
		}
	})

	t.Run("into a resolved target", func(t *testing.T) {
		target, src := add("closed"), add("late duplicate")
		f.sim.Resolve(target, bob.ID, t0.Add(time.Minute))
		f.sim.ResetCalls()
		_, err := f.pd.Merge(ctx, target, []string{src})
		e := wantError(t, err)
		if !strings.Contains(e.Error(), "The target incident must be open") {
			t.Errorf("error %q lacks PagerDuty's text", e)
		}
		if retryable(err) || StatusOf(err) != http.StatusBadRequest || IsNotFound(err) {
			t.Errorf("IsRetryable %v, StatusOf %d; want false, 400", retryable(err), StatusOf(err))
		}
		if n := f.sim.Count(""); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		if x, _ := f.sim.Incident(src); x.Status != pagerdutytest.StatusTriggered {
			t.Errorf("refused merge changed the source to %s", x.Status)
		}
	})
}

func TestPrioritiesCached(t *testing.T) {
	now := t0
	f := newFixture(t, withConfig(func(c *Config) {
		c.PriorityTTL = time.Minute
		c.Now = func() time.Time { return now }
	}))
	ctx := context.Background()
	const route = "GET /priorities"

	ps, err := f.pd.Priorities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.ID+"="+p.Name)
	}
	if want := []string{"PPRIO01=P1", "PPRIO02=P2", "PPRIO03=P3", "PPRIO04=P4", "PPRIO05=P5"}; !slices.Equal(got, want) {
		t.Fatalf("priorities %v, want %v (highest first)", got, want)
	}
	ps[0].Name = "changed by the caller"

	steps := []struct {
		advance  time.Duration
		requests int
	}{
		{0, 1},
		{59 * time.Second, 1},
		{time.Second, 2}, // the TTL is reached
		{30 * time.Second, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ps, err := f.pd.Priorities(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.sim.Count(route); n != s.requests {
			t.Errorf("step %d (+%s): %d requests, want %d", i, s.advance, n, s.requests)
		}
		if ps[0].Name != "P1" {
			t.Errorf("step %d: cache changed through a returned slice: %+v", i, ps[0])
		}
	}
	if q := callsTo(f.sim, route)[0].Query; q.Get("limit") != "100" {
		t.Errorf("query %s", q.Encode())
	}
}

func TestPriorityByName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		wantID string // "" = not found
	}{
		{"P3", "PPRIO03"},
		{"p1", "PPRIO01"},
		{"Sev1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.pd.PriorityByName(ctx, tc.name)
			if tc.wantID != "" {
				if err != nil || p.ID != tc.wantID {
					t.Fatalf("got %+v, %v; want %s", p, err, tc.wantID)
				}
				return
			}
			e := wantError(t, err)
			if !strings.Contains(e.Error(), tc.name) || e.Retryable() {
				t.Errorf("error %q (retryable %v): want the name, not retryable", e, e.Retryable())
			}
		})
	}
	if n := f.sim.Count("GET /priorities"); n != 1 {
		t.Errorf("%d requests, want 1 (cached)", n)
	}
}

func TestUserCached(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 3 {
		u, err := f.pd.User(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u != (User{ID: alice.ID, Name: alice.Name, Email: alice.Email, HTMLURL: f.sim.URL() + "/users/" + alice.ID}) {
			t.Fatalf("user %+v", u)
		}
	}
	if n := f.sim.Count("GET /users/{id}"); n != 1 {
		t.Errorf("%d requests, want 1 (cached)", n)
	}
	_, err := f.pd.User(ctx, "PUNKNWN")
	wantError(t, err)
	if !IsNotFound(err) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestRelated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	add := func(id string, at time.Time) {
		f.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: id, ServiceID: web.ID, CreatedAt: at})
	}
	add("PMAIN01", t0)
	add("PREL001", t0.Add(time.Minute))
	add("PREL002", t0.Add(3*time.Minute))
	add("PALONE1", t0)
	f.sim.SetRelated("PMAIN01", "PREL001", "PREL002")

	t.Run("related incidents", func(t *testing.T) {
		ids, err := f.pd.Related(ctx, "PMAIN01")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"PREL002", "PREL001"}; !slices.Equal(ids, want) {
			t.Errorf("got %v, want %v (PagerDuty's order, most recent first)", ids, want)
		}
		c := callsTo(f.sim, "GET /incidents/{id}/related_incidents")
		if len(c) != 1 || c[0].Path != "/incidents/PMAIN01/related_incidents" {
			t.Errorf("calls %+v", c)
		}
	})
	t.Run("none", func(t *testing.T) {
		ids, err := f.pd.Related(ctx, "PALONE1")
		if err != nil || len(ids) != 0 {
			t.Errorf("got %v, %v; want none", ids, err)
		}
	})
	t.Run("unknown incident", func(t *testing.T) {
		_, err := f.pd.Related(ctx, "PNOPE00")
		e := wantError(t, err)
		if !IsNotFound(err) || e.Retryable() || !strings.Contains(e.Message, "Not Found") {
			t.Errorf("error %v: want PagerDuty's 404, not retryable", err)
		}
	})
	t.Run("not on this plan", func(t *testing.T) {
		f.sim.DisableRelatedIncidents()
		f.sim.ResetCalls()
		_, err := f.pd.Related(ctx, "PMAIN01")
		noSecret(t, err)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v is not ErrUnavailable", err)
		}
		if retryable(err) || StatusOf(err) != http.StatusPaymentRequired {
			t.Errorf("IsRetryable %v, StatusOf %d; want false, 402", retryable(err), StatusOf(err))
		}
		if n := f.sim.Count(""); n != 1 {
			t.Errorf("%d requests, want 1 (a 402 is not retried)", n)
		}
	})
}

// TestSecretsNeverLeak drives successes and failures of every kind with a
// client that logs everything; the fixture checks the logs at cleanup and
// each error is checked here.
func TestSecretsNeverLeak(t *testing.T) {
	f := newFixture(t, withTransport(func(c *TransportConfig) { c.MaxRetries = 2 }))
	ctx := context.Background()
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "leak?", ServiceID: web.ID, CreatedAt: t0}).ID
	f.sim.Inject("GET /incidents/{id}", pagerdutytest.Fault{Status: 429, RetryAfter: "0"})
	f.sim.Inject("GET /incidents/{id}/notes", pagerdutytest.Fault{Status: 500, Times: 5})
	f.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 502})

	var errs []error
	collect := func(err error) { errs = append(errs, err) }
	_, err := f.pd.Incident(ctx, id) // retried once
	collect(err)
	_, err = f.pd.Incident(ctx, "PNOPE00")
	collect(err)
	_, err = f.pd.Notes(ctx, id) // retries exhausted
	collect(err)
	_, err = f.pd.AddNote(ctx, id, "x") // 502 on a write
	collect(err)
	_, err = f.pd.Merge(ctx, "PNOPE00", []string{id})
	collect(err)
	_, err = f.pd.LogEntries(ctx, id, false)
	collect(err)
	_, err = f.pd.Related(ctx, id)
	collect(err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.pd.Incident(cctx, id)
	collect(err)

	// A wrong token is answered 401; it must not be echoed either.
	const wrong = "pd-secret-WRONG-456"
	logs := &testutil.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	other := New(Config{APIURL: f.sim.URL(), Token: wrong, From: bot.Email}, log, NewHTTPClient(fastTransport, nil, log))
	_, err = other.Incident(ctx, id)
	if e := wantError(t, err); e.Status != http.StatusUnauthorized || e.Retryable() {
		t.Errorf("wrong token: %v", err)
	}
	collect(err)

	f.sim.Close()
	_, err = f.pd.Incident(ctx, id) // transport error
	collect(err)

	failures := 0
	for _, err := range errs {
		if err != nil {
			failures++
			for _, secret := range []string{secretToken, wrong} {
				if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%#v", err), secret) {
					t.Errorf("a token is in the error %v", err)
				}
			}
		}
	}
	if failures != 7 {
		t.Errorf("%d of %d calls failed, want 7: %v", failures, len(errs), errs)
	}
	if strings.Contains(logs.String(), wrong) {
		t.Errorf("the wrong token is in the logs")
	}
	if !strings.Contains(f.logs.String(), "retrying PagerDuty request") {
		t.Errorf("no retry was logged; the log check proves nothing:\n%s", f.logs)
	}
}

// The From user (the author of aftermath's notes) is found by its exact
// email, even behind a user whose email merely contains it, on any page,
// and asked for once; without From, or with no such user, there is none.
func TestFromUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Listed first by name, and matched by the query as well.
	f.sim.AddUser(pagerdutytest.User{ID: "PUAAAAA", Name: "Aaron", Email: "robot+" + bot.Email})
	for i := range 120 {
		f.sim.AddUser(pagerdutytest.User{ID: fmt.Sprintf("PUX%04d", i), Name: fmt.Sprintf("A %03d", i), Email: fmt.Sprintf("%d.%s", i, bot.Email)})
	}
	for range 3 {
		u, found, err := f.pd.FromUser(ctx)
		if err != nil || !found || u.ID != bot.ID || u.Email != bot.Email {
			t.Fatalf("FromUser = %+v, %v, %v", u, found, err)
		}
	}
	if n := f.sim.Count("GET /users"); n != 2 {
		t.Errorf("%d requests, want 2 (two pages, then cached)", n)
	}
	none := newFixture(t, withConfig(func(c *Config) { c.From = "" }))
	if _, found, err := none.pd.FromUser(ctx); found || err != nil || none.sim.Count("GET /users") != 0 {
		t.Errorf("without From: found %v, %v, %d requests", found, err, none.sim.Count("GET /users"))
	}
	nobody := newFixture(t, withConfig(func(c *Config) { c.From = "nobody@example.com" }))
	if _, found, err := nobody.pd.FromUser(ctx); found || err != nil {
		t.Errorf("an email no user has: found %v, %v", found, err)
	}
}
