package outbound

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every attempt is counted under the step its context names, retries
// included, by answer class; a request without a step is "other".
func TestRequestsCountedByStep(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	c := NewClient("Step Test", Config{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, nil, nil)
	get := func(ctx context.Context) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d after retries", resp.StatusCode)
		}
	}
	get(WithStep(context.Background(), "timeline")) // 429, 503, then 200
	get(context.Background())

	for _, tc := range []struct {
		step, code string
		want       float64
	}{
		{"timeline", "429", 1}, {"timeline", "5xx", 1}, {"timeline", "2xx", 1}, {OtherStep, "2xx", 1}, {"timeline", "4xx", 0},
	} {
		if got := testutil.ToFloat64(requests.WithLabelValues("step_test", tc.step, tc.code)); got != tc.want {
			t.Errorf("step %s, %s: counted %v, want %v", tc.step, tc.code, got, tc.want)
		}
	}
}
