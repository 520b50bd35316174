package e2ekit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// Delivery is one copy of a webhook sent by a Sender, with every attempt.
type Delivery struct {
	Incident string
	Copy     int // 0 for the first copy of a webhook, 1 for its duplicate...
	Replica  int // the replica of the first attempt
	Sent     time.Time
	// Acked is when a replica answered 2xx; zero if none did before the
	// Sender gave up.
	Acked time.Time
	// Status is what the acknowledging replica said ("queued",
	// "duplicate", "ignored").
	Status     string
	Attempts   int
	Refused    map[int]int // non-2xx answers by status code
	ConnErrors int         // attempts without an answer (replica down)
	LastErr    string
}

// Sender delivers signed webhooks to replicas the way PagerDuty does: an
// answer other than 2xx, or none, is retried with backoff until a replica
// accepts it or GiveUp has passed. A retry after a connection error goes
// to the next replica, as a load balancer would route it; one after an
// answer goes to the same replica. Safe for concurrent use.
type Sender struct {
	rs *Replicas
	// Backoff is the first wait between attempts, doubled up to
	// MaxBackoff; GiveUp bounds a delivery. Defaults 200ms, 2s, 3min.
	Backoff, MaxBackoff, GiveUp time.Duration

	client *http.Client
	mu     sync.Mutex
	all    []Delivery
}

// NewSender delivers to rs.
func NewSender(rs *Replicas) *Sender {
	return &Sender{rs: rs, Backoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second, GiveUp: 3 * time.Minute,
		client: &http.Client{Timeout: 10 * time.Second}}
}

// Deliver sends wh (a webhook about incident) starting with replica
// first, retrying as PagerDuty does, and records the delivery.
func (s *Sender) Deliver(ctx context.Context, incident string, wh pagerdutytest.Webhook, first int) Delivery {
	return s.deliver(ctx, incident, wh, first, 0)
}

// DeliverCopies sends copies of the same webhook at once, each to a
// different replica starting with first, and returns when every copy was
// acknowledged or given up.
func (s *Sender) DeliverCopies(ctx context.Context, incident string, wh pagerdutytest.Webhook, copies, first int) []Delivery {
	out := make([]Delivery, copies)
	var wg sync.WaitGroup
	for c := range copies {
		wg.Go(func() { out[c] = s.deliver(ctx, incident, wh, (first+c)%s.rs.N(), c) })
	}
	wg.Wait()
	return out
}

func (s *Sender) deliver(ctx context.Context, incident string, wh pagerdutytest.Webhook, replica, copyN int) Delivery {
	d := Delivery{Incident: incident, Copy: copyN, Replica: replica, Sent: time.Now(), Refused: map[int]int{}}
	wait := s.Backoff
	target := replica
	for {
		d.Attempts++
		code, status, err := s.post(ctx, s.rs.URL(target)+"/webhooks/pagerduty", wh)
		switch {
		case err != nil:
			d.ConnErrors++
			d.LastErr = err.Error()
			target = (target + 1) % s.rs.N()
		case code >= 200 && code < 300:
			d.Acked, d.Status = time.Now(), status
			s.record(d)
			return d
		default:
			d.Refused[code]++
			d.LastErr = fmt.Sprintf("replica %d answered %d", target, code)
		}
		if time.Since(d.Sent)+wait > s.GiveUp || ctx.Err() != nil {
			s.record(d)
			return d
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(2*wait, s.MaxBackoff)
	}
}

func (s *Sender) post(ctx context.Context, u string, wh pagerdutytest.Webhook) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(wh.Body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range wh.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var answer struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &answer)
	return resp.StatusCode, answer.Status, nil
}

func (s *Sender) record(d Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, d)
}

// Deliveries returns every delivery made so far.
func (s *Sender) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.all...)
}

// SendStats sums up deliveries.
type SendStats struct {
	Deliveries   int
	Acknowledged int
	GaveUp       int
	Attempts     int
	Refused      map[int]int // non-2xx answers by status
	ConnErrors   int
}

// Stats sums up every delivery made so far.
func (s *Sender) Stats() SendStats {
	st := SendStats{Refused: map[int]int{}}
	for _, d := range s.Deliveries() {
		st.Deliveries++
		st.Attempts += d.Attempts
		st.ConnErrors += d.ConnErrors
		if d.Acked.IsZero() {
			st.GaveUp++
		} else {
			st.Acknowledged++
		}
		for code, n := range d.Refused {
			st.Refused[code] += n
		}
	}
	return st
}
