package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// specShape is ../shared/specs/webhooks/incident.resolved.json, a real signed
// PagerDuty V3 body, byte for byte except that the event ID, the incident ID
// (in data.id, data.self and data.html_url) and the incident number are
// placeholders. It is a copy of the shape so that the benchmark never reads
// ../shared at run time.
const specShape = `{"event":{"id":"@EVENT_ID@","event_type":"incident.resolved","resource_type":"incident","occurred_at":"2025-04-07T03:49:36.358Z","agent":{"html_url":"https://aldaviva.pagerduty.com/users/PVE0ZR9","id":"PVE0ZR9","self":"https://api.pagerduty.com/users/PVE0ZR9","summary":"Ben","type":"user_reference"},"client":null,"data":{"id":"@INCIDENT_ID@","type":"incident","self":"https://api.pagerduty.com/incidents/@INCIDENT_ID@","html_url":"https://aldaviva.pagerduty.com/incidents/@INCIDENT_ID@","number":@NUMBER@,"status":"resolved","incident_key":"dfead9d88e0649e8b7dee514b1875756","created_at":"2025-04-07T03:47:13Z","title":"Test","service":{"html_url":"https://aldaviva.pagerduty.com/services/PNE3JZM","id":"PNE3JZM","self":"https://api.pagerduty.com/services/PNE3JZM","summary":"Webhook Tester","type":"service_reference"},"assignees":[],"escalation_policy":{"html_url":"https://aldaviva.pagerduty.com/escalation_policies/P482651","id":"P482651","self":"https://api.pagerduty.com/escalation_policies/P482651","summary":"Notify Ben and Dad","type":"escalation_policy_reference"},"teams":[],"priority":null,"urgency":"low","conference_bridge":null,"resolve_reason":null,"incident_type":{"name":"incident_default"}}}}`

// incidents is how many distinct incident IDs the bodies cycle through.
const incidents = 1000

// delivery is one signed webhook, ready to send.
type delivery struct {
	body      []byte
	signature string // X-PagerDuty-Signature
	webhookID string // X-Webhook-Id
}

type field int

const (
	fieldEventID field = iota
	fieldIncidentID
	fieldNumber
)

// bodyTemplate is specShape cut at its placeholders: parts[0] field[0]
// parts[1] ... field[n-1] parts[n].
type bodyTemplate struct {
	parts  []string
	fields []field
}

func compileTemplate(s string) bodyTemplate {
	names := map[string]field{"EVENT_ID": fieldEventID, "INCIDENT_ID": fieldIncidentID, "NUMBER": fieldNumber}
	var t bodyTemplate
	for {
		i := strings.Index(s, "@")
		if i < 0 {
			t.parts = append(t.parts, s)
			return t
		}
		j := strings.Index(s[i+1:], "@")
		if j < 0 {
			panic("bench-ingest: unterminated placeholder in specShape")
		}
		f, ok := names[s[i+1:i+1+j]]
		if !ok {
			panic("bench-ingest: unknown placeholder in specShape")
		}
		t.parts = append(t.parts, s[:i])
		t.fields = append(t.fields, f)
		s = s[i+1+j+1:]
	}
}

// generator makes the i-th delivery of a run: a new event ID and webhook ID
// for every i, the incident ID cycling through `incidents` values.
type generator struct {
	tmpl    bodyTemplate
	secret  []byte
	runTag  string // 8 upper-case hex digits, unique to the run
	uuidPfx string // first four groups of the webhook IDs' UUID form
}

func newGenerator(secret string, random []byte) *generator {
	if len(random) < 12 {
		panic("bench-ingest: need 12 random bytes")
	}
	h := hex.EncodeToString(random)
	return &generator{
		tmpl:    compileTemplate(specShape),
		secret:  []byte(secret),
		runTag:  strings.ToUpper(h[:8]),
		uuidPfx: h[8:16] + "-" + h[16:20] + "-4" + h[20:23] + "-8" + h[1:4],
	}
}

func (g *generator) eventID(i int) string {
	// 26 characters, like PagerDuty's own event IDs.
	return fmt.Sprintf("01%s%016X", g.runTag, i)
}

func (g *generator) incidentID(i int) string {
	// 14 characters, like PagerDuty's incident IDs; the run tag keeps runs apart.
	return fmt.Sprintf("QB%s%06d", g.runTag[:6], i%incidents)
}

// appendBody appends the i-th body to dst.
func (g *generator) appendBody(dst []byte, i int) []byte {
	ev, inc, num := g.eventID(i), g.incidentID(i), strconv.Itoa(i%incidents+1)
	dst = append(dst, g.tmpl.parts[0]...)
	for k, f := range g.tmpl.fields {
		switch f {
		case fieldEventID:
			dst = append(dst, ev...)
		case fieldIncidentID:
			dst = append(dst, inc...)
		case fieldNumber:
			dst = append(dst, num...)
		}
		dst = append(dst, g.tmpl.parts[k+1]...)
	}
	return dst
}

// make appends the i-th body to dst and returns the grown dst and the
// delivery, whose body is the appended part only.
func (g *generator) make(mac hash.Hash, dst []byte, i int) ([]byte, delivery) {
	start := len(dst)
	dst = g.appendBody(dst, i)
	body := dst[start:len(dst):len(dst)]
	mac.Reset()
	mac.Write(body)
	var sum [sha256.Size]byte
	return dst, delivery{
		body:      body,
		signature: "v1=" + hex.EncodeToString(mac.Sum(sum[:0])),
		webhookID: fmt.Sprintf("%s-%012x", g.uuidPfx, i),
	}
}

// pregenerate makes deliveries 0..n-1, on every CPU, into a few large arenas.
func (g *generator) pregenerate(n int) []delivery {
	out := make([]delivery, n)
	if n == 0 {
		return out
	}
	size := len(g.appendBody(nil, n-1)) + 8
	workers := runtime.NumCPU()
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			mac := hmac.New(sha256.New, g.secret)
			arena := make([]byte, 0, (hi-lo)*size)
			for i := lo; i < hi; i++ {
				arena, out[i] = g.make(mac, arena, i)
			}
		})
	}
	wg.Wait()
	return out
}

// bodySource hands out deliveries in order. Past the pre-generated ones it
// either generates new ones (counted, as that happens on the timed path) or,
// for a server that does not deduplicate (the baseline), starts over.
type bodySource struct {
	g       *generator
	pre     []delivery
	next    atomic.Int64
	wrap    bool
	lazy    atomic.Int64
	macPool sync.Pool
}

func newBodySource(g *generator, pre []delivery, wrap bool) *bodySource {
	s := &bodySource{g: g, pre: pre, wrap: wrap}
	s.macPool.New = func() any { return hmac.New(sha256.New, g.secret) }
	return s
}

func (s *bodySource) get() delivery {
	i := int(s.next.Add(1) - 1)
	if i < len(s.pre) {
		return s.pre[i]
	}
	if s.wrap {
		return s.pre[i%len(s.pre)]
	}
	s.lazy.Add(1)
	mac := s.macPool.Get().(hash.Hash)
	defer s.macPool.Put(mac)
	_, d := s.g.make(mac, nil, i)
	return d
}
