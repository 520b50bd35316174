// Package embedredis runs an in-memory Redis (miniredis) for `serve` without
// REDIS_URL, for demo, and as the tests' fallback.
//
// miniredis only ages TTLs when told to (FastForward), so on its own a lock or
// a dedupe key would never expire. Start keeps TTLs in step with the clock.
package embedredis

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// tick is how often TTLs are aged; expiry is as precise as this.
const tick = 50 * time.Millisecond

// Server is a running embedded Redis.
type Server struct {
	*miniredis.Miniredis
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// Start starts an embedded Redis on a free 127.0.0.1 port.
func Start() (*Server, error) {
	m, err := miniredis.Run()
	if err != nil {
		return nil, err
	}
	s := &Server{Miniredis: m, stop: make(chan struct{}), done: make(chan struct{})}
	go s.age()
	return s, nil
}

func (s *Server) age() {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.Miniredis.Close()
	})
}
