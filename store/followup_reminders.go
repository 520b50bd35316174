package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The follow-up reminder schedule: every open follow-up with a due date, by
// when its next overdue reminder is due, beside the follow-up index. Its
// keys share the queue's hash slot, so that claiming a due reminder and
// queueing its job are one script, as for the post-mortems' reminders
// (store/deadlines.go): whatever the number of keepers, and wherever one
// dies, each reminder is queued once.
//
// Per follow-up, the schedule hash of its post-mortem keeps the due date
// the reminders follow (KEY:due, YYYY-MM-DD), how many were queued for it
// (KEY:n) and when the next is due (KEY:at, ms). A due date a person moved
// starts the count again from the new date; a follow-up done, deleted or
// without a due date leaves the schedule. The gauges' sets (open by when
// overdue, done) are kept by the same script.

// EventFollowupReminder is an overdue follow-up's reminder job, queued by
// the deadline keeper.
const EventFollowupReminder = "aftermath.followup_reminder"

// FollowupReminderJob is the body of a follow-up reminder's job.
type FollowupReminderJob struct {
	Key string `json:"key"`
	Due string `json:"due"` // the due date it is about, YYYY-MM-DD
	N   int    `json:"n"`   // its number among the reminders of that due date, from 1
}

// FollowupReminderEventID names a follow-up reminder's job: the ticket, the
// due date and the reminder's number.
func FollowupReminderEventID(key, due string, n int) string {
	return "followup-reminder-" + key + "-" + due + "-" + strconv.Itoa(n)
}

// Follow-up states, as the status sync read them.
const (
	FollowupOpen    = "open"
	FollowupDone    = "done"
	FollowupDeleted = "deleted"
)

// FollowupPlan is what the status sync read of a follow-up that bears on
// its reminders.
type FollowupPlan struct {
	Key   string
	State string    // FollowupOpen, FollowupDone or FollowupDeleted
	Due   time.Time // zero: none
	// OverdueAt is when it is overdue (rules.FollowupOverdueAt of Due).
	OverdueAt time.Time
}

func (s *Store) fuScheduleKey() string { return s.prefix + ":{queue}:fureminders" }
func (s *Store) fuOpenKey() string     { return s.prefix + ":{queue}:fuopen" }
func (s *Store) fuDoneKey() string     { return s.prefix + ":{queue}:fudone" }
func (s *Store) fuSchedKey(incident string) string {
	return s.pmKey(incident, ":fusched")
}
func (s *Store) fuSentKey(incident string) string { return s.pmKey(incident, ":fusent") }

// fuMember is a follow-up's member in the schedule and the gauges' sets.
func fuMember(incident, key string) string { return incident + "|" + key }

// noDue is the score of an open follow-up without a due date in the open
// set: never overdue.
const noDue = "+inf"

// planScript files the follow-ups of one post-mortem as the status sync
// read them: the gauges' sets and the reminder schedule.
//
// KEYS[1] schedule, KEYS[2] schedule hash, KEYS[3] open set, KEYS[4] done
// set; ARGV[1] incident, ARGV[2] max reminders, then per follow-up: key,
// state, due date ("" none), overdue at (ms).
var planScript = redis.NewScript(`
local max = tonumber(ARGV[2])
for i = 3, #ARGV, 4 do
  local key, state, due, at = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  local member = ARGV[1] .. '|' .. key
  if state == 'open' then
    redis.call('SREM', KEYS[4], member)
    if due == '' then redis.call('ZADD', KEYS[3], '+inf', member) else redis.call('ZADD', KEYS[3], at, member) end
  else
    redis.call('ZREM', KEYS[3], member)
    if state == 'done' then redis.call('SADD', KEYS[4], member) else redis.call('SREM', KEYS[4], member) end
  end
  if due == '' then
    redis.call('ZREM', KEYS[1], member)
    redis.call('HDEL', KEYS[2], key .. ':due', key .. ':n', key .. ':at')
  else
    local h = redis.call('HMGET', KEYS[2], key .. ':due', key .. ':n', key .. ':at')
    local n, nextAt = tonumber(h[2] or '0'), tonumber(h[3] or at)
    if h[1] ~= due then
      n, nextAt = 0, tonumber(at)
      redis.call('HSET', KEYS[2], key .. ':due', due, key .. ':n', 0, key .. ':at', at)
    end
    if state == 'open' and n < max then redis.call('ZADD', KEYS[1], nextAt, member) else redis.call('ZREM', KEYS[1], member) end
  end
end
return 1
`)

