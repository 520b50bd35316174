package store

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The managers' overview reads every tracked post-mortem, Closed ones too,
// from the index the register script keeps (a sorted set by meeting due):
// never from Jira.

// ErrBadCursor is a page cursor that this store did not hand out.
var ErrBadCursor = errors.New("cursor is not one a previous page returned")

// Overdue reports whether the post-mortem is past its meeting deadline and
// not Reviewed (the same rule as the aftermath_postmortems_overdue gauge),
// and by how many days, any part of a day counting as one.
func (d Deadline) Overdue(now time.Time) (overdue bool, days int) {
	if d.Status != StatusDraft && d.Status != StatusInReview || d.MeetingDue.IsZero() || !now.After(d.MeetingDue) {
		return false, 0
	}
	late := now.Sub(d.MeetingDue)
	return true, int((late + 24*time.Hour - 1) / (24 * time.Hour))
}

// PostmortemQuery selects tracked post-mortems; empty fields select all.
type PostmortemQuery struct {
	Status   string // exact, as the store keeps it (Draft, In Review, ...)
	Severity string // exact
	Owner    string // the owner's email, without regard to case
	Overdue  *bool  // overdue or not, as of Now
	Team     string // a PagerDuty team ID of the post-mortem's incidents, without regard to case
	Now      time.Time
	Limit    int    // at most this many (default 50)
	Cursor   string // from the previous page's Next
}

func (q PostmortemQuery) match(d Deadline) bool {
	if q.Status != "" && d.Status != q.Status || q.Severity != "" && d.Severity != q.Severity ||
		q.Owner != "" && !strings.EqualFold(d.Owner, q.Owner) || q.Team != "" && !d.HasTeam(q.Team) {
		return false
	}
	if q.Overdue != nil {
		if late, _ := d.Overdue(q.Now); late != *q.Overdue {
			return false
		}
	}
	return true
}

// HasTeam says whether one of the post-mortem's incidents is of the
// PagerDuty team id (compared without regard to case).
func (p Postmortem) HasTeam(id string) bool {
	return slices.ContainsFunc(p.Teams, func(t Team) bool { return strings.EqualFold(t.ID, id) })
}

// PostmortemPage is a page of tracked post-mortems, by meeting due (then
// incident ID); Next is the cursor of the next page, "" on the last.
type PostmortemPage struct {
	Postmortems []Deadline
	Next        string
}

// indexed is a post-mortem's place in the index.
type indexed struct {
	at int64 // meeting due, Unix ms
	id string
}

func (a indexed) cmp(b indexed) int {
	return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.id, b.id))
}

// A cursor is the place of the last post-mortem of a page: stable whatever
// is tracked or changes status meanwhile, since a post-mortem's meeting due
// never changes.
func (a indexed) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(a.at, 10) + ":" + a.id))
}

func parseCursor(c string) (indexed, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return indexed{}, ErrBadCursor
	}
	ms, id, ok := strings.Cut(string(b), ":")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || id == "" {
		return indexed{}, ErrBadCursor
	}
	return indexed{at: at, id: id}, nil
}

// trackedIndex reads the whole index, in order. It holds one short entry
// per post-mortem ever made: thousands at most.
func (s *Store) trackedIndex(ctx context.Context) ([]indexed, error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, s.trackedKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the post-mortem index: %w", err)
	}
	out := make([]indexed, len(zs))
	for i, z := range zs {
		out[i] = indexed{at: int64(z.Score), id: fmt.Sprint(z.Member)}
	}
	return out, nil
}

// readBatch is how many post-mortems one pipeline reads.
const readBatch = 100

// deadlines reads the post-mortems of ids, one pipeline a batch; those no
// longer tracked are left out.
func (s *Store) deadlines(ctx context.Context, ids []indexed) ([]Deadline, error) {
	reads := make([]deadlineRead, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, x := range ids {
			reads[i] = s.queueDeadline(ctx, p, x.id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d post-mortems: %w", len(ids), err)
	}
	out := make([]Deadline, 0, len(ids))
	for i, r := range reads {
		d, found, err := r.decode(ids[i].id)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, d)
		}
	}
	return out, nil
}

