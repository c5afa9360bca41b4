package web

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// An attacker's wrong passwords from network A delay A only: the user logs
// in from B meanwhile. The delays grow, survive a restart (new Server, same
// database), and an admin's unlock clears them.
func TestThrottlePerAccountAndNetwork(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LoginAttemptsPerMinute = 1000 }) // 3 free, 10 min cap
	f.addUser("lee", storage.RoleAnalyst, false)
	attacker, user := f.client("198.51.100.66"), f.client("203.0.113.5")
	for range 3 {
		wantErrorJSON(t, attacker.apiLogin("lee", "guess guess guess", ""), http.StatusUnauthorized, genericLoginError)
	}
	// The fourth try, even with the right password, must wait 1 s.
	rec := attacker.apiLogin("lee", testPassword, "")
	wantErrorJSON(t, rec, http.StatusTooManyRequests, "try again later")
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	// The real user, elsewhere, is not affected.
	wantStatus(t, user.apiLogin("lee", testPassword, ""), http.StatusOK)

	// Each further failure doubles the wait: 2 s, 4 s, 8 s.
	for _, want := range []int{2, 4, 8} {
		f.clock.advance(time.Duration(want/2) * time.Second)
		wantStatus(t, attacker.apiLogin("lee", "guess guess guess", ""), http.StatusUnauthorized)
		rec := attacker.apiLogin("lee", testPassword, "")
		wantStatus(t, rec, http.StatusTooManyRequests)
		if ra, _ := strconv.Atoi(rec.Header().Get("Retry-After")); ra != want {
			t.Fatalf("Retry-After %d, want %d", ra, want)
		}
	}
	// A name that does not exist is throttled the same way: no enumeration.
	ghost := f.client("198.51.100.67")
	for range 3 {
		wantStatus(t, ghost.apiLogin("nobody-here", "guess guess guess", ""), http.StatusUnauthorized)
	}
	wantStatus(t, ghost.apiLogin("nobody-here", "guess guess guess", ""), http.StatusTooManyRequests)

	// A restart keeps the delay.
	f.restart()
	wantStatus(t, attacker.apiLogin("lee", testPassword, ""), http.StatusTooManyRequests)
	if ev := f.findAudit("login.throttled"); ev.Actor != "lee" || !strings.Contains(ev.Detail, "ip=198.51.100.66") {
		t.Fatalf("throttled audit %+v", ev)
	}

	// An admin unlocks from the users screen: the delay is gone.
	f.addUser("root", storage.RoleAdmin, false)
	admin := f.client("192.0.2.200")
	admin.mustLogin("root")
	lee, err := f.store.UserByUsername(context.Background(), "lee")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, admin.postJSON(fmt.Sprintf("/api/users/%d/unlock", lee.ID), map[string]any{}), http.StatusOK)
	wantStatus(t, attacker.apiLogin("lee", testPassword, ""), http.StatusOK)
	if ev := f.findAudit("user.unlocked"); ev.Actor != "root" {
		t.Fatalf("unlock audit %+v", ev)
	}
}

// Failures spread over many networks delay the account for browsers that
// never logged in to it, but not for the user's own browser (device cookie).
func TestDistributedGuessSparesKnownDevice(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AccountLoginFailures = 4; o.LoginAttemptsPerMinute = 1000 })
	f.addUser("lee", storage.RoleAnalyst, false)
	own := f.client("203.0.113.5")
	own.mustLogin("lee")
	if own.cookies["leakwatch_device"] == nil {
		t.Fatal("no device cookie after login")
	}
	wantStatus(t, own.postJSON("/api/logout", nil), http.StatusOK)
	for i := range 4 {
		c := f.client(fmt.Sprintf("198.51.100.%d", 10+i))
		wantStatus(t, c.apiLogin("lee", "guess guess guess", ""), http.StatusUnauthorized)
	}
	// A new browser on a fresh network must wait ...
	wantStatus(t, f.client("192.0.2.77").apiLogin("lee", testPassword, ""), http.StatusTooManyRequests)
	// ... but the user's own browser, from yet another network, gets in.
	own.ip = "192.0.2.78"
	wantStatus(t, own.apiLogin("lee", testPassword, ""), http.StatusOK)
	// A device cookie of another account does not help.
	f.addUser("bob", storage.RoleAnalyst, false)
	other := f.client("192.0.2.90")
	other.mustLogin("bob")
	for i := range 4 {
		wantStatus(t, f.client(fmt.Sprintf("198.51.100.%d", 30+i)).apiLogin("lee", "guess guess guess", ""), http.StatusUnauthorized)
	}
	wantStatus(t, other.apiLogin("lee", testPassword, ""), http.StatusTooManyRequests)
}

