package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// genericLoginError is all a failed login ever says, whatever the reason, so
// the answer reveals neither which usernames exist nor whether an account is
// locked or the password was right.
const genericLoginError = "invalid username, password or code"

// maxUsernameLen bounds usernames accepted at login.
const maxUsernameLen = 128

// errLoginDenied is a refused login; the real reason is only logged/audited.
var errLoginDenied = errors.New("login denied")

// loginThrottled is a login refused by the per-IP limiter.
type loginThrottled struct{ retryAfter time.Duration }

func (e *loginThrottled) Error() string { return "too many login attempts" }

// retryAfterSeconds is the Retry-After value: whole seconds, at least 1.
func (e *loginThrottled) retryAfterSeconds() string {
	secs := int((e.retryAfter + time.Second - 1) / time.Second)
	return strconv.Itoa(max(secs, 1))
}

// loginResult is a successful login.
type loginResult struct {
	user   storage.User
	token  string // session cookie value
	csrf   string
	device string // a new known-device cookie value, if any
}

// login checks credentials and creates a session. It returns errLoginDenied
// for every refusal, *loginThrottled when the client IP is over its budget or
// the account is in a delay after failed attempts, and other errors only for
// internal failures.
func (s *Server) login(ctx context.Context, r *http.Request, username, password, code string) (loginResult, error) {
	ip := s.clientIP(r)
	if ok, retry := s.limiter.allow(throttleKey(ip), s.now()); !ok {
		s.log.WarnContext(ctx, "login throttled", "ip", ip.String(), "retry_after", retry)
		return loginResult{}, &loginThrottled{retryAfter: retry}
	}
	username = strings.TrimSpace(username)
	at := loginAttempt{ip: ip, account: storage.ThrottleAccount(username), source: throttleKey(ip)}
	if c, err := r.Cookie(s.deviceCookie); err == nil && c.Value != "" && len(c.Value) <= 128 {
		at.deviceHash = auth.HashToken(c.Value)
	}
	u, err := s.checkCredentials(ctx, &at, username, password, code)
	if err != nil {
		return loginResult{}, err
	}

	// A fresh token on every login, and the session the browser came with (if
	// any) ends: a planted cookie cannot become an authenticated one.
	if c, err := r.Cookie(s.sessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(ctx, auth.HashToken(c.Value)); err != nil {
			s.log.WarnContext(ctx, "delete previous session", "err", err)
		}
	}
	res, err := s.newSession(ctx, u)
	if err != nil {
		return loginResult{}, fmt.Errorf("login %s: %w", u.Username, err)
	}
	if err := s.store.Audit(ctx, u.Username, "login.success", "user/"+u.Username, "ip="+ip.String()+at.auditNote); err != nil {
		// No audit record, no session: the login did not happen.
		_ = s.store.DeleteSession(ctx, auth.HashToken(res.token))
		return loginResult{}, err
	}
	if err := s.store.RecordLogin(ctx, u.ID, s.now()); err != nil {
		s.log.WarnContext(ctx, "record last login", "user", u.Username, "err", err)
	}
	// A browser that logged in is exempt from the account-wide delay a guess
	// from many addresses triggers (OWASP's device cookies). A cookie not
	// yet known for this user is replaced, never adopted: a value planted
	// in the victim's browser must not become a known device.
	if !at.knownDevice {
		dev, hash, err := auth.NewToken()
		if err == nil {
			err = s.store.AddKnownDevice(ctx, hash, u.ID, s.now())
		}
		if err != nil {
			s.log.WarnContext(ctx, "remember device", "user", u.Username, "err", err)
		} else {
			res.device = dev
		}
	}
	s.log.InfoContext(ctx, "login", "user", u.Username, "ip", ip.String())
	return res, nil
}

// newSession creates a session for u and returns its token and CSRF token.
func (s *Server) newSession(ctx context.Context, u storage.User) (loginResult, error) {
	token, hash, err := auth.NewToken()
	if err != nil {
		return loginResult{}, err
	}
	csrf, _, err := auth.NewToken()
	if err != nil {
		return loginResult{}, err
	}
	now := s.now().UTC()
	sess := storage.Session{TokenHash: hash, UserID: u.ID, CSRFToken: csrf, CreatedAt: now,
		ExpiresAt: now.Add(s.sessionTTL), LastSeenAt: now}
	if err := s.store.CreateSession(ctx, &sess); err != nil {
		return loginResult{}, err
	}
	return loginResult{user: u, token: token, csrf: csrf}, nil
}

