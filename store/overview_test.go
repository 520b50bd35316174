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
