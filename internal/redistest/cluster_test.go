package redistest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The cluster answers on all three masters, agrees with Slot, and refuses
// what Redis Cluster refuses: a script or transaction across slots.
func TestStartCluster(t *testing.T) {
	c := StartCluster(t)
	ctx := context.Background()
	if len(c.Addrs) != 3 || !strings.HasPrefix(c.URL, "redis://"+c.Addrs[0]+"?addr=") {
		t.Fatalf("Addrs %v URL %q", c.Addrs, c.URL)
	}
	opts, err := redis.ParseClusterURL(c.URL)
	if err != nil || len(opts.Addrs) != 3 {
		t.Fatalf("ParseClusterURL(%q) = %v, %v", c.URL, opts, err)
	}
	var masters sync.Map
	if err := c.Client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Store(m.Options().Addr, true)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Addrs {
		if _, ok := masters.Load(a); !ok {
			t.Errorf("%s is not a master of the cluster", a)
		}
	}
	for _, key := range []string{"a", "aftermath:{queue}:events", "x:{groups}:member:P1", "{}", "foo{}{bar}", "{user1000}.following"} {
		want, err := c.Client.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := Slot(key); int64(got) != want {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
	// Keys spread over the nodes and come back.
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6"} {
		if err := c.Client.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got := c.Client.Get(ctx, k).Val(); got != k {
			t.Fatalf("GET %s = %q", k, got)
		}
	}
	// One slot: fine; two slots: CROSSSLOT.
	same := redis.NewScript(`redis.call('SET', KEYS[1], 1) redis.call('SET', KEYS[2], 1) return 1`)
	if err := same.Run(ctx, c.Client, []string{"p:{t}:a", "p:{t}:b"}).Err(); err != nil {
		t.Fatalf("script on one slot: %v", err)
	}
	if err := same.Run(ctx, c.Client, []string{"p:{t}:a", "p:{u}:b"}).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("script across slots: %v, want CROSSSLOT", err)
	}
	if _, err := c.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "p:{t}:a", 1, 0)
		p.Set(ctx, "p:{u}:a", 1, 0)
		return nil
	}); err == nil {
		t.Fatal("a transaction across slots succeeded on the cluster")
	}
}

// The hook flags, on any client, the scripts and transactions a cluster
// would refuse, and nothing else.
func TestOneSlotHook(t *testing.T) {
	r := New(t)
	ctx := context.Background()
	h := &OneSlot{}
	r.Client.AddHook(h)
	k := func(tag, name string) string { return r.Prefix + ":{" + tag + "}:" + name }
	script := redis.NewScript(`for _, k in ipairs(KEYS) do redis.call('SET', k, 1) end return 1`)

	if err := script.Run(ctx, r.Client, []string{k("t", "a"), k("t", "b")}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k("t", "a"), 1, 0)
		p.HSet(ctx, k("t", "h"), "f", 1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p := h.Problems(); len(p) != 0 {
		t.Fatalf("one slot reported as a problem: %v", p)
	}

	if err := script.Run(ctx, r.Client, []string{k("t", "a"), k("u", "b")}).Err(); err != nil {
		t.Fatal(err) // one server runs it; a cluster would not
	}
	if _, err := r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k("t", "a"), 1, 0)
		p.Del(ctx, k("t", "b"), k("u", "b"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := h.Problems()
	if len(p) != 2 || !strings.HasPrefix(p[0], "EVAL") || !strings.HasPrefix(p[1], "MULTI set del") {
		t.Fatalf("problems %q, want one script and one MULTI", p)
	}
	if s, x := h.Counts(); s < 2 || x != 2 {
		t.Fatalf("checked %d scripts and %d transactions, want >= 2 and 2", s, x)
	}
	for site := range h.Sites() {
		if !strings.Contains(site, "cluster_test.go:") {
			t.Errorf("site %q is not in this test", site)
		}
	}
}

// The sentinel names the master, and go-redis's failover client reaches it
// through the sentinel's URL in the form REDIS_MODE=sentinel reads.
func TestStartSentinel(t *testing.T) {
	s := StartSentinel(t)
	opts, err := redis.ParseFailoverURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	opts.MasterName = s.Master
	c := redis.NewFailoverClient(opts)
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	direct := redis.NewClient(&redis.Options{Addr: s.MasterAddr})
	defer direct.Close()
	if got := direct.Get(ctx, "k").Val(); got != "v" {
		t.Fatalf("the master at %s holds %q, want the value written through the sentinel", s.MasterAddr, got)
	}

	// After the master dies, the same client writes to the promoted replica.
	if err := c.Wait(ctx, 1, time.Second).Err(); err != nil { // the replica has "k" before the crash
		t.Fatal(err)
	}
	old := s.MasterAddr
	s.Failover(t)
	if s.MasterAddr == old {
		t.Fatal("Failover did not change MasterAddr")
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Set(ctx, "k2", "v2", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the failover client never wrote to the new master")
		}
		time.Sleep(50 * time.Millisecond)
	}
	promoted := redis.NewClient(&redis.Options{Addr: s.MasterAddr})
	defer promoted.Close()
	if got := promoted.MGet(ctx, "k", "k2").Val(); len(got) != 2 || got[0] != "v" || got[1] != "v2" {
		t.Fatalf("the promoted master holds %v, want [v v2]", got)
	}
}

// With replicas, killing the master of a slot makes the cluster promote its
// replica by itself; what the master acknowledged is on the replica, and the
// cluster takes writes to that slot again.
func TestClusterFailMaster(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{Replicas: 1, NodeTimeout: time.Second})
	ctx := context.Background()
	if len(c.Addrs) != 3 || len(c.Replicas) != 3 {
		t.Fatalf("Addrs %v Replicas %v, want 3 and 3", c.Addrs, c.Replicas)
	}
	if opts, err := redis.ParseClusterURL(c.URL); err != nil || len(opts.Addrs) != 6 {
		t.Fatalf("ParseClusterURL(%q) = %v, %v: want every node", c.URL, opts, err)
	}
	const key = "x:{queue}:events"
	if err := c.Client.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f := c.FailMaster(t, key)
	t.Logf("slot %d: %s killed, %s promoted %s later", f.Slot, f.Old, f.New, f.Promoted.Sub(f.Killed).Round(time.Millisecond))
	if !slices.Contains(c.Addrs, f.Old) || !slices.Contains(c.Replicas, f.New) || f.Slot != Slot(key) {
		t.Fatalf("failover %+v: want a master replaced by a replica", f)
	}
	if !f.Promoted.After(f.Killed) {
		t.Fatalf("promoted at %v, before the kill at %v", f.Promoted, f.Killed)
	}
	if got := c.Client.Get(ctx, key).Val(); got != "before" {
		t.Fatalf("after the failover %s = %q, want the value written before", key, got)
	}
	if err := c.Client.Set(ctx, key, "after", 0).Err(); err != nil {
		t.Fatalf("write after the failover: %v", err)
	}
	n := redis.NewClient(&redis.Options{Addr: f.New})
	defer n.Close()
	if got := n.Get(ctx, key).Val(); got != "after" {
		t.Fatalf("the promoted master %s holds %q, want the write made after the failover", f.New, got)
	}
	old := redis.NewClient(&redis.Options{Addr: f.Old, MaxRetries: -1, DialerRetries: 1})
	defer old.Close()
	if err := old.Ping(ctx).Err(); err == nil {
		t.Fatalf("the killed master %s still answers", f.Old)
	}
}
