package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bsm/redislock"
)

// Lock errors.
var (
	// ErrLocked means another consumer holds the incident's lock.
	ErrLocked = errors.New("incident is locked by another consumer")
	// ErrLockLost means a held lock expired and may now be someone else's.
	ErrLockLost = errors.New("incident lock lost")
)

// Lock is a held per-incident lock.
type Lock struct {
	l *redislock.Lock
}

// LockIncident takes the incident's lock for ttl without waiting; it fails
// with ErrLocked when another holder has it. The lock keeps two replicas off
// one incident; it is an optimisation, the step checkpoints are the guarantee.
func (s *Store) LockIncident(ctx context.Context, incidentID string, ttl time.Duration) (*Lock, error) {
	l, err := redislock.New(s.rdb).Obtain(ctx, s.lockKey(incidentID), ttl, nil)
	if errors.Is(err, redislock.ErrNotObtained) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("lock incident %s: %w", incidentID, err)
	}
	return &Lock{l: l}, nil
}

// Refresh extends the lock to ttl from now; it fails when the lock was lost.
func (l *Lock) Refresh(ctx context.Context, ttl time.Duration) error {
	err := l.l.Refresh(ctx, ttl, nil)
	if errors.Is(err, redislock.ErrNotObtained) {
		return fmt.Errorf("refresh lock %s: %w", l.l.Key(), ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("refresh lock %s: %w", l.l.Key(), err)
	}
	return nil
}

// Release frees the lock if it is still held.
func (l *Lock) Release(ctx context.Context) error {
	err := l.l.Release(ctx)
	if err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
		return fmt.Errorf("release lock %s: %w", l.l.Key(), err)
	}
	return nil
}
