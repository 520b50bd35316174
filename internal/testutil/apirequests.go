package testutil

import (
	"bytes"
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// APIStep names one series of aftermath_api_requests_total, its answer
// codes summed.
type APIStep struct{ API, Step string }

// APIRequests are aftermath_api_requests_total's values by API and step.
type APIRequests map[APIStep]int

// APIRequestsOf reads aftermath_api_requests_total from gathered metric
// families; tooMany is how many of the requests were answered 429.
func APIRequestsOf(mfs []*dto.MetricFamily) (c APIRequests, tooMany int) {
	c = APIRequests{}
	for _, mf := range mfs {
		if mf.GetName() != "aftermath_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var k APIStep
			code := ""
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "api":
					k.API = l.GetValue()
				case "step":
					k.Step = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			n := int(m.GetCounter().GetValue())
			c[k] += n
			if code == "429" {
				tooMany += n
			}
		}
	}
	return c, tooMany
}

// ParseAPIRequests reads aftermath_api_requests_total from a /metrics page
// in Prometheus's text format.
func ParseAPIRequests(page []byte) (c APIRequests, tooMany int, err error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return nil, 0, fmt.Errorf("parse /metrics: %w", err)
	}
	mfs := make([]*dto.MetricFamily, 0, len(fams))
	for _, mf := range fams {
		mfs = append(mfs, mf)
	}
	c, tooMany = APIRequestsOf(mfs)
	return c, tooMany, nil
}

// Add adds o's counts to c.
func (c APIRequests) Add(o APIRequests) {
	for k, n := range o {
		c[k] += n
	}
}

// Minus is what changed since before.
func (c APIRequests) Minus(before APIRequests) APIRequests {
	out := APIRequests{}
	for k, n := range c {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Total is the requests to api over every step.
func (c APIRequests) Total(api string) int {
	n := 0
	for k, v := range c {
		if k.API == api {
			n += v
		}
	}
	return n
}
