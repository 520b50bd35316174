package app

import (
	"errors"
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
		return redis.NewClusterClient(o), nil
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

// embedded starts the in-memory Redis used when REDIS_URL is unset and
// returns cfg pointed at it (config.Load allows only REDIS_MODE=single then).
func embedded(cfg config.Config) (config.Config, *embedredis.Server, error) {
	mini, err := embedredis.Start()
	if err != nil {
		return cfg, nil, err
	}
	cfg.RedisURL, cfg.RedisMode, cfg.RedisSentinelMaster = config.Secret("redis://"+mini.Addr()), config.RedisSingle, ""
	return cfg, mini, nil
}