// Postmortems returns a page of the tracked post-mortems q selects, by
// meeting due. It reads the index, then the post-mortems from the cursor
// on, a batch at a time, until the page is full.
func (s *Store) Postmortems(ctx context.Context, q PostmortemQuery) (PostmortemPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	idx, err := s.trackedIndex(ctx)
	if err != nil {
		return PostmortemPage{}, err
	}
	start := 0
	if q.Cursor != "" {
		after, err := parseCursor(q.Cursor)
		if err != nil {
			return PostmortemPage{}, err
		}
		start, _ = slices.BinarySearchFunc(idx, after, indexed.cmp)
		if start < len(idx) && idx[start] == after {
			start++
		}
	}
	page := PostmortemPage{Postmortems: []Deadline{}}
	for i := start; i < len(idx); i += readBatch {
		ds, err := s.deadlines(ctx, idx[i:min(i+readBatch, len(idx))])
		if err != nil {
			return PostmortemPage{}, err
		}
		for _, d := range ds {
			if !q.match(d) {
				continue
			}
			if len(page.Postmortems) == limit {
				last := page.Postmortems[limit-1]
				page.Next = indexed{at: last.MeetingDue.UnixMilli(), id: last.Incident}.cursor()
				return page, nil
			}
			page.Postmortems = append(page.Postmortems, d)
		}
	}
	return page, nil
}

