package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// users unlock clears the failed-login delays, audited; users mfa-reset
// removes two-step login and ends sessions, audited; the list shows both
// states until then.
func TestUsersUnlockAndMFAReset(t *testing.T) {
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
	acct := storage.ThrottleAccount("lee")
	for _, src := range []string{"198.51.100.7", storage.ThrottleAnywhere} {
		for range 3 {
			if _, err := store.RecordLoginFailure(ctx, acct, src, time.Now(), func(int64) time.Duration { return time.Hour }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := store.EnrolTOTP(ctx, u.ID, "JBSWY3DPEHPK3PXP", 1, []string{"h1"}); err != nil {
		t.Fatal(err)
	}
	sess := storage.Session{TokenHash: "t1", UserID: u.ID, CSRFToken: "c", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := store.CreateSession(ctx, &sess); err != nil {
		t.Fatal(err)
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
	line := func(list string) string {
		for l := range strings.SplitSeq(list, "\n") {
			if strings.Contains(l, "lee") {
				return l
			}
		}
		t.Fatalf("lee not listed:\n%s", list)
		return ""
	}
	year := time.Now().UTC().Format("2006-")
	if l := line(cli("users", "list")); !strings.Contains(l, year) || !strings.Contains(l, " on ") || !strings.Contains(l, " 3 ") {
		t.Errorf("users list does not show the delay, 3 failures and MFA on: %q", l)
	}
	if out := cli("users", "unlock", "lee"); !strings.Contains(out, "unlocked lee") || !strings.Contains(out, "2 networks") {
		t.Errorf("users unlock: %q", out)
	}
	if l := line(cli("users", "list")); strings.Contains(l, year) || !strings.Contains(l, " 0 ") {
		t.Errorf("users list still shows a delay: %q", l)
	}
	if out := cli("users", "mfa-reset", "lee"); !strings.Contains(out, "reset") {
		t.Errorf("users mfa-reset: %q", out)
	}
	if l := line(cli("users", "list")); !strings.Contains(l, "off (required)") {
		t.Errorf("users list after mfa-reset: %q", l)
	}
	var errOut bytes.Buffer
	if err := run(ctx, []string{"--data-dir", dir, "users", "mfa-reset", "nobody"}, strings.NewReader(""), &bytes.Buffer{}, &errOut); err == nil {
		t.Error("mfa-reset of an unknown user succeeded")
	}

	store, err = storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if rows, err := store.AccountThrottles(ctx, acct); err != nil || len(rows) != 0 {
		t.Errorf("after unlock throttles = %+v, %v", rows, err)
	}
	after, err := store.UserByUsername(ctx, "lee")
	if err != nil || after.MFAEnrolled() {
		t.Errorf("after mfa-reset: %+v, %v", after, err)
	}
	if n, _ := store.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("%d recovery codes left after mfa-reset", n)
	}
	if _, err := store.SessionByTokenHash(ctx, "t1", time.Now()); err == nil {
		t.Error("a session survived mfa-reset")
	}
	evs, err := store.AuditEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"user.unlocked", "user.mfa_reset"} {
		if !slices.ContainsFunc(evs, func(ev storage.AuditEvent) bool { return ev.Action == action }) {
			t.Errorf("%s is not in the audit log", action)
		}
	}
}
