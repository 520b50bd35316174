package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The served process answers GET /api/v1/followups with the admin token,
// checks the token in the same metrics and Redis lockout as the other
// admin routes, and says what is wrong with a bad filter.
func TestServedFollowupsAPI(t *testing.T) {
	r := redistest.New(t)
	a, _ := startAppWith(t, serveEnv(r), Options{Ingest: true})
	base := "http://" + a.Addr()
	if code, out := get(t, base+"/api/v1/followups", adminToken); code != http.StatusOK || !strings.Contains(out, `"followups":[]`) {
		t.Fatalf("follow-ups: %d %s", code, out)
	}
	if code, out := get(t, base+"/api/v1/followups?overdue=maybe", adminToken); code != http.StatusBadRequest || !strings.Contains(out, "overdue must be true or false") {
		t.Fatalf("bad filter: %d %s", code, out)
	}
	if code, _ := get(t, base+"/api/v1/followups", "not-the-admin-token"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code, _ := get(t, base+"/api/v1/dead-letters", "not-the-admin-token-either"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if n, err := r.Client.Get(context.Background(), r.Prefix+":auth:failures:127.0.0.1").Int(); err != nil || n != 2 {
		t.Fatalf("wrong tokens counted in Redis: %d %v, want 2 (one lockout for every admin route)", n, err)
	}
	_, m := get(t, base+"/metrics", "")
	for _, want := range []string{
		`aftermath_admin_auth_failures_total{route="/api/v1/followups"} 1`, `aftermath_admin_auth_failures_total{route="/api/v1/dead-letters"} 1`,
		`aftermath_admin_auth_lockouts_total{route="/api/v1/followups"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The follow-ups view decides overdue with store.FollowupOverdueAt and the
// rules' zone (handlers may not import rules); it must agree with
// rules.FollowupOverdueAt, across zones, daylight saving changes and the
// end of a year.
func TestFollowupOverdueAtAgreesWithRules(t *testing.T) {
	for _, zone := range []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"} {
		r, err := rules.Load("z.yaml", []byte("timezone: "+zone+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		for _, due := range []time.Time{
			time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC),
		} {
			if got, want := store.FollowupOverdueAt(due, r.Location()), r.FollowupOverdueAt(due); !got.Equal(want) {
				t.Errorf("%s, due %s: store says %v, rules %v", zone, due.Format(time.DateOnly), got, want)
			}
		}
	}
}
