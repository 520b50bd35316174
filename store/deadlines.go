package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The deadline index: every post-mortem aftermath made, with its deadlines,
// status and reminders. Its keys share the queue's hash slot, so that
// claiming a due reminder and queueing its job are one script.

// Post-mortem statuses, as the rules' status_map names them.
const (
	StatusDraft    = "Draft"
	StatusInReview = "In Review"
	StatusReviewed = "Reviewed"
	StatusClosed   = "Closed"
)

// Reminder kinds.
const (
	ReminderReview  = "review"  // the review is due: post the draft
	ReminderOverdue = "overdue" // the meeting is due and the post-mortem is not Reviewed
)

// aftermath's own jobs in the queue.
const (
	// EventReminder is a reminder's job, queued by the deadline scheduler.
	EventReminder = "aftermath.reminder"
	// EventStatus is a post-mortem's status change that asks for work (the
	// customer liaison's comment at Reviewed).
	EventStatus = "aftermath.status"
)

// Postmortem is a tracked post-mortem: what was registered when it was made.
type Postmortem struct {
	Incident   string    `json:"incident"` // the group's primary
	Number     int       `json:"number"`
	Title      string    `json:"title"`
	URL        string    `json:"url"` // the incident in PagerDuty
	Group      []string  `json:"group"`
	Severity   string    `json:"severity"`
	Key        string    `json:"key"` // the epic
	EpicURL    string    `json:"epic_url"`
	Owner      string    `json:"owner,omitempty"`      // email
	OwnerJira  string    `json:"owner_jira,omitempty"` // the Jira user, for mentions
	OwnerName  string    `json:"owner_name,omitempty"` // display name, for people to read ("" when unknown)
	ResolvedAt time.Time `json:"resolved_at"`
	ReviewDue  time.Time `json:"review_due"`
	MeetingDue time.Time `json:"meeting_due"`
	// Followups are the keys of the follow-up tickets made with the epic.
	Followups []string `json:"followups,omitempty"`
	// Services are the PagerDuty services of the group's incidents (the
	// primary's first), Teams their teams: what the recurrence index, the
	// follow-ups view and the per-team digest select by. Empty on records
	// made before they were kept.
	Services []string `json:"services,omitempty"`
	Teams    []Team   `json:"teams,omitempty"`
}

// Team is a PagerDuty team.
type Team struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Deadline is a tracked post-mortem as it stands.
type Deadline struct {
	Postmortem
	Status string `json:"status"`
	// NextReminder is the reminder due next ("" when none will come), the
	// how-many-th of its kind, and when.
	NextReminder string       `json:"next_reminder,omitempty"`
	NextN        int          `json:"next_n,omitempty"`
	NextAt       time.Time    `json:"next_at,omitzero"`
	History      []Transition `json:"history"`
	Reminders    []Sent       `json:"reminders"`
	// FollowupsDone is how many of the follow-ups were done at the last
	// status sync, FollowupsCheckedAt when that was (zero: never).
	FollowupsDone      int       `json:"followups_done"`
	FollowupsCheckedAt time.Time `json:"followups_checked_at,omitzero"`
}

// Transition is a status change.
type Transition struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Source string    `json:"source"` // created, sync, webhook
}

// Sent is a reminder that was sent.
type Sent struct {
	Kind string    `json:"kind"`
	N    int       `json:"n"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"` // what was done, e.g. the comment
}

// ReminderJob is the body of a reminder's queued job.
type ReminderJob struct {
	Kind string `json:"kind"`
	N    int    `json:"n"`
	Due  int64  `json:"due"` // Unix ms
}

func (s *Store) deadlinesKey() string         { return s.prefix + ":{queue}:deadlines" }
func (s *Store) openKey() string              { return s.prefix + ":{queue}:postmortems" }
func (s *Store) pmKey(id, what string) string { return s.prefix + ":{queue}:pm:" + keyPart(id) + what }
func (s *Store) syncClaimKey() string         { return s.prefix + ":statussync:claim" }
func (s *Store) syncLastKey() string          { return s.prefix + ":statussync:last" }
func (s *Store) epicsKey() string             { return s.prefix + ":{queue}:epics" }
func (s *Store) trackedKey() string           { return s.prefix + ":{queue}:pmindex" }

