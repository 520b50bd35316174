package simkit

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	var rec Recorder
	reqs := []struct {
		method, target, route string
		status                int
	}{
		{"GET", "/a/1?x=1&x=2", "GET /a/{id}", 200},
		{"POST", "/a", "POST /a", 201},
		{"GET", "/a/2", "GET /a/{id}", 0}, // never answered
	}
	for i, q := range reqs {
		r, _ := http.NewRequest(q.method, "http://sim"+q.target, nil)
		r.Header.Set("From", "bob@example.com")
		c := rec.record(r, q.route, []byte{byte('a' + i)}, t0.Add(time.Duration(i)*time.Second))
		if q.status != 0 {
			rec.answered(c, q.status)
		}
	}
	calls := rec.Calls()
	if len(calls) != 3 {
		t.Fatalf("calls %+v", calls)
	}
	first := calls[0]
	if first.Method != "GET" || first.Path != "/a/1" || !slices.Equal(first.Query["x"], []string{"1", "2"}) ||
		first.From != "bob@example.com" || string(first.Body) != "a" || first.Status != 200 || !first.At.Equal(t0) {
		t.Fatalf("first call %+v", first)
	}
	if calls[2].Status != 0 {
		t.Fatalf("unanswered call %+v", calls[2])
	}
	calls[1].Body[0] = 'z'
	if again := rec.Calls(); string(again[1].Body) != "b" {
		t.Fatal("Calls shares bodies with the record")
	}

	for _, tc := range []struct {
		route string
		n     int
	}{{"", 3}, {"GET /a/{id}", 2}, {"POST /a", 1}, {"GET /b", 0}} {
		if n := rec.Count(tc.route); n != tc.n {
			t.Errorf("Count(%q) = %d, want %d", tc.route, n, tc.n)
		}
	}

	r, _ := http.NewRequest("PUT", "http://sim/a/1?force=1", nil)
	rec.violation(r, "no such thing")
	vs := rec.Violations()
	if want := []string{"PUT /a/1?force=1: no such thing"}; !slices.Equal(vs, want) {
		t.Fatalf("violations %q, want %q", vs, want)
	}
	vs[0] = "changed"
	rec.ResetCalls()
	if rec.Count("") != 0 || len(rec.Calls()) != 0 || rec.Violations()[0] != "PUT /a/1?force=1: no such thing" {
		t.Fatalf("after ResetCalls: %d calls, violations %q", rec.Count(""), rec.Violations())
	}
}

func TestFaultTable(t *testing.T) {
	type inject = injection[string]
	cases := []struct {
		name   string
		inject []inject
		takes  []string // routes taken in turn
		want   []string // fault taken each time, "" = none
	}{
		{"none", nil, []string{"GET /a"}, []string{""}},
		{"times 0 is once", []inject{{"GET /a", "x", 0}}, []string{"GET /a", "GET /a"}, []string{"x", ""}},
		{"negative times is once", []inject{{"GET /a", "x", -3}}, []string{"GET /a", "GET /a"}, []string{"x", ""}},
		{"times", []inject{{"GET /a", "x", 3}}, []string{"GET /a", "GET /a", "GET /a", "GET /a"}, []string{"x", "x", "x", ""}},
		{"in the order injected", []inject{{"GET /a", "x", 2}, {"GET /a", "y", 1}}, []string{"GET /a", "GET /a", "GET /a", "GET /a"}, []string{"x", "x", "y", ""}},
		{"per route", []inject{{"GET /a", "x", 1}, {"POST /b", "y", 1}}, []string{"POST /b", "POST /b", "GET /a"}, []string{"y", "", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := newFaultTable[string]("sim", []string{"GET /a", "POST /b"})
			for _, in := range tc.inject {
				ft.inject(in.route, in.f, in.times)
			}
			var got []string
			for _, route := range tc.takes {
				f, ok := ft.take(route)
				if ok != (f != "") {
					t.Fatalf("take(%q) = %q, %v", route, f, ok)
				}
				got = append(got, f)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("took %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		plan    Plan
		want    string
		ok      bool
		handled int
		minWait time.Duration
	}{
		{"no fault", context.Background(), Plan{}, "handled", true, 1, 0},
		{"status", context.Background(), Plan{Status: 503}, "fault", true, 0, 0},
		{"status after apply", context.Background(), Plan{Status: 502, AfterApply: true}, "fault", true, 1, 0},
		{"latency then the answer", context.Background(), Plan{Latency: 30 * time.Millisecond}, "handled", true, 1, 30 * time.Millisecond},
		{"latency then the status", context.Background(), Plan{Status: 429, Latency: 30 * time.Millisecond}, "fault", true, 0, 30 * time.Millisecond},
		{"applied, then latency", context.Background(), Plan{Latency: 30 * time.Millisecond, AfterApply: true}, "handled", true, 1, 30 * time.Millisecond},
		{"client gone during latency", cancelled, Plan{Latency: time.Minute}, "", false, 0, 0},
		{"applied, client gone during latency", cancelled, Plan{Status: 500, Latency: time.Minute, AfterApply: true}, "", false, 1, 0},
		{"no latency: a gone client is answered", cancelled, Plan{}, "handled", true, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			handled := 0
			start := time.Now()
			got, ok := apply(tc.ctx, tc.plan,
				func() string { handled++; return "handled" },
				func() string { return "fault" })
			if got != tc.want || ok != tc.ok || handled != tc.handled {
				t.Fatalf("got %q %v handled %d, want %q %v handled %d", got, ok, handled, tc.want, tc.ok, tc.handled)
			}
			if d := time.Since(start); d < tc.minWait || d > tc.minWait+5*time.Second {
				t.Fatalf("took %v, want about %v", d, tc.minWait)
			}
		})
	}
}
