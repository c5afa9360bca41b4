package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateUser adds a user.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := s.ctx(ctx).Create(u).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("user %q: %w", u.Username, ErrDuplicate)
		}
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return nil
}

// UserByUsername finds a user.
func (s *Store) UserByUsername(ctx context.Context, name string) (User, error) {
	var u User
	if err := s.ctx(ctx).Where("username = ?", name).First(&u).Error; err != nil {
		return User{}, notFound(err, fmt.Sprintf("user %q", name))
	}
	return u, nil
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id uint64) (User, error) {
	var u User
	if err := s.ctx(ctx).First(&u, id).Error; err != nil {
		return User{}, notFound(err, fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// ListUsers returns all users by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	if err := s.ctx(ctx).Order("username").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UpdatePassword replaces a user's password hash.
func (s *Store) UpdatePassword(ctx context.Context, id uint64, hash string) error {
	err := s.ctx(ctx).Model(&User{}).Where("id = ?", id).Update("password_hash", hash).Error
	if err != nil {
		return fmt.Errorf("update password of user %d: %w", id, err)
	}
	return nil
}

// SetTOTPSecret enrols (or with "" removes) a user's TOTP secret.
func (s *Store) SetTOTPSecret(ctx context.Context, id uint64, secret string) error {
	err := s.ctx(ctx).Model(&User{}).Where("id = ?", id).Update("totp_secret", secret).Error
	if err != nil {
		return fmt.Errorf("set totp of user %d: %w", id, err)
	}
	return nil
}

// RecordLoginFailure counts a failed login and locks the account for lockout
// once max failures are reached. It returns the updated user.
func (s *Store) RecordLoginFailure(ctx context.Context, id uint64, max int, lockout time.Duration) (User, error) {
	var u User
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx
		if s.dialect == DialectPostgres {
			// Lock the row: concurrent failures must not both read the same
			// count and lose an increment (SQLite transactions are already
			// serialised by BEGIN IMMEDIATE).
			q = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		if err := q.First(&u, id).Error; err != nil {
			return err
		}
		u.FailedLogins++
		upd := map[string]any{"failed_logins": u.FailedLogins}
		if max > 0 && u.FailedLogins >= max {
			until := time.Now().UTC().Add(lockout)
			u.LockedUntil = &until
			upd["locked_until"] = until
			upd["failed_logins"] = 0
			u.FailedLogins = 0
		}
		return tx.Model(&User{}).Where("id = ?", id).Updates(upd).Error
	})
	if err != nil {
		return User{}, fmt.Errorf("record login failure: %w", err)
	}
	return u, nil
}

// ResetLoginFailures clears the failure count after a successful login.
func (s *Store) ResetLoginFailures(ctx context.Context, id uint64) error {
	err := s.ctx(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"failed_logins": 0, "locked_until": nil}).Error
	if err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}

// CreateSession stores a session (by token hash).
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	// SQLite stores times as text and SessionByTokenHash compares them as
	// text, which is only right when every stored time is in UTC.
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	sess.CreatedAt = sess.CreatedAt.UTC()
	if err := s.ctx(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByTokenHash finds an unexpired session.
func (s *Store) SessionByTokenHash(ctx context.Context, hash string, now time.Time) (Session, error) {
	var sess Session
	err := s.ctx(ctx).Where("token_hash = ? AND expires_at > ?", hash, now.UTC()).First(&sess).Error
	if err != nil {
		return Session{}, notFound(err, "session")
	}
	return sess, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if err := s.ctx(ctx).Where("token_hash = ?", hash).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions past their expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if err := s.ctx(ctx).Where("expires_at <= ?", now.UTC()).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}