// The status index: one sorted set per open status (Draft, In Review,
// Reviewed), of the post-mortems in that status by meeting due, kept by the
// scripts that register post-mortems and change their statuses. Every
// replica reads its gauges from it when scraped: ZCARD per status, ZCOUNT
// of those past their meeting.
func (s *Store) statusKeys() []string {
	p := s.prefix + ":{queue}:pmstatus:"
	return []string{p + "draft", p + "in-review", p + "reviewed"}
}
func (s *Store) seenJiraKey(delivery string) string {
	return s.prefix + ":{queue}:seen:jira:" + keyPart(delivery)
}

// registerScript records a post-mortem once: a second registration (a
// retry, another replica) changes nothing. Its status is Draft as of the
// registration: a Jira event older than that is stale.
//
// KEYS[1] record hash, KEYS[2] deadlines, KEYS[3] open set, KEYS[4] history,
// KEYS[5] epic index, KEYS[6] every tracked post-mortem by meeting due,
// KEYS[7] the status index's Draft; ARGV[1] incident, ARGV[2] data, ARGV[3] first reminder
// kind ("" none), ARGV[4] its due time (ms), ARGV[5] meeting due (ms),
// ARGV[6] the first history entry, ARGV[7] the epic's key, ARGV[8] now (ms).
var registerScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'status', 'Draft', 'status_at', ARGV[8], 'status_by', 'created', 'next', ARGV[3], 'n', 1, 'at', ARGV[4], 'meeting', ARGV[5])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[6])
redis.call('HSET', KEYS[5], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[5], ARGV[1])
return 1
`)

// Register starts tracking a post-mortem. Its first reminder: the review
// when the meeting is still ahead (even if the review time has passed),
// else one overdue reminder now, never a backlog. registered is false when
// it was tracked already.
func (s *Store) Register(ctx context.Context, pm Postmortem, maxOverdue int) (registered bool, err error) {
	now := s.now()
	kind, at := ReminderReview, pm.ReviewDue
	switch {
	case !now.Before(pm.MeetingDue) && maxOverdue > 0:
		kind, at = ReminderOverdue, now
	case !now.Before(pm.MeetingDue):
		kind = ""
	}
	data, _ := json.Marshal(pm)
	first, _ := json.Marshal(Transition{Status: StatusDraft, At: now, Source: "created"})
	n, err := registerScript.Run(ctx, s.rdb,
		[]string{s.pmKey(pm.Incident, ""), s.deadlinesKey(), s.openKey(), s.pmKey(pm.Incident, ":history"), s.epicsKey(), s.trackedKey(), s.statusKeys()[0]},
		pm.Incident, data, kind, at.UnixMilli(), pm.MeetingDue.UnixMilli(), first, pm.Key, now.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("register the post-mortem of %s: %w", pm.Incident, err)
	}
	return n == 1, nil
}

// NextDue returns up to limit post-mortems whose reminder is due: the
// scheduler's one call per tick when nothing is.
func (s *Store) NextDue(ctx context.Context, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.deadlinesKey(), ByScore: true, Start: "-inf", Stop: strconv.FormatInt(s.now().UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read due reminders: %w", err)
	}
	return ids, nil
}

// claimScript claims a post-mortem's due reminder and queues its job, and
// moves the deadline on, in one step: whatever the number of schedulers,
// and wherever one dies, each reminder is queued once. A post-mortem that
// is Reviewed or Closed leaves the index instead, its place in the
// schedule held (field held) for a move back; one whose overdue reminders
// reached the cap (max_overdue may have been lowered) leaves it for good.
//
// KEYS[1] deadlines, KEYS[2] record hash, KEYS[3] stream; ARGV[1] incident,
// ARGV[2] now (ms), ARGV[3] repeat (ms), ARGV[4] max overdue, ARGV[5] now
// (RFC 3339).
var claimScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) > tonumber(ARGV[2]) then return false end
local h = redis.call('HMGET', KEYS[2], 'next', 'n', 'status', 'meeting')
local kind, n, status = h[1], tonumber(h[2] or '1'), h[3]
if status == 'Reviewed' or status == 'Closed' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if kind and kind ~= '' then redis.call('HSET', KEYS[2], 'held', kind, 'next', '') end
  return false
end
if not kind or kind == '' or kind == 'overdue' and n > tonumber(ARGV[4]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[2], 'next', '')
  return false
end
local nextKind, nextN, nextAt = 'overdue', n + 1, tonumber(at) + tonumber(ARGV[3])
if kind == 'review' then nextN, nextAt = 1, tonumber(h[4]) end
if kind == 'overdue' and n >= tonumber(ARGV[4]) or kind == 'review' and tonumber(ARGV[4]) == 0 then nextKind = '' end
if nextAt <= tonumber(ARGV[2]) and kind == 'overdue' then nextAt = tonumber(ARGV[2]) + tonumber(ARGV[3]) end
local body = cjson.encode({kind = kind, n = n, due = tonumber(at)})
local id = redis.call('XADD', KEYS[3], '*', 'event_id', 'reminder-' .. ARGV[1] .. '-' .. kind .. '-' .. n,
  'event_type', 'aftermath.reminder', 'incident_id', ARGV[1], 'occurred_at', ARGV[5], 'received_at', ARGV[5], 'body', body)
redis.call('HSET', KEYS[2], 'next', nextKind, 'n', nextN, 'at', nextAt)
if nextKind == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], nextAt, ARGV[1]) end
return id
`)