// planArgs are planScript's keys and arguments: a post-mortem's follow-ups
// as the status sync read them (RecordFollowups). Open ones with a due date
// are scheduled (from their due date's OverdueAt when it is new or was
// moved, else where the schedule stands), done, deleted and undated ones
// are not, and those that had maxReminders already get no more.
func (s *Store) planArgs(incident string, plans []FollowupPlan, maxReminders int) ([]string, []any) {
	args := []any{incident, maxReminders}
	for _, p := range plans {
		due, at := "", int64(0)
		if !p.Due.IsZero() {
			due, at = p.Due.Format(time.DateOnly), p.OverdueAt.UnixMilli()
		}
		args = append(args, p.Key, p.State, due, at)
	}
	return []string{s.fuScheduleKey(), s.fuSchedKey(incident), s.fuOpenKey(), s.fuDoneKey()}, args
}

// NextFollowupReminders returns up to limit follow-ups whose reminder is
// due, as "incident|key": the keeper's one call per tick when none is.
func (s *Store) NextFollowupReminders(ctx context.Context, limit int) ([]string, error) {
	ms, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.fuScheduleKey(), ByScore: true, Start: "-inf", Stop: strconv.FormatInt(s.now().UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read due follow-up reminders: %w", err)
	}
	return ms, nil
}

// What ClaimFollowupReminder did.
const (
	ReminderQueued  = "queued"       // the job is queued
	ReminderNotDue  = "not_due"      // not due (another keeper claimed it), or no longer scheduled
	ReminderDone    = "skipped_done" // the index says done or deleted: it left the schedule
	ReminderCapped  = "capped"       // max_reminders reached: it left the schedule
	ReminderUnknown = "unknown"      // not in the index (post-mortem forgotten): it left the schedule
)

