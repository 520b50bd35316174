package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	background := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
	cancelled := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	}
	expiring := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 20*time.Millisecond)
	}
	cases := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		d       time.Duration
		want    error
		atLeast time.Duration // how long Sleep must have waited
		atMost  time.Duration // and may have
	}{
		{"elapses", background, 30 * time.Millisecond, nil, 30 * time.Millisecond, 5 * time.Second},
		{"cancelled before", cancelled, time.Hour, context.Canceled, 0, 5 * time.Second},
		{"deadline first", expiring, time.Hour, context.DeadlineExceeded, 15 * time.Millisecond, 5 * time.Second},
		{"zero returns at once", cancelled, 0, nil, 0, time.Second},
		{"negative returns at once", cancelled, -time.Second, nil, 0, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := Sleep(ctx, tc.d)
			took := time.Since(start)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Sleep = %v, want %v", err, tc.want)
			}
			if took < tc.atLeast || took > tc.atMost {
				t.Fatalf("Sleep took %s, want between %s and %s", took, tc.atLeast, tc.atMost)
			}
		})
	}
}