// ClaimDue queues the job of the post-mortem's due reminder and schedules
// the next. queued is false when the reminder is not due (another
// scheduler claimed it) or none will come (Reviewed, Closed, capped).
func (s *Store) ClaimDue(ctx context.Context, incident string, repeat time.Duration, maxOverdue int) (entryID string, queued bool, err error) {
	now := s.now()
	id, err := claimScript.Run(ctx, s.rdb, []string{s.deadlinesKey(), s.pmKey(incident, ""), s.streamKey()},
		incident, now.UnixMilli(), repeat.Milliseconds(), maxOverdue, now.UTC().Format(time.RFC3339Nano)).Text()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("claim the reminder of %s: %w", incident, err)
	}
	return id, true, nil
}

// What ApplyStatus did with a status change.
const (
	ChangeUpdated   = "updated"   // the post-mortem has the new status
	ChangeUnchanged = "unchanged" // it had that status already
	ChangeStale     = "stale"     // a newer status was applied since: ignored
	ChangeDuplicate = "duplicate" // the delivery was applied before: ignored
	ChangeIgnored   = "ignored"   // not a tracked post-mortem, or a status the rules do not map
)

// StatusChange is a post-mortem status that Jira reported.
type StatusChange struct {
	Status string // Draft, In Review, Reviewed or Closed
	Source string // "sync" (the status sync's read) or "webhook"
	// At is when Jira reported it: a webhook's timestamp, or when the sync
	// read it. A webhook's change older than the status applied last is
	// stale; the sync's is stale only when a webhook applied a change Jira
	// reported after the read (and not in the future): the sync repairs
	// whatever else a webhook got wrong.
	At time.Time
	// Delivery is the webhook delivery's identifier ("" none): a delivery
	// is applied once, whatever the number of retries.
	Delivery string
	// Job, when set, is queued with the change (its event ID deduplicating
	// it), in the same step: the work the new status asks for.
	Job *Delivery
}

// StatusResult says what ApplyStatus did.
type StatusResult struct {
	Outcome string // one of the Change* values
	// Prev is the status before (updated), the status kept (unchanged,
	// stale), or "" (duplicate, ignored).
	Prev string
}

