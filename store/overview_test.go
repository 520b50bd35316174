package store

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

// seedOverview tracks ten post-mortems, meeting due one a day from base
// (two share a meeting time, to show the order within one), with a mix of
// statuses, severities and owners.
func seedOverview(t *testing.T, s *Store, base time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := range 10 {
		id := "P" + strconv.Itoa(i)
		meeting := base.AddDate(0, 0, i)
		if i == 5 {
			meeting = base.AddDate(0, 0, 4) // same as P4
		}
		pm := Postmortem{Incident: id, Number: 100 + i, Title: "incident " + id, Group: []string{id}, Severity: "SEV-1",
			Key: "PM-" + strconv.Itoa(i), Owner: "alice@example.com", ResolvedAt: meeting.AddDate(0, 0, -3),
			MeetingDue: meeting, ReviewDue: meeting.Add(-24 * time.Hour), Followups: []string{"FU-" + strconv.Itoa(i)}}
		if i%2 == 1 {
			pm.Severity, pm.Owner = "SEV-2", "Bob@Example.com"
		}
		if _, err := s.Register(ctx, pm, 2); err != nil {
			t.Fatal(err)
		}
	}
	for id, st := range map[string]string{"P1": StatusInReview, "P2": StatusReviewed, "P3": StatusClosed, "P7": StatusInReview} {
		if _, _, err := s.SetStatus(ctx, id, st, "sync"); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(ds []Deadline) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Incident
	}
	return out
}

// The overview lists every tracked post-mortem, Closed ones too, by meeting
// due then incident; filters combine; overdue is Draft or In Review past
// the meeting.
func TestPostmortemsFiltersAndOrder(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, base.AddDate(0, 0, -5))
	seedOverview(t, s, base)
	now := base.AddDate(0, 0, 3).Add(time.Hour) // P0..P3 past their meeting
	c.Set(now)
	yes, no := true, false
	for _, tc := range []struct {
		name string
		q    PostmortemQuery
		want []string
	}{
		{"all", PostmortemQuery{}, []string{"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"}},
		{"closed", PostmortemQuery{Status: StatusClosed}, []string{"P3"}},
		{"in review", PostmortemQuery{Status: StatusInReview}, []string{"P1", "P7"}},
		{"severity", PostmortemQuery{Severity: "SEV-2"}, []string{"P1", "P3", "P5", "P7", "P9"}},
		{"owner, any case", PostmortemQuery{Owner: "bob@example.COM"}, []string{"P1", "P3", "P5", "P7", "P9"}},
		{"overdue", PostmortemQuery{Overdue: &yes}, []string{"P0", "P1"}},
		{"not overdue", PostmortemQuery{Overdue: &no, Severity: "SEV-1"}, []string{"P2", "P4", "P6", "P8"}},
		{"combined", PostmortemQuery{Overdue: &yes, Severity: "SEV-2", Status: StatusInReview}, []string{"P1"}},
		{"none", PostmortemQuery{Owner: "carol@example.com"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Now, tc.q.Limit = now, 100
			page, err := s.Postmortems(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Postmortems); !slices.Equal(got, tc.want) || page.Next != "" {
				t.Fatalf("got %v next %q, want %v", got, page.Next, tc.want)
			}
		})
	}
	d, _, _ := s.Deadline(context.Background(), "P0")
	if late, days := d.Overdue(now); !late || days != 4 {
		t.Fatalf("P0 overdue %v by %d days, want 4 (3 days and an hour)", late, days)
	}
	if late, days := d.Overdue(d.MeetingDue); late || days != 0 {
		t.Fatalf("at the meeting itself: overdue %v %d", late, days)
	}
}

