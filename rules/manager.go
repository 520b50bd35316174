package rules

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Manager holds the current rules and reloads them. Readers call Current and
// keep the value for the whole of their work; a reload swaps in a new value
// atomically and never changes one a reader holds.
type Manager struct {
	path string // "" means the built-in rules
	log  *slog.Logger
	cur  atomic.Pointer[Rules]
	mu   sync.Mutex // serialises reloads

	lastSuccess prometheus.Gauge
	lastTime    prometheus.Gauge
}

// NewManager loads the rules at path (the built-in rules when path is empty)
// and returns a Manager holding them. It fails when the file does not load:
// a process must not start on rules it cannot read.
func NewManager(path string, log *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	m := &Manager{
		path: path,
		log:  log,
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftermath_rules_last_reload_success",
			Help: "1 when the last load of the rules file succeeded, 0 when it failed (the previous rules stay in force).",
		}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftermath_rules_last_reload_timestamp_seconds",
			Help: "Unix time of the last load attempt of the rules file.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.lastSuccess, m.lastTime)
	}
	r, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(r)
	m.lastSuccess.Set(1)
	return m, nil
}

func (m *Manager) load() (*Rules, error) {
	m.lastTime.Set(float64(time.Now().Unix()))
	if m.path == "" {
		return Builtin(), nil
	}
	return LoadFile(m.path)
}

// Current returns the rules in force.
func (m *Manager) Current() *Rules { return m.cur.Load() }

// Reload loads and validates the whole file, then swaps it in. On failure the
// rules in force stay, every problem is logged with its position, the
// success gauge drops to 0, and the error (an *Error for problems in the
// file) is returned.
func (m *Manager) Reload() (*Rules, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.load()
	if err != nil {
		m.lastSuccess.Set(0)
		var re *Error
		if errors.As(err, &re) {
			for _, p := range re.Problems {
				m.log.Error("rules reload failed; keeping the rules in force", "problem", p.String())
			}
		} else {
			m.log.Error("rules reload failed; keeping the rules in force", "err", err)
		}
		return nil, err
	}
	m.cur.Store(r)
	m.lastSuccess.Set(1)
	m.log.Info("rules reloaded", "summary", r.Summary())
	return r, nil
}
