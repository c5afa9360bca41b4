package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// AddReference records a known document unless one with the same name and
// SHA-256 exists already, so re-running an import adds nothing twice.
func (s *Store) AddReference(ctx context.Context, r *Reference) (created bool, err error) {
	var existing Reference
	res := s.ctx(ctx).Where("sha256 = ? AND COALESCE(name, '') = ?", r.SHA256, r.Name).Limit(1).Find(&existing)
	if res.Error != nil {
		return false, fmt.Errorf("look up reference: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		*r = existing
		return false, nil
	}
	if r.OpaqueID == "" {
		r.OpaqueID, err = newOpaqueID()
		if err != nil {
			return false, err
		}
	}
	if err := s.ctx(ctx).Create(r).Error; err != nil {
		return false, fmt.Errorf("add reference: %w", err)
	}
	return true, bumpIndexGeneration(s.ctx(ctx))
}

func newOpaqueID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("opaque id: %w", err)
	}
	return "ref_" + hex.EncodeToString(b), nil
}

// ReferencesBySHA256 returns the references whose raw bytes hash to sum (hex).
func (s *Store) ReferencesBySHA256(ctx context.Context, sum string) ([]Reference, error) {
	var out []Reference
	if err := s.ctx(ctx).Where("sha256 = ?", sum).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("references by sha256: %w", err)
	}
	return out, nil
}

// ReferenceByID finds a reference.
func (s *Store) ReferenceByID(ctx context.Context, id uint64) (Reference, error) {
	var r Reference
	if err := s.ctx(ctx).First(&r, id).Error; err != nil {
		return Reference{}, notFound(err, fmt.Sprintf("reference %d", id))
	}
	return r, nil
}
