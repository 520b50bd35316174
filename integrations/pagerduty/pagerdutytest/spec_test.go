package pagerdutytest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/getkin/kin-openapi/openapi3"
)

// specValidator returns the shared validator, logging how long the first
// load took and what patchSpec repaired.
func specValidator(t *testing.T) func(*http.Request, []byte) error {
	t.Helper()
	spec := testspecs.Read(t, SpecFile)
	start := time.Now()
	v, err := SpecValidator(spec)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := specs.Load(spec)
	t.Logf("SpecValidator took %v (the process's one parse took %v); patched %q", time.Since(start), specs.LastLoadTime(), sp.Patched)
	return v
}

func TestSpecViolationsAreRecordedAndRejected(t *testing.T) {
	s := NewServer(Options{Validate: specValidator(t)})
	t.Cleanup(s.Close)
	s.AddUser(alice)
	s.AddService(web)
	id := s.AddIncident(NewIncident{Title: "x", ServiceID: web.ID}).ID
	from := map[string]string{"From": alice.Email}

	cases := []struct {
		name, method, target, body string
		hdr                        map[string]string
		want                       string // in the violation
	}{
		{"bad enum in a query param", "GET", "/incidents?statuses%5B%5D=closed", "", nil, `"statuses[]"`},
		{"bad enum in the body", "PUT", "/incidents", `{"incidents":[{"id":"` + id + `","type":"incident_reference","status":"closed"}]}`, from, "status"},
		{"malformed body", "POST", "/incidents/" + id + "/notes", `{"note":`, from, "request body"},
		{"missing required body field", "PUT", "/incidents/" + id + "/merge", `{}`, from, "source_incidents"},
		{"missing From", "POST", "/incidents/" + id + "/notes", `{"note":{"content":"x"}}`, nil, `"From"`},
		{"missing Accept", "GET", "/incidents/" + id, "", map[string]string{"Accept": "-"}, `"Accept"`},
		{"not a date-time", "GET", "/incidents/" + id + "/log_entries?since=yesterday", "", nil, `"since"`},
		{"route not in the spec", "GET", "/incidents/" + id + "/nonsense", "", nil, "no matching operation"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, tc.method, tc.target, tc.body, tc.hdr)
			if r.status != 400 || r.errorCode() != 2001 {
				t.Fatalf("got %d %s", r.status, r.errorText())
			}
			vs := s.Violations()
			if len(vs) != i+1 || !strings.Contains(vs[i], tc.want) {
				t.Fatalf("violation %d = %q, want it to mention %s (all: %q)", i, vs[len(vs)-1], tc.want, vs)
			}
		})
	}
	x, _ := s.Incident(id)
	if x.Status != StatusTriggered || len(x.Notes) != 0 {
		t.Fatalf("rejected requests changed state: %+v", x)
	}
	if r := send(t, s, "GET", "/incidents/"+id, "", nil); r.status != 200 || len(s.Violations()) != len(cases) {
		t.Fatalf("valid request: %d, violations %d", r.status, len(s.Violations()))
	}
}

// TestSpecLoadedOncePerProcess checks that SpecValidator and New share one
// parse; simspec's tests cover the cache itself (concurrent first callers,
// equal bytes).
func TestSpecLoadedOncePerProcess(t *testing.T) {
	specValidator(t)
	New(t)
	New(t)
	if n := specs.Loads(); n != 1 {
		t.Fatalf("spec parsed %d times, want 1", n)
	}
}

// TestPatchSpec reproduces the official document's mistake in miniature: a
// response $ref into #/components/requestBodies, which kin-openapi refuses.
func TestPatchSpec(t *testing.T) {
	const doc = `{
	  "openapi": "3.0.2", "info": {"title": "t", "version": "1"},
	  "paths": {"/x": {"put": {"responses": {"200": {"$ref": "#/components/requestBodies/Data"}}}}},
	  "components": {"requestBodies": {"Data": {"description": "the data",
	    "content": {"application/json": {"schema": {"type": "object"}}}}}}
	}`
	if _, err := openapi3.NewLoader().LoadFromData([]byte(doc)); err == nil {
		t.Fatal("unpatched document loaded; the test no longer reproduces the mistake")
	}
	var d openapi3.T
	if err := d.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if got := patchSpec(&d); len(got) != 1 || got[0] != "#/paths//x/put/responses/200" {
		t.Fatalf("patched %q", got)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(&d, nil); err != nil {
		t.Fatalf("patched document: %v", err)
	}
	resp := d.Paths.Value("/x").Put.Responses.Value("200").Value
	if *resp.Description != "the data" || resp.Content.Get("application/json") == nil {
		t.Fatalf("patched response %+v", resp)
	}
}
