package pagerdutytest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// rawResp is an answer read by send.
type rawResp struct {
	status int
	header http.Header
	body   map[string]any
}

// errorCode is error.code of a PagerDuty error body, or 0.
func (r rawResp) errorCode() int {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(float64)
	return int(code)
}

func (r rawResp) errorText() string {
	b, _ := json.Marshal(r.body["error"])
	return string(b)
}

// send makes a request the way a well-behaved client does; hdr may remove a
// header by mapping it to "-".
func send(t *testing.T, s *Server, method, target, body string, hdr map[string]string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token token="+s.Token())
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	req.Header.Set("Content-Type", "application/json")
	resp, raw, err := simkit.Exchange(req, hdr)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResp{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s answered non-JSON %q", method, target, raw)
	}
	return out
}

// plain is a simulator without spec validation, for requests the spec
// itself would reject (a missing From header, a missing token).
func plain(t *testing.T) *Server {
	t.Helper()
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	s.AddUser(alice)
	s.AddService(web)
	return s
}

func TestAuthentication(t *testing.T) {
	s := plain(t)
	s.AddIncident(NewIncident{ID: "PINC1", Title: "x", ServiceID: web.ID})
	for name, auth := range map[string]string{
		"missing":    "-",
		"wrong":      "Token token=nope",
		"bare token": s.Token(),
	} {
		t.Run(name, func(t *testing.T) {
			r := send(t, s, "GET", "/incidents/PINC1", "", map[string]string{"Authorization": auth})
			if r.status != 401 || r.errorCode() != 2006 {
				t.Fatalf("got %d %s", r.status, r.errorText())
			}
		})
	}
	if r := send(t, s, "GET", "/incidents/PINC1", "", nil); r.status != 200 {
		t.Fatalf("right token: %d", r.status)
	}
	if s.Count("GET /incidents/{id}") != 4 {
		t.Fatalf("calls %d", s.Count("GET /incidents/{id}"))
	}
}

func TestFromHeaderRequiredOnWrites(t *testing.T) {
	writes := []struct{ method, path, body string }{
		{"POST", "/incidents/PINC1/notes", `{"note":{"content":"hi"}}`},
		{"PUT", "/incidents", `{"incidents":[{"id":"PINC1","type":"incident_reference","status":"resolved"}]}`},
		{"PUT", "/incidents/PINC2/merge", `{"source_incidents":[{"id":"PINC1","type":"incident_reference"}]}`},
	}
	froms := []struct {
		name, from string
		code       int
	}{
		{"missing", "-", 2016},
		{"empty", "", 2001},
		{"not an email", "alice", 2001},
		{"unknown user", "mallory@example.com", 1008},
	}
	for _, w := range writes {
		for _, f := range froms {
			t.Run(w.method+" "+w.path+" "+f.name, func(t *testing.T) {
				s := plain(t)
				s.AddIncident(NewIncident{ID: "PINC1", Title: "x", ServiceID: web.ID})
				s.AddIncident(NewIncident{ID: "PINC2", Title: "y", ServiceID: web.ID})
				r := send(t, s, w.method, w.path, w.body, map[string]string{"From": f.from})
				if r.status != 400 || r.errorCode() != f.code {
					t.Fatalf("got %d %s, want 400 code %d", r.status, r.errorText(), f.code)
				}
				x, _ := s.Incident("PINC1")
				if x.Status != StatusTriggered || len(x.Notes) != 0 || len(x.LogEntries) != 1 {
					t.Fatalf("rejected write changed state: %+v", x)
				}
				calls := s.Calls()
				if len(calls) != 1 || calls[0].Status != 400 || calls[0].Body == nil {
					t.Fatalf("calls %+v", calls)
				}
			})
		}
	}
}

