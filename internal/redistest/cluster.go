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

// Cluster is a 3-master Redis Cluster on loopback ports, started by the test.
type Cluster struct {
	Addrs []string // host:port of each master
	// URL is REDIS_URL for REDIS_MODE=cluster: redis://a1?addr=a2&addr=a3.
	URL    string
	Client *redis.ClusterClient

	procs []*exec.Cmd
	dir   string
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
	needBinaries(t, "redis-server", "redis-cli")
	c, err := NewCluster(t.TempDir())
	if err != nil {
		t.Fatalf("start redis cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// NewCluster is StartCluster for a TestMain, where there is no testing.TB:
// the cluster keeps its files in dir and runs until Close.
func NewCluster(dir string) (_ *Cluster, err error) {
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	// Each node needs a client port and a cluster bus port.
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	for i := range 3 {
		port, bus := strconv.Itoa(ports[2*i]), strconv.Itoa(ports[2*i+1])
		cmd, err := startProcess(dir, "redis-"+port+".log", "redis-server", "--port", port, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes-"+port+".conf"),
			"--cluster-port", bus, "--cluster-node-timeout", "5000",
			"--save", "", "--appendonly", "no", "--dir", dir)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, cmd)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+port)
	}
	for _, a := range c.Addrs {
		if err := waitPing(a); err != nil {
			return nil, err
		}
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, c.Addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	if err := c.waitOK(15 * time.Second); err != nil {
		return nil, err
	}
	c.URL = "redis://" + c.Addrs[0] + "?addr=" + c.Addrs[1] + "&addr=" + c.Addrs[2]
	c.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	// The client learns the slots from any node; make sure it has them
	// before the test's first command.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	}); err != nil {
		return nil, fmt.Errorf("cluster client: %w", err)
	}
	return c, nil
}

// waitOK waits until every node reports cluster_state:ok and knows all three
// masters.
func (c *Cluster) waitOK(within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, a := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := n.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				_ = n.Close()
				return fmt.Errorf("node %s not ok within %s: %v %q", a, within, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = n.Close()
	}
	return nil
}

// Close stops the cluster's processes.
func (c *Cluster) Close() {
	if c.Client != nil {
		_ = c.Client.Close()
	}
	for _, p := range c.procs {
		stopProcess(p)
	}
	c.procs = nil
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
