package tgmonitor

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotd/td/session"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/sealbox"
	"github.com/leakwatch/leakwatch/storage"
)

// sessionLabel derives the key that seals sessions from the fingerprint key:
// like it, the seal key never enters the database, so a copied database
// cannot sign in as the account.
const sessionLabel = "telegram-session"

// Sealer seals and opens account sessions (sealbox, the account name as
// associated data so a sealed session cannot be moved to another
// account's row).
type Sealer struct {
	box *sealbox.Box
}

// NewSealer derives the session key from the fingerprint key.
func NewSealer(k *fingerprints.Key) *Sealer { return &Sealer{box: sealbox.New(k.Derive(sessionLabel))} }

// Seal encrypts a session for account.
func (s *Sealer) Seal(account string, plain []byte) ([]byte, error) {
	return s.box.Seal(plain, []byte(account))
}

// ErrSessionKey means a stored session does not open with this key: the
// fingerprint key changed, or the row was tampered with.
var ErrSessionKey = errors.New("telegram session does not open with this fingerprint key (log in again)")

// Open decrypts a session sealed for account.
func (s *Sealer) Open(account string, sealed []byte) ([]byte, error) {
	plain, err := s.box.Open(sealed, []byte(account))
	if errors.Is(err, sealbox.ErrOpen) {
		return nil, ErrSessionKey
	}
	return plain, err
}

// dbSession is gotd's session storage for one account, sealed in its
// database row.
type dbSession struct {
	store   *storage.Store
	sealer  *Sealer
	account string
}

// LoadSession implements telegram.SessionStorage.
func (d *dbSession) LoadSession(ctx context.Context) ([]byte, error) {
	a, err := d.store.TelegramAccount(ctx, d.account)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && len(a.Session) == 0) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	plain, err := d.sealer.Open(d.account, a.Session)
	if err != nil {
		return nil, fmt.Errorf("telegram account %s: %w", d.account, err)
	}
	return plain, nil
}

// StoreSession implements telegram.SessionStorage.
func (d *dbSession) StoreSession(ctx context.Context, data []byte) error {
	sealed, err := d.sealer.Seal(d.account, data)
	if err != nil {
		return fmt.Errorf("seal telegram session: %w", err)
	}
	return d.store.SaveTelegramSession(ctx, d.account, sealed)
}
