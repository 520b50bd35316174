package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestClaimGroup(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()

	if _, ok, err := s.GroupOf(ctx, "P1"); ok || err != nil {
		t.Fatalf("GroupOf before any claim: %v %v", ok, err)
	}
	g, err := s.ClaimGroup(ctx, "P1", []string{"M1", "M2", "P1"})
	if err != nil || g.Primary != "P1" || !slices.Equal(g.Members, []string{"M1", "M2", "P1"}) {
		t.Fatalf("first claim = %+v %v", g, err)
	}
	// Again: nothing changes.
	if g2, err := s.ClaimGroup(ctx, "P1", []string{"M1", "M2"}); err != nil || !slices.Equal(g2.Members, g.Members) {
		t.Fatalf("repeated claim = %+v %v", g2, err)
	}
	// Another primary claiming M2 and a new M3: M2 stays with P1.
	g3, err := s.ClaimGroup(ctx, "P2", []string{"M2", "M3"})
	if err != nil || g3.Primary != "P2" || !slices.Equal(g3.Members, []string{"M3", "P2"}) {
		t.Fatalf("competing claim = %+v %v", g3, err)
	}
	// A member claiming with itself as primary lands in its group.
	g4, err := s.ClaimGroup(ctx, "M1", []string{"M4"})
	if err != nil || g4.Primary != "P1" || !slices.Equal(g4.Members, []string{"M1", "M2", "M4", "P1"}) {
		t.Fatalf("claim by a member = %+v %v", g4, err)
	}
	for id, want := range map[string]string{"P1": "P1", "M1": "P1", "M2": "P1", "M4": "P1", "M3": "P2", "P2": "P2"} {
		g, ok, err := s.GroupOf(ctx, id)
		if err != nil || !ok || g.Primary != want {
			t.Fatalf("GroupOf(%s) = %+v %v %v, want primary %s", id, g, ok, err, want)
		}
	}
	// Group keys expire with the incident records.
	for _, k := range []string{s.groupMemberKey("M1"), s.groupMembersKey("P1")} {
		if ttl := r.Client.TTL(ctx, k).Val(); ttl < RecordTTL-time.Minute || ttl > RecordTTL {
			t.Fatalf("TTL of %s = %s, want about %s", k, ttl, RecordTTL)
		}
	}
}

// Many processes claiming overlapping groups at once: every incident ends in
// exactly one group, and every group's member list agrees with its members'
// own keys.
func TestClaimGroupConcurrent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	const claimers, incidents = 20, 30
	ids := func(i int) string { return fmt.Sprintf("I%02d", i%incidents) }
	var wg sync.WaitGroup
	errs := make(chan error, claimers*5)
	for c := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 5 {
				primary := ids(c*7 + round)
				cands := []string{ids(c + round + 1), ids(c*3 + 2), ids(c + 11)}
				if _, err := s.ClaimGroup(ctx, primary, cands); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	for i := range incidents {
		id := ids(i)
		g, ok, err := s.GroupOf(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		if !slices.Contains(g.Members, id) {
			t.Fatalf("%s points at %s, whose members %v lack it", id, g.Primary, g.Members)
		}
		if pg, _, _ := s.GroupOf(ctx, g.Primary); pg.Primary != g.Primary {
			t.Fatalf("primary %s of %s is itself in the group of %s", g.Primary, id, pg.Primary)
		}
		groups[g.Primary] = g.Members
	}
	seen := map[string]string{}
	for p, members := range groups {
		for _, m := range members {
			if other, dup := seen[m]; dup {
				t.Fatalf("%s is in the groups of %s and %s", m, other, p)
			}
			seen[m] = p
		}
	}
	if len(seen) == 0 {
		t.Fatal("no groups at all")
	}
}
