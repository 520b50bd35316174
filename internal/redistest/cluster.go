package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters, and replicas when asked for,
// on loopback ports, started by the test.
type Cluster struct {
	Addrs    []string // host:port of each master, as started
	Replicas []string // host:port of each replica, as started
	// URL is REDIS_URL for REDIS_MODE=cluster: redis://a1?addr=a2&addr=a3,
	// every node named.
	URL    string
	Client *redis.ClusterClient

	opts  ClusterOptions
	procs map[string]*exec.Cmd // by address
	dir   string
}

// ClusterOptions say what StartClusterWith starts; the zero value is
// StartCluster's cluster.
type ClusterOptions struct {
	// Replicas is how many replicas each master has (0: none).
	Replicas int
	// NodeTimeout is cluster-node-timeout: how long a master may not
	// answer before its replica takes over (default 5s). A failover takes
	// about this plus one to two seconds.
	NodeTimeout time.Duration
}

// Sentinel is a redis-server master and its replica watched by one Redis
// Sentinel, all started by the test.
type Sentinel struct {
	// URL is REDIS_URL for REDIS_MODE=sentinel: the sentinel's address.
	URL string
	// Master is the master name the sentinel monitors (REDIS_SENTINEL_MASTER).
	Master     string
	MasterAddr string // the current master; Failover changes it

	addr, log       string // the sentinel's address and log file
	master, replica *Server
}

// SentinelMaster is the master name StartSentinel's sentinel monitors.
const SentinelMaster = "aftermath"

// StartCluster starts a Redis Cluster of three masters without replicas,
// waits until every node says cluster_state:ok and stops it when the test
// ends. It skips the test when redis-server or redis-cli is not installed,
// unless a real Redis is required, then it fails.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{})
}