// statusScript applies a post-mortem's status change in one step: the
// delivery's dedupe, the ordering check, the status with the time it was
// reported, the transition, the reminders, the open set and the status
// index, and the job the status asks for. Every change is reversible: at Reviewed or Closed
// the post-mortem leaves the deadline index with its place in the schedule
// held, and Closed leaves the open set; moving back to Draft or In Review
// puts both back, the next reminder being the one that was due next, never
// one already sent (a review whose meeting has passed meanwhile becomes
// the first overdue reminder). A record from before the place was held
// (no held field) is read from n, at and meeting. A change to the status it
// has already files it in the status index again: so the status sync
// repairs an index that a replica of an earlier release, which did not keep
// it, left behind.
//
// KEYS[1] record hash, KEYS[2] deadlines, KEYS[3] open set, KEYS[4]
// history, KEYS[5] stream, KEYS[6] the job's dedupe key, KEYS[7..9] the
// status index (Draft, In Review, Reviewed), KEYS[10] the delivery's dedupe
// key (absent: no delivery); ARGV[1] incident, ARGV[2]
// status, ARGV[3] transition, ARGV[4] reported at (ms), ARGV[5] source,
// ARGV[6] now (ms), ARGV[7] dedupe TTL (s), ARGV[8] whether a job comes,
// ARGV[9..] the job's field/value pairs.
var statusScript = redis.NewScript(`
if KEYS[10] and redis.call('EXISTS', KEYS[10]) == 1 then return {'duplicate', ''} end
local h = redis.call('HMGET', KEYS[1], 'status', 'status_at', 'next', 'held', 'n', 'at', 'meeting', 'status_by')
local prev = h[1]
if not prev then return {'ignored', ''} end
local at, last, now = tonumber(ARGV[4]), tonumber(h[2] or '0'), tonumber(ARGV[6])
local function seen()
  if KEYS[10] then redis.call('SET', KEYS[10], ARGV[4], 'EX', ARGV[7]) end
end
local function file(status)
  local index = {['Draft'] = KEYS[7], ['In Review'] = KEYS[8], ['Reviewed'] = KEYS[9]}
  for i = 7, 9 do redis.call('ZREM', KEYS[i], ARGV[1]) end
  if index[status] then redis.call('ZADD', index[status], tonumber(h[7] or '0'), ARGV[1]) end
end
-- A sync reads Jira as of its search's lag ago: it is stale only against a
-- webhook's newer change (not against the registration's assumed Draft,
-- nor a status from the future).
if ARGV[5] == 'sync' and h[8] == 'webhook' and last > at and last <= now or ARGV[5] ~= 'sync' and at < last then
  seen()
  return {'stale', prev}
end
redis.call('HSET', KEYS[1], 'status_at', at, 'status_by', ARGV[5])
local status = ARGV[2]
if prev == status then
  file(status)
  seen()
  return {'unchanged', prev}
end
redis.call('HSET', KEYS[1], 'status', status)
redis.call('RPUSH', KEYS[4], ARGV[3])
local stopped = prev == 'Reviewed' or prev == 'Closed'
if status == 'Reviewed' or status == 'Closed' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  if h[3] and h[3] ~= '' then redis.call('HSET', KEYS[1], 'held', h[3], 'next', '') end
elseif stopped then
  local kind, n, due, meeting = h[4], tonumber(h[5] or '1'), tonumber(h[6] or '0'), tonumber(h[7] or '0')
  if not kind or kind == '' then
    kind = 'overdue'
    if n == 1 and due < meeting then kind = 'review' end
  end
  if kind == 'review' and now >= meeting then kind, n, due = 'overdue', 1, meeting end
  redis.call('HDEL', KEYS[1], 'held')
  redis.call('HSET', KEYS[1], 'next', kind, 'n', n, 'at', due)
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
if status == 'Closed' then redis.call('SREM', KEYS[3], ARGV[1]) else redis.call('SADD', KEYS[3], ARGV[1]) end
file(status)
if ARGV[8] == '1' and redis.call('EXISTS', KEYS[6]) == 0 then
  local fields = {}
  for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
  local id = redis.call('XADD', KEYS[5], '*', unpack(fields))
  redis.call('SET', KEYS[6], id, 'EX', ARGV[7])
end
seen()
return {'updated', prev}
`)

// ApplyStatus applies a status change Jira reported to the post-mortem of
// incident, in one atomic step (see statusScript): a delivery seen before
// is a duplicate, a change older than the status applied last is stale,
// and the change's job is queued with it or not at all.
func (s *Store) ApplyStatus(ctx context.Context, incident string, c StatusChange) (StatusResult, error) {
	now := s.now()
	tr, _ := json.Marshal(Transition{Status: c.Status, At: now, Source: c.Source})
	jobKey, job := s.seenEventKey("status-"+incident+"-"+c.Status), []any{"0"}
	if c.Job != nil {
		jobKey, job = s.seenEventKey(c.Job.EventID), append([]any{"1"}, entryFields(*c.Job)...)
	}
	keys := append([]string{s.pmKey(incident, ""), s.deadlinesKey(), s.openKey(), s.pmKey(incident, ":history"), s.streamKey(), jobKey}, s.statusKeys()...)
	if c.Delivery != "" {
		keys = append(keys, s.seenJiraKey(c.Delivery))
	}
	args := append([]any{incident, c.Status, tr, c.At.UnixMilli(), c.Source, now.UnixMilli(), int64(DedupeTTL / time.Second)}, job...)
	res, err := statusScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return StatusResult{}, fmt.Errorf("set the status of the post-mortem of %s: %w", incident, err)
	}
	if len(res) != 2 {
		return StatusResult{}, fmt.Errorf("set the status of the post-mortem of %s: unexpected script reply %v", incident, res)
	}
	return StatusResult{Outcome: res[0], Prev: res[1]}, nil
}

