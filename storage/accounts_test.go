package storage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// Failures count per (account, source); the delay function sets the next
// allowed attempt; clearing one source leaves the others; a day of quiet
// starts the count again; state is in the database (a new Store sees it).
func TestLoginThrottles(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		s := d.open(t)
		ctx := t.Context()
		acct := storage.ThrottleAccount("lena")
		if acct == storage.ThrottleAccount("Lena") || len(acct) != 64 {
			t.Fatalf("ThrottleAccount = %q", acct)
		}
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		double := func(n int64) time.Duration { return time.Duration(n) * 2 * time.Second }
		for i := int64(1); i <= 3; i++ {
			got, err := s.RecordLoginFailure(ctx, acct, "198.51.100.0", now, double)
			if err != nil || got.Failures != i || !got.NextAt.Equal(now.Add(time.Duration(i)*2*time.Second)) {
				t.Fatalf("failure %d = %+v, %v", i, got, err)
			}
		}
		if _, err := s.RecordLoginFailure(ctx, acct, storage.ThrottleAnywhere, now, double); err != nil {
			t.Fatal(err)
		}
		// Another Store on the same database sees the state.
		s2 := d.open(t)
		rows, err := s2.LoginThrottles(ctx, acct, "198.51.100.0", storage.ThrottleAnywhere, "203.0.113.0")
		if err != nil || len(rows) != 2 {
			t.Fatalf("LoginThrottles = %+v, %v", rows, err)
		}
		for _, r := range rows {
			if r.Source == "198.51.100.0" && (r.Failures != 3 || !r.NextAt.Equal(now.Add(6*time.Second))) {
				t.Fatalf("stored row %+v", r)
			}
		}
		if n, err := s2.ClearLoginThrottles(ctx, acct, "198.51.100.0"); err != nil || n != 1 {
			t.Fatalf("ClearLoginThrottles(source) = %d, %v", n, err)
		}
		if rows, _ := s.AccountThrottles(ctx, acct); len(rows) != 1 || rows[0].Source != storage.ThrottleAnywhere {
			t.Fatalf("after clearing one source: %+v", rows)
		}
		// After a quiet day the count starts again.
		got, err := s.RecordLoginFailure(ctx, acct, storage.ThrottleAnywhere, now.Add(25*time.Hour), double)
		if err != nil || got.Failures != 1 {
			t.Fatalf("failure after a day = %+v, %v", got, err)
		}
		if n, err := s.ClearLoginThrottles(ctx, acct); err != nil || n != 1 {
			t.Fatalf("ClearLoginThrottles(all) = %d, %v", n, err)
		}
		if rows, _ := s.AccountThrottles(ctx, acct); len(rows) != 0 {
			t.Fatalf("after unlock: %+v", rows)
		}
	})
}

// The TOTP step guard accepts only newer steps; recovery codes work once;
// enrolment stores the confirming step; reset removes secret and codes.
func TestMFAStorage(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		s := d.open(t)
		ctx := t.Context()
		u := storage.User{Username: "lena", PasswordHash: "h", Role: storage.RoleLegal}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := s.EnrolTOTP(ctx, u.ID, "JBSWY3DPEHPK3PXP", 100, []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil || !got.MFAEnrolled() || got.TOTPLastStep != 100 || !got.MFARequired() {
			t.Fatalf("after enrol %+v, %v", got, err)
		}
		for _, tc := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}} {
			// A second Store stands for a restarted or second process.
			if ok, err := d.open(t).UseTOTPStep(ctx, u.ID, tc.step); err != nil || ok != tc.want {
				t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
			}
		}
		now := time.Now()
		if ok, err := s.UseRecoveryCode(ctx, u.ID, "h1", now); err != nil || !ok {
			t.Fatalf("first use of h1: %v, %v", ok, err)
		}
		if ok, err := s.UseRecoveryCode(ctx, u.ID, "h1", now); err != nil || ok {
			t.Fatalf("second use of h1: %v, %v", ok, err)
		}
		if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 1 {
			t.Fatalf("RecoveryCodesLeft = %d, %v", n, err)
		}
		if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"h3", "h4", "h5"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h2", now); ok {
			t.Fatal("a replaced recovery code still works")
		}
		if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 3 {
			t.Fatalf("after replace %d codes left", n)
		}
		if err := s.ResetMFA(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(ctx, u.ID); got.MFAEnrolled() {
			t.Fatal("MFA still enrolled after reset")
		}
		if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 0 {
			t.Fatalf("after reset %d codes left", n)
		}
	})
}

