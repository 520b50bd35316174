package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A Durable server keeps what it acknowledged across a SIGKILL and a
// restart; the default one keeps nothing.
func TestDurableServerKeepsAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"durable", Durable, "kept"},
		{"default", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StartServer(t, tc.args...)
			c := redis.NewClient(&redis.Options{Addr: s.Addr})
			defer c.Close()
			if err := c.Set(ctx, "k", "kept", 0).Err(); err != nil {
				t.Fatal(err)
			}
			s.Stop(t)
			s.Start(t)
			got, err := c.Get(ctx, "k").Result()
			if err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("after SIGKILL and restart: GET k = %q, want %q", got, tc.want)
			}
		})
	}
}