// loginAttempt is where a login comes from, for throttling and audit.
type loginAttempt struct {
	ip         netip.Addr
	account    string // storage.ThrottleAccount of the typed name
	source     string // throttleKey of the client address
	deviceHash string // hash of the known-device cookie, if any
	// knownDevice: deviceHash is a browser that logged in as this user.
	knownDevice bool
	auditNote   string // extra audit detail of a successful login
}

// checkCredentials verifies username, password and (when enrolled) TOTP or
// recovery code, keeping the throttle state up to date.
func (s *Server) checkCredentials(ctx context.Context, at *loginAttempt, username, password, code string) (storage.User, error) {
	var (
		u     storage.User
		known bool
	)
	if username != "" && len(username) <= maxUsernameLen && len(password) <= auth.MaxPasswordLenBytes {
		var err error
		u, err = s.store.UserByUsername(ctx, username)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, storage.ErrNotFound):
			return storage.User{}, err
		}
	}
	ip := at.ip.String()
	if known && at.deviceHash != "" {
		var err error
		if at.knownDevice, err = s.store.IsKnownDevice(ctx, at.deviceHash, u.ID); err != nil {
			return storage.User{}, err
		}
	}
	// Names that do not exist are throttled exactly like real ones, so the
	// delays say nothing about which accounts exist.
	if retry, err := s.throttled(ctx, at); err != nil {
		return storage.User{}, err
	} else if retry > 0 {
		actor := "-"
		if known {
			actor = u.Username
		}
		s.auditLogin(ctx, actor, "login.throttled", u.Username,
			fmt.Sprintf("reason=throttled retry-after=%ds ip=%s", int(retry.Seconds()), ip))
		return storage.User{}, &loginThrottled{retryAfter: retry}
	}

	// The hash runs for every attempt, known user or not, so response time
	// says nothing about the account.
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, err := s.checkPassword(ctx, hash, password)
	if err != nil && !errors.Is(err, auth.ErrMalformedHash) {
		return storage.User{}, err
	}
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash is malformed", "user", u.Username, "err", err)
	}

	if !known {
		// The typed name is not recorded: people type passwords into the
		// username field, and the name of a non-user is worth nothing here.
		return storage.User{}, s.loginFailure(ctx, at, "-", "", "unknown-user")
	}
	if u.Disabled {
		return storage.User{}, s.loginFailure(ctx, at, u.Username, u.Username, "disabled")
	}
	if !ok {
		return storage.User{}, s.loginFailure(ctx, at, u.Username, u.Username, "bad-password")
	}
	if u.MFAEnrolled() {
		reason, err := s.checkSecondFactor(ctx, at, u, code)
		if err != nil {
			return storage.User{}, err
		}
		if reason != "" {
			return storage.User{}, s.loginFailure(ctx, at, u.Username, u.Username, reason)
		}
	}
	if _, err := s.store.ClearLoginThrottles(ctx, at.account, at.source, storage.ThrottleAnywhere); err != nil {
		return storage.User{}, err
	}
	if auth.NeedsRehash(u.PasswordHash) {
		s.upgradeHash(ctx, u, password)
	}
	return u, nil
}

// checkSecondFactor checks a TOTP code (each time step accepted once per
// user, in the database) or a single-use recovery code. It returns the
// refusal reason, "" when the code is good.
func (s *Server) checkSecondFactor(ctx context.Context, at *loginAttempt, u storage.User, code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return "missing-totp", nil
	}
	if auth.IsRecoveryCodeShaped(code) {
		ok, err := s.store.UseRecoveryCode(ctx, u.ID, auth.HashRecoveryCode(code), s.now())
		if err != nil || !ok {
			return "bad-recovery-code", err
		}
		left, err := s.store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			return "", err
		}
		at.auditNote = fmt.Sprintf(" mfa=recovery-code recovery-codes-left=%d", left)
		return "", nil
	}
	step, valid := auth.MatchTOTP(u.TOTPSecret, code, s.now())
	if !valid {
		return "bad-totp", nil
	}
	ok, err := s.store.UseTOTPStep(ctx, u.ID, step)
	if err != nil || !ok {
		return "totp-replay", err
	}
	at.auditNote = " mfa=totp"
	return "", nil
}

// throttled says how long the attempt must wait: the (account, address)
// delay always applies; the account-wide one only to browsers that have not
// logged in to this account before, so a guess spread over many addresses
// slows down without locking out the real user.
func (s *Server) throttled(ctx context.Context, at *loginAttempt) (time.Duration, error) {
	rows, err := s.store.LoginThrottles(ctx, at.account, at.source, storage.ThrottleAnywhere)
	if err != nil {
		return 0, err
	}
	var wait time.Duration
	now := s.now()
	for _, t := range rows {
		if t.Source == storage.ThrottleAnywhere && at.knownDevice {
			continue
		}
		wait = max(wait, t.NextAt.Sub(now))
	}
	return wait, nil
}

