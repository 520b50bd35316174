package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// child is a server process the benchmark started.
type child struct {
	name    string
	addr    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// moduleRoot is the directory of the go.mod that `go run` was started under.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the aftermath repository (make bench-ingest)")
	}
	return filepath.Dir(gomod), nil
}

// treeVersion describes the tree being built, as the Makefile's VERSION does.
func treeVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown (not a git checkout?)"
	}
	return strings.TrimSpace(string(out))
}

// buildAftermath builds ./cmd/aftermath into dir, as `make build` would.
func buildAftermath(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "aftermath")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aftermath")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/aftermath: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// childEnv is the benchmark's environment without anything that configures
// aftermath, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "REDIS_URL" || strings.HasPrefix(k, "AFTERMATH_") || strings.HasPrefix(k, "PAGERDUTY_") || strings.HasPrefix(k, "JIRA_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startChild starts a server with its output in logPath and waits until
// GET /readyz answers 200.
func startChild(name, addr, logPath string, env []string, path string, args ...string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C reaches the benchmark only, which then stops
	// the children in order. Pdeathsig: they do not outlive a killed
	// benchmark; SIGKILL, because a worker stopped (SIGSTOP) for a baseline
	// phase would leave a SIGTERM pending for good.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, addr: addr, logPath: logPath, cmd: cmd, logFile: f, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()

	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-c.exited:
			return c, fmt.Errorf("%s exited before it was ready (%v); its log:\n%s", name, c.waitErr, c.logTail(20))
		default:
		}
		resp, err := probe.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("%s did not answer GET /readyz with 200 within 15s (last: %v); its log:\n%s", name, describe(resp, err), c.logTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (c *child) stop(timeout time.Duration) error {
	defer c.logFile.Close()
	select {
	case <-c.exited:
		return fmt.Errorf("%s had already exited: %v", c.name, c.waitErr)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	// The worker may be stopped (SIGSTOP) for a baseline phase when a run
	// ends early: a stopped process gets its SIGTERM only once continued.
	_ = c.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return fmt.Errorf("%s exited with %v", c.name, c.waitErr)
		}
		return nil
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", c.name, timeout)
	}
}

func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// logTail returns the last n lines of the child's log.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// procStatus reads fields of /proc/<pid>/status in bytes (VmHWM, VmRSS).
func procStatus(pid int, fields ...string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, f := range fields {
			if rest, ok := strings.CutPrefix(line, f+":"); ok {
				parts := strings.Fields(rest) // "12345 kB"
				if len(parts) == 2 && parts[1] == "kB" {
					if v, err := strconv.ParseInt(parts[0], 10, 64); err == nil {
						out[f] = v * 1024
					}
				}
			}
		}
	}
	return out
}

// logStats counts an aftermath log's lines by level.
type logStats struct {
	bytes  int64
	lines  int
	levels map[string]int
	errors []string // first few ERROR lines
}

// add counts o's lines too.
func (st *logStats) add(o logStats) {
	st.bytes += o.bytes
	st.lines += o.lines
	for k, v := range o.levels {
		st.levels[k] += v
	}
	for _, e := range o.errors {
		if len(st.errors) < 3 {
			st.errors = append(st.errors, e)
		}
	}
}

func readLogStats(path string) logStats {
	st := logStats{levels: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return st
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		st.lines++
		st.bytes += int64(len(line)) + 1
		if _, rest, ok := bytes.Cut(line, []byte(`"level":"`)); ok {
			if lvl, _, ok := bytes.Cut(rest, []byte(`"`)); ok {
				st.levels[string(lvl)]++
				if string(lvl) == "ERROR" && len(st.errors) < 3 {
					st.errors = append(st.errors, string(line))
				}
			}
		}
	}
	return st
}

// quietRedisLog drops go-redis's own log lines (dial retries); every error
// that matters reaches the benchmark as a returned error.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// redisConnect parses url and checks that Redis answers PING.
func redisConnect(ctx context.Context, url string) (*redis.Client, string, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// Never print the URL: it may hold a password.
		return nil, "", errors.New("-redis / REDIS_URL is not a valid redis:// or rediss:// URL")
	}
	redis.SetLogger(quietRedisLog{})
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, opts.Addr, fmt.Errorf("Redis at %s does not answer PING: %v (start one, or pass -redis redis://HOST:PORT/DB)", opts.Addr, err)
	}
	return rdb, opts.Addr, nil
}

// deletePrefix deletes the keys under prefix + ":" with SCAN and DEL. It never
// touches other keys: the Redis is shared.
func deletePrefix(ctx context.Context, rdb *redis.Client, prefix string) (int, error) {
	if prefix == "" || strings.ContainsAny(prefix, "*?[]\\") {
		return 0, fmt.Errorf("refusing to delete keys under prefix %q", prefix)
	}
	var cursor uint64
	deleted := 0
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 1000).Result()
		if err != nil {
			return deleted, err
		}
		if len(keys) > 0 {
			n, err := rdb.Del(ctx, keys...).Result()
			if err != nil {
				return deleted, err
			}
			deleted += int(n)
		}
		if next == 0 {
			return deleted, nil
		}
		cursor = next
	}
}
