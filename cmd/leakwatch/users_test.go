package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// users unlock lifts a lockout and clears the failure count, audited; the
// list shows the lock until then.
func TestUsersUnlock(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := createUser(ctx, store, "lee", storage.RoleLegal, "correct horse battery staple 42")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := store.RecordLoginFailure(ctx, u.ID, 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, append([]string{"--data-dir", dir}, args...), strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	list := cli("users", "list")
	if i := strings.Index(list, "lee"); i < 0 || !strings.Contains(list[i:], time.Now().UTC().Format("2006-")) {
		t.Errorf("users list does not show the lock:\n%s", list)
	}
	if out := cli("users", "unlock", "lee"); !strings.Contains(out, "unlocked lee") || !strings.Contains(out, "lifted") {
		t.Errorf("users unlock: %q", out)
	}
	if list := cli("users", "list"); strings.Contains(list, time.Now().UTC().Format("2006-")) {
		t.Errorf("users list still shows a lock:\n%s", list)
	}
	store, err = storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	after, err := store.UserByUsername(ctx, "lee")
	if err != nil || after.LockedUntil != nil || after.FailedLogins != 0 {
		t.Errorf("after unlock: %+v, %v", after, err)
	}
	evs, err := store.AuditEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev storage.AuditEvent) bool { return ev.Action == "user.unlocked" }) {
		t.Error("the unlock is not in the audit log")
	}
}
