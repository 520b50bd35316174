// Package redistest gives tests a Redis to work against, following design.md
// section 5: a real server (REDIS_URL, else 127.0.0.1:6379) when one answers;
// otherwise, unless AFTERMATH_TEST_REDIS=required, embedded miniredis so that
// `go test ./...` passes on a laptop. Each test works under its own key prefix
// and deletes only its own keys: the server is shared with other packages
// running in parallel, so nothing here ever flushes it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/embedredis"
)

// Redis is a test's Redis.
type Redis struct {
	Client *redis.Client
	URL    string // reachable from child processes too
	Prefix string // unique to the test
	Real   bool   // a real server, not miniredis
}

// Required reports whether tests must use a real Redis server.
func Required() bool { return os.Getenv("AFTERMATH_TEST_REDIS") == "required" }

func serverURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// New returns a Redis for t, cleaning up the test's keys when it ends.
func New(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{Prefix: "test-" + randomHex(6)}
	url := serverURL()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL for tests: %v", err)
	}
	if perr := probe(opts); perr == nil {
		r.Client, r.URL, r.Real = redis.NewClient(opts), url, true
	} else {
		if Required() {
			t.Fatalf("AFTERMATH_TEST_REDIS=required but no Redis answers at %s: %v", opts.Addr, perr)
		}
		mini, err := embedredis.Start()
		if err != nil {
			t.Fatalf("start miniredis: %v", err)
		}
		t.Cleanup(mini.Close)
		t.Logf("no Redis at %s (%v): falling back to miniredis", opts.Addr, perr)
		r.URL = "redis://" + mini.Addr() + "/0"
		r.Client = redis.NewClient(&redis.Options{Addr: mini.Addr()})
	}
	t.Cleanup(func() {
		r.deleteOwnKeys()
		_ = r.Client.Close()
	})
	return r
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probe asks the server once per test process whether it answers.
func probe(opts *redis.Options) error {
	probeOnce.Do(func() {
		o := *opts
		o.MaxRetries = -1
		c := redis.NewClient(&o)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		probeErr = c.Ping(ctx).Err()
	})
	return probeErr
}

// Keys lists the test's keys.
func (r *Redis) Keys(t testing.TB) []string {
	t.Helper()
	var out []string
	iter := r.Client.Scan(context.Background(), 0, r.Prefix+":*", 500).Iterator()
	for iter.Next(context.Background()) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan keys: %v", err)
	}
	return out
}

func (r *Redis) deleteOwnKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := r.Client.Scan(ctx, 0, r.Prefix+":*", 500).Iterator()
	for iter.Next(ctx) {
		r.Client.Del(ctx, iter.Val())
	}
}

// Server is a redis-server process the test started and may stop.
type Server struct {
	Addr string
	URL  string
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Durable are StartServer arguments for a server that writes every command
// to its append-only file before answering, so a SIGKILL loses nothing it
// acknowledged.
var Durable = []string{"--appendonly", "yes", "--appendfsync", "always"}

// StartServer starts a private redis-server on a free port, for tests that
// stop Redis. args are added to its command line after the defaults (no
// persistence), so they override them: Durable gives a server that keeps
// every acknowledged write across a restart. It skips the test when
// redis-server is not installed, unless a real Redis is required, then it
// fails.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	needBinaries(t, "redis-server")
	s := &Server{port: freePort(t), dir: t.TempDir(), args: args}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	s.URL = "redis://" + s.Addr + "/0"
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Start (re)starts the server on its port and waits until it answers.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	if err := waitPing(s.Addr); err != nil {
		t.Fatal(err)
	}
}

// Stop kills the server (SIGKILL: a crash, not a clean shutdown).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
