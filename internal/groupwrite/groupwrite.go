// Package groupwrite joins the writes of concurrent writers into fewer
// writes to the writer underneath, as a database's group commit does: a
// write that arrives while another is in flight waits for it, then goes out
// with every other write that arrived meanwhile, in one call. A lone write
// goes out at once, as it would without the package, and no Write returns
// before its bytes have been handed to the writer underneath: nothing is
// held back in a buffer, so a crash loses nothing that a Write returned.
//
// aftermath's log lines go through it: under a burst of webhooks each
// handler writes one line, and one write(2) for many lines costs less CPU
// than one for each (make bench-ingest).
package groupwrite

import (
	"io"
	"sync"
)

// keepBuffer is the largest buffer kept for the next batch; a larger one,
// grown by a burst, is dropped so that the burst's memory is freed.
const keepBuffer = 64 << 10

// Writer is an io.Writer safe for concurrent use whose concurrent writes
// reach the writer underneath in batches, in the order they were made.
type Writer struct {
	w    io.Writer
	mu   sync.Mutex
	done *sync.Cond // broadcast after each batch is written

	pending []byte // the next batch
	spare   []byte // the previous batch's buffer, for reuse
	writing bool   // a writer is writing a batch
	// appended counts the bytes ever given to Write, written the bytes
	// of the batches written: a waiting write is out when written
	// reaches its end.
	appended, written int64
	// failed is the error of the last batch that failed and failedEnd
	// that batch's end: a write in that batch reports it.
	failed                 error
	failedStart, failedEnd int64
}

// New returns a Writer writing to w.
func New(w io.Writer) *Writer {
	g := &Writer{w: w}
	g.done = sync.NewCond(&g.mu)
	return g
}

// Write copies p into the next batch and returns once that batch is
// written, by this call or by the one writing when it came. The error is
// the batch's: every write in a failed batch reports it.
func (g *Writer) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, p...)
	g.appended += int64(len(p))
	end := g.appended
	for g.writing && g.written < end {
		g.done.Wait()
	}
	if g.written < end {
		g.writeBatches(end)
	}
	if g.failed != nil && end > g.failedStart && end <= g.failedEnd {
		return len(p), g.failed
	}
	return len(p), nil
}

// writeBatches writes the pending batch, and the ones that gather while it
// does, until the bytes up to end are written; a write still waiting then
// takes the lead (so no caller writes for others without end). Called with
// mu held and writing false; returns with mu held.
func (g *Writer) writeBatches(end int64) {
	g.writing = true
	for g.written < end {
		batch := g.pending
		start := g.written
		g.pending = g.spare[:0]
		g.mu.Unlock()
		_, err := g.w.Write(batch)
		g.mu.Lock()
		g.written += int64(len(batch))
		if err != nil {
			g.failed, g.failedStart, g.failedEnd = err, start, g.written
		}
		if cap(batch) <= keepBuffer {
			g.spare = batch[:0]
		} else {
			g.spare = nil
		}
		if g.written >= end {
			g.writing = false
		}
		g.done.Broadcast()
	}
}
