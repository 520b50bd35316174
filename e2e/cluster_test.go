package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNode is a master of a redistest.Cluster that the suite crashes
// (SIGKILL) and starts again. redistest starts the cluster without
// persistence and has no way to restart one node, so the suite turns the
// append-only file on at run time on that node (appendfsync always, as
// Durable does for a single server) and restarts it with the settings it
// reads from the running node: its port, cluster files and directory.
type clusterNode struct {
	addr string
	pid  int
	args []string // to start it again
	dir  string
	cmd  *exec.Cmd // the restarted process, once restarted
}

// durableNode makes the node at addr write every command to its
// append-only file before answering, and reads how to start it again.
// Only one node of a cluster may be made durable: redistest runs the three
// in one directory, where their append-only files would overwrite each
// other (and Redis refuses to change dir at run time).
func durableNode(t *testing.T, addr string) *clusterNode {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for _, kv := range [][2]string{{"appendfsync", "always"}, {"appendonly", "yes"}} {
		if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatalf("node %s: CONFIG SET %s %s: %v", addr, kv[0], kv[1], err)
		}
	}
	// The first append-only file is written by a rewrite: wait for it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := c.Info(ctx, "persistence").Result()
		if err == nil && strings.Contains(info, "aof_enabled:1") && strings.Contains(info, "aof_rewrite_in_progress:0") &&
			strings.Contains(info, "aof_rewrite_scheduled:0") && strings.Contains(info, "aof_last_bgrewrite_status:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: append-only file not ready within 15s: %v\n%s", addr, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{addr: addr}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			n.pid, _ = strconv.Atoi(v)
		}
	}
	exe, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) string {
		v, err := c.ConfigGet(ctx, name).Result()
		if err != nil || v[name] == "" {
			t.Fatalf("node %s: CONFIG GET %s: %v %v", addr, name, v, err)
		}
		return v[name]
	}
	n.dir = get("dir")
	n.args = []string{exe, "--port", get("port"), "--bind", get("bind"), "--cluster-enabled", "yes",
		"--cluster-config-file", get("cluster-config-file"), "--cluster-port", get("cluster-port"),
		"--cluster-node-timeout", get("cluster-node-timeout"), "--dir", n.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--appenddirname", get("appenddirname")}
	if n.pid == 0 {
		t.Fatalf("node %s: no process_id in INFO server", addr)
	}
	t.Cleanup(func() {
		if n.cmd != nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	return n
}

// kill crashes the node (SIGKILL) and waits until it no longer answers.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(n.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill node %s (pid %d): %v", n.addr, n.pid, err)
	}
	c := redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
	defer c.Close()
	for c.Ping(context.Background()).Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// start starts the node again on its port, from its append-only file and
// cluster configuration, and waits until the cluster is ok.
func (n *clusterNode) start(t *testing.T, all []string) {
	t.Helper()
	log, err := os.Create(filepath.Join(n.dir, fmt.Sprintf("restart-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = n.dir, log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart node %s: %v", n.addr, err)
	}
	n.cmd, n.pid = cmd, cmd.Process.Pid
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range all {
		c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				b, _ := os.ReadFile(log.Name())
				t.Fatalf("cluster not ok within 20s of restarting %s (%s: %v %q)\n%s", n.addr, a, err, info, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Close()
	}
}