// fuClaimScript claims a follow-up's due reminder and queues its job, and
// moves its schedule on, in one step. The follow-up index is read in the
// same step: one done or deleted since the schedule was made leaves it.
//
// KEYS[1] schedule, KEYS[2] schedule hash, KEYS[3] follow-up index hash,
// KEYS[4] stream; ARGV[1] member, ARGV[2] key, ARGV[3] incident, ARGV[4]
// now (ms), ARGV[5] repeat (ms), ARGV[6] max reminders, ARGV[7] now (RFC
// 3339).
var fuClaimScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = tonumber(ARGV[4])
if not at or tonumber(at) > now then return {'not_due', ''} end
local key = ARGV[2]
local raw = redis.call('HGET', KEYS[3], key)
if not raw then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'unknown', ''}
end
local ok, f = pcall(cjson.decode, raw)
if ok and (f.done == true or f.deleted == true) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'skipped_done', ''}
end
local h = redis.call('HMGET', KEYS[2], key .. ':due', key .. ':n')
if not h[1] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'not_due', ''}
end
local n = tonumber(h[2] or '0') + 1
if n > tonumber(ARGV[6]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {'capped', ''}
end
local body = cjson.encode({key = key, due = h[1], n = n})
local id = redis.call('XADD', KEYS[4], '*', 'event_id', 'followup-reminder-' .. key .. '-' .. h[1] .. '-' .. n,
  'event_type', 'aftermath.followup_reminder', 'incident_id', ARGV[3], 'occurred_at', ARGV[7], 'received_at', ARGV[7], 'body', body)
local nextAt = tonumber(at) + tonumber(ARGV[5])
if nextAt <= now then nextAt = now + tonumber(ARGV[5]) end
redis.call('HSET', KEYS[2], key .. ':n', n, key .. ':at', nextAt)
if n >= tonumber(ARGV[6]) then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], nextAt, ARGV[1]) end
return {'queued', id}
`)

// ClaimFollowupReminder queues the job of a follow-up's due reminder
// (member as NextFollowupReminders returns it) and schedules the next,
// every repeat, up to maxReminders for its due date. outcome is one of the
// Reminder* values; entryID is the job's stream entry when queued.
func (s *Store) ClaimFollowupReminder(ctx context.Context, member string, repeat time.Duration, maxReminders int) (outcome, entryID string, err error) {
	incident, key, ok := strings.Cut(member, "|")
	if !ok || incident == "" || key == "" {
		// Not one of ours: drop it, or it would be read every tick.
		if err := s.rdb.ZRem(ctx, s.fuScheduleKey(), member).Err(); err != nil {
			return "", "", fmt.Errorf("drop the malformed follow-up reminder %q: %w", member, err)
		}
		return ReminderUnknown, "", nil
	}
	now := s.now()
	res, err := fuClaimScript.Run(ctx, s.rdb, []string{s.fuScheduleKey(), s.fuSchedKey(incident), s.followupsKey(incident), s.streamKey()},
		member, key, incident, now.UnixMilli(), repeat.Milliseconds(), maxReminders, now.UTC().Format(time.RFC3339Nano)).StringSlice()
	if err != nil {
		return "", "", fmt.Errorf("claim the reminder of follow-up %s: %w", key, err)
	}
	if len(res) != 2 {
		return "", "", fmt.Errorf("claim the reminder of follow-up %s: unexpected script reply %v", key, res)
	}
	return res[0], res[1], nil
}

// FollowupReminderAt is when the follow-up's next reminder is due; found is
// false when none is scheduled.
func (s *Store) FollowupReminderAt(ctx context.Context, incident, key string) (at time.Time, found bool, err error) {
	score, err := s.rdb.ZScore(ctx, s.fuScheduleKey(), fuMember(incident, key)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the reminder of follow-up %s: %w", key, err)
	}
	return time.UnixMilli(int64(score)).UTC(), true, nil
}

// NoteFollowupReminder records a follow-up reminder sent, once per due date
// and number: Followup.Reminders counts them.
func (s *Store) NoteFollowupReminder(ctx context.Context, incident string, job FollowupReminderJob) error {
	field := job.Key + "|" + job.Due + "|" + strconv.Itoa(job.N)
	if err := s.rdb.HSetNX(ctx, s.fuSentKey(incident), field, s.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("record a reminder of follow-up %s: %w", job.Key, err)
	}
	return nil
}

// sentCounts counts the reminders sent per follow-up key in a post-mortem's
// sent hash.
func sentCounts(h map[string]string) map[string]int {
	out := map[string]int{}
	for field := range h {
		if key, _, ok := strings.Cut(field, "|"); ok {
			out[key]++
		}
	}
	return out
}

// FollowupStats are the follow-up gauges.
type FollowupStats struct {
	Open    int64 // not done, not deleted
	Overdue int64 // open and past the end of their due date
	Done    int64
}

// FollowupStats reads the follow-up gauges in one round trip, as of now,
// from the sets the status sync keeps (RecordFollowups).
func (s *Store) FollowupStats(ctx context.Context) (FollowupStats, error) {
	var open, overdue, done *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		open = p.ZCard(ctx, s.fuOpenKey())
		overdue = p.ZCount(ctx, s.fuOpenKey(), "-inf", strconv.FormatInt(s.now().UnixMilli(), 10))
		done = p.SCard(ctx, s.fuDoneKey())
		return nil
	})
	if err != nil {
		return FollowupStats{}, fmt.Errorf("read the follow-up gauges: %w", err)
	}
	return FollowupStats{Open: open.Val(), Overdue: overdue.Val(), Done: done.Val()}, nil
}

func (s *Store) fuDueKey(key string) string { return s.prefix + ":fudue:" + keyPart(key) }

// followupDueTTL is how long the decision on a ticket's due date is kept:
// longer than any follow-up stays under an open post-mortem.
const followupDueTTL = 400 * 24 * time.Hour

// followupDueLease is how long a claim to set a due date holds before the
// date is set (SettleFollowupDue): a sync that dies in between (SIGKILL, or
// a stop that cancels its context) leaves the ticket to a later sync, which
// reads the ticket again before writing.
const followupDueLease = 10 * time.Minute

// ClaimFollowupDue decides, once per ticket, that the status sync handles
// the due date of a ticket a person added (how: "had", it had one; "set",
// aftermath sets one; "none", the rules give none): true for the one
// caller that decides, false ever after. "had" and "none" are final; "set"
// is a lease until SettleFollowupDue makes it final, and a set that failed
// is released (ReleaseFollowupDue) for the next sync to try again.
func (s *Store) ClaimFollowupDue(ctx context.Context, key, how string) (bool, error) {
	value, ttl := how, followupDueTTL
	if how == "set" {
		value, ttl = "setting", followupDueLease
	}
	ok, err := s.rdb.SetNX(ctx, s.fuDueKey(key), value, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim the due date of %s: %w", key, err)
	}
	return ok, nil
}

// SettleFollowupDue makes a claim to set a ticket's due date final, once
// the ticket has one.
func (s *Store) SettleFollowupDue(ctx context.Context, key string) error {
	if err := s.rdb.Set(ctx, s.fuDueKey(key), "set", followupDueTTL).Err(); err != nil {
		return fmt.Errorf("settle the due date of %s: %w", key, err)
	}
	return nil
}

// ReleaseFollowupDue forgets the claim on a ticket's due date.
func (s *Store) ReleaseFollowupDue(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.fuDueKey(key)).Err(); err != nil {
		return fmt.Errorf("release the due date of %s: %w", key, err)
	}
	return nil
}