// SetStatus moves a tracked post-mortem to status as of now, as the status
// sync does; changed is false when it had that status already or is not
// tracked.
func (s *Store) SetStatus(ctx context.Context, incident, status, source string) (prev string, changed bool, err error) {
	res, err := s.ApplyStatus(ctx, incident, StatusChange{Status: status, Source: source, At: s.now()})
	if err != nil || res.Outcome != ChangeUpdated {
		return "", false, err
	}
	return res.Prev, true, nil
}

// NoteReminder records a reminder sent, once per kind and number.
func (s *Store) NoteReminder(ctx context.Context, incident string, r Sent) error {
	b, _ := json.Marshal(r)
	if err := s.rdb.HSetNX(ctx, s.pmKey(incident, ":sent"), r.Kind+"-"+strconv.Itoa(r.N), b).Err(); err != nil {
		return fmt.Errorf("record a reminder of %s: %w", incident, err)
	}
	return nil
}

// Deadline reads a tracked post-mortem; found is false when it is not
// tracked.
func (s *Store) Deadline(ctx context.Context, incident string) (d Deadline, found bool, err error) {
	var r deadlineRead
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		r = s.queueDeadline(ctx, p, incident)
		return nil
	})
	if err != nil {
		return d, false, fmt.Errorf("read the post-mortem of %s: %w", incident, err)
	}
	return r.decode(incident)
}

// deadlineRead is a post-mortem's reads, queued in a pipeline.
type deadlineRead struct {
	rec, sent *redis.MapStringStringCmd
	hist      *redis.StringSliceCmd
}

func (s *Store) queueDeadline(ctx context.Context, p redis.Pipeliner, incident string) deadlineRead {
	return deadlineRead{
		rec:  p.HGetAll(ctx, s.pmKey(incident, "")),
		hist: p.LRange(ctx, s.pmKey(incident, ":history"), 0, -1),
		sent: p.HGetAll(ctx, s.pmKey(incident, ":sent")),
	}
}

func (r deadlineRead) decode(incident string) (d Deadline, found bool, err error) {
	h := r.rec.Val()
	if len(h) == 0 {
		return d, false, nil
	}
	if err := json.Unmarshal([]byte(h["data"]), &d.Postmortem); err != nil {
		return d, false, fmt.Errorf("decode the post-mortem of %s: %w", incident, err)
	}
	d.Status, d.NextReminder = h["status"], h["next"]
	d.FollowupsDone, _ = strconv.Atoi(h["fu_done"])
	if ms, err := strconv.ParseInt(h["fu_at"], 10, 64); err == nil {
		d.FollowupsCheckedAt = time.UnixMilli(ms).UTC()
	}
	if d.NextReminder != "" {
		d.NextN, _ = strconv.Atoi(h["n"])
		ms, _ := strconv.ParseInt(h["at"], 10, 64)
		d.NextAt = time.UnixMilli(ms).UTC()
	}
	d.History, d.Reminders = []Transition{}, []Sent{}
	for _, raw := range r.hist.Val() {
		var t Transition
		if json.Unmarshal([]byte(raw), &t) == nil {
			d.History = append(d.History, t)
		}
	}
	for _, raw := range r.sent.Val() {
		var r Sent
		if json.Unmarshal([]byte(raw), &r) == nil {
			d.Reminders = append(d.Reminders, r)
		}
	}
	sortSent(d.Reminders)
	return d, true, nil
}

// Open lists the post-mortems not Closed yet: those the status sync reads.
func (s *Store) Open(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.openKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list open post-mortems: %w", err)
	}
	return ids, nil
}