// StartClusterWith is StartCluster for a cluster that opts describe: with
// replicas, it also waits until every replica is in sync with its master
// and known as its replica to every node, so that FailMaster can promote one.
func StartClusterWith(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	needBinaries(t, "redis-server", "redis-cli")
	c, err := NewClusterWith(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start redis cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// NewCluster is StartCluster for a TestMain, where there is no testing.TB:
// the cluster keeps its files in dir and runs until Close.
func NewCluster(dir string) (*Cluster, error) { return NewClusterWith(dir, ClusterOptions{}) }

// NewClusterWith is StartClusterWith for a TestMain.
func NewClusterWith(dir string, opts ClusterOptions) (_ *Cluster, err error) {
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 5 * time.Second
	}
	c := &Cluster{dir: dir, opts: opts, procs: map[string]*exec.Cmd{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	count := 3 * (1 + opts.Replicas)
	// Each node needs a client port and a cluster bus port.
	ports, err := freePorts(2 * count)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for i := range count {
		port, bus := strconv.Itoa(ports[2*i]), strconv.Itoa(ports[2*i+1])
		// A replica syncs at once (Redis waits 5 s by default, for more
		// replicas to share a diskless transfer).
		cmd, err := startProcess(dir, "redis-"+port+".log", "redis-server", "--port", port, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes-"+port+".conf"),
			"--cluster-port", bus, "--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
			"--repl-diskless-sync-delay", "0",
			"--save", "", "--appendonly", "no", "--dir", dir)
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + port
		c.procs[addr] = cmd
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		if err := waitPing(a); err != nil {
			return nil, err
		}
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	c.Addrs, c.Replicas = addrs[:3], addrs[3:] // for now: waitOK counts them
	if err := c.waitOK(addrs, fullShards(opts.Replicas), 30*time.Second); err != nil {
		return nil, err
	}
	// redis-cli chose the roles; ask which.
	n := redis.NewClient(&redis.Options{Addr: addrs[0]})
	nodes, err := clusterNodes(context.Background(), n)
	_ = n.Close()
	if err != nil {
		return nil, err
	}
	c.Addrs, c.Replicas = nil, nil
	for _, a := range addrs {
		for _, m := range nodes {
			if m.addr == a && m.master == "" {
				c.Addrs = append(c.Addrs, a)
			} else if m.addr == a {
				c.Replicas = append(c.Replicas, a)
			}
		}
	}
	if len(c.Addrs) != 3 {
		return nil, fmt.Errorf("cluster has masters %v, want 3", c.Addrs)
	}
	c.URL = "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	c.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	// The client learns the slots from any node; make sure it has them
	// before the test's first command.
	if err := c.reloadClient(); err != nil {
		return nil, err
	}
	return c, nil
}

// reloadClient makes Client load the slot map now and reach every master.
func (c *Cluster) reloadClient() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	}); err != nil {
		return fmt.Errorf("cluster client: %w", err)
	}
	return nil
}

// waitOK waits until each of nodes reports cluster_state:ok, knows every
// node started (a dead one stays known, flagged as failed) and lists slots
// that shards accepts; a replica must also report its link to its master up.
func (c *Cluster) waitOK(nodes []string, shards func(context.Context, *redis.Client, []redis.ClusterSlot) error, within time.Duration) error {
	deadline := time.Now().Add(within)
	ctx := context.Background()
	known := len(c.Addrs) + len(c.Replicas)
	for _, a := range nodes {
		n := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
		for {
			err := nodeOK(ctx, n, known, shards)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				_ = n.Close()
				return fmt.Errorf("node %s not ready within %s: %w", a, within, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = n.Close()
	}
	return nil
}

// nodeOK is one look at what waitOK waits for, on one node.
func nodeOK(ctx context.Context, n *redis.Client, known int, shards func(context.Context, *redis.Client, []redis.ClusterSlot) error) error {
	info, err := n.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(known)+"\r") {
		return fmt.Errorf("cluster info %q", info)
	}
	slots, err := n.ClusterSlots(ctx).Result()
	if err != nil {
		return err
	}
	if err := shards(ctx, n, slots); err != nil {
		return err
	}
	repl, err := n.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return errors.New("replica not in sync with its master")
	}
	return nil
}

// fullShards accepts slots when three masters cover every slot and, by
// the node's CLUSTER NODES, each has the replicas asked for. (CLUSTER SLOTS
// lists a replica only once gossip has told the node its replication offset,
// seconds later; a failover does not need that.)
func fullShards(replicas int) func(context.Context, *redis.Client, []redis.ClusterSlot) error {
	return func(ctx context.Context, n *redis.Client, slots []redis.ClusterSlot) error {
		covered, masters := 0, map[string]bool{}
		for _, s := range slots {
			covered += s.End - s.Start + 1
			masters[s.Nodes[0].Addr] = true
		}
		if covered != 16384 || len(masters) != 3 {
			return fmt.Errorf("%d slots covered by %d masters, want 16384 by 3", covered, len(masters))
		}
		nodes, err := clusterNodes(ctx, n)
		if err != nil {
			return err
		}
		perMaster := map[string]int{}
		for _, r := range nodes {
			if r.master != "" {
				perMaster[r.master]++
			}
		}
		for id, n := range perMaster {
			if n != replicas {
				return fmt.Errorf("master %s has %d replicas, want %d", id, n, replicas)
			}
		}
		if len(perMaster) != min(replicas, 1)*3 {
			return fmt.Errorf("%d masters with replicas, want %d", len(perMaster), min(replicas, 1)*3)
		}
		return nil
	}
}

// clusterNode is a line of CLUSTER NODES.
type clusterNode struct {
	id, addr string
	master   string // the master's ID when the node is a replica
}

// clusterNodes is what n says of the cluster's nodes: each line is
// <id> <ip:port@cport[,hostname]> <flags> <master ID or -> ...
func clusterNodes(ctx context.Context, n *redis.Client) ([]clusterNode, error) {
	text, err := n.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		c := clusterNode{id: f[0], addr: addr}
		if strings.Contains(f[2], "slave") && f[3] != "-" {
			c.master = f[3]
		}
		out = append(out, c)
	}
	return out, nil
}

// slotMaster accepts slots when addr is slot's master.
func slotMaster(slot int, addr string) func(context.Context, *redis.Client, []redis.ClusterSlot) error {
	return func(_ context.Context, _ *redis.Client, slots []redis.ClusterSlot) error {
		for _, s := range slots {
			if s.Start <= slot && slot <= s.End {
				if s.Nodes[0].Addr != addr {
					return fmt.Errorf("slot %d served by %s, want %s", slot, s.Nodes[0].Addr, addr)
				}
				return nil
			}
		}
		return fmt.Errorf("slot %d not served", slot)
	}
}

// Failover is what KillMaster and AwaitPromotion did.
type Failover struct {
	Slot     int
	Old, New string // the master killed and the replica that took its place
	// Killed is when the master was killed; Promoted when the replica
	// first said it was a master.
	Killed, Promoted time.Time

	replicas []string // Old's
}

