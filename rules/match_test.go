package rules

import (
	"testing"
	"time"
)

const deadlineRules = `
timezone: America/New_York
holidays:
  calendar: us
  dates: ["2026-12-24"]
`

func TestMeetingDeadlines(t *testing.T) {
	r, err := Load("deadlines.yaml", []byte(deadlineRules))
	if err != nil {
		t.Fatal(err)
	}
	ny := r.Location()
	at := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, ny) }

	cases := []struct {
		name     string
		severity string
		resolved time.Time
		want     time.Time
	}{
		// SEV-1: 3 calendar days, weekends included.
		{"SEV-1 midweek", "SEV-1", at(2026, 11, 16, 10, 0), at(2026, 11, 19, 10, 0)},
		{"SEV-1 over a weekend", "SEV-1", at(2026, 11, 20, 10, 0), at(2026, 11, 23, 10, 0)},
		{"SEV-1 over Thanksgiving counts the holiday", "SEV-1", at(2026, 11, 25, 9, 0), at(2026, 11, 28, 9, 0)},
		{"SEV-1 across the end of DST keeps the wall clock", "SEV-1", at(2026, 10, 31, 10, 0), at(2026, 11, 3, 10, 0)},
		{"SEV-1 across the start of DST keeps the wall clock", "SEV-1", at(2026, 3, 6, 2, 30), at(2026, 3, 9, 2, 30)},
		// 02:30 on 2026-03-08 does not exist in New York: Go moves it to 03:30 EDT.
		{"SEV-1 landing in the DST gap", "SEV-1", at(2026, 3, 5, 2, 30), time.Date(2026, 3, 8, 3, 30, 0, 0, ny)},
		// 01:30 on 2026-11-01 happens twice in New York: the first, EDT, counts.
		{"SEV-1 landing in the repeated hour", "SEV-1", at(2026, 10, 29, 1, 30), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"SEV-1 at year end", "SEV-1", at(2026, 12, 30, 18, 0), at(2027, 1, 2, 18, 0)},

		// SEV-2: 5 business days, skipping weekends and holidays.
		{"SEV-2 midweek", "SEV-2", at(2026, 11, 16, 10, 0), at(2026, 11, 23, 10, 0)},
		{"SEV-2 from Friday over Thanksgiving", "SEV-2", at(2026, 11, 20, 17, 0), at(2026, 11, 30, 17, 0)},
		{"SEV-2 resolved on a Saturday", "SEV-2", at(2026, 11, 21, 3, 0), at(2026, 11, 30, 3, 0)},
		{"SEV-2 over two holidays in a row (company day, Christmas)", "SEV-2", at(2026, 12, 22, 9, 0), at(2026, 12, 31, 9, 0)},
		{"SEV-2 across year end and New Year's Day", "SEV-2", at(2026, 12, 30, 14, 0), at(2027, 1, 7, 14, 0)},
		// Independence Day 2026 is a Saturday, observed on Friday the 3rd.
		{"SEV-2 over an observed holiday", "SEV-2", at(2026, 7, 2, 11, 0), at(2026, 7, 10, 11, 0)},
		{"SEV-2 across the end of DST", "SEV-2", at(2026, 10, 30, 8, 0), at(2026, 11, 6, 8, 0)},

		// Near midnight the rules' zone decides the day, not UTC.
		{"SEV-2 at 23:30 New York (Friday in UTC)", "SEV-2", time.Date(2026, 11, 20, 4, 30, 0, 0, time.UTC), at(2026, 11, 27, 23, 30)},
		{"SEV-2 at 00:30 New York", "SEV-2", time.Date(2026, 11, 20, 5, 30, 0, 0, time.UTC), at(2026, 11, 30, 0, 30)},
		{"SEV-1 at 23:59 New York", "SEV-1", time.Date(2026, 12, 1, 4, 59, 0, 0, time.UTC), at(2026, 12, 3, 23, 59)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.MeetingDeadline(tc.severity, tc.resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("deadline for %s resolved %s = %s, want %s", tc.severity,
					tc.resolved.In(ny).Format(time.RFC1123), got.In(ny).Format(time.RFC1123), tc.want.Format(time.RFC1123))
			}
			if got.Location() != ny {
				t.Fatalf("deadline is in %v, want the rules' zone", got.Location())
			}
			if review := r.ReviewDeadline(got); !review.Equal(got.Add(-24 * time.Hour)) {
				t.Fatalf("review deadline %s, want 24h before %s", review, got)
			}
		})
	}
	if _, err := r.MeetingDeadline("SEV-9", time.Now()); err == nil {
		t.Fatal("an undefined severity has no deadline")
	}
}