// ClaimStatusSync claims one status-sync interval for consumer: true for
// exactly one caller per interval, whatever the number of replicas.
func (s *Store) ClaimStatusSync(ctx context.Context, consumer string, every time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.syncClaimKey(), consumer, max(every-every/10, time.Millisecond)).Result()
	if err != nil {
		return false, fmt.Errorf("claim the status sync: %w", err)
	}
	return ok, nil
}

func sortSent(rs []Sent) {
	slices.SortFunc(rs, func(a, b Sent) int { return a.At.Compare(b.At) })
}

// IncidentOfEpic is the primary incident whose post-mortem the epic holds;
// found is false for an epic aftermath does not track.
func (s *Store) IncidentOfEpic(ctx context.Context, key string) (string, bool, error) {
	id, err := s.rdb.HGet(ctx, s.epicsKey(), key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up epic %s: %w", key, err)
	}
	return id, true, nil
}

// StatusSynced records that a status sync read every open post-mortem.
func (s *Store) StatusSynced(ctx context.Context) error {
	if err := s.rdb.Set(ctx, s.syncLastKey(), s.now().UnixMilli(), 0).Err(); err != nil {
		return fmt.Errorf("record the status sync: %w", err)
	}
	return nil
}

// LastStatusSync is when a status sync last read every open post-mortem
// (zero: never).
func (s *Store) LastStatusSync(ctx context.Context) (time.Time, error) {
	ms, err := s.rdb.Get(ctx, s.syncLastKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the last status sync: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// PostmortemStats are the post-mortem gauges, as the status index holds
// them.
type PostmortemStats struct {
	ByStatus map[string]int64 // Draft, In Review, Reviewed (not Closed)
	// Overdue are those past their meeting deadline and not Reviewed
	// (Deadline.Overdue).
	Overdue int64
}

// openStatuses are the statuses of the status index, in statusKeys' order.
var openStatuses = []string{StatusDraft, StatusInReview, StatusReviewed}

// PostmortemStats reads the post-mortem gauges from the status index in one
// round trip, as of now.
func (s *Store) PostmortemStats(ctx context.Context) (PostmortemStats, error) {
	keys := s.statusKeys()
	now := "(" + strconv.FormatInt(s.now().UnixMilli(), 10)
	cards := make([]*redis.IntCmd, len(keys))
	var late [2]*redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cards[i] = p.ZCard(ctx, k)
		}
		// Draft and In Review whose meeting is past (a zero meeting due is
		// no deadline).
		late[0] = p.ZCount(ctx, keys[0], "(0", now)
		late[1] = p.ZCount(ctx, keys[1], "(0", now)
		return nil
	})
	if err != nil {
		return PostmortemStats{}, fmt.Errorf("read the post-mortem gauges: %w", err)
	}
	st := PostmortemStats{ByStatus: map[string]int64{}, Overdue: late[0].Val() + late[1].Val()}
	for i, status := range openStatuses {
		st.ByStatus[status] = cards[i].Val()
	}
	return st, nil
}

// indexStatusScript files one post-mortem in the status index by the status
// its record has, atomically with any status change (which files it the
// same way), so that it can run while other replicas work: it returns 1
// when it added the post-mortem to the index.
//
// KEYS[1] record hash, KEYS[2..4] the status index (Draft, In Review,
// Reviewed); ARGV[1] incident.
var indexStatusScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'meeting')
if not h[1] then return 0 end
local index = {['Draft'] = KEYS[2], ['In Review'] = KEYS[3], ['Reviewed'] = KEYS[4]}
local into = index[h[1]]
for i = 2, 4 do
  if KEYS[i] ~= into then redis.call('ZREM', KEYS[i], ARGV[1]) end
end
if not into then return 0 end
return redis.call('ZADD', into, tonumber(h[2] or '0'), ARGV[1])
`)

// indexStatuses puts the open post-mortems that a release without the
// status index registered into it, one script each; those already in it
// stay as they are. It returns how many it added.
func (s *Store) indexStatuses(ctx context.Context) (added int, err error) {
	ids, err := s.Open(ctx)
	if err != nil {
		return 0, err
	}
	keys := s.statusKeys()
	for _, id := range ids {
		n, err := indexStatusScript.Run(ctx, s.rdb, append([]string{s.pmKey(id, "")}, keys...), id).Int()
		if err != nil {
			return added, fmt.Errorf("index the status of the post-mortem of %s: %w", id, err)
		}
		added += n
	}
	return added, nil
}
