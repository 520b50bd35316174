package app

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/internal/embedredis"
)

// redisTuning is what aftermath sets on every Redis client whatever the
// mode; zero fields keep go-redis's defaults.
type redisTuning struct {
	dial, read, write time.Duration
	// poolSize is per server: on a cluster, per node.
	poolSize int
}

// newRedisClient builds the client REDIS_MODE asks for from REDIS_URL: one
// server, a Redis Cluster, or the master that Redis Sentinel names (the client
// follows a failover). config.Load checked the URL already; it is never
// printed, since it may hold a password.
func newRedisClient(cfg config.Config, t redisTuning) (redis.UniversalClient, error) {
	u := cfg.RedisURL.Reveal()
	switch cfg.RedisMode {
	case config.RedisCluster:
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, errors.New("REDIS_URL: not a valid Redis Cluster URL")
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = t.dial, t.read, t.write
		if t.poolSize > 0 {
			o.PoolSize = t.poolSize
		}
		c := redis.NewClusterClient(o)
		c.AddHook(&slotMapReloader{reload: c.ReloadState, every: slotMapReloadEvery})
		return c, nil
	case config.RedisSentinel:
		o, err := redis.ParseFailoverURL(u)
		if err != nil {
			return nil, errors.New("REDIS_URL: not a valid Sentinel URL")
		}
		o.MasterName = cfg.RedisSentinelMaster
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = t.dial, t.read, t.write
		if t.poolSize > 0 {
			o.PoolSize = t.poolSize
		}
		return redis.NewFailoverClient(o), nil
	default:
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, errors.New("REDIS_URL: not a valid redis:// or rediss:// URL")
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = t.dial, t.read, t.write
		if t.poolSize > 0 {
			o.PoolSize = t.poolSize
		}
		return redis.NewClient(o), nil
	}
}

// EmbeddedRedis starts the in-memory Redis used when REDIS_URL is unset and
// returns cfg pointed at it (config.Load allows only REDIS_MODE=single then).
// The caller closes the server when done.
func EmbeddedRedis(cfg config.Config) (config.Config, *embedredis.Server, error) {
	mini, err := embedredis.Start()
	if err != nil {
		return cfg, nil, err
	}
	cfg.RedisURL, cfg.RedisMode, cfg.RedisSentinelMaster = config.Secret("redis://"+mini.Addr()), config.RedisSingle, ""
	return cfg, mini, nil
}

// NewCommandRedis returns the Redis client of a one-shot command (plan,
// replay) for cfg's REDIS_URL and REDIS_MODE: 2 s to dial, 5 s to read an
// answer, go-redis's defaults otherwise. The caller closes it.
func NewCommandRedis(cfg config.Config) (redis.UniversalClient, error) {
	return newRedisClient(cfg, redisTuning{dial: 2 * time.Second, read: 5 * time.Second})
}

// slotMapReloadEvery is how often at most a cluster client reloads its slot
// map because a node did not answer.
const slotMapReloadEvery = 500 * time.Millisecond

// slotMapReloader is a go-redis hook on a cluster client: when a command gets
// no answer from the node it was sent to (refused, reset, timed out), the
// client reloads its slot map (CLUSTER SLOTS from another node), at most once
// per interval. go-redis reloads it by itself only on MOVED or ASK, which a
// dead master never sends, or every ClusterStateReloadInterval (60 s): after
// a master died and its replica took over, every command for its slots went
// on dialing the dead address until then (issue 24).
type slotMapReloader struct {
	reload func(context.Context) // ClusterClient.ReloadState: in the background
	every  time.Duration
	last   atomic.Int64 // Unix nanoseconds of the last reload asked for
}

// DialHook implements redis.Hook; dialing is left alone.
func (h *slotMapReloader) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook: it sees a command's error after
// go-redis's own retries and redirections.
func (h *slotMapReloader) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if noAnswer(err) {
			h.maybeReload(ctx)
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook, for pipelines and
// transactions.
func (h *slotMapReloader) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			return nil
		}
		// A pipeline spans nodes: one that did not answer is enough.
		for _, c := range cmds {
			if noAnswer(c.Err()) {
				h.maybeReload(ctx)
				break
			}
		}
		return err
	}
}

// maybeReload asks for a reload unless one was asked for within every.
func (h *slotMapReloader) maybeReload(ctx context.Context) {
	now := time.Now().UnixNano()
	last := h.last.Load()
	if now-last < int64(h.every) || !h.last.CompareAndSwap(last, now) {
		return
	}
	h.reload(ctx)
}

// noAnswer reports whether err means the node did not answer: a network
// error or a connection closed under the command. A reply from Redis (an
// error reply, redis.Nil) and the caller's own context are not.
func noAnswer(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
