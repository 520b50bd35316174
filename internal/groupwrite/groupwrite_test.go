package groupwrite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a slow writer underneath that records each call.
type recorder struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	calls int
	delay time.Duration
	err   error
	// gate, when set, is received from before each call's write.
	gate chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return 0, r.err
	}
	return r.buf.Write(p)
}

func (r *recorder) snapshot() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.calls
}

// Lines written from many goroutines at once all arrive whole, each
// writer's in its order, in fewer writes underneath than lines; and each
// Write returns only once its line is underneath.
func TestConcurrentLinesArriveWholeInOrderInFewerWrites(t *testing.T) {
	rec := &recorder{delay: 200 * time.Microsecond}
	g := New(rec)
	const writers, lines = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				line := fmt.Sprintf("writer %02d line %03d\n", w, i)
				if n, err := g.Write([]byte(line)); n != len(line) || err != nil {
					errs <- fmt.Errorf("Write = %d, %v", n, err)
					return
				}
				if got, _ := rec.snapshot(); !strings.Contains(got, line) {
					errs <- fmt.Errorf("Write of %q returned before its line was written", line)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, calls := rec.snapshot()
	all := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(all) != writers*lines {
		t.Fatalf("%d lines underneath, want %d", len(all), writers*lines)
	}
	next := make([]int, writers)
	for _, l := range all {
		var w, i int
		if _, err := fmt.Sscanf(l, "writer %d line %d", &w, &i); err != nil {
			t.Fatalf("line %q torn: %v", l, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d arrived where %d was due", w, i, next[w])
		}
		next[w]++
	}
	if calls >= writers*lines/2 {
		t.Fatalf("%d writes underneath for %d lines from %d writers at once: not grouped", calls, writers*lines, writers)
	}
	t.Logf("%d lines in %d writes", writers*lines, calls)
}

// Writes one after the other go out one each, at once: nothing waits
// for company.
func TestALoneWriteGoesOutAtOnce(t *testing.T) {
	rec := &recorder{}
	g := New(rec)
	for i := range 3 {
		line := fmt.Sprintf("line %d\n", i)
		if _, err := g.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if got, calls := rec.snapshot(); calls != i+1 || !strings.HasSuffix(got, line) {
			t.Fatalf("after write %d: %d calls, %q", i, calls, got)
		}
	}
}

// The write that leads a batch returns once its own bytes are out: the
// batch that gathered meanwhile is written by one of its own writers.
// (If the first writer wrote it, it would wait forever on the gate.)
func TestTheLeaderDoesNotWriteForOthersAfterItsOwn(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	g := New(rec)
	first := make(chan error, 1)
	go func() { _, err := g.Write([]byte("first\n")); first <- err }()
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.writing })
	others := make(chan error, 2)
	for _, l := range []string{"second\n", "third\n"} {
		go func() { _, err := g.Write([]byte(l)); others <- err }()
	}
	waitFor(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.appended == int64(len("first\nsecond\nthird\n"))
	})
	rec.gate <- struct{}{} // the first batch
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first write did not return after its batch")
	}
	rec.gate <- struct{}{} // the second batch, written by one of its own
	for range 2 {
		if err := <-others; err != nil {
			t.Fatal(err)
		}
	}
	got, calls := rec.snapshot()
	if (got != "first\nsecond\nthird\n" && got != "first\nthird\nsecond\n") || calls != 2 {
		t.Fatalf("underneath: %q in %d calls, want first, then the two others in one", got, calls)
	}
}

// Every write of a batch that failed reports the failure.
func TestAFailedBatchFailsEachOfItsWrites(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recorder{err: boom, delay: time.Millisecond}
	g := New(rec)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := g.Write([]byte("x\n")); errors.Is(err, boom) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != 8 {
		t.Fatalf("%d of 8 writes reported the failure", failed)
	}
}

// A burst's large buffer is not kept after it.
func TestABurstsBufferIsNotKept(t *testing.T) {
	g := New(&recorder{})
	if _, err := g.Write(bytes.Repeat([]byte("x"), 2*keepBuffer)); err != nil {
		t.Fatal(err)
	}
	if cap(g.spare) > keepBuffer || cap(g.pending) > keepBuffer {
		t.Fatalf("kept %d and %d bytes of buffer", cap(g.spare), cap(g.pending))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// BenchmarkLogLines writes 250-byte lines to a file from parallel
// goroutines, straight and through a Writer, and reports the Writer's CPU
// per line as a ratio to the straight writes measured in the same run.
func BenchmarkLogLines(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 249), '\n')
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	run := func(w func([]byte) (int, error)) time.Duration {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := w(line); err != nil {
					b.Error(err)
				}
			}
		})
		return time.Since(start)
	}
	b.SetParallelism(8)
	b.ReportAllocs()
	grouped := run(New(f).Write)
	b.StopTimer()
	straight := run(f.Write)
	b.ReportMetric(float64(grouped)/float64(straight), "x-straight")
}
