package outbound

import (
	"net/http"
	"testing"
	"time"
)

func TestServerWait(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"Retry-After seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"Retry-After zero", map[string]string{"Retry-After": "0"}, 0, true},
		{"Retry-After HTTP date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"Retry-After date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{"ratelimit-reset", map[string]string{"ratelimit-reset": "20"}, 20 * time.Second, true},
		{"ratelimit-reset fraction", map[string]string{"ratelimit-reset": "1.5"}, 1500 * time.Millisecond, true},
		{"Retry-After wins", map[string]string{"Retry-After": "3", "ratelimit-reset": "20"}, 3 * time.Second, true},
		{"garbage Retry-After, ratelimit-reset used", map[string]string{"Retry-After": "soon", "ratelimit-reset": "4"}, 4 * time.Second, true},
		{"garbage", map[string]string{"Retry-After": "soon", "ratelimit-reset": "later"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-5", "ratelimit-reset": "-1"}, 0, false},
		{"NaN", map[string]string{"ratelimit-reset": "NaN"}, 0, false},
		{"huge Retry-After does not overflow", map[string]string{"Retry-After": "99999999999"}, longestServerWait, true},
		{"infinite ratelimit-reset does not overflow", map[string]string{"ratelimit-reset": "+Inf"}, longestServerWait, true},
		{"none", nil, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := serverWait(h, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("serverWait(%v) = %s, %v; want %s, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	answer := func(status int, header ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	const minW, maxW = 100 * time.Millisecond, 10 * time.Second
	cases := []struct {
		name     string
		min, max time.Duration
		attempt  int
		resp     *http.Response
		lo, hi   time.Duration // the wait is in [lo, hi]
	}{
		{"429 Retry-After", minW, maxW, 0, answer(429, "Retry-After", "3"), 3 * time.Second, 3 * time.Second},
		{"429 ratelimit-reset", minW, maxW, 2, answer(429, "ratelimit-reset", "5"), 5 * time.Second, 5 * time.Second},
		{"503 Retry-After", minW, maxW, 0, answer(503, "Retry-After", "2"), 2 * time.Second, 2 * time.Second},
		{"Retry-After capped at MaxBackoff", minW, maxW, 0, answer(429, "Retry-After", "120"), maxW, maxW},
		{"HTTP-date Retry-After capped", minW, maxW, 0, answer(429, "Retry-After", time.Now().Add(time.Hour).Format(http.TimeFormat)), maxW, maxW},
		{"huge Retry-After capped", minW, maxW, 0, answer(429, "Retry-After", "99999999999"), maxW, maxW},
		{"429 without headers backs off", minW, maxW, 0, answer(429), minW / 2, minW},
		{"garbage Retry-After backs off", minW, maxW, 1, answer(429, "Retry-After", "soon"), minW / 2, 2 * minW},
		{"500 ignores Retry-After", minW, maxW, 0, answer(500, "Retry-After", "30"), minW / 2, minW},
		{"transport error, first retry", minW, maxW, 0, nil, minW / 2, minW},
		{"transport error, third retry", minW, maxW, 2, nil, minW / 2, 4 * minW},
		{"exponential capped at MaxBackoff", minW, maxW, 30, nil, minW / 2, maxW},
		{"MaxBackoff below MinBackoff", 2 * time.Second, 500 * time.Millisecond, 0, nil, 0, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 { // the jitter is random
				got := backoff(tc.min, tc.max, tc.attempt, tc.resp)
				if got < tc.lo || got > tc.hi {
					t.Fatalf("backoff = %s, want within [%s, %s]", got, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestTransportDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	want := Config{RequestsPerMinute: 900, Burst: 10, MaxRetries: 4, MinBackoff: 500 * time.Millisecond, MaxBackoff: time.Minute, AttemptTimeout: 30 * time.Second}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	// 900 a minute stays under PagerDuty's 960 per key.
	if got.RequestsPerMinute >= 960 {
		t.Errorf("default pace %d a minute reaches PagerDuty's limit", got.RequestsPerMinute)
	}
}
