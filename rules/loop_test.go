package rules

import (
	"strings"
	"testing"
	"time"
)

func TestFollowupDueCountsBusinessDaysAndHolidays(t *testing.T) {
	r, err := Load("loop.yaml", []byte(`timezone: America/New_York
holidays:
  dates: [2026-12-24, 2026-12-25]
followups:
  due:
    SEV-1: 5 business days
    SEV-2: 10 calendar days
`))
	if err != nil {
		t.Fatal(err)
	}
	// Resolved Monday 21 Dec 2026 at 23:30 in New York (Tuesday in UTC):
	// counted from the Monday; 24 and 25 Dec are holidays, then a weekend.
	resolved := time.Date(2026, 12, 22, 4, 30, 0, 0, time.UTC)
	got, ok := r.FollowupDue("SEV-1", resolved)
	if want := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC); !ok || !got.Equal(want) {
		t.Fatalf("SEV-1 due %v %v, want %v", got, ok, want)
	}
	got, ok = r.FollowupDue("SEV-2", resolved)
	if want := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC); !ok || !got.Equal(want) {
		t.Fatalf("SEV-2 due %v %v, want %v", got, ok, want)
	}
	if _, ok := r.FollowupDue("SEV-3", resolved); ok {
		t.Fatal("a severity followups.due does not list has a due date")
	}
	over := r.FollowupOverdueAt(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 12, 31, 5, 0, 0, 0, time.UTC); !over.Equal(want) {
		t.Fatalf("overdue at %v, want the end of 30 Dec in New York (%v)", over, want)
	}
}

func TestLoopDefaultsAndDigestPeriods(t *testing.T) {
	r, err := Load("d.yaml", []byte("timezone: Europe/Berlin\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Followups.RemindEvery != Duration(168*time.Hour) || r.Followups.MaxReminders != 3 || r.Recurrence.Window != Duration(2160*time.Hour) {
		t.Fatalf("defaults: %v %d %v", r.Followups.RemindEvery, r.Followups.MaxReminders, r.Recurrence.Window)
	}
	if r.Digest.Every.String() != "monday 09:00" || len(r.Followups.Due) != 0 {
		t.Fatalf("digest every %q, due %v", r.Digest.Every, r.Followups.Due)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Wednesday 9 Dec 2026: the last period ended Monday 7 Dec 09:00 Berlin.
	start, end := r.DigestPeriod(time.Date(2026, 12, 9, 15, 0, 0, 0, berlin))
	if !end.Equal(time.Date(2026, 12, 7, 9, 0, 0, 0, berlin)) || !start.Equal(time.Date(2026, 11, 30, 9, 0, 0, 0, berlin)) {
		t.Fatalf("weekly period %v – %v", start, end)
	}
	// Exactly at the end: that period has ended.
	if _, end2 := r.DigestPeriod(end); !end2.Equal(end) {
		t.Fatalf("at its end the period is %v", end2)
	}
	// A minute before: the one before.
	if _, end3 := r.DigestPeriod(end.Add(-time.Minute)); !end3.Equal(end.AddDate(0, 0, -7)) {
		t.Fatalf("a minute before its end the period is %v", end3)
	}
	r2, err := Load("d2.yaml", []byte("digest:\n  every: 24h\n  email: [m@example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, e := r2.DigestPeriod(time.Date(2026, 12, 9, 15, 0, 0, 0, time.UTC))
	if !e.Equal(time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)) || e.Sub(s) != 24*time.Hour {
		t.Fatalf("24h period %v – %v", s, e)
	}
}

func TestLoopKeysAreValidated(t *testing.T) {
	_, err := Load("bad.yaml", []byte(`followups:
  due:
    SEV-9: 5 business days
  remind_every: 10m
  max_reminders: -1
recurrence:
  window: 30m
digest:
  every: someday 9am
  email: [not-an-email]
  teams:
    PTEAM1: {}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`bad.yaml:3:5: followups.due names severity "SEV-9"`,
		"bad.yaml:4:17: 10m is too often: at least 1h",
		"bad.yaml:5:18: -1 is not from 0 to 100",
		"bad.yaml:7:11: 30m is out of range",
		`bad.yaml:9:10: digest.every: "someday 9am" is not a period`,
		`"not-an-email" is not an email address`,
		"team PTEAM1's digest has no email and no slack_webhook_env",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
