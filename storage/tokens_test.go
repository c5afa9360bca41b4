package storage_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// The api_tokens table joins the models whose columns are checked against
// the migrated schema (kept here, not in the shared list, so branches that
// add tables do not collide).
func init() { allModels = append(allModels, &storage.APIToken{}) }

func TestAPITokens(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		u := storage.User{Username: "bot-owner", PasswordHash: "x", Role: storage.RoleAnalyst}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		soon := now.Add(time.Hour)
		forever := storage.APIToken{Name: "siem", UserID: u.ID, TokenHash: strings.Repeat("a", 64), CreatedBy: "root", CreatedAt: now}
		expiring := storage.APIToken{Name: "ci", UserID: u.ID, TokenHash: strings.Repeat("b", 64), CreatedBy: "root",
			CreatedAt: now, ExpiresAt: &soon}
		for _, tk := range []*storage.APIToken{&forever, &expiring} {
			if err := s.CreateAPIToken(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		dup := storage.APIToken{Name: "dup", UserID: u.ID, TokenHash: forever.TokenHash, CreatedBy: "root", CreatedAt: now}
		if err := s.CreateAPIToken(ctx, &dup); err == nil {
			t.Fatal("two tokens with one hash")
		}

		got, err := s.ActiveAPIToken(ctx, forever.TokenHash, now)
		if err != nil || got.ID != forever.ID || got.UserID != u.ID {
			t.Fatalf("ActiveAPIToken = %+v, %v", got, err)
		}
		if _, err := s.ActiveAPIToken(ctx, expiring.TokenHash, now.Add(2*time.Hour)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("expired token: %v, want ErrNotFound", err)
		}
		if _, err := s.ActiveAPIToken(ctx, expiring.TokenHash, now.Add(30*time.Minute)); err != nil {
			t.Fatalf("token before expiry: %v", err)
		}
		if _, err := s.ActiveAPIToken(ctx, strings.Repeat("c", 64), now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}

		if err := s.TouchAPIToken(ctx, forever.ID, now); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListAPITokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != expiring.ID || list[1].Username != "bot-owner" || list[1].LastUsedAt == nil ||
			list[0].LastUsedAt != nil {
			t.Fatalf("ListAPITokens = %+v", list)
		}

		if err := s.RevokeAPIToken(ctx, forever.ID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIToken(ctx, forever.ID, now); !errors.Is(err, storage.ErrRevoked) {
			t.Fatalf("second revoke: %v, want ErrRevoked", err)
		}
		if err := s.RevokeAPIToken(ctx, 999999, now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("revoke unknown: %v, want ErrNotFound", err)
		}
		if _, err := s.ActiveAPIToken(ctx, forever.TokenHash, now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("revoked token: %v, want ErrNotFound", err)
		}
		info, err := s.APITokenByID(ctx, forever.ID)
		if err != nil || info.RevokedAt == nil || info.Username != "bot-owner" {
			t.Fatalf("APITokenByID = %+v, %v", info, err)
		}
	})
}
