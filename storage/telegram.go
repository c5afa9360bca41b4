package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TelegramAccount is a Telegram user account the monitor signs in as.
type TelegramAccount struct {
	Name   string `gorm:"primaryKey"`
	Phone  string `gorm:"not null"`
	UserID int64  `gorm:"not null"`
	// Session is the MTProto session sealed by the telegram monitor (the
	// key is derived from the fingerprint key, never stored here).
	Session    []byte
	Status     TelegramStatus `gorm:"not null"`
	Detail     string         `gorm:"not null"` // why, for a dead session or a flood wait
	FloodUntil *time.Time
	UpdatedAt  time.Time
}

// TableName implements gorm's tabler.
func (TelegramAccount) TableName() string { return "tg_accounts" }

// TelegramChannel is what the monitor keeps of a watched channel.
type TelegramChannel struct {
	SourceID     uint64 `gorm:"primaryKey;autoIncrement:false"`
	ChannelID    int64  `gorm:"not null"`
	AccessHash   int64  `gorm:"not null"`
	Username     string `gorm:"not null"`
	Title        string `gorm:"not null"`
	ResolvedAt   *time.Time
	TopID        int64  `gorm:"not null"` // newest message recorded
	BackfillNext int64  `gorm:"not null"` // walk history back from below this id; 0: not started
	BackfillDone bool   `gorm:"not null"`
	Backfilled   int64  `gorm:"not null"` // messages the history walk recorded
	Messages     int64  `gorm:"not null"` // messages recorded in all
	Gone         string `gorm:"not null"` // why the channel cannot be read any more (deleted, private), if so
}

// TableName implements gorm's tabler.
func (TelegramChannel) TableName() string { return "tg_channels" }

// TelegramMedia is a document or photo downloaded whole.
type TelegramMedia struct {
	MediaID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind      string `gorm:"primaryKey"` // "document" or "photo": their ids are separate spaces
	SHA256    string `gorm:"column:sha256;not null"`
	Size      int64  `gorm:"not null"`
	CaptureID uint64 `gorm:"not null"`
}

// TableName implements gorm's tabler.
func (TelegramMedia) TableName() string { return "tg_media" }

// TelegramAccount returns the account named name.
func (s *Store) TelegramAccount(ctx context.Context, name string) (TelegramAccount, error) {
	var a TelegramAccount
	err := s.ctx(ctx).Where("name = ?", name).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, fmt.Errorf("telegram account %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("telegram account %q: %w", name, err)
	}
	return a, nil
}

// TelegramAccounts lists the accounts, by name.
func (s *Store) TelegramAccounts(ctx context.Context) ([]TelegramAccount, error) {
	var as []TelegramAccount
	if err := s.ctx(ctx).Order("name").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("telegram accounts: %w", err)
	}
	return as, nil
}

// EnsureTelegramAccount creates the account row if it is missing.
func (s *Store) EnsureTelegramAccount(ctx context.Context, name, phone string) error {
	a := TelegramAccount{Name: name, Phone: phone, Status: TelegramLoggedOut, UpdatedAt: time.Now().UTC()}
	err := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error
	if err != nil {
		return fmt.Errorf("telegram account %q: %w", name, err)
	}
	if phone != "" {
		err = s.ctx(ctx).Model(&TelegramAccount{}).Where("name = ? AND phone = ''", name).Update("phone", phone).Error
	}
	return err
}

// SaveTelegramSession stores an account's sealed session.
func (s *Store) SaveTelegramSession(ctx context.Context, name string, sealed []byte) error {
	res := s.ctx(ctx).Model(&TelegramAccount{}).Where("name = ?", name).
		Updates(map[string]any{"session": sealed, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("telegram account %q: store session: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("telegram account %q: %w", name, ErrNotFound)
	}
	return nil
}

// SetTelegramStatus records how an account stands; userID is kept when 0.
func (s *Store) SetTelegramStatus(ctx context.Context, name string, st TelegramStatus, detail string, floodUntil *time.Time, userID int64) error {
	upd := map[string]any{"status": st, "detail": detail, "flood_until": floodUntil, "updated_at": time.Now().UTC()}
	if userID != 0 {
		upd["user_id"] = userID
	}
	res := s.ctx(ctx).Model(&TelegramAccount{}).Where("name = ?", name).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("telegram account %q: set status: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("telegram account %q: %w", name, ErrNotFound)
	}
	return nil
}

// TelegramChannel returns the state of a telegram source's channel; ok is
// false before its first resolve.
func (s *Store) TelegramChannel(ctx context.Context, sourceID uint64) (ch TelegramChannel, ok bool, err error) {
	err = s.ctx(ctx).Where("source_id = ?", sourceID).First(&ch).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return TelegramChannel{SourceID: sourceID}, false, nil
	}
	if err != nil {
		return ch, false, fmt.Errorf("telegram channel of source %d: %w", sourceID, err)
	}
	return ch, true, nil
}

// TelegramChannels lists the channel states of all telegram sources.
func (s *Store) TelegramChannels(ctx context.Context) ([]TelegramChannel, error) {
	var chs []TelegramChannel
	if err := s.ctx(ctx).Order("source_id").Find(&chs).Error; err != nil {
		return nil, fmt.Errorf("telegram channels: %w", err)
	}
	return chs, nil
}

// SaveTelegramChannel writes a channel's whole state.
func (s *Store) SaveTelegramChannel(ctx context.Context, ch *TelegramChannel) error {
	err := s.ctx(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(ch).Error
	if err != nil {
		return fmt.Errorf("save telegram channel of source %d: %w", ch.SourceID, err)
	}
	return nil
}

// TelegramMediaByID returns a downloaded medium, if it was.
func (s *Store) TelegramMediaByID(ctx context.Context, kind string, id int64) (m TelegramMedia, ok bool, err error) {
	err = s.ctx(ctx).Where("kind = ? AND media_id = ?", kind, id).First(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("telegram %s %d: %w", kind, id, err)
	}
	return m, true, nil
}

// AddTelegramMedia records a medium downloaded whole; the first record of
// an id stays.
func (s *Store) AddTelegramMedia(ctx context.Context, m TelegramMedia) error {
	if err := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&m).Error; err != nil {
		return fmt.Errorf("record telegram %s %d: %w", m.Kind, m.MediaID, err)
	}
	return nil
}

// SourceCaptured reports whether any run of a source captured url as kind
// without an error: a Telegram message or file recorded by a run that died
// before it saved its cursor is not recorded again.
func (s *Store) SourceCaptured(ctx context.Context, sourceID uint64, url string, kind CaptureKind) (bool, error) {
	var n int64
	err := s.ctx(ctx).Model(&Capture{}).Where("source_id = ? AND url = ? AND kind = ? AND error = ''", sourceID, url, kind).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check capture of %s by source %d: %w", url, sourceID, err)
	}
	return n > 0, nil
}