// FailMaster is KillMaster and AwaitPromotion: it kills the master of key's
// hash slot and returns once a replica has taken its place.
func (c *Cluster) FailMaster(t testing.TB, key string) Failover {
	t.Helper()
	f := c.KillMaster(t, key)
	c.AwaitPromotion(t, f)
	return *f
}

// KillMaster kills (SIGKILL) the master of key's hash slot, as a crash
// would: the cluster then replaces it by itself (AwaitPromotion waits for
// that; nothing here sends CLUSTER FAILOVER). Before the kill it waits (WAIT)
// until the replicas have every write the master acknowledged, so that the
// kill loses none of them while no write races it. The cluster needs
// replicas (StartClusterWith).
func (c *Cluster) KillMaster(t testing.TB, key string) *Failover {
	t.Helper()
	ctx := context.Background()
	f := &Failover{Slot: Slot(key)}
	var replicas []string
	for _, a := range c.liveNodes() {
		n := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
		slots, err := n.ClusterSlots(ctx).Result()
		var nodes []clusterNode
		if err == nil {
			nodes, err = clusterNodes(ctx, n)
		}
		_ = n.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if s.Start <= f.Slot && f.Slot <= s.End {
				f.Old = s.Nodes[0].Addr
			}
		}
		for _, m := range nodes {
			if m.addr == f.Old {
				for _, r := range nodes {
					if r.master == m.id {
						replicas = append(replicas, r.addr)
					}
				}
			}
		}
		break
	}
	if f.Old == "" || len(replicas) == 0 || c.procs[f.Old] == nil {
		t.Fatalf("redistest: no master with replicas for slot %d (master %q, replicas %v): FailMaster needs StartClusterWith(Replicas: 1)", f.Slot, f.Old, replicas)
	}
	m := redis.NewClient(&redis.Options{Addr: f.Old})
	synced, err := m.Wait(ctx, len(replicas), 5*time.Second).Result()
	_ = m.Close()
	if err != nil || synced != int64(len(replicas)) {
		t.Fatalf("redistest: WAIT on master %s: %d of %d replicas in sync: %v", f.Old, synced, len(replicas), err)
	}

	f.Killed = time.Now()
	stopProcess(c.procs[f.Old])
	delete(c.procs, f.Old)
	f.replicas = replicas
	return f
}

