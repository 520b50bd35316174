package pagerduty

import (
	"log/slog"
	"net/http"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// TransportConfig tunes the HTTP client under the PagerDuty client; see
// outbound.Config. The default pace, 900 requests a minute, stays under
// PagerDuty's 960 per key.
type TransportConfig = outbound.Config

// NewHTTPClient returns the http.Client the PagerDuty client should use:
// paced, waiting out 429s, retrying reads on 5xx, never retrying a write that
// may have taken effect (see outbound.NewClient).
func NewHTTPClient(cfg TransportConfig, base http.RoundTripper, log *slog.Logger) *http.Client {
	return outbound.NewClient("PagerDuty", cfg, base, log)
}
