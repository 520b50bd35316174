package e2ekit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a replica may take to answer /readyz.
const ReadyTimeout = 30 * time.Second

// Replicas are `aftermath serve` processes of the real binary, each on
// its own loopback port, sharing an environment. Kill and Restart are
// safe to call while other goroutines deliver webhooks.
type Replicas struct {
	bin  string
	env  []string
	args []string

	mu    sync.Mutex
	procs []*replica
}

type replica struct {
	addr  string
	logs  *syncBuffer
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd has been waited for
	kills int
}

// StartReplicas starts n replicas of `aftermath serve args...` with env
// (PATH and HOME are added) plus AFTERMATH_LISTEN_ADDR, and waits until
// each answers /readyz. At the end of the test they are killed; when the
// test failed, each one's log is printed.
func StartReplicas(t testing.TB, n int, env []string, args ...string) *Replicas {
	t.Helper()
	home := t.TempDir()
	rs := &Replicas{bin: Binary(t), env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home}, env...),
		args: append([]string{"serve"}, args...)}
	for range n {
		rs.procs = append(rs.procs, &replica{addr: FreeAddr(t), logs: &syncBuffer{}})
	}
	t.Cleanup(func() {
		for i := range rs.procs {
			rs.Kill(i)
			if t.Failed() {
				t.Logf("replica %d logs:\n%s", i, rs.Logs(i))
			}
		}
	})
	for i := range n {
		if err := rs.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := rs.WaitReady(i); err != nil {
			t.Fatalf("%v\n%s", err, rs.Logs(i))
		}
	}
	return rs
}

// N is the number of replicas.
func (rs *Replicas) N() int { return len(rs.procs) }

// URL is replica i's base URL.
func (rs *Replicas) URL(i int) string { return "http://" + rs.procs[i].addr }

// PID is replica i's process ID, 0 while it is down.
func (rs *Replicas) PID(i int) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if p := rs.procs[i]; p.cmd != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Logs is everything replica i wrote to stdout and stderr, over all its
// runs.
func (rs *Replicas) Logs(i int) string { return rs.procs[i].logs.String() }

// Kills is how many times replica i was killed.
func (rs *Replicas) Kills(i int) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.procs[i].kills
}

// Start starts replica i again on its port if it is down, without waiting
// until it is ready (WaitReady does): a replica cannot be ready while Redis
// is down, and a test's chaos schedule must not wait for it then.
func (rs *Replicas) Start(i int) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p := rs.procs[i]
	if p.cmd != nil {
		return nil
	}
	cmd := exec.Command(rs.bin, rs.args...)
	cmd.Env = append(append([]string{}, rs.env...), "AFTERMATH_LISTEN_ADDR="+p.addr)
	fmt.Fprintf(p.logs, "=== e2ekit: start replica %d at %s\n", i, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start replica %d: %w", i, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// Kill kills replica i with SIGKILL (a crash: no shutdown, no cleanup) and
// waits until it is gone. A replica already down is left alone.
func (rs *Replicas) Kill(i int) {
	rs.mu.Lock()
	p := rs.procs[i]
	cmd, done := p.cmd, p.done
	p.cmd = nil
	if cmd != nil {
		p.kills++
	}
	rs.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	fmt.Fprintf(p.logs, "=== e2ekit: killed replica %d (SIGKILL) at %s\n", i, time.Now().Format(time.RFC3339Nano))
}

// Restart starts replica i again on its port (killing it first if it is
// up) and waits until it is ready. It may be called from any goroutine.
func (rs *Replicas) Restart(i int) error {
	rs.Kill(i)
	if err := rs.Start(i); err != nil {
		return err
	}
	return rs.WaitReady(i)
}

// WaitReady waits until replica i answers /readyz with 200; it gives up
// after ReadyTimeout, or at once if the process exited.
func (rs *Replicas) WaitReady(i int) error {
	rs.mu.Lock()
	done := rs.procs[i].done
	rs.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(ReadyTimeout)
	for {
		resp, err := client.Get(rs.URL(i) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		select {
		case <-done:
			return fmt.Errorf("replica %d exited before it was ready", i)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %d not ready after %s: %w", i, ReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Get GETs path from replica i with the admin token and returns the status
// and body; errors are answered as status 0.
func (rs *Replicas) Get(ctx context.Context, i int, path string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rs.URL(i)+path, nil)
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// FreeAddr is a loopback address with a port free at the time of asking.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a writing child process and a
// reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
