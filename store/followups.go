package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The follow-up index: every follow-up ticket of a tracked post-mortem, as
// the status sync last saw it in Jira (the tickets aftermath made and those
// a person added under the epic), one hash per post-mortem, a JSON record
// per ticket key. The follow-up reminders, the recurrence check, the
// follow-ups view and the digest read it; none of them asks Jira.

// Followup is one follow-up ticket as aftermath last saw it.
type Followup struct {
	Key      string `json:"key"`
	Incident string `json:"incident"` // the post-mortem's primary incident
	Epic     string `json:"epic"`
	Summary  string `json:"summary,omitempty"`
	// Status is its Jira status's name; Done whether that counts as done
	// (rules status_map's Closed, or a done status of Jira's workflows).
	Status string `json:"status,omitempty"`
	Done   bool   `json:"done"`
	// Deleted: Jira no longer shows it. It counts as neither open nor done.
	Deleted      bool   `json:"deleted,omitempty"`
	Assignee     string `json:"assignee,omitempty"`      // email, or Jira account ID when it has none
	AssigneeName string `json:"assignee_name,omitempty"` // display name
	// Due is its Jira due date (midnight UTC of that date); zero: none.
	Due time.Time `json:"due,omitzero"`
	// Made says aftermath created it (with the epic); otherwise a person
	// added it under the epic.
	Made      bool      `json:"made,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"` // when aftermath first saw it done
	SeenAt    time.Time `json:"seen_at,omitzero"` // the status sync's last reading
	// Reminders is how many overdue reminders were sent: the reminders'
	// own record counts them (NoteFollowupReminder), and a read gives the
	// larger of that and what SaveFollowups was given, so that a save made
	// from an older reading never lowers it.
	Reminders int `json:"reminders,omitempty"`
}

// Open says whether the follow-up still needs doing.
func (f Followup) Open() bool { return !f.Done && !f.Deleted }

// Overdue says whether it is open and past overdueAt (the end of its due
// date in the rules' zone: rules.FollowupOverdueAt).
func (f Followup) Overdue(now, overdueAt time.Time) bool {
	return f.Open() && !f.Due.IsZero() && !now.Before(overdueAt)
}

func (s *Store) followupsKey(incident string) string { return s.pmKey(incident, ":followups") }

// SaveFollowups records the follow-ups of a post-mortem as last seen,
// replacing the records of the same keys; the others are kept.
func (s *Store) SaveFollowups(ctx context.Context, incident string, fus []Followup) error {
	if len(fus) == 0 {
		return nil
	}
	if err := s.saveFollowups(ctx, s.rdb, incident, fus); err != nil {
		return fmt.Errorf("record the follow-ups of %s: %w", incident, err)
	}
	return nil
}

func (s *Store) saveFollowups(ctx context.Context, c redis.Cmdable, incident string, fus []Followup) error {
	vals := make([]any, 0, 2*len(fus))
	for _, f := range fus {
		f.Incident = incident
		data, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encode follow-up %s: %w", f.Key, err)
		}
		vals = append(vals, f.Key, data)
	}
	return c.HSet(ctx, s.followupsKey(incident), vals...).Err()
}

// RecordFollowups files what the status sync read of a post-mortem's
// follow-ups in one transaction: the index (as SaveFollowups) with the
// reminder schedule and the open and done sets (planScript).
// The open set says which post-mortems the sync goes on reading once
// Closed (WithOpenFollowups), so it must never disagree with the index.
func (s *Store) RecordFollowups(ctx context.Context, incident string, fus []Followup, plans []FollowupPlan, maxReminders int) error {
	if len(fus) == 0 && len(plans) == 0 {
		return nil
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(fus) > 0 {
			if err := s.saveFollowups(ctx, p, incident, fus); err != nil {
				return err
			}
		}
		if len(plans) > 0 {
			keys, args := s.planArgs(incident, plans, maxReminders)
			planScript.Eval(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the follow-ups of %s: %w", incident, err)
	}
	return nil
}

// Followups returns a post-mortem's follow-ups, by key.
func (s *Store) Followups(ctx context.Context, incident string) ([]Followup, error) {
	var h, sent *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h, sent = p.HGetAll(ctx, s.followupsKey(incident)), p.HGetAll(ctx, s.fuSentKey(incident))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the follow-ups of %s: %w", incident, err)
	}
	return decodeFollowups(incident, h.Val(), sent.Val())
}

// AllFollowups returns the follow-ups of every tracked post-mortem, by
// post-mortem (its meeting due) then key: one pipeline.
func (s *Store) AllFollowups(ctx context.Context) ([]Followup, error) {
	ids, err := s.rdb.ZRange(ctx, s.trackedKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the tracked post-mortems: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	sent := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.followupsKey(id))
			sent[i] = p.HGetAll(ctx, s.fuSentKey(id))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the follow-ups: %w", err)
	}
	var out []Followup
	for i, id := range ids {
		fus, err := decodeFollowups(id, cmds[i].Val(), sent[i].Val())
		if err != nil {
			return nil, err
		}
		out = append(out, fus...)
	}
	return out, nil
}

// WithOpenFollowups returns the post-mortems with an open follow-up,
// whatever their status: a Closed post-mortem's follow-ups go on being read
// by the status sync until they are done. It reads the open set the sync
// keeps with the index (RecordFollowups): its cost is the open follow-ups,
// not every post-mortem ever tracked.
func (s *Store) WithOpenFollowups(ctx context.Context) ([]string, error) {
	members, err := s.rdb.ZRange(ctx, s.fuOpenKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the open follow-ups: %w", err)
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if i := strings.LastIndexByte(m, '|'); i > 0 {
			ids = append(ids, m[:i])
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

func decodeFollowups(incident string, h, sent map[string]string) ([]Followup, error) {
	counts := sentCounts(sent)
	out := make([]Followup, 0, len(h))
	for key, raw := range h {
		var f Followup
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			return nil, fmt.Errorf("decode follow-up %s of %s: %w", key, incident, err)
		}
		f.Reminders = max(f.Reminders, counts[f.Key])
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Followup) int { return compareKeys(a.Key, b.Key) })
	return out, nil
}

// compareKeys orders Jira keys by project, then number: PM-9 before PM-10.
func compareKeys(a, b string) int {
	pa, na := splitKey(a)
	pb, nb := splitKey(b)
	if pa != pb {
		if pa < pb {
			return -1
		}
		return 1
	}
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return 0
}

func splitKey(k string) (string, int) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '-' {
			n := 0
			for _, c := range k[i+1:] {
				if c < '0' || c > '9' {
					return k, 0
				}
				n = n*10 + int(c-'0')
			}
			return k[:i], n
		}
	}
	return k, 0
}