// throttleDelay is the wait after failures: none for the first free ones,
// then 1 s, 2 s, 4 s … up to limit.
func throttleDelay(failures, free int64, limit time.Duration) time.Duration {
	if failures < free {
		return 0
	}
	n := failures - free
	if n >= 30 {
		return limit
	}
	return min(time.Second<<n, limit)
}

// checkPassword runs auth.CheckPassword in one of the bounded hash slots.
func (s *Server) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("wait for password check: %w", ctx.Err())
	}
	defer func() { <-s.hashSlots }()
	return auth.CheckPassword(hash, password)
}

// upgradeHash re-hashes a correct password with the current parameters. A
// failure only means the upgrade waits for the next login.
func (s *Server) upgradeHash(ctx context.Context, u storage.User, password string) {
	h, err := auth.HashPassword(password)
	if err == nil {
		err = s.store.UpdatePassword(ctx, u.ID, h)
	}
	if err != nil {
		s.log.WarnContext(ctx, "upgrade password hash", "user", u.Username, "err", err)
		return
	}
	s.log.InfoContext(ctx, "upgraded password hash parameters", "user", u.Username)
}

// loginFailure counts a failed attempt against the (account, address) pair
// and the account, and audits it with the resulting delay.
func (s *Server) loginFailure(ctx context.Context, at *loginAttempt, actor, username, reason string) error {
	now := s.now()
	pair, err := s.store.RecordLoginFailure(ctx, at.account, at.source, now, func(n int64) time.Duration {
		return throttleDelay(n, int64(s.maxLoginFailures), s.lockout)
	})
	if err != nil {
		return err
	}
	acct, err := s.store.RecordLoginFailure(ctx, at.account, storage.ThrottleAnywhere, now, func(n int64) time.Duration {
		return throttleDelay(n, int64(s.accountFreeAttempts), s.lockout)
	})
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("reason=%s ip=%s failures=%d account-failures=%d", reason, at.ip, pair.Failures, acct.Failures)
	if d := pair.NextAt.Sub(now); d > 0 {
		detail += fmt.Sprintf(" delay=%ds", int(d.Seconds()))
	}
	s.auditLogin(ctx, actor, "login.failure", username, detail)
	return errLoginDenied
}

// auditLogin records a refused login. A failure to write it is logged: the
// login is refused either way.
func (s *Server) auditLogin(ctx context.Context, actor, action, username, detail string) {
	object := ""
	if username != "" {
		object = "user/" + username
	}
	s.log.WarnContext(ctx, "login refused", "action", action, "user", username, "detail", detail)
	if err := s.store.Audit(ctx, actor, action, object, detail); err != nil {
		s.log.ErrorContext(ctx, "audit refused login", "err", err)
	}
}

// logout ends the request's session.
func (s *Server) logout(ctx context.Context, r *http.Request, a *authed) error {
	if err := s.store.DeleteSession(ctx, a.tokenHash); err != nil {
		return err
	}
	if err := s.store.Audit(ctx, a.user.Username, "logout", "user/"+a.user.Username, "ip="+s.clientIP(r).String()); err != nil {
		return err
	}
	return nil
}

// setSessionCookie hands the browser its session token. HttpOnly keeps it
// from scripts, SameSite=Strict keeps it off cross-site requests.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie, Value: token, Path: "/", MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

// deviceCookieAge is how long a browser stays "known" to an account.
const deviceCookieAge = 180 * 24 * time.Hour

