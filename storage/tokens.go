package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// APIToken lets automation call the API as a user, with that user's role.
// Only the token's hash is stored; the token itself is shown once.
type APIToken struct {
	ID         uint64 `gorm:"primaryKey"`
	Name       string `gorm:"not null"` // what it is for, e.g. "siem export"
	UserID     uint64 `gorm:"index;not null"`
	TokenHash  string `gorm:"uniqueIndex;not null"`
	CreatedBy  string `gorm:"not null"`
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time // nil: never
	RevokedAt  *time.Time
}

// APITokenInfo is a token with the name of the user it acts as, for lists.
type APITokenInfo struct {
	APIToken
	Username string
}

// CreateAPIToken stores a token (by hash). Times are kept in UTC because
// SQLite compares them as text.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	t.CreatedAt = t.CreatedAt.UTC()
	if t.ExpiresAt != nil {
		at := t.ExpiresAt.UTC()
		t.ExpiresAt = &at
	}
	if err := s.ctx(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create api token %q: %w", t.Name, err)
	}
	return nil
}

// ActiveAPIToken finds an unrevoked, unexpired token by hash.
func (s *Store) ActiveAPIToken(ctx context.Context, hash string, now time.Time) (APIToken, error) {
	var t APIToken
	now = now.UTC()
	err := s.ctx(ctx).Where("token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", hash, now).
		First(&t).Error
	if err != nil {
		return APIToken{}, notFound(err, "api token")
	}
	return t, nil
}

// TouchAPIToken records a use. It writes at most once a minute per token, so
// a busy script does not turn every read into a write.
func (s *Store) TouchAPIToken(ctx context.Context, id uint64, now time.Time) error {
	now = now.UTC()
	err := s.ctx(ctx).Model(&APIToken{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, now.Add(-time.Minute)).
		Update("last_used_at", now).Error
	if err != nil {
		return fmt.Errorf("touch api token %d: %w", id, err)
	}
	return nil
}

// ListAPITokens returns every token, newest first, revoked ones included.
func (s *Store) ListAPITokens(ctx context.Context) ([]APITokenInfo, error) {
	var out []APITokenInfo
	err := s.ctx(ctx).Table("api_tokens").
		Select("api_tokens.*, COALESCE(users.username, '') AS username").
		Joins("LEFT JOIN users ON users.id = api_tokens.user_id").
		Order("api_tokens.id DESC").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// APITokenByID finds a token with its user's name.
func (s *Store) APITokenByID(ctx context.Context, id uint64) (APITokenInfo, error) {
	var out []APITokenInfo
	err := s.ctx(ctx).Table("api_tokens").
		Select("api_tokens.*, COALESCE(users.username, '') AS username").
		Joins("LEFT JOIN users ON users.id = api_tokens.user_id").
		Where("api_tokens.id = ?", id).Limit(1).Scan(&out).Error
	if err != nil {
		return APITokenInfo{}, fmt.Errorf("api token %d: %w", id, err)
	}
	if len(out) == 0 {
		return APITokenInfo{}, fmt.Errorf("api token %d: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// ErrRevoked is returned when revoking a token that already is.
var ErrRevoked = errors.New("already revoked")

// RevokeAPIToken ends a token for good.
func (s *Store) RevokeAPIToken(ctx context.Context, id uint64, now time.Time) error {
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		var t APIToken
		if err := tx.First(&t, id).Error; err != nil {
			return notFound(err, fmt.Sprintf("api token %d", id))
		}
		if t.RevokedAt != nil {
			return fmt.Errorf("api token %d: %w", id, ErrRevoked)
		}
		if err := tx.Model(&APIToken{}).Where("id = ?", id).Update("revoked_at", now.UTC()).Error; err != nil {
			return fmt.Errorf("revoke api token %d: %w", id, err)
		}
		return nil
	})
}