// AllPostmortems returns every tracked post-mortem, by meeting due.
func (s *Store) AllPostmortems(ctx context.Context) ([]Deadline, error) {
	idx, err := s.trackedIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Deadline, 0, len(idx))
	for i := 0; i < len(idx); i += readBatch {
		ds, err := s.deadlines(ctx, idx[i:min(i+readBatch, len(idx))])
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// followupsScript records how many follow-ups are done, on a post-mortem
// still tracked only. KEYS[1] record hash; ARGV[1] done, ARGV[2] now (ms).
var followupsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'fu_done', ARGV[1], 'fu_at', ARGV[2])
return 1
`)

// SetFollowupsDone records how many of a post-mortem's follow-ups the
// status sync found done.
func (s *Store) SetFollowupsDone(ctx context.Context, incident string, done int) error {
	if err := followupsScript.Run(ctx, s.rdb, []string{s.pmKey(incident, "")}, done, s.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("record the follow-ups of %s: %w", incident, err)
	}
	return nil
}

// IndexTracked puts the post-mortems registered by a release without the
// overview's index or the status index (the gauges') into them: every epic
// the epic index holds into the overview's, every open post-mortem into
// the status index. Idempotent (ZADD NX of a meeting due that never
// changes; the status filed as the record has it, atomically), so every
// process may run it at start. added counts the entries added to either.
func (s *Store) IndexTracked(ctx context.Context) (added int, err error) {
	if added, err = s.indexStatuses(ctx); err != nil {
		return added, err
	}
	n, err := s.indexOverview(ctx)
	return added + n, err
}

// indexOverview puts into the overview's index the post-mortems of the
// epic index that it does not hold.
func (s *Store) indexOverview(ctx context.Context) (added int, err error) {
	epics, err := s.rdb.HVals(ctx, s.epicsKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("read the epic index: %w", err)
	}
	meetings := make([]*redis.StringCmd, len(epics))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range epics {
			meetings[i] = p.HGet(ctx, s.pmKey(id, ""), "meeting")
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read the meeting deadlines: %w", err)
	}
	var zs []redis.Z
	for i, id := range epics {
		if ms, err := meetings[i].Int64(); err == nil {
			zs = append(zs, redis.Z{Score: float64(ms), Member: id})
		}
	}
	if len(zs) == 0 {
		return 0, nil
	}
	n, err := s.rdb.ZAddNX(ctx, s.trackedKey(), zs...).Result()
	if err != nil {
		return 0, fmt.Errorf("index the tracked post-mortems: %w", err)
	}
	return int(n), nil
}

// The follow-ups view lists follow-ups from the follow-up index (never
// Jira), each with its post-mortem, oldest first.

// Follow-up states the follow-ups view selects by.
const (
	FollowupsOpen = "open" // not done (the default)
	FollowupsDone = "done"
	FollowupsAll  = "all" // open and done
)

// FollowupOverdueAt is when a follow-up due on the date due (midnight UTC
// of that date, as the index keeps it) becomes overdue: the end of that
// date in loc, the rules' zone. It is rules.FollowupOverdueAt for the
// readers that may not import rules (handlers); app's tests hold the two
// equal.
func FollowupOverdueAt(due time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := due.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// FollowupQuery selects follow-ups; empty fields select all (State: open
// ones). Deleted tickets are never listed: Jira no longer shows them.
type FollowupQuery struct {
	State    string // FollowupsOpen (or ""), FollowupsDone or FollowupsAll
	Overdue  *bool  // overdue or not as of Now (a done follow-up never is)
	Assignee string // the assignee's email, without regard to case
	Severity string // the post-mortem's, exact
	// Postmortem is the post-mortem's epic key or one of its incidents'
	// IDs, without regard to case.
	Postmortem string
	Team       string // a PagerDuty team ID of the post-mortem's incidents, without regard to case
	Now        time.Time
	Location   *time.Location // the rules' zone, where a due date ends; nil: UTC
	Limit      int            // at most this many (default 50)
	Cursor     string         // from the previous page's Next
}

// FollowupRow is a follow-up as the view lists it: with its post-mortem
// and how late it is as of the query's Now.
type FollowupRow struct {
	Followup
	Postmortem  Deadline
	Overdue     bool
	DaysOverdue int // counting the day after the due date as 1
}

// FollowupPage is a page of follow-ups, by created time (those without one
// first) then key; Next is the cursor of the next page, "" on the last.
type FollowupPage struct {
	Followups []FollowupRow
	Next      string
}

// lateness says whether f is overdue at now, and by how many days.
func lateness(f Followup, now time.Time, loc *time.Location) (bool, int) {
	if f.Due.IsZero() {
		return false, 0
	}
	at := FollowupOverdueAt(f.Due, loc)
	if !f.Overdue(now, at) {
		return false, 0
	}
	return true, int(now.Sub(at)/(24*time.Hour)) + 1
}

func (q FollowupQuery) match(r FollowupRow) bool {
	f, d := r.Followup, r.Postmortem
	switch {
	case f.Deleted,
		(q.State == "" || q.State == FollowupsOpen) && f.Done,
		q.State == FollowupsDone && !f.Done,
		q.Overdue != nil && r.Overdue != *q.Overdue,
		q.Assignee != "" && !strings.EqualFold(f.Assignee, q.Assignee),
		q.Severity != "" && d.Severity != q.Severity,
		q.Team != "" && !d.HasTeam(q.Team):
		return false
	}
	if q.Postmortem != "" {
		same := func(s string) bool { return strings.EqualFold(s, q.Postmortem) }
		return same(d.Key) || same(d.Incident) || slices.ContainsFunc(d.Group, same)
	}
	return true
}

// followupPlace is a follow-up's place in the view's order. A cursor is
// the place of a page's last row: stable whatever is added or done
// meanwhile, since neither a ticket's key nor its created time changes.
type followupPlace struct {
	at  int64 // created, Unix ms; 0 when unknown
	key string
}

func placeOf(f Followup) followupPlace {
	p := followupPlace{key: f.Key}
	if !f.CreatedAt.IsZero() {
		p.at = f.CreatedAt.UnixMilli()
	}
	return p
}

func (a followupPlace) cmp(b followupPlace) int {
	return cmp.Or(cmp.Compare(a.at, b.at), compareKeys(a.key, b.key), strings.Compare(a.key, b.key))
}

// The "f" keeps the post-mortem list's cursors out of this one.
func (a followupPlace) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("f" + strconv.FormatInt(a.at, 10) + ":" + a.key))
}

func parseFollowupCursor(c string) (followupPlace, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return followupPlace{}, ErrBadCursor
	}
	rest, ok := strings.CutPrefix(string(b), "f")
	ms, key, ok2 := strings.Cut(rest, ":")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok || !ok2 || err != nil || key == "" {
		return followupPlace{}, ErrBadCursor
	}
	return followupPlace{at: at, key: key}, nil
}

// ListFollowups returns a page of the follow-ups q selects, oldest first.
// It reads the whole index and every tracked post-mortem (thousands at
// most), as AllFollowups and AllPostmortems do.
func (s *Store) ListFollowups(ctx context.Context, q FollowupQuery) (FollowupPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	var after *followupPlace
	if q.Cursor != "" {
		p, err := parseFollowupCursor(q.Cursor)
		if err != nil {
			return FollowupPage{}, err
		}
		after = &p
	}
	pms, err := s.AllPostmortems(ctx)
	if err != nil {
		return FollowupPage{}, err
	}
	byID := make(map[string]Deadline, len(pms))
	for _, d := range pms {
		byID[d.Incident] = d
	}
	fus, err := s.AllFollowups(ctx)
	if err != nil {
		return FollowupPage{}, err
	}
	slices.SortFunc(fus, func(a, b Followup) int { return placeOf(a).cmp(placeOf(b)) })
	page := FollowupPage{Followups: []FollowupRow{}}
	for _, f := range fus {
		d, ok := byID[f.Incident]
		if !ok || after != nil && placeOf(f).cmp(*after) <= 0 {
			continue
		}
		r := FollowupRow{Followup: f, Postmortem: d}
		r.Overdue, r.DaysOverdue = lateness(f, q.Now, q.Location)
		if !q.match(r) {
			continue
		}
		if len(page.Followups) == limit {
			page.Next = placeOf(page.Followups[limit-1].Followup).cursor()
			return page, nil
		}
		page.Followups = append(page.Followups, r)
	}
	return page, nil
}
