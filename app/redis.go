package app

import (
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/config"
)

// redisOptions are the client options of REDIS_URL. config.Load checked the
// URL already; it is never printed, since it may hold a password.
func redisOptions(cfg config.Config) (*redis.Options, error) {
	o, err := redis.ParseURL(cfg.RedisURL.Reveal())
	if err != nil {
		return nil, errors.New("REDIS_URL: not a valid redis:// or rediss:// URL")
	}
	return o, nil
}
