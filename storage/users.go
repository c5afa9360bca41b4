package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
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

// CreateSession stores a session (by token hash).
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	// SQLite stores times as text and SessionByTokenHash compares them as
	// text, which is only right when every stored time is in UTC.
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	sess.CreatedAt = sess.CreatedAt.UTC()
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	sess.LastSeenAt = sess.LastSeenAt.UTC()
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

// DeleteIdleSessions removes sessions not seen since before.
func (s *Store) DeleteIdleSessions(ctx context.Context, before time.Time) error {
	if err := s.ctx(ctx).Where("last_seen_at < ?", before.UTC()).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("delete idle sessions: %w", err)
	}
	return nil
}

// TouchSession records that a session was used at now (idle expiry).
func (s *Store) TouchSession(ctx context.Context, id uint64, now time.Time) error {
	err := s.ctx(ctx).Model(&Session{}).Where("id = ?", id).Update("last_seen_at", now.UTC()).Error
	if err != nil {
		return fmt.Errorf("touch session %d: %w", id, err)
	}
	return nil
}

// SetPendingTOTP keeps a TOTP secret on a session until the user confirms it.
func (s *Store) SetPendingTOTP(ctx context.Context, sessionID uint64, secret string) error {
	err := s.ctx(ctx).Model(&Session{}).Where("id = ?", sessionID).Update("pending_totp", secret).Error
	if err != nil {
		return fmt.Errorf("set pending totp of session %d: %w", sessionID, err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user ("log out everywhere") and
// returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID uint64) (int64, error) {
	res := s.ctx(ctx).Where("user_id = ?", userID).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, res.Error)
	}
	return res.RowsAffected, nil
}

// UseTOTPStep accepts TOTP time step for a user only if it is newer than the
// last one accepted, in one conditional UPDATE: a code cannot be used twice,
// even by two processes at once or after a restart.
func (s *Store) UseTOTPStep(ctx context.Context, userID uint64, step int64) (bool, error) {
	res := s.ctx(ctx).Model(&User{}).Where("id = ? AND totp_last_step < ?", userID, step).
		Update("totp_last_step", step)
	if res.Error != nil {
		return false, fmt.Errorf("use totp step of user %d: %w", userID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// EnrolTOTP stores a confirmed TOTP secret, the step of the code that
// confirmed it (so that code cannot log in), and new recovery codes
// (hashes), replacing any old ones.
func (s *Store) EnrolTOTP(ctx context.Context, userID uint64, secret string, step int64, codeHashes []string) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"totp_secret": secret, "totp_last_step": step}).Error; err != nil {
			return err
		}
		return replaceRecoveryCodes(tx, userID, codeHashes)
	})
	if err != nil {
		return fmt.Errorf("enrol totp of user %d: %w", userID, err)
	}
	return nil
}

// ResetMFA removes a user's TOTP secret and recovery codes.
func (s *Store) ResetMFA(ctx context.Context, userID uint64) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).Update("totp_secret", "").Error; err != nil {
			return err
		}
		return tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error
	})
	if err != nil {
		return fmt.Errorf("reset mfa of user %d: %w", userID, err)
	}
	return nil
}

// ReplaceRecoveryCodes drops a user's recovery codes and stores new ones.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID uint64, codeHashes []string) error {
	if err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		return replaceRecoveryCodes(tx, userID, codeHashes)
	}); err != nil {
		return fmt.Errorf("replace recovery codes of user %d: %w", userID, err)
	}
	return nil
}

func replaceRecoveryCodes(tx *gorm.DB, userID uint64, codeHashes []string) error {
	if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, h := range codeHashes {
		if err := tx.Create(&RecoveryCode{UserID: userID, CodeHash: h, CreatedAt: now}).Error; err != nil {
			return err
		}
	}
	return nil
}

// UseRecoveryCode marks an unused recovery code of the user used, reporting
// false if there is none with that hash (wrong, or used before).
func (s *Store) UseRecoveryCode(ctx context.Context, userID uint64, codeHash string, now time.Time) (bool, error) {
	res := s.ctx(ctx).Model(&RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, codeHash).
		Update("used_at", now.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("use recovery code of user %d: %w", userID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID uint64) (int, error) {
	var n int64
	if err := s.ctx(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count recovery codes of user %d: %w", userID, err)
	}
	return int(n), nil
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, userID uint64, role Role) error {
	if !role.Valid() {
		return fmt.Errorf("role %q: want analyst, legal or admin", role)
	}
	if err := s.ctx(ctx).Model(&User{}).Where("id = ?", userID).Update("role", role).Error; err != nil {
		return fmt.Errorf("set role of user %d: %w", userID, err)
	}
	return nil
}

// SetDisabled disables or enables a user.
func (s *Store) SetDisabled(ctx context.Context, userID uint64, disabled bool) error {
	if err := s.ctx(ctx).Model(&User{}).Where("id = ?", userID).Update("disabled", disabled).Error; err != nil {
		return fmt.Errorf("set disabled of user %d: %w", userID, err)
	}
	return nil
}

// RecordLogin notes a successful login's time.
func (s *Store) RecordLogin(ctx context.Context, userID uint64, at time.Time) error {
	if err := s.ctx(ctx).Model(&User{}).Where("id = ?", userID).Update("last_login_at", at.UTC()).Error; err != nil {
		return fmt.Errorf("record login of user %d: %w", userID, err)
	}
	return nil
}
