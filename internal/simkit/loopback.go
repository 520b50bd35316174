package simkit

import (
	"fmt"
	"net"
	"net/http"
	"sync"
)

// loopback serves a handler on a loopback port the kernel picks, and
// closes as httptest.Server does: idle and never-used connections at once,
// outstanding requests waited for. It stands in for httptest so that the
// production binary, which runs the simulators in aftermath demo, does not
// link net/http/httptest and the test certificate that comes with it.
type loopback struct {
	url string
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]http.ConnState
	wg     sync.WaitGroup // Serve, and each connection until it closes
}

// serveLoopback starts serving h on 127.0.0.1, or on [::1] when IPv4 has
// no loopback. Like httptest.NewServer it panics when it cannot listen.
func serveLoopback(h http.Handler) *loopback {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("simkit: listen on a loopback port: %v", err))
		}
	}
	l := &loopback{url: "http://" + ln.Addr().String(), ln: ln, conns: map[net.Conn]http.ConnState{}}
	l.srv = &http.Server{Handler: h, ConnState: l.track}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = l.srv.Serve(ln)
	}()
	return l
}

// track follows each connection's state, so that close knows which ones
// are doing nothing and how many are still open.
func (l *loopback) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew:
		l.wg.Add(1)
		l.conns[c] = st
		if l.closed {
			// A dial that lost the race with close: it will never be used.
			c.Close()
		}
	case http.StateActive:
		if _, ok := l.conns[c]; ok {
			l.conns[c] = st
		}
	case http.StateIdle:
		if _, ok := l.conns[c]; ok {
			l.conns[c] = st
		}
		if l.closed {
			c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		if _, ok := l.conns[c]; ok {
			delete(l.conns, c)
			l.wg.Done()
		}
	}
}

// close stops listening, closes the connections that are idle or were
// never used, lets the active ones finish their request (keep-alives are
// off from now on) and returns when every connection is closed. It may be
// called more than once.
func (l *loopback) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.ln.Close()
		l.srv.SetKeepAlivesEnabled(false)
		for c, st := range l.conns {
			if st == http.StateIdle || st == http.StateNew {
				c.Close()
			}
		}
	}
	l.mu.Unlock()
	// Clients on the default transport (the demo's, most tests') would
	// otherwise keep dead idle connections to this server.
	if t, ok := http.DefaultTransport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	l.wg.Wait()
}