// Paging walks the index in order without gaps or repeats, also when a
// post-mortem is added or changes status between pages; a cursor not from
// a page is refused.
func TestPostmortemsPaging(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, _ := newDeadlineStore(t, base.AddDate(0, 0, -5))
	seedOverview(t, s, base)
	ctx := context.Background()
	var got []string
	q := PostmortemQuery{Limit: 3}
	for pages := 0; ; pages++ {
		page, err := s.Postmortems(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page.Postmortems)...)
		if pages == 0 {
			// Between pages: one changes status, one is added before the
			// cursor (not shown), one after it (shown).
			if _, _, err := s.SetStatus(ctx, "P5", StatusClosed, "sync"); err != nil {
				t.Fatal(err)
			}
			for id, day := range map[string]int{"PEARLY": -1, "PLATE": 20} {
				pm := Postmortem{Incident: id, Key: "PM-" + id, Severity: "SEV-1", MeetingDue: base.AddDate(0, 0, day)}
				if _, err := s.Register(ctx, pm, 2); err != nil {
					t.Fatal(err)
				}
			}
		}
		if page.Next == "" {
			break
		}
		if len(page.Postmortems) != 3 || pages > 5 {
			t.Fatalf("page %d: %v", pages, ids(page.Postmortems))
		}
		q.Cursor = page.Next
	}
	want := []string{"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "PLATE"}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	for _, bad := range []string{"!!", "bm9jb2xvbg", "MTIzOg"} {
		if _, err := s.Postmortems(ctx, PostmortemQuery{Cursor: bad}); err != ErrBadCursor {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

// The follow-ups registered with the post-mortem come back with how many
// the sync found done; a post-mortem registered before the index existed is
// indexed at start.
func TestPostmortemsFollowupsAndBackfill(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, _ := newDeadlineStore(t, base)
	ctx := context.Background()
	pm := trackedPM("QF", base)
	pm.Followups = []string{"FU-1", "FU-2"}
	if _, err := s.Register(ctx, pm, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFollowupsDone(ctx, "QF", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFollowupsDone(ctx, "NOT-TRACKED", 1); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.rdb.Exists(ctx, s.pmKey("NOT-TRACKED", "")).Result(); n != 0 {
		t.Fatal("SetFollowupsDone made a record for an untracked post-mortem")
	}
	// As a release without the index left it.
	if err := s.rdb.Del(ctx, s.trackedKey()).Err(); err != nil {
		t.Fatal(err)
	}
	if all, err := s.AllPostmortems(ctx); err != nil || len(all) != 0 {
		t.Fatalf("before the backfill: %v %v", all, err)
	}
	for i, want := range []int{1, 0} {
		if n, err := s.IndexTracked(ctx); err != nil || n != want {
			t.Fatalf("backfill %d: %d %v, want %d", i, n, err, want)
		}
	}
	all, err := s.AllPostmortems(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("after the backfill: %v %v", all, err)
	}
	d := all[0]
	if !slices.Equal(d.Followups, []string{"FU-1", "FU-2"}) || d.FollowupsDone != 1 || !d.FollowupsCheckedAt.Equal(base) {
		t.Fatalf("follow-ups %v done %d at %s", d.Followups, d.FollowupsDone, d.FollowupsCheckedAt)
	}
}

func fkeys(rows []FollowupRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Key)
	}
	return out
}

// The follow-ups view: open ones by default, oldest first (created time,
// then key: PM-9 before PM-10), with each filter, overdue in the rules'
// zone, a team filter on the post-mortem list too, and pages that neither
// lose nor repeat a row when follow-ups are added or done between them.
func TestListFollowups(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, _ := newDeadlineStore(t, base.AddDate(0, 0, -5))
	ctx := context.Background()
	pms := []Postmortem{
		{Incident: "PA", Group: []string{"PA", "PA2"}, Key: "PM-1", Severity: "SEV-1", MeetingDue: base, Teams: []Team{{ID: "PTEAM1", Name: "Payments"}}},
		{Incident: "PB", Group: []string{"PB"}, Key: "PM-2", Severity: "SEV-2", MeetingDue: base.AddDate(0, 0, 1), Teams: []Team{{ID: "PTEAM2"}, {ID: "PTEAM1"}}},
		{Incident: "PC", Group: []string{"PC"}, Key: "PM-3", Severity: "SEV-2", MeetingDue: base.AddDate(0, 0, 2)},
	}
	for _, pm := range pms {
		if _, err := s.Register(ctx, pm, 2); err != nil {
			t.Fatal(err)
		}
	}
	created := func(d int) time.Time { return base.AddDate(0, 0, d) }
	due := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	seed := map[string][]Followup{
		"PA": {
			{Key: "OPS-10", Epic: "PM-1", Assignee: "alice@example.com", Due: due(10), CreatedAt: created(1)},
			{Key: "OPS-9", Epic: "PM-1", Assignee: "bob@example.com", Due: due(20), CreatedAt: created(1)},
			{Key: "OPS-11", Epic: "PM-1", Done: true, Due: due(5), CreatedAt: created(0)},
			{Key: "OPS-12", Epic: "PM-1", Deleted: true, CreatedAt: created(0)},
		},
		"PB": {{Key: "OPS-20", Epic: "PM-2", Assignee: "Alice@Example.com", Due: due(9), CreatedAt: created(2)}},
		"PC": {{Key: "OPS-30", Epic: "PM-3", CreatedAt: created(3)}, {Key: "OPS-31", Epic: "PM-3"}},
	}
	for id, fus := range seed {
		if err := s.SaveFollowups(ctx, id, fus); err != nil {
			t.Fatal(err)
		}
	}
	// 10 Mar 23:30 UTC is 11 Mar in Berlin: a follow-up due 10 Mar is
	// overdue there, not yet in New York.
	now := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	yes, no := true, false
	for _, tc := range []struct {
		name string
		q    FollowupQuery
		want []string
	}{
		{"open by default, oldest first", FollowupQuery{}, []string{"OPS-31", "OPS-9", "OPS-10", "OPS-20", "OPS-30"}},
		{"done", FollowupQuery{State: FollowupsDone}, []string{"OPS-11"}},
		{"all, never deleted", FollowupQuery{State: FollowupsAll}, []string{"OPS-31", "OPS-11", "OPS-9", "OPS-10", "OPS-20", "OPS-30"}},
		{"overdue in Berlin", FollowupQuery{Overdue: &yes, Location: berlin}, []string{"OPS-10", "OPS-20"}},
		{"overdue in New York", FollowupQuery{Overdue: &yes, Location: ny}, []string{"OPS-20"}},
		{"not overdue", FollowupQuery{Overdue: &no, Location: berlin}, []string{"OPS-31", "OPS-9", "OPS-30"}},
		{"assignee, any case", FollowupQuery{Assignee: "ALICE@example.com"}, []string{"OPS-10", "OPS-20"}},
		{"severity", FollowupQuery{Severity: "SEV-2"}, []string{"OPS-31", "OPS-20", "OPS-30"}},
		{"post-mortem by epic", FollowupQuery{Postmortem: "pm-3"}, []string{"OPS-31", "OPS-30"}},
		{"post-mortem by grouped incident", FollowupQuery{Postmortem: "PA2"}, []string{"OPS-9", "OPS-10"}},
		{"team", FollowupQuery{Team: "pteam1"}, []string{"OPS-9", "OPS-10", "OPS-20"}},
		{"team of one", FollowupQuery{Team: "PTEAM2"}, []string{"OPS-20"}},
		{"filters combine", FollowupQuery{Team: "PTEAM1", Assignee: "alice@example.com", Overdue: &yes, Location: ny}, []string{"OPS-20"}},
	} {
		tc.q.Now = now
		page, err := s.ListFollowups(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := fkeys(page.Followups); !slices.Equal(got, tc.want) || page.Next != "" {
			t.Errorf("%s: %v (next %q), want %v", tc.name, got, page.Next, tc.want)
		}
	}
	page, err := s.ListFollowups(ctx, FollowupQuery{Now: now, Location: berlin, Postmortem: "PM-2"})
	if err != nil || len(page.Followups) != 1 {
		t.Fatal(page, err)
	}
	if r := page.Followups[0]; !r.Overdue || r.DaysOverdue != 2 || r.Postmortem.Key != "PM-2" || r.Postmortem.Incident != "PB" {
		t.Fatalf("OPS-20 = overdue %v by %d days, post-mortem %s/%s", r.Overdue, r.DaysOverdue, r.Postmortem.Key, r.Postmortem.Incident)
	}

	// The post-mortem list's team filter.
	for team, want := range map[string][]string{"PTEAM1": {"PA", "PB"}, "pteam2": {"PB"}, "PNONE": {}} {
		pp, err := s.Postmortems(ctx, PostmortemQuery{Team: team})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(pp.Postmortems); !slices.Equal(got, want) {
			t.Errorf("post-mortems of team %s: %v, want %v", team, got, want)
		}
	}

	// Pages of 2: between the first and second, one follow-up older than
	// the cursor is added (not shown), one newer (shown), and one already
	// listed is done.
	var got []string
	q := FollowupQuery{Now: now, Limit: 2}
	for pages := 0; ; pages++ {
		page, err := s.ListFollowups(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fkeys(page.Followups)...)
		if pages == 0 {
			if err := s.SaveFollowups(ctx, "PC", []Followup{{Key: "OPS-1", Epic: "PM-3", CreatedAt: created(0)}, {Key: "OPS-99", Epic: "PM-3", CreatedAt: created(9)}}); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveFollowups(ctx, "PA", []Followup{{Key: "OPS-9", Epic: "PM-1", Done: true, CreatedAt: created(1)}}); err != nil {
				t.Fatal(err)
			}
		}
		if page.Next == "" {
			break
		}
		if len(page.Followups) != 2 || pages > 5 {
			t.Fatalf("page %d: %v", pages, fkeys(page.Followups))
		}
		q.Cursor = page.Next
	}
	if want := []string{"OPS-31", "OPS-9", "OPS-10", "OPS-20", "OPS-30", "OPS-99"}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	pmCursor := indexed{at: 1, id: "P1"}.cursor()
	for _, bad := range []string{"!!", "bm9jb2xvbg", "ZjEyMzo", pmCursor} {
		if _, err := s.ListFollowups(ctx, FollowupQuery{Cursor: bad}); err != ErrBadCursor {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}