// AwaitPromotion waits until one of the killed master's replicas reports
// itself master, then until every surviving node lists it as the slot's
// master and says cluster_state:ok; it sets f.New and f.Promoted. Client
// then has the new slot map.
func (c *Cluster) AwaitPromotion(t testing.TB, f *Failover) {
	t.Helper()
	ctx := context.Background()
	replicas := f.replicas
	// The replica is promoted after NodeTimeout and an election: poll it
	// often, so that Promoted is close to the real moment.
	within := 3*c.opts.NodeTimeout + 10*time.Second
	deadline := f.Killed.Add(within)
	clients := make([]*redis.Client, len(replicas))
	for i, r := range replicas {
		clients[i] = redis.NewClient(&redis.Options{Addr: r, MaxRetries: -1})
		defer clients[i].Close()
	}
	for f.New == "" {
		for i, r := range clients {
			if role, err := r.Do(ctx, "ROLE").Slice(); err == nil && len(role) > 0 && role[0] == "master" {
				f.Promoted, f.New = time.Now(), replicas[i]
				break
			}
		}
		if f.New == "" {
			if time.Now().After(deadline) {
				t.Fatalf("redistest: no replica of %s promoted within %s of its kill", f.Old, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := c.waitOK(c.liveNodes(), slotMaster(f.Slot, f.New), within); err != nil {
		t.Fatalf("redistest: cluster after the failover of %s: %v", f.Old, err)
	}
	if err := c.reloadClient(); err != nil {
		t.Fatal(err)
	}
}

// liveNodes are the nodes still running, in a stable order.
func (c *Cluster) liveNodes() []string {
	var out []string
	for _, a := range append(append([]string(nil), c.Addrs...), c.Replicas...) {
		if c.procs[a] != nil {
			out = append(out, a)
		}
	}
	return out
}

// Close stops the cluster's processes.
func (c *Cluster) Close() {
	if c.Client != nil {
		_ = c.Client.Close()
	}
	for a, p := range c.procs {
		stopProcess(p)
		delete(c.procs, a)
	}
}

// StartSentinel starts a redis-server master, a replica of it, and one
// redis-server --sentinel monitoring the master under SentinelMaster; it waits
// until the sentinel names the master and knows the replica, and stops all
// three when the test ends. It skips like StartServer.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	needBinaries(t, "redis-server")
	// The replica's first sync starts at once (Redis waits 5 s by default,
	// for more replicas to share a diskless transfer).
	master := StartServer(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(master.Addr)
	replica := StartServer(t, "--replicaof", host, port)
	dir := t.TempDir()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sentinel{Master: SentinelMaster, MasterAddr: master.Addr, master: master, replica: replica,
		addr: "127.0.0.1:" + strconv.Itoa(ports[0]), log: filepath.Join(dir, "sentinel.log")}
	s.URL = "redis://" + s.addr
	// A master is down after 500 ms without an answer; the failover may
	// take 5 s at most, so a test that kills the master is short.
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %[3]s 500\nsentinel failover-timeout %[3]s 5000\n",
		ports[0], dir, SentinelMaster, host, port)
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, err := startProcess(dir, "sentinel.log", "redis-server", conf, "--sentinel")
	if err != nil {
		t.Fatalf("start redis sentinel: %v", err)
	}
	t.Cleanup(func() { stopProcess(cmd) })
	s.waitMaster(t, master.Addr, replica.Addr)
	return s
}

// Failover kills the master (SIGKILL) and waits until the sentinel has
// promoted the replica; MasterAddr is then the replica's.
func (s *Sentinel) Failover(t testing.TB) {
	t.Helper()
	s.master.Stop(t)
	s.waitMaster(t, s.replica.Addr, "")
	s.MasterAddr = s.replica.Addr
}

// waitMaster waits until the sentinel names want as the master, and knows
// replica as its replica when replica is set.
func (s *Sentinel) waitMaster(t testing.TB, want, replica string) {
	t.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.addr})
	defer sc.Close()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		ok := err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == want
		if ok && replica != "" {
			reps, _ := sc.Replicas(ctx, SentinelMaster).Result()
			ok = len(reps) == 1 && net.JoinHostPort(reps[0]["ip"], reps[0]["port"]) == replica && reps[0]["master-link-status"] == "ok"
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.log)
			t.Fatalf("sentinel on %s does not name master %s (replica %q) within 15s: %v %v\n%s", s.addr, want, replica, got, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// needBinaries skips the test when a program is missing, or fails it when a
// real Redis is required.
func needBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if Required() {
				t.Fatalf("AFTERMATH_TEST_REDIS=required but %s is not installed", n)
			}
			t.Skipf("%s is not installed; skipping a test that starts its own Redis", n)
		}
	}
}

// startProcess starts a program with its output in dir/logName.
func startProcess(dir, logName, name string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func waitPing(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer within 10s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePorts finds n distinct free loopback ports, holding each open until all
// are found so that none is handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(errors.New("find a free port"), err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Modes are the values of REDIS_MODE.
var Modes = []string{"single", "cluster", "sentinel"}

// Mode is a Redis of one REDIS_MODE for a test.
type Mode struct {
	// Env points aftermath at it: REDIS_MODE, REDIS_URL,
	// AFTERMATH_REDIS_PREFIX and, for sentinel, REDIS_SENTINEL_MASTER.
	Env    map[string]string
	Prefix string                // unique to the test
	Client redis.UniversalClient // sees what aftermath writes there (a failover client for sentinel)

	Cluster  *Cluster  // set for cluster
	Sentinel *Sentinel // set for sentinel
}

// ForMode gives the test a Redis of the mode: New's for single, else a
// cluster or a sentinel started for the test.
func ForMode(t testing.TB, mode string) *Mode {
	t.Helper()
	r := New(t)
	m := &Mode{Prefix: r.Prefix, Client: r.Client,
		Env: map[string]string{"REDIS_MODE": mode, "REDIS_URL": r.URL, "AFTERMATH_REDIS_PREFIX": r.Prefix}}
	switch mode {
	case "single":
	case "cluster":
		m.Cluster = StartCluster(t)
		m.Env["REDIS_URL"], m.Client = m.Cluster.URL, m.Cluster.Client
	case "sentinel":
		s := StartSentinel(t)
		m.Sentinel = s
		m.Env["REDIS_URL"], m.Env["REDIS_SENTINEL_MASTER"] = s.URL, s.Master
		c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Master, SentinelAddrs: []string{s.addr}})
		t.Cleanup(func() { _ = c.Close() })
		m.Client = c
	default:
		t.Fatalf("redistest.ForMode: unknown mode %q", mode)
	}
	return m
}
