package pagerdutytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// An incident's teams, seeded with AddIncident, come back as team
// references through the real client (GET /incidents/{id} and the list),
// in the incident's webhook data, each as the spec's TeamReference; an
// incident without teams has []. (The whole answer is not checked against
// the spec's response: the spec declares alert_grouping not nullable yet
// says it is null without alerts, as the simulator renders it.)
func TestIncidentTeams(t *testing.T) {
	s, c := seeded(t)
	ctx := context.Background()
	teams := []Team{{ID: "PTEAM1", Name: "Payments"}, {ID: "PTEAM2"}}
	s.AddIncident(NewIncident{ID: "PTEAMED", Title: "Checkout down", ServiceID: web.ID, CreatedAt: t0, Teams: teams})
	s.AddIncident(NewIncident{ID: "PLONELY", Title: "No team", ServiceID: web.ID, CreatedAt: t0})
	if x, _ := s.Incident("PTEAMED"); !slices.Equal(x.Teams, teams) {
		t.Fatalf("snapshot teams %v", x.Teams)
	}
	teams[0].ID = "PCHANGED" // the simulator keeps its own copy
	in, err := c.GetIncidentWithContext(ctx, "PTEAMED")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tm := range in.Teams {
		got = append(got, tm.ID+"/"+tm.Type+"/"+tm.Summary+"/"+tm.Self)
	}
	want := []string{"PTEAM1/team_reference/Payments/" + s.URL() + "/teams/PTEAM1", "PTEAM2/team_reference/PTEAM2/" + s.URL() + "/teams/PTEAM2"}
	if !slices.Equal(got, want) {
		t.Fatalf("teams %v, want %v", got, want)
	}
	list, err := c.ListIncidentsWithContext(ctx, pagerduty.ListIncidentsOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list.Incidents {
		if n := len(x.Teams); x.ID == "PTEAMED" && n != 2 || x.ID == "PLONELY" && n != 0 {
			t.Errorf("listed %s with %d teams", x.ID, n)
		}
	}

	var hook struct {
		Event struct {
			Data struct {
				Teams []struct{ ID, Type, Summary string } `json:"teams"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(s.IncidentWebhook("PTEAMED", "incident.resolved", "", "secret").Body, &hook); err != nil {
		t.Fatal(err)
	}
	if ts := hook.Event.Data.Teams; len(ts) != 2 || ts[0].ID != "PTEAM1" || ts[0].Type != "team_reference" || ts[0].Summary != "Payments" {
		t.Fatalf("webhook teams %+v", ts)
	}
	if r := send(t, s, "GET", "/incidents/PLONELY", "", nil); r.status != 200 || !strings.Contains(jsonOf(r.body["incident"]), `"teams":[]`) {
		t.Fatalf("incident without teams: %d %s", r.status, jsonOf(r.body))
	}

	// The answer against the spec's response schema.
	spec, ok := testspecs.Optional(t, SpecFile)
	if !ok {
		return
	}
	sp, err := specs.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.URL()+"/incidents/PTEAMED", nil)
	req.Header.Set("Authorization", "Token token="+s.Token())
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	route, _, err := sp.Router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	schema := route.Spec.Components.Schemas["TeamReference"]
	if schema == nil {
		t.Fatal("the spec has no TeamReference schema")
	}
	var body struct {
		Incident struct {
			Teams []any `json:"teams"`
		} `json:"incident"`
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, tm := range body.Incident.Teams {
		if err := schema.Value.VisitJSON(tm); err != nil {
			t.Errorf("team %v against TeamReference: %v", tm, err)
		}
	}
	if err := schema.Value.VisitJSON(map[string]any{"id": "PTEAM1", "type": "user_reference"}); err == nil {
		t.Error("TeamReference accepts a user_reference: the check above cannot fail")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
