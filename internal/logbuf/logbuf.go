// Package logbuf batches a server's log lines into fewer writes. Under load
// the webhook route writes one INFO line per delivery, and a write system
// call per line was a tenth of its CPU; lines gathered for a few
// milliseconds go out in one write. What an operator must see at once is
// not delayed: Handler writes everything out after a record at or above a
// level (WARN in serve), and Close writes out what is left at exit.
//
// Order is kept: every line goes through one buffer, and one write is in
// progress at a time. Memory is bounded: a writer that finds the buffer
// full writes it out itself, so a slow destination slows the loggers
// instead of growing the buffer.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// MaxBuffered is the most a Writer holds before a Write writes it out
// itself.
const MaxBuffered = 64 << 10

// Writer gathers writes for up to a delay and writes them to its
// destination in one call. It is safe for concurrent use.
type Writer struct {
	out   io.Writer
	delay time.Duration

	wmu sync.Mutex // held while writing to out, so that writes keep their order

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	pending bool // a flush is scheduled
	closed  bool // Close was called: writes go straight through
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

// New returns a Writer that writes to out what it was given at most delay
// ago (and at once when it holds MaxBuffered). Call Close when done.
func New(out io.Writer, delay time.Duration) *Writer {
	w := &Writer{
		out:     out,
		delay:   delay,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// Write buffers p (slog's handlers write one whole line per call). The error
// of a failed write to the destination is not returned here: like a lost
// line on a closed stderr, there is nobody to tell.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.wmu.Lock()
		defer w.wmu.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= MaxBuffered
	kick := !full && !w.pending
	if kick {
		w.pending = true
	}
	w.mu.Unlock()
	if full {
		w.Flush()
	} else if kick {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes out everything buffered, and returns once it is written.
func (w *Writer) Flush() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.pending = false
	w.mu.Unlock()
	if len(b) > 0 {
		_, _ = w.out.Write(b)
	}
	if cap(b) <= MaxBuffered*2 {
		w.mu.Lock()
		if w.spare == nil {
			w.spare = b[:0]
		}
		w.mu.Unlock()
	}
}

// Close writes out what is buffered and stops the Writer's goroutine; later
// writes go straight to the destination, after what was buffered. It is
// safe to call more than once.
func (w *Writer) Close() error {
	w.wmu.Lock()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.wmu.Unlock()
		return nil
	}
	w.closed = true
	b := w.buf
	w.buf, w.spare, w.pending = nil, nil, false
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
	}
	w.wmu.Unlock()
	close(w.done)
	<-w.stopped
	return err
}

func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTimer(w.delay)
	t.Stop()
	for {
		select {
		case <-w.done:
			t.Stop()
			return
		case <-w.kick:
		}
		t.Reset(w.delay)
		select {
		case <-w.done:
			t.Stop()
			return
		case <-t.C:
		}
		w.Flush()
	}
}

// Handler wraps h so that a record at or above level is written out at once,
// with every line before it.
func Handler(h slog.Handler, w *Writer, level slog.Leveler) slog.Handler {
	return &handler{inner: h, w: w, level: level}
}

type handler struct {
	inner slog.Handler
	w     *Writer
	level slog.Leveler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	if r.Level >= h.level.Level() {
		h.w.Flush()
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), w: h.w, level: h.level}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), w: h.w, level: h.level}
}