var (
	secretRe = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)
	codeRe   = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// A lawyer without MFA can reach only the enrolment pages; enrolment with a
// real code rotates the session and shows recovery codes once; then login
// needs a code, each recovery code works once, and replays fail even after
// a restart.
func TestMFAEnrolmentRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	f.addUserNoMFA("lena", storage.RoleLegal)
	c := f.client("192.0.2.50")
	rec := uiLogin(t, c, "lena", testPassword, "")
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/account/mfa" {
		t.Fatalf("login redirects to %q, want the enrolment page", loc)
	}
	// Gated: UI redirects, API answers 403 naming the enrolment endpoint.
	for _, p := range []string{"/cases", "/", "/sources", "/hits"} {
		rec := c.getJSON(p)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account/mfa" {
			t.Fatalf("GET %s before enrolment: %d %q", p, rec.Code, rec.Header().Get("Location"))
		}
	}
	wantErrorJSON(t, c.getJSON("/api/cases"), http.StatusForbidden, "/api/account/mfa")
	wantStatus(t, c.getJSON("/account"), http.StatusOK)
	// A gated admin cannot read the metrics either (lena is legal: check an
	// admin too), nor the users screen.
	f.addUserNoMFA("boss", storage.RoleAdmin)
	boss := f.client("192.0.2.49")
	wantStatus(t, boss.apiLogin("boss", testPassword, ""), http.StatusOK)
	wantStatus(t, boss.getJSON("/metrics"), http.StatusForbidden)
	wantErrorJSON(t, boss.getJSON("/api/users"), http.StatusForbidden, "MFA")
	if rec := boss.getJSON("/admin/users"); rec.Header().Get("Location") != "/account/mfa" {
		t.Fatalf("gated admin on /admin/users: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	rec = c.getJSON("/account/mfa")
	wantStatus(t, rec, http.StatusOK)
	m := secretRe.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no secret on the enrolment page:\n%s", rec.Body)
	}
	secret := m[1]
	csrf := extractCSRF(t, rec.Body.String())
	// No menu while enrolling: its links would only lead back here.
	if strings.Contains(rec.Body.String(), `href="/cases"`) {
		t.Error("the enrolment page shows the menu")
	}
	// The same pending secret on a reload.
	if again := secretRe.FindStringSubmatch(c.getJSON("/account/mfa").Body.String()); again == nil || again[1] != secret {
		t.Fatal("the pending secret changed on reload")
	}
	qr := c.getJSON("/account/mfa/qr.png")
	wantStatus(t, qr, http.StatusOK)
	if ct := qr.Header().Get("Content-Type"); ct != "image/png" {
		t.Fatalf("QR content type %q", ct)
	}
	if img, err := png.Decode(bytes.NewReader(qr.Body.Bytes())); err != nil || img.Bounds().Dx() != 240 {
		t.Fatalf("QR image: %v", err)
	}

	// A wrong code is refused; a secret posted in the form is ignored.
	bad := "000000"
	if bad == totpCode(t, secret, f.clock.now()) {
		bad = "111111"
	}
	rec = c.postForm("/account/mfa", url.Values{"csrf_token": {csrf}, "code": {bad}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	oldCookie := c.cookies["leakwatch_session"].Value
	rec = c.postForm("/account/mfa", url.Values{"csrf_token": {csrf}, "code": {totpCode(t, secret, f.clock.now())},
		"secret": {"JBSWY3DPEHPK3PXP"}})
	wantStatus(t, rec, http.StatusOK)
	codes := codeRe.FindAllStringSubmatch(rec.Body.String(), -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), rec.Body)
	}
	u, err := f.store.UserByUsername(context.Background(), "lena")
	if err != nil || u.TOTPSecret != secret {
		t.Fatalf("stored secret %q, want the pending one %q (%v)", u.TOTPSecret, secret, err)
	}
	// Session rotated: the old token is dead, the new one works everywhere.
	if c.cookies["leakwatch_session"].Value == oldCookie {
		t.Fatal("session token not rotated at enrolment")
	}
	if _, err := f.store.SessionByTokenHash(context.Background(), hashOf(oldCookie), f.clock.now()); err == nil {
		t.Fatal("the pre-enrolment session still exists")
	}
	if page := c.getJSON("/cases"); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `href="/cases"`) {
		t.Errorf("after enrolment /cases: status %d, menu shown %v", page.Code, strings.Contains(page.Body.String(), `href="/cases"`))
	}
	wantStatus(t, c.getJSON("/api/cases"), http.StatusOK)
	if ev := f.findAudit("mfa.enrolled"); ev.Actor != "lena" {
		t.Fatalf("enrol audit %+v", ev)
	}

	// The code that confirmed enrolment cannot log in.
	c2 := f.client("192.0.2.51")
	wantStatus(t, c2.apiLogin("lena", testPassword, totpCode(t, secret, f.clock.now())), http.StatusUnauthorized)
	wantStatus(t, c2.apiLogin("lena", testPassword, ""), http.StatusUnauthorized)
	f.clock.advance(30 * time.Second)
	code := totpCode(t, secret, f.clock.now())
	wantStatus(t, c2.apiLogin("lena", testPassword, code), http.StatusOK)
	// A restart (or a second web process) does not forget the used step.
	f.restart()
	wantStatus(t, f.client("192.0.2.52").apiLogin("lena", testPassword, code), http.StatusUnauthorized)
	if ev := f.findAudit("login.failure"); !strings.Contains(ev.Detail, "reason=totp-replay") {
		t.Fatalf("replay audit %+v", ev)
	}

	// A recovery code works once, in upper case with spaces too.
	rc := strings.ToUpper(strings.ReplaceAll(codes[3][1], "-", " "))
	wantStatus(t, f.client("192.0.2.53").apiLogin("lena", testPassword, rc), http.StatusOK)
	if ev := f.findAudit("login.success"); !strings.Contains(ev.Detail, "recovery-codes-left=9") {
		t.Fatalf("recovery login audit %+v", ev)
	}
	wantStatus(t, f.client("192.0.2.54").apiLogin("lena", testPassword, codes[3][1]), http.StatusUnauthorized)
	if ev := f.findAudit("login.failure"); !strings.Contains(ev.Detail, "reason=bad-recovery-code") {
		t.Fatalf("reused recovery code audit %+v", ev)
	}

	// New recovery codes need a current code; the old ones stop working.
	f.clock.advance(30 * time.Second)
	rec = c.getJSON("/account")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Recovery codes left: <strong>9</strong>") {
		t.Fatalf("account page lacks the recovery code count:\n%s", rec.Body)
	}
	rec = c.postForm("/account/mfa/recovery-codes", url.Values{"csrf_token": {extractCSRF(t, rec.Body.String())},
		"code": {totpCode(t, secret, f.clock.now())}})
	wantStatus(t, rec, http.StatusOK)
	if n := len(codeRe.FindAllStringSubmatch(rec.Body.String(), -1)); n != 10 {
		t.Fatalf("%d new recovery codes", n)
	}
	wantStatus(t, f.client("192.0.2.55").apiLogin("lena", testPassword, codes[5][1]), http.StatusUnauthorized)
	f.findAudit("mfa.recovery_codes_regenerated")
}

