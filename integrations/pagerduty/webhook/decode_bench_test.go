package webhook

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// BenchmarkDecode reports Decode's cost per body and its ratio to a bare
// json.Unmarshal of the same body into a generic value, measured in the same
// run (these machines are shared: only the ratio is comparable across runs).
func BenchmarkDecode(b *testing.B) {
	body := testspecs.Sample(b, "webhooks/incident.resolved.json")
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
	b.ReportMetric(float64(decode)/float64(baseline), "x-unmarshal")
}