// setDeviceCookie marks the browser as one that logged in (empty: no change).
func (s *Server) setDeviceCookie(w http.ResponseWriter, token string) {
	if token == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.deviceCookie, Value: token, Path: "/", MaxAge: int(deviceCookieAge / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

// loginResponse answers POST /api/login and GET /api/me.
type loginResponse struct {
	Username     string       `json:"username"`
	Role         storage.Role `json:"role"`
	CSRFToken    string       `json:"csrf_token"`
	TOTPEnrolled bool         `json:"totp_enrolled"`
	// MFAEnrolmentRequired: the session can only enrol (/api/account/mfa)
	// and log out until the user turns MFA on.
	MFAEnrolmentRequired bool `json:"mfa_enrolment_required"`
}

func (s *Server) handleAPILogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	res, err := s.login(r.Context(), r, req.Username, req.Password, req.TOTP)
	var thr *loginThrottled
	switch {
	case errors.As(err, &thr):
		w.Header().Set("Retry-After", thr.retryAfterSeconds())
		writeError(w, http.StatusTooManyRequests, "too many login attempts; try again later")
		return
	case errors.Is(err, errLoginDenied):
		writeError(w, http.StatusUnauthorized, genericLoginError)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "api login", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.setSessionCookie(w, res.token)
	s.setDeviceCookie(w, res.device)
	writeJSON(w, http.StatusOK, loginResponse{Username: res.user.Username, Role: res.user.Role,
		CSRFToken: res.csrf, TOTPEnrolled: res.user.MFAEnrolled(),
		MFAEnrolmentRequired: res.user.MFARequired() && !res.user.MFAEnrolled()})
}

func (s *Server) handleAPILogout(w http.ResponseWriter, r *http.Request, a *authed) {
	if err := s.logout(r.Context(), r, a); err != nil {
		s.log.ErrorContext(r.Context(), "api logout", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.clearCookie(w, s.sessionCookie)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) handleAPIMe(w http.ResponseWriter, r *http.Request, a *authed) {
	writeJSON(w, http.StatusOK, loginResponse{Username: a.user.Username, Role: a.user.Role,
		CSRFToken: a.sess.CSRFToken, TOTPEnrolled: a.user.MFAEnrolled(), MFAEnrolmentRequired: a.mfaPending()})
}

// loginPage is the data of the login form.
type loginPage struct {
	Username string
	Next     string
}

// handleLoginPage shows the login form with a fresh pre-session CSRF token
// (double-submit: cookie + form field), since there is no session token yet.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if a, err := s.authenticate(r); err == nil && a != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string, lp loginPage) {
	// Reuse a well-formed token the browser already holds, so two open login
	// tabs do not invalidate each other's forms.
	var tok string
	if c, err := r.Cookie(s.loginCookie); err == nil && len(c.Value) == 43 {
		tok = c.Value
	} else if tok, _, err = auth.NewToken(); err != nil {
		s.log.ErrorContext(r.Context(), "login csrf token", "err", err)
		s.uiError(w, r, nil, http.StatusInternalServerError, "Internal error.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.loginCookie, Value: tok, Path: "/", MaxAge: 3600,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	s.render(w, r, status, "login", page{Title: "Log in", CSRF: tok, Error: msg, Data: lp})
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	lp := loginPage{Username: r.PostFormValue("username"), Next: safeNext(r.PostFormValue("next"))}
	if len(lp.Username) > maxUsernameLen {
		lp.Username = ""
	}
	c, err := r.Cookie(s.loginCookie)
	form := r.PostFormValue("csrf_token")
	if err != nil || c.Value == "" || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "The login form expired. Please try again.", lp)
		return
	}
	res, err := s.login(r.Context(), r, lp.Username, r.PostFormValue("password"), r.PostFormValue("totp"))
	var thr *loginThrottled
	switch {
	case errors.As(err, &thr):
		w.Header().Set("Retry-After", thr.retryAfterSeconds())
		s.renderLogin(w, r, http.StatusTooManyRequests, "Too many login attempts. Please wait a while and try again later.", lp)
		return
	case errors.Is(err, errLoginDenied):
		s.renderLogin(w, r, http.StatusUnauthorized, "Invalid username, password or code.", lp)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "login", "err", err)
		s.uiError(w, r, nil, http.StatusInternalServerError, "Internal error.")
		return
	}
	s.clearCookie(w, s.loginCookie)
	s.setSessionCookie(w, res.token)
	s.setDeviceCookie(w, res.device)
	if res.user.MFARequired() && !res.user.MFAEnrolled() {
		http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, lp.Next, http.StatusSeeOther)
}

func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request, a *authed) {
	if err := s.logout(r.Context(), r, a); err != nil {
		s.log.ErrorContext(r.Context(), "logout", "err", err)
		s.uiError(w, r, a, http.StatusInternalServerError, "Internal error.")
		return
	}
	s.clearCookie(w, s.sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext returns next if it is a local path, else "/": a login link must
// not be able to bounce the user to another site.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") ||
		next == "/login" || strings.HasPrefix(next, "/login?") {
		return "/"
	}
	return next
}

// decodeJSON reads a JSON body into v, requiring a JSON content type (which a
// cross-site HTML form cannot send), refusing unknown fields and anything
// after the object.
func decodeJSON(r *http.Request, v any) error {
	if err := decodeStrictJSON(r, v); err != nil {
		return fmt.Errorf("decode request body: %w", err)
	}
	return nil
}

var errNotJSON = errors.New("content type must be application/json")

func writeDecodeError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errNotJSON):
		writeError(w, http.StatusUnsupportedMediaType, errNotJSON.Error())
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
	default:
		// The decoder's message names the unknown field or the bad value.
		msg := strings.TrimPrefix(err.Error(), "decode request body: ")
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+strings.TrimPrefix(msg, "json: "))
	}
}
