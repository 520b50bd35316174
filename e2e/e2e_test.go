// Package e2e is the end-to-end suite: the real binary, three replicas,
// real Redis (one server, then a Redis Cluster), the simulators behind
// chaos proxies, and everything that can go wrong on a bad day at once.
// See run_test.go for the schedule and check_test.go for what must hold.
package e2e

import (
	"context"
	"os"
	"testing"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	e2ekit.RemoveBinary()
	os.Exit(code)
}

// One durable redis-server (appendfsync always), killed with SIGKILL and
// restarted mid-run.
func TestEndToEndSingleRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end suite runs the binary for minutes")
	}
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Durable...)
	runSuite(t, redisUnderTest{
		name:  "redis-server " + srv.Addr,
		env:   []string{"REDIS_URL=" + srv.URL},
		kill:  func() { srv.Stop(t) },
		start: func() { srv.Start(t) },
	})
}

// A 3-master Redis Cluster on loopback ports (REDIS_MODE=cluster); the
// master holding the queue's hash slot ({queue}: the stream, the dedupe
// keys) is killed with SIGKILL and restarted mid-run, so that webhooks are
// answered 503 meanwhile, as with one server.
func TestEndToEndRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end suite runs the binary for minutes")
	}
	t.Parallel()
	c := redistest.StartCluster(t)
	var victim *clusterNode
	runSuite(t, redisUnderTest{
		name: "cluster node",
		env:  []string{"REDIS_MODE=cluster", "REDIS_URL=" + c.URL},
		pick: func(uint64) string {
			m, err := c.Client.MasterForKey(context.Background(), "aftermath:{queue}:events")
			if err != nil {
				t.Fatalf("the queue's node: %v", err)
			}
			victim = durableNode(t, m.Options().Addr)
			return "cluster node " + victim.addr + " (the queue's)"
		},
		kill:  func() { victim.kill(t) },
		start: func() { victim.start(t, c.Addrs) },
	})
}
