package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// Groups. An incident belongs to at most one group: the key
// {groups}:member:<id> names its primary, and is only ever set if absent. A
// primary is a member of its own group. The set {groups}:members:<primary>
// lists the group. Both live as long as incident records.

func (s *Store) groupMemberKey(id string) string {
	return s.prefix + ":{groups}:member:" + keyPart(id)
}

func (s *Store) groupMembersKey(primary string) string {
	return s.prefix + ":{groups}:members:" + keyPart(primary)
}

// claimGroupScript puts the primary and the candidates in one group.
//
// If the primary already belongs to a group, that group is the one joined.
// Every candidate not yet in a group joins it; a candidate already in another
// group stays there. It returns the group's primary and its members.
//
// KEYS[1] the primary's member key, KEYS[2] the members set of the primary,
// KEYS[3..] the candidates' member keys; ARGV[1] TTL in seconds, ARGV[2] the
// primary's ID, ARGV[3..] the candidates' IDs; ARGV[#ARGV] is the members-set
// key prefix (the effective primary may differ from ARGV[2]).
var claimGroupScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
local setPrefix = ARGV[#ARGV]
local primary = redis.call('GET', KEYS[1])
if not primary then
  primary = ARGV[2]
  redis.call('SET', KEYS[1], primary, 'EX', ttl)
end
local members = setPrefix .. primary
redis.call('SADD', members, primary)
for i = 3, #KEYS do
  local id = ARGV[i]
  if redis.call('SET', KEYS[i], primary, 'NX', 'EX', ttl) then
    redis.call('SADD', members, id)
  end
end
redis.call('EXPIRE', members, ttl)
return {primary, redis.call('SMEMBERS', members)}
`)

// IncidentGroup is a primary incident and the incidents grouped under it (the
// primary included).
type IncidentGroup struct {
	Primary string
	Members []string // sorted; includes Primary
}

// ClaimGroup puts primary and candidates into one group, atomically: an
// incident already in a group stays in it, and when primary itself already
// belongs to another group, that group is the one returned. Calling it again
// with the same arguments changes nothing.
func (s *Store) ClaimGroup(ctx context.Context, primary string, candidates []string) (IncidentGroup, error) {
	keys := []string{s.groupMemberKey(primary), s.groupMembersKey(primary)}
	args := []any{int(RecordTTL.Seconds()), primary}
	for _, c := range candidates {
		if c == primary {
			continue
		}
		keys = append(keys, s.groupMemberKey(c))
		args = append(args, c)
	}
	args = append(args, s.prefix+":{groups}:members:")
	res, err := claimGroupScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return IncidentGroup{}, fmt.Errorf("claim group of incident %s: %w", primary, err)
	}
	return groupFromReply(res)
}

// GroupOf returns the group an incident belongs to, if any.
func (s *Store) GroupOf(ctx context.Context, id string) (IncidentGroup, bool, error) {
	primary, err := s.rdb.Get(ctx, s.groupMemberKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return IncidentGroup{}, false, nil
	}
	if err != nil {
		return IncidentGroup{}, false, fmt.Errorf("read group of incident %s: %w", id, err)
	}
	members, err := s.rdb.SMembers(ctx, s.groupMembersKey(primary)).Result()
	if err != nil {
		return IncidentGroup{}, false, fmt.Errorf("read group of incident %s: %w", primary, err)
	}
	slices.Sort(members)
	return IncidentGroup{Primary: primary, Members: members}, true, nil
}

func groupFromReply(res []any) (IncidentGroup, error) {
	if len(res) != 2 {
		return IncidentGroup{}, fmt.Errorf("claim group: unexpected reply %v", res)
	}
	primary, _ := res[0].(string)
	raw, _ := res[1].([]any)
	g := IncidentGroup{Primary: primary}
	for _, m := range raw {
		if id, ok := m.(string); ok {
			g.Members = append(g.Members, id)
		}
	}
	slices.Sort(g.Members)
	return g, nil
}
