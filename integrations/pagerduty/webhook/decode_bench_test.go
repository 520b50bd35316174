package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// BenchmarkDecode reports Decode's cost per body and its ratios, measured in
// the same run (these machines are shared: only the ratios are comparable
// across runs), to a bare json.Unmarshal of the same body into a generic
// value (x-unmarshal) and to the two-step reference decoding (x-two-step).
// The body must take the one-pass path, or the figures say nothing of it.
func BenchmarkDecode(b *testing.B) {
	body := testspecs.Sample(b, "webhooks/incident.resolved.json")
	if decodeOnce(bytes.TrimSpace(body)) == nil {
		b.Fatal("the sample does not take the one-pass path")
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
	decode := time.Since(start)
	b.StopTimer()
	start = time.Now()
	for range b.N {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
	baseline := time.Since(start)
	start = time.Now()
	for range b.N {
		if _, err := decodeInTwo(bytes.TrimSpace(body)); err != nil {
			b.Fatal(err)
		}
	}
	twoStep := time.Since(start)
	b.ReportMetric(float64(decode)/float64(baseline), "x-unmarshal")
	b.ReportMetric(float64(decode)/float64(twoStep), "x-two-step")
}
