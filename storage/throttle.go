package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ThrottleAnywhere is the Source of an account's failures from every network.
const ThrottleAnywhere = "*"

// throttleMemory is how long failures are remembered: a failure after a
// quiet day starts the count again.
const throttleMemory = 24 * time.Hour

// ThrottleAccount is the login_throttles key of a typed username: a hash, so
// that unknown names (often a password typed in the wrong field) are throttled
// exactly like real ones without being stored.
func ThrottleAccount(username string) string {
	sum := sha256.Sum256([]byte("leakwatch-login\x00" + username))
	return hex.EncodeToString(sum[:])
}

// LoginThrottles returns the throttle rows of account for the given sources
// (missing rows are left out).
func (s *Store) LoginThrottles(ctx context.Context, account string, sources ...string) ([]LoginThrottle, error) {
	var out []LoginThrottle
	if err := s.ctx(ctx).Where("account = ? AND source IN ?", account, sources).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("login throttles: %w", err)
	}
	return out, nil
}

// AccountThrottles returns every throttle row of account.
func (s *Store) AccountThrottles(ctx context.Context, account string) ([]LoginThrottle, error) {
	var out []LoginThrottle
	if err := s.ctx(ctx).Where("account = ?", account).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("account throttles: %w", err)
	}
	return out, nil
}

// RecordLoginFailure counts a failed login of account from source and sets
// when the next attempt may come to now + delay(failures so far). The count
// is incremented in the database (an upsert), so concurrent failures in
// several processes are all counted.
func (s *Store) RecordLoginFailure(ctx context.Context, account, source string, now time.Time,
	delay func(failures int64) time.Duration) (LoginThrottle, error) {
	now = now.UTC()
	t := LoginThrottle{Account: account, Source: source, UpdatedAt: now}
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Raw(`INSERT INTO login_throttles (account, source, failures, next_at, updated_at)
			VALUES (?, ?, 1, ?, ?)
			ON CONFLICT (account, source) DO UPDATE SET
				failures = CASE WHEN login_throttles.updated_at < ? THEN 1 ELSE login_throttles.failures + 1 END,
				updated_at = excluded.updated_at
			RETURNING failures`, account, source, now, now, now.Add(-throttleMemory)).Scan(&t.Failures).Error
		if err != nil {
			return err
		}
		if t.Failures == 0 {
			return errors.New("upsert returned no row")
		}
		t.NextAt = now.Add(delay(t.Failures))
		// UpdateColumn: gorm must not set updated_at to the wall clock.
		return tx.Model(&LoginThrottle{}).Where("account = ? AND source = ?", account, source).
			UpdateColumn("next_at", t.NextAt).Error
	})
	if err != nil {
		return LoginThrottle{}, fmt.Errorf("record login failure: %w", err)
	}
	return t, nil
}

// ClearLoginThrottles forgets account's failures from the given sources, or
// from everywhere when none are given (an admin's unlock). It returns how
// many rows it removed.
func (s *Store) ClearLoginThrottles(ctx context.Context, account string, sources ...string) (int64, error) {
	q := s.ctx(ctx).Where("account = ?", account)
	if len(sources) > 0 {
		q = q.Where("source IN ?", sources)
	}
	res := q.Delete(&LoginThrottle{})
	if res.Error != nil {
		return 0, fmt.Errorf("clear login throttles: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// AddKnownDevice remembers a browser (by its cookie's hash) that logged in as
// userID.
func (s *Store) AddKnownDevice(ctx context.Context, tokenHash string, userID uint64, now time.Time) error {
	if err := s.ctx(ctx).Create(&KnownDevice{TokenHash: tokenHash, UserID: userID, CreatedAt: now.UTC()}).Error; err != nil {
		return fmt.Errorf("add known device: %w", err)
	}
	return nil
}

// IsKnownDevice reports whether tokenHash is a device that logged in as userID.
func (s *Store) IsKnownDevice(ctx context.Context, tokenHash string, userID uint64) (bool, error) {
	var n int64
	if err := s.ctx(ctx).Model(&KnownDevice{}).Where("token_hash = ? AND user_id = ?", tokenHash, userID).
		Count(&n).Error; err != nil {
		return false, fmt.Errorf("known device: %w", err)
	}
	return n > 0, nil
}