// Sessions: pending TOTP secrets, touches, idle sweeping, log out everywhere,
// role and disable changes, known devices.
func TestSessionsAndAccountChanges(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		u := storage.User{Username: "ana", PasswordHash: "h", Role: storage.RoleAnalyst}
		other := storage.User{Username: "bo", PasswordHash: "h", Role: storage.RoleAnalyst}
		for _, x := range []*storage.User{&u, &other} {
			if err := s.CreateUser(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
		mk := func(hash string, uid uint64) storage.Session {
			sess := storage.Session{TokenHash: hash, UserID: uid, CSRFToken: "c", CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
			if err := s.CreateSession(ctx, &sess); err != nil {
				t.Fatal(err)
			}
			return sess
		}
		a1, _, b1 := mk("a1", u.ID), mk("a2", u.ID), mk("b1", other.ID)
		if err := s.SetPendingTOTP(ctx, a1.ID, "SECRET"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, b1.ID, now.Add(20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := s.SessionByTokenHash(ctx, "a1", now)
		if err != nil || got.PendingTOTP != "SECRET" || !got.LastSeenAt.Equal(now) {
			t.Fatalf("session a1 = %+v, %v", got, err)
		}
		// Idle sweep: a1 and a2 last seen at now, b1 twenty minutes later.
		if err := s.DeleteIdleSessions(ctx, now.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByTokenHash(ctx, "a1", now); err == nil {
			t.Fatal("idle session a1 survived the sweep")
		}
		if _, err := s.SessionByTokenHash(ctx, "b1", now); err != nil {
			t.Fatalf("recent session b1 swept: %v", err)
		}
		mk("a3", u.ID)
		mk("a4", u.ID)
		if n, err := s.DeleteUserSessions(ctx, u.ID); err != nil || n != 2 {
			t.Fatalf("DeleteUserSessions = %d, %v", n, err)
		}
		if _, err := s.SessionByTokenHash(ctx, "b1", now); err != nil {
			t.Fatalf("another user's session ended: %v", err)
		}
		if err := s.SetRole(ctx, u.ID, storage.RoleLegal); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRole(ctx, u.ID, "root"); err == nil {
			t.Fatal("SetRole accepted an unknown role")
		}
		if err := s.SetDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordLogin(ctx, u.ID, now); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.Role != storage.RoleLegal || !got.Disabled ||
			got.LastLoginAt == nil || !got.LastLoginAt.Equal(now) {
			t.Fatalf("after changes %+v, %v", got, err)
		}
		if err := s.AddKnownDevice(ctx, "dev1", u.ID, now); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.IsKnownDevice(ctx, "dev1", u.ID); err != nil || !ok {
			t.Fatalf("IsKnownDevice = %v, %v", ok, err)
		}
		if ok, _ := s.IsKnownDevice(ctx, "dev1", other.ID); ok {
			t.Fatal("a device is known for a user it never logged in as")
		}
	})
}

// QueryAudit filters by actor, action prefix, object and time, newest first,
// and pages by id.
func TestQueryAudit(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		for _, e := range [][3]string{
			{"lena", "login.success", "user/lena"}, {"root", "user.created", "user/bo"},
			{"lena", "login.failure", "user/lena"}, {"bo", "login.success", "user/bo"},
			{"root", "user.role_changed", "user/bo"}, {"lena", "notice.approve", "case/1"},
		} {
			if err := s.Audit(ctx, e[0], e[1], e[2], ""); err != nil {
				t.Fatal(err)
			}
		}
		actions := func(f storage.AuditFilter) string {
			t.Helper()
			evs, err := s.QueryAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				out = append(out, e.Actor+":"+e.Action)
			}
			return strings.Join(out, " ")
		}
		for _, tc := range []struct {
			f    storage.AuditFilter
			want string
		}{
			{storage.AuditFilter{Actor: "lena"}, "lena:notice.approve lena:login.failure lena:login.success"},
			{storage.AuditFilter{ActionPrefix: "login."}, "bo:login.success lena:login.failure lena:login.success"},
			{storage.AuditFilter{ActionPrefix: "user.", Object: "user/bo"}, "root:user.role_changed root:user.created"},
			{storage.AuditFilter{ActionPrefix: "login%"}, ""},
			{storage.AuditFilter{Limit: 2}, "lena:notice.approve root:user.role_changed"},
			{storage.AuditFilter{From: time.Now().Add(time.Hour)}, ""},
			{storage.AuditFilter{To: time.Now().Add(-time.Hour)}, ""},
			{storage.AuditFilter{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Actor: "bo"}, "bo:login.success"},
		} {
			if got := actions(tc.f); got != tc.want {
				t.Errorf("%+v: got %q, want %q", tc.f, got, tc.want)
			}
		}
		first, err := s.QueryAudit(ctx, storage.AuditFilter{Limit: 4})
		if err != nil || len(first) != 4 {
			t.Fatal(first, err)
		}
		if got := actions(storage.AuditFilter{BeforeID: first[3].ID}); got != "root:user.created lena:login.success" {
			t.Errorf("second page %q", got)
		}
	})
}
