package outbound

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherStep labels requests made outside any named step.
const OtherStep = "other"

type stepKey struct{}

// WithStep names the step a request belongs to (a workflow step, the
// catch-up sweep, the status sync), for aftermath_api_requests_total.
func WithStep(ctx context.Context, step string) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}

// StepOf is the step WithStep named, or OtherStep.
func StepOf(ctx context.Context) string {
	if s, ok := ctx.Value(stepKey{}).(string); ok && s != "" {
		return s
	}
	return OtherStep
}

// requests counts every HTTP attempt to an outside API (retries included:
// each is a request the service counts against its limits), by API, step
// and answer. It is process-wide, like the clients' pacing; App registers
// it with its registry through Collector.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aftermath_api_requests_total",
	Help: "HTTP requests sent to PagerDuty and Jira, retries included, by API, workflow step and answer (2xx, 4xx, 429, 5xx, error).",
}, []string{"api", "step", "code"})

// Collector is the aftermath_api_requests_total counter, for a registry.
func Collector() prometheus.Collector { return requests }

// countedTransport counts each attempt under the retries and the pacing.
type countedTransport struct {
	api  string
	base http.RoundTripper
}

func (c *countedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	requests.WithLabelValues(c.api, StepOf(r.Context()), codeClass(resp, err)).Inc()
	return resp, err
}

func codeClass(resp *http.Response, err error) string {
	switch {
	case err != nil || resp == nil:
		return "error"
	case resp.StatusCode == http.StatusTooManyRequests:
		return "429"
	default:
		return strconv.Itoa(resp.StatusCode/100) + "xx"
	}
}

// apiLabel is the service's name as a label value ("PagerDuty": "pagerduty").
func apiLabel(service string) string { return strings.ToLower(strings.ReplaceAll(service, " ", "_")) }
