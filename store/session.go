package store

import (
	"context"
	"fmt"
	"time"
)

func (s *Store) sessionKey(id string) string {
	return s.prefix + ":session:revoked:" + keyPart(id)
}

// RevokeSession ends the overview login session id for every replica: it
// is remembered as revoked until until, the session's own expiry, after
// which its cookie is refused anyway. Revoking twice is harmless.
func (s *Store) RevokeSession(ctx context.Context, id string, until time.Time) error {
	ttl := until.Sub(s.now())
	if ttl <= 0 {
		return nil
	}
	// A minute past the expiry: a replica whose clock runs behind must not
	// see the cookie valid again.
	if err := s.rdb.Set(ctx, s.sessionKey(id), "1", ttl+time.Minute).Err(); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// SessionRevoked reports whether the session id was revoked (logged out).
func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return false, fmt.Errorf("read session revocation: %w", err)
	}
	return n == 1, nil
}