func TestFaults(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	id := s.AddIncident(NewIncident{Title: "x", ServiceID: web.ID, CreatedAt: t0}).ID

	t.Run("429 with rate-limit headers, Times", func(t *testing.T) {
		s.ResetCalls()
		s.Inject("GET /incidents/{id}/log_entries", Fault{Status: 429, Times: 2, RetryAfter: "3", RateLimitReset: "20"})
		for i := range 2 {
			r := send(t, s, "GET", "/incidents/"+id+"/log_entries", "", nil)
			h := r.header
			if r.status != 429 || r.errorCode() != 2020 || h.Get("Retry-After") != "3" || h.Get("ratelimit-reset") != "20" ||
				h.Get("ratelimit-limit") != "960" || h.Get("ratelimit-remaining") != "0" {
				t.Fatalf("call %d: %d %s %v", i, r.status, r.errorText(), h)
			}
		}
		if _, err := c.ListIncidentLogEntriesWithContext(ctx, id, pagerduty.ListIncidentLogEntriesOptions{}); err != nil {
			t.Fatalf("third call still faulted: %v", err)
		}
		var statuses []int
		for _, call := range s.Calls() {
			statuses = append(statuses, call.Status)
		}
		if s.Count("GET /incidents/{id}/log_entries") != 3 || statuses[0] != 429 || statuses[2] != 200 {
			t.Fatalf("calls %v", statuses)
		}
	})

	t.Run("5xx body", func(t *testing.T) {
		s.Inject("GET /incidents/{id}", Fault{Status: 503})
		_, err := c.GetIncidentWithContext(ctx, id)
		var ae pagerduty.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 503 || !ae.APIError.Valid || !ae.Temporary() {
			t.Fatalf("503: %v", err)
		}
	})

	t.Run("AfterApply: the write happens, the answer is lost", func(t *testing.T) {
		s.Inject("POST /incidents/{id}/notes", Fault{Status: 502, AfterApply: true})
		_, err := c.CreateIncidentNoteWithContext(ctx, id, pagerduty.IncidentNote{Content: "once", User: pagerduty.APIObject{Summary: alice.Email}})
		if apiErr(t, err).StatusCode != 502 {
			t.Fatalf("want 502: %v", err)
		}
		if n := s.Notes(id); len(n) != 1 || n[0].Content != "once" {
			t.Fatalf("notes %+v", n)
		}
	})

	t.Run("latency past the client's deadline", func(t *testing.T) {
		s.Inject("PUT /incidents", Fault{Latency: 300 * time.Millisecond, AfterApply: true})
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.ManageIncidentsWithContext(ctx, alice.Email, []pagerduty.ManageIncidentsOptions{{ID: id, Status: "acknowledged"}})
		// go-pagerduty flattens the cause with %v.
		if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
			t.Fatalf("want deadline exceeded, got %v", err)
		}
		if x, _ := s.Incident(id); x.Status != StatusAcknowledged {
			t.Fatalf("status %s", x.Status)
		}
	})

	t.Run("latency then a normal answer", func(t *testing.T) {
		s.Inject("GET /priorities", Fault{Latency: 60 * time.Millisecond})
		start := time.Now()
		if _, err := c.ListPrioritiesWithContext(ctx, pagerduty.ListPrioritiesOptions{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 60*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
	})

	t.Run("unknown route panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		s.Inject("GET /incidents/{incident_id}", Fault{Status: 500})
	})
}

func TestRelatedIncidents(t *testing.T) {
	s := New(t)
	s.AddService(web)
	for _, id := range []string{"PA", "PB", "PC"} {
		s.AddIncident(NewIncident{ID: id, Title: "t " + id, ServiceID: web.ID, CreatedAt: t0})
	}
	s.SetRelated("PA", "PB", "PC")
	r := send(t, s, "GET", "/incidents/PA/related_incidents", "", nil)
	list, _ := r.body["related_incidents"].([]any)
	if r.status != 200 || len(list) != 2 {
		t.Fatalf("got %d %v", r.status, r.body)
	}
	first := list[0].(map[string]any)["incident"].(map[string]any)
	if first["id"] != "PB" || first["title"] != "t PB" {
		t.Fatalf("first %v", first)
	}
	if r := send(t, s, "GET", "/incidents/PB/related_incidents", "", nil); r.status != 200 || len(r.body["related_incidents"].([]any)) != 0 {
		t.Fatalf("no related: %d %v", r.status, r.body)
	}

	s.DisableRelatedIncidents()
	if r := send(t, s, "GET", "/incidents/PA/related_incidents", "", nil); r.status != 402 || r.errorCode() != 2014 {
		t.Fatalf("disabled: %d %s", r.status, r.errorText())
	}
}

func TestPaginationBoundsAndDateRange(t *testing.T) {
	s := New(t)
	s.AddService(web)
	s.AddIncident(NewIncident{ID: "POLD", Title: "old", ServiceID: web.ID, CreatedAt: t0.AddDate(0, -2, 0)})
	cases := []struct {
		name, query string
		status      int
		code        int
		ids         int
	}{
		{"offset+limit over 10000", "?offset=9950&limit=100", 400, 2002, 0},
		{"default window is a month", "", 200, 0, 0},
		{"date_range=all", "?date_range=all", 200, 0, 1},
		{"explicit since", "?since=" + t0.AddDate(0, -3, 0).Format("2006-01-02"), 200, 0, 1},
		{"range over six months", "?since=" + t0.AddDate(-1, 0, 0).Format(time.RFC3339) + "&until=" + t0.Format(time.RFC3339), 400, 2005, 0},
		{"bad since", "?since=yesterday", 400, 2004, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, "GET", "/incidents"+tc.query, "", nil)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("got %d %s", r.status, r.errorText())
			}
			if r.status == 200 {
				if n := len(r.body["incidents"].([]any)); n != tc.ids || r.body["total"] != nil {
					t.Fatalf("%d incidents, total %v", n, r.body["total"])
				}
			}
		})
	}
}