// The JSON enrolment: an analyst (MFA optional) enrols with a code computed
// from the secret the API hands out.
func TestMFAEnrolmentAPI(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("ana", storage.RoleAnalyst, false)
	c := f.client("192.0.2.60")
	c.mustLogin("ana")
	var setup mfaSetupJSON
	rec := c.getJSON("/api/account/mfa")
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &setup)
	if setup.Enrolled || setup.Required || setup.Secret == "" || !strings.HasPrefix(setup.OTPAuthURL, "otpauth://totp/") ||
		!strings.Contains(setup.OTPAuthURL, setup.Secret) {
		t.Fatalf("setup %+v", setup)
	}
	wantStatus(t, c.getJSON(setup.QRCodeURL), http.StatusOK)
	wantErrorJSON(t, c.postJSON("/api/account/mfa", codeRequest{Code: "12"}), http.StatusUnprocessableEntity, "not right")
	rec = c.postJSON("/api/account/mfa", codeRequest{Code: totpCode(t, setup.Secret, f.clock.now())})
	wantStatus(t, rec, http.StatusOK)
	var done mfaEnrolledJSON
	decode(t, rec, &done)
	if len(done.RecoveryCodes) != 10 || done.CSRFToken == "" || done.CSRFToken == c.csrf {
		t.Fatalf("enrol answer %+v", done)
	}
	c.csrf = done.CSRFToken
	var acct accountData
	rec = c.getJSON("/api/account")
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &acct)
	if !acct.MFAEnrolled || acct.RecoveryCodesLeft != 10 {
		t.Fatalf("account %+v", acct)
	}
	wantErrorJSON(t, c.postJSON("/api/account/mfa", codeRequest{Code: "123456"}), http.StatusUnprocessableEntity, "already on")
}

