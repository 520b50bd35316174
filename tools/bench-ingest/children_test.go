package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A child stopped with SIGSTOP (the worker during a baseline phase) still
// stops at once when the run ends: it is continued, so its SIGTERM arrives,
// instead of being killed after the whole timeout.
func TestStopEndsAStoppedChild(t *testing.T) {
	// A child that handles SIGTERM, as aftermath does: a stopped process
	// runs no handler until it is continued (an unhandled SIGTERM would
	// end it even while stopped).
	cmd := exec.Command("sh", "-c", `trap 'exit 0' TERM; while :; do sleep 0.05; done`)
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	c := &child{name: "sleeper", cmd: cmd, logFile: f, exited: make(chan struct{})}
	go func() { c.waitErr = cmd.Wait(); close(c.exited) }()
	time.Sleep(200 * time.Millisecond) // the trap is set
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.stop(3 * time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("stopping a stopped child took %s (%v)", took, err)
	}
	if err != nil {
		t.Fatalf("stop: %v, want the child's own exit on SIGTERM", err)
	}
}
