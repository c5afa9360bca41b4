package storage

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TelegramUserState is where the updates manager of one Telegram user
// stands in the common update sequences (gotd's updates.State): a
// restarted live monitor asks for the difference since there.
type TelegramUserState struct {
	UserID int64 `gorm:"primaryKey;autoIncrement:false"`
	Pts    int   `gorm:"not null"`
	Qts    int   `gorm:"not null"`
	Date   int   `gorm:"not null"`
	Seq    int   `gorm:"not null"`
}

// TableName implements gorm's tabler.
func (TelegramUserState) TableName() string { return "tg_update_states" }

// TelegramChannelState is where the updates manager of one Telegram user
// stands in one channel's update sequence, and the channel's access hash
// for that user. Either may be known without the other: 0 means unknown
// (channel pts start at 1, and an access hash of 0 is never issued).
type TelegramChannelState struct {
	UserID     int64 `gorm:"primaryKey;autoIncrement:false"`
	ChannelID  int64 `gorm:"primaryKey;autoIncrement:false"`
	Pts        int   `gorm:"not null"`
	AccessHash int64 `gorm:"not null"`
}

// TableName implements gorm's tabler.
func (TelegramChannelState) TableName() string { return "tg_channel_states" }

// TelegramUpdateState keeps the Telegram updates manager's state. Its
// methods mirror gotd's updates.StateStorage and updates.ChannelAccessHasher
// with plain types (the storage package does not import gotd); the telegram
// monitor adapts them.
type TelegramUpdateState struct {
	s *Store
}

// TelegramUpdates returns the store of the updates manager's state.
func (s *Store) TelegramUpdates() *TelegramUpdateState { return &TelegramUpdateState{s: s} }

// GetState returns a user's common state; found is false when none was
// stored yet.
func (u *TelegramUpdateState) GetState(ctx context.Context, userID int64) (st TelegramUserState, found bool, err error) {
	err = u.s.ctx(ctx).Where("user_id = ?", userID).Take(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return TelegramUserState{UserID: userID}, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("telegram update state of user %d: %w", userID, err)
	}
	return st, true, nil
}

// SetState writes a user's whole common state. The user's channel states
// are kept: they are sequences of their own.
func (u *TelegramUpdateState) SetState(ctx context.Context, st TelegramUserState) error {
	err := u.s.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"pts", "qts", "date", "seq"}),
	}).Create(&st).Error
	if err != nil {
		return fmt.Errorf("save telegram update state of user %d: %w", st.UserID, err)
	}
	return nil
}

// SetPts sets a user's common pts; the state must exist (gotd's contract:
// a partial state is never created).
func (u *TelegramUpdateState) SetPts(ctx context.Context, userID int64, pts int) error {
	return u.setUser(ctx, userID, map[string]any{"pts": pts})
}

// SetQts sets a user's qts; the state must exist.
func (u *TelegramUpdateState) SetQts(ctx context.Context, userID int64, qts int) error {
	return u.setUser(ctx, userID, map[string]any{"qts": qts})
}

// SetDate sets a user's state date; the state must exist.
func (u *TelegramUpdateState) SetDate(ctx context.Context, userID int64, date int) error {
	return u.setUser(ctx, userID, map[string]any{"date": date})
}

// SetSeq sets a user's seq; the state must exist.
func (u *TelegramUpdateState) SetSeq(ctx context.Context, userID int64, seq int) error {
	return u.setUser(ctx, userID, map[string]any{"seq": seq})
}

// SetDateSeq sets a user's state date and seq together; the state must
// exist.
func (u *TelegramUpdateState) SetDateSeq(ctx context.Context, userID int64, date, seq int) error {
	return u.setUser(ctx, userID, map[string]any{"date": date, "seq": seq})
}

func (u *TelegramUpdateState) setUser(ctx context.Context, userID int64, cols map[string]any) error {
	res := u.s.ctx(ctx).Model(&TelegramUserState{}).Where("user_id = ?", userID).Updates(cols)
	if res.Error != nil {
		return fmt.Errorf("update telegram update state of user %d: %w", userID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("telegram update state of user %d: %w", userID, ErrNotFound)
	}
	return nil
}

// GetChannelPts returns where a user stands in a channel's sequence;
// found is false when that is not known (no row, or only the access hash).
func (u *TelegramUpdateState) GetChannelPts(ctx context.Context, userID, channelID int64) (pts int, found bool, err error) {
	cs, found, err := u.channel(ctx, userID, channelID)
	if err != nil || !found || cs.Pts == 0 {
		return 0, false, err
	}
	return cs.Pts, true, nil
}

// SetChannelPts sets where a user stands in a channel's sequence, keeping
// the channel's access hash.
func (u *TelegramUpdateState) SetChannelPts(ctx context.Context, userID, channelID int64, pts int) error {
	return u.upsertChannel(ctx, TelegramChannelState{UserID: userID, ChannelID: channelID, Pts: pts}, "pts")
}

// ForEachChannels calls f for every channel whose pts the user has, by
// channel id. The rows are read first, so f may use the store.
func (u *TelegramUpdateState) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	var css []TelegramChannelState
	err := u.s.ctx(ctx).Where("user_id = ? AND pts > 0", userID).Order("channel_id").Find(&css).Error
	if err != nil {
		return fmt.Errorf("telegram channel states of user %d: %w", userID, err)
	}
	for _, cs := range css {
		if err := f(ctx, cs.ChannelID, cs.Pts); err != nil {
			return err
		}
	}
	return nil
}

// SetChannelAccessHash records a channel's access hash for a user,
// keeping the user's pts in it.
func (u *TelegramUpdateState) SetChannelAccessHash(ctx context.Context, userID, channelID, accessHash int64) error {
	return u.upsertChannel(ctx, TelegramChannelState{UserID: userID, ChannelID: channelID, AccessHash: accessHash}, "access_hash")
}

// GetChannelAccessHash returns a channel's access hash for a user; found
// is false when it is not known (no row, or only the pts).
func (u *TelegramUpdateState) GetChannelAccessHash(ctx context.Context, userID, channelID int64) (accessHash int64, found bool, err error) {
	cs, found, err := u.channel(ctx, userID, channelID)
	if err != nil || !found || cs.AccessHash == 0 {
		return 0, false, err
	}
	return cs.AccessHash, true, nil
}

func (u *TelegramUpdateState) channel(ctx context.Context, userID, channelID int64) (cs TelegramChannelState, found bool, err error) {
	err = u.s.ctx(ctx).Where("user_id = ? AND channel_id = ?", userID, channelID).Take(&cs).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return cs, false, nil
	}
	if err != nil {
		return cs, false, fmt.Errorf("telegram channel %d state of user %d: %w", channelID, userID, err)
	}
	return cs, true, nil
}

// upsertChannel inserts cs, or updates only column of an existing row: the
// pts and the access hash are written by different callers.
func (u *TelegramUpdateState) upsertChannel(ctx context.Context, cs TelegramChannelState, column string) error {
	err := u.s.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "channel_id"}},
		DoUpdates: clause.AssignmentColumns([]string{column}),
	}).Create(&cs).Error
	if err != nil {
		return fmt.Errorf("save telegram channel %d state of user %d: %w", cs.ChannelID, cs.UserID, err)
	}
	return nil
}