// Sessions end after the idle timeout (sliding) and after the absolute TTL
// however active.
func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SessionIdleTimeout = 30 * time.Minute }) // TTL 1 h
	f.addUser("ana", storage.RoleAnalyst, false)
	c := f.client("192.0.2.70")
	c.mustLogin("ana")
	for range 2 {
		f.clock.advance(25 * time.Minute)
		wantStatus(t, c.getJSON("/api/me"), http.StatusOK) // slides the idle window
	}
	f.clock.advance(31 * time.Minute)
	wantStatus(t, c.getJSON("/api/me"), http.StatusUnauthorized)

	c.mustLogin("ana")
	for _, d := range []time.Duration{20, 20, 19} {
		f.clock.advance(d * time.Minute)
		wantStatus(t, c.getJSON("/api/me"), http.StatusOK)
	}
	f.clock.advance(2 * time.Minute) // 61 min after login, never idle
	wantStatus(t, c.getJSON("/api/me"), http.StatusUnauthorized)
}

// Log out everywhere ends every session of the user, not others'.
func TestLogoutEverywhere(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("ana", storage.RoleAnalyst, false)
	f.addUser("bob", storage.RoleAnalyst, false)
	a1, a2, b := f.client("192.0.2.80"), f.client("192.0.2.81"), f.client("192.0.2.82")
	a1.mustLogin("ana")
	a2.mustLogin("ana")
	b.mustLogin("bob")
	rec := a1.getJSON("/account")
	wantStatus(t, rec, http.StatusOK)
	rec = a1.postForm("/account/logout-all", url.Values{"csrf_token": {extractCSRF(t, rec.Body.String())}})
	wantStatus(t, rec, http.StatusSeeOther)
	wantStatus(t, a1.getJSON("/api/me"), http.StatusUnauthorized)
	wantStatus(t, a2.getJSON("/api/me"), http.StatusUnauthorized)
	wantStatus(t, b.getJSON("/api/me"), http.StatusOK)
	if ev := f.findAudit("sessions.ended"); ev.Actor != "ana" || !strings.Contains(ev.Detail, "sessions=2") {
		t.Fatalf("audit %+v", ev)
	}
	// The API does the same.
	a1.mustLogin("ana")
	var out map[string]int64
	rec = a1.postJSON("/api/account/logout-all", nil)
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &out)
	if out["sessions_ended"] != 1 {
		t.Fatalf("answer %v", out)
	}
}
