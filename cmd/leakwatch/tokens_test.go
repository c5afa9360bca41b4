package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// tokens create prints the token once and stores only its hash; list shows
// it; revoke ends it; all three are audited.
func TestTokensCLI(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createUser(ctx, store, "siem-bot", storage.RoleAnalyst, "correct horse battery staple 42"); err != nil {
		t.Fatal(err)
	}
	store.Close()
	cli := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"--data-dir", dir}, args...), strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	out, err := cli("tokens", "create", "--user", "siem-bot", "--name", "SIEM export", "--expires", "90d")
	if err != nil {
		t.Fatalf("tokens create: %v", err)
	}
	tok := regexp.MustCompile(`lw_[A-Za-z0-9_-]{43}`).FindString(out)
	if tok == "" {
		t.Fatalf("tokens create printed no token:\n%s", out)
	}
	if _, err := cli("tokens", "create", "--user", "nobody", "--name", "x"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("token for an unknown user: %v", err)
	}
	if _, err := cli("tokens", "create", "--user", "siem-bot", "--name", "x", "--expires", "soon"); err == nil {
		t.Error("token with expiry \"soon\" accepted")
	}
	list, err := cli("tokens", "list")
	if err != nil || !strings.Contains(list, "SIEM export") || !strings.Contains(list, "siem-bot") || strings.Contains(list, tok) {
		t.Fatalf("tokens list (%v):\n%s", err, list)
	}

	store, err = storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.ActiveAPIToken(ctx, auth.HashToken(tok), store.DB().NowFunc())
	if err != nil || got.ExpiresAt == nil {
		t.Fatalf("stored token %+v, %v", got, err)
	}
	var raw int64
	if err := store.DB().Model(&storage.APIToken{}).Where("token_hash = ?", tok).Count(&raw).Error; err != nil || raw != 0 {
		t.Fatalf("raw token stored (%d, %v)", raw, err)
	}

	if out, err := cli("tokens", "revoke", "1"); err != nil || !strings.Contains(out, "revoked token 1") {
		t.Fatalf("tokens revoke: %q %v", out, err)
	}
	if _, err := cli("tokens", "revoke", "1"); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("second revoke: %v", err)
	}
	if _, err := store.ActiveAPIToken(context.Background(), auth.HashToken(tok), store.DB().NowFunc()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("revoked token still active: %v", err)
	}
	evs, err := store.AuditEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"api_token.create", "api_token.revoke"} {
		if !slices.ContainsFunc(evs, func(ev storage.AuditEvent) bool { return ev.Action == action }) {
			t.Errorf("%s is not in the audit log", action)
		}
	}
}