func TestBusinessDayCalendar(t *testing.T) {
	r, err := Load("deadlines.yaml", []byte(deadlineRules))
	if err != nil {
		t.Fatal(err)
	}
	ny := r.Location()
	for day, want := range map[string]bool{
		"2026-11-23": true,  // Monday
		"2026-11-21": false, // Saturday
		"2026-11-26": false, // Thanksgiving
		"2026-11-27": true,  // the Friday after is a workday in this calendar
		"2026-12-24": false, // company day off
		"2026-07-03": false, // Independence Day observed
		"2027-01-01": false, // New Year's Day
	} {
		d, _ := time.ParseInLocation(time.DateOnly, day, ny)
		if got := r.IsBusinessDay(d.Add(13 * time.Hour)); got != want {
			t.Errorf("%s business day = %v, want %v", day, got, want)
		}
	}
}

func TestSeverityLabel(t *testing.T) {
	for in, want := range map[string]string{"SEV-1": "sev-1", "Critical": "critical", "Sev 2": "sev-2"} {
		if got := SeverityLabel(in); got != want {
			t.Errorf("SeverityLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDueAndDurationForms(t *testing.T) {
	for in, want := range map[string]Due{
		"3 calendar days": {3, false}, "5 business days": {5, true}, "1 business day": {1, true}, " 2  Calendar  Days ": {2, false},
	} {
		var d Due
		if err := d.decodeScalar(in); err != nil || d != want {
			t.Errorf("%q -> %+v %v, want %+v", in, d, err, want)
		}
	}
	for _, bad := range []string{"3", "3 days", "three calendar days", "0 calendar days", "3 working days", "366 calendar days"} {
		var d Due
		if err := d.decodeScalar(bad); err == nil {
			t.Errorf("%q should not parse", bad)
		}
	}
	for in, want := range map[Duration]string{Duration(30 * time.Minute): "30m", Duration(24 * time.Hour): "24h", Duration(90 * time.Minute): "1h30m", Duration(45 * time.Second): "45s"} {
		if got := in.String(); got != want {
			t.Errorf("%v -> %q, want %q", time.Duration(in), got, want)
		}
	}
}

// DST rules differ by zone: Cairo and Beirut move clocks at midnight, Lord
// Howe by 30 minutes, the southern hemisphere in the other half of the year.
func TestMeetingDeadlinesAcrossZones(t *testing.T) {
	cases := []struct {
		zone     string
		due      string
		resolved string // local wall clock
		want     string // RFC 3339 with the expected offset
	}{
		// Cairo: 2026-04-24 00:00 EET becomes 01:00 EEST; 00:30 does not exist.
		{"Africa/Cairo", "3 calendar days", "2026-04-21 00:30", "2026-04-24T01:30:00+03:00"},
		// Beirut: 2026-03-29 00:00 +02 becomes 01:00 +03.
		{"Asia/Beirut", "3 calendar days", "2026-03-26 00:15", "2026-03-29T01:15:00+03:00"},
		{"Asia/Beirut", "1 business day", "2026-03-27 00:15", "2026-03-30T00:15:00+03:00"},
		// Lord Howe: 2026-04-05 02:00 +11 becomes 01:30 +10:30; 01:45 happens twice, the first counts.
		{"Australia/Lord_Howe", "3 calendar days", "2026-04-02 01:45", "2026-04-05T01:45:00+11:00"},
		// Lord Howe: 2026-10-04 02:00 +10:30 becomes 02:30 +11; 02:10 does not exist.
		{"Australia/Lord_Howe", "3 calendar days", "2026-10-01 02:10", "2026-10-04T02:40:00+11:00"},
		// Santiago: clocks go back at midnight on 2026-04-05 (00:00 -03 -> 23:00 -04 on the 4th).
		{"America/Santiago", "3 calendar days", "2026-04-01 23:30", "2026-04-04T23:30:00-03:00"},
		// Berlin and New York, the ordinary cases.
		{"Europe/Berlin", "3 calendar days", "2026-03-26 02:30", "2026-03-29T03:30:00+02:00"},
		{"Europe/Berlin", "5 business days", "2026-10-23 02:30", "2026-10-30T02:30:00+01:00"},
		{"America/New_York", "3 calendar days", "2026-10-29 01:30", "2026-11-01T01:30:00-04:00"},
	}
	for _, tc := range cases {
		t.Run(tc.zone+" "+tc.resolved+" + "+tc.due, func(t *testing.T) {
			r, err := Load("z.yaml", []byte("timezone: "+tc.zone+"\nseverities:\n  - name: S\n    priorities: [P1]\n    meeting_due: "+tc.due+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := time.ParseInLocation("2006-01-02 15:04", tc.resolved, r.Location())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := time.Parse(time.RFC3339, tc.want)
			got, err := r.MeetingDeadline("S", resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) || got.Format(time.RFC3339) != tc.want {
				t.Fatalf("got %s, want %s", got.Format(time.RFC3339), tc.want)
			}
		})
	}
}
