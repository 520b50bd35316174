package logbuf

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records each write it gets, as one chunk.
type sink struct {
	mu     sync.Mutex
	chunks []string
	delay  time.Duration // each write takes this long
}

func (s *sink) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = append(s.chunks, string(p))
	return len(p), nil
}

func (s *sink) written() (chunks int, all string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunks), strings.Join(s.chunks, "")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLinesGoOutTogetherAfterTheDelay(t *testing.T) {
	out := &sink{}
	// A delay far longer than ten writes take, even on a loaded machine.
	w := New(out, 500*time.Millisecond)
	defer w.Close()
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if n, _ := out.written(); n != 0 {
		t.Fatalf("%d writes before the delay passed, want 0", n)
	}
	waitFor(t, "the buffered lines", func() bool { n, _ := out.written(); return n > 0 })
	n, all := out.written()
	if n != 1 {
		t.Errorf("10 lines went out in %d writes, want 1", n)
	}
	want := ""
	for i := range 10 {
		want += fmt.Sprintf("line %d\n", i)
	}
	if all != want {
		t.Errorf("written %q, want %q", all, want)
	}
	// A later line is scheduled again.
	fmt.Fprintln(w, "later")
	waitFor(t, "the later line", func() bool { _, all := out.written(); return strings.HasSuffix(all, "later\n") })
}

func TestAWarningWritesEverythingAtOnce(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	defer w.Close()
	log := slog.New(Handler(slog.NewJSONHandler(w, nil), w, slog.LevelWarn)).With("svc", "test")
	log.Info("first")
	log.Info("second")
	if n, _ := out.written(); n != 0 {
		t.Fatalf("INFO lines written at once (%d writes), want them held", n)
	}
	log.WithGroup("g").Warn("third", "k", "v")
	n, all := out.written()
	if n != 1 {
		t.Fatalf("%d writes after the warning, want 1 holding all three lines", n)
	}
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("wrote %d lines, want 3:\n%s", len(lines), all)
	}
	for i, msg := range []string{`"msg":"first"`, `"msg":"second"`, `"msg":"third"`} {
		if !strings.Contains(lines[i], msg) || !strings.Contains(lines[i], `"svc":"test"`) {
			t.Errorf("line %d = %s, want %s with the logger's attributes", i+1, lines[i], msg)
		}
	}
	if !strings.Contains(lines[2], `"g":{"k":"v"}`) {
		t.Errorf("the group was lost: %s", lines[2])
	}
}

func TestCloseWritesWhatIsLeftThenWritesThrough(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	fmt.Fprintln(w, "held")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, all := out.written(); all != "held\n" {
		t.Fatalf("after Close: %q, want the held line", all)
	}
	fmt.Fprintln(w, "after")
	if n, all := out.written(); n != 2 || all != "held\nafter\n" {
		t.Fatalf("a line after Close: %d writes, %q; want it written at once", n, all)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAFullBufferIsWrittenByTheWriter(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	defer w.Close()
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	for range MaxBuffered/len(line) + 1 {
		w.Write(line)
	}
	n, all := out.written()
	if n != 1 {
		t.Fatalf("%d writes after more than MaxBuffered, want 1", n)
	}
	if len(all) < MaxBuffered || len(all) > MaxBuffered+len(line) {
		t.Errorf("wrote %d bytes, want between %d and %d", len(all), MaxBuffered, MaxBuffered+len(line))
	}
}

// TestConcurrentLinesKeepOrderAndAreBounded writes from many goroutines into
// a destination that is slow: every line arrives whole, each goroutine's in
// its order, and the buffer never holds more than MaxBuffered and a line per writer.
func TestConcurrentLinesKeepOrderAndAreBounded(t *testing.T) {
	out := &sink{delay: 200 * time.Microsecond}
	w := New(out, time.Millisecond)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	var maxHeld int
	var heldMu sync.Mutex
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(w, "g%d %06d %s\n", g, i, strings.Repeat("y", 100))
				w.mu.Lock()
				held := len(w.buf)
				w.mu.Unlock()
				heldMu.Lock()
				maxHeld = max(maxHeld, held)
				heldMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n, all := out.written()
	next := make([]int, writers)
	count := 0
	for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		var g, i int
		var rest string
		if _, err := fmt.Sscanf(l, "g%d %d %s", &g, &i, &rest); err != nil || len(rest) != 100 {
			t.Fatalf("a broken line: %q (%v)", l, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d's line %d came after its line %d", g, i, next[g]-1)
		}
		next[g]++
		count++
	}
	if count != writers*lines {
		t.Errorf("%d lines written, want %d", count, writers*lines)
	}
	if n >= count/4 {
		t.Errorf("%d lines took %d writes: they were not gathered", count, n)
	}
	// Each writer that finds the buffer full waits for its write out, so
	// at most one line per writer goes in beyond MaxBuffered.
	if limit := MaxBuffered + writers*116; maxHeld > limit {
		t.Errorf("the buffer held %d bytes, want at most %d", maxHeld, limit)
	}
}
