package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// stepCache remembers the last TOTP time step each user logged in with, so a
// code seen over someone's shoulder or in a proxy log cannot be used again.
// In memory only: after a restart a code can be reused within its 90 s window.
type stepCache struct {
	mu   sync.Mutex
	last map[uint64]int64
}

// use records step for user and reports false if it was used before.
func (c *stepCache) use(user uint64, step int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.last[user]; ok && step <= last {
		return false
	}
	c.last[user] = step
	return true
}

// loginResult is a successful login.
type loginResult struct {
	user  storage.User
	token string // session cookie value
	csrf  string
}

// login checks credentials and creates a session. It returns errLoginDenied
// for every refusal, *loginThrottled when the client IP is over its budget,
// and other errors only for internal failures.
func (s *Server) login(ctx context.Context, r *http.Request, username, password, code string) (loginResult, error) {
	ip := s.clientIP(r)
	if ok, retry := s.limiter.allow(throttleKey(ip), s.now()); !ok {
		s.log.WarnContext(ctx, "login throttled", "ip", ip.String(), "retry_after", retry)
		return loginResult{}, &loginThrottled{retryAfter: retry}
	}
	u, err := s.checkCredentials(ctx, ip.String(), strings.TrimSpace(username), password, code)
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
	token, hash, err := auth.NewToken()
	if err != nil {
		return loginResult{}, err
	}
	csrf, _, err := auth.NewToken()
	if err != nil {
		return loginResult{}, err
	}
	now := s.now().UTC()
	sess := storage.Session{TokenHash: hash, UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(s.sessionTTL)}
	if err := s.store.CreateSession(ctx, &sess); err != nil {
		return loginResult{}, fmt.Errorf("login %s: %w", u.Username, err)
	}
	if err := s.store.Audit(ctx, u.Username, "login.success", "user/"+u.Username, "ip="+ip.String()); err != nil {
		// No audit record, no session: the login did not happen.
		_ = s.store.DeleteSession(ctx, hash)
		return loginResult{}, err
	}
	s.log.InfoContext(ctx, "login", "user", u.Username, "ip", ip.String())
	return loginResult{user: u, token: token, csrf: csrf}, nil
}

// checkCredentials verifies username, password and (when enrolled) TOTP code,
// keeping the account's failure count and lockout up to date.
func (s *Server) checkCredentials(ctx context.Context, ip, username, password, code string) (storage.User, error) {
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

	// The hash runs for every attempt, known user or not, locked or not, so
	// response time says nothing about the account.
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
		s.auditLogin(ctx, "-", "login.failure", "", "reason=unknown-user ip="+ip)
		return storage.User{}, errLoginDenied
	}
	if u.Disabled {
		s.auditLogin(ctx, u.Username, "login.failure", u.Username, "reason=disabled ip="+ip)
		return storage.User{}, errLoginDenied
	}
	if u.LockedUntil != nil && u.LockedUntil.After(s.now()) {
		// Attempts while locked neither count nor extend the lock, so an
		// attacker cannot keep a victim locked out forever from one window.
		s.auditLogin(ctx, u.Username, "login.locked", u.Username,
			"reason=locked until="+u.LockedUntil.UTC().Format(time.RFC3339)+" ip="+ip)
		return storage.User{}, errLoginDenied
	}
	if !ok {
		return storage.User{}, s.loginFailure(ctx, u, "bad-password", ip)
	}
	if u.TOTPSecret != "" {
		if strings.TrimSpace(code) == "" {
			return storage.User{}, s.loginFailure(ctx, u, "missing-totp", ip)
		}
		step, valid := auth.MatchTOTP(u.TOTPSecret, code, s.now())
		if !valid {
			return storage.User{}, s.loginFailure(ctx, u, "bad-totp", ip)
		}
		if !s.totpSteps.use(u.ID, step) {
			return storage.User{}, s.loginFailure(ctx, u, "totp-replay", ip)
		}
	}

	if u.FailedLogins > 0 || u.LockedUntil != nil {
		if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
			return storage.User{}, err
		}
	}
	if auth.NeedsRehash(u.PasswordHash) {
		s.upgradeHash(ctx, u, password)
	}
	return u, nil
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

// loginFailure counts a failed attempt against the account and audits it, as
// a lockout when this attempt reached the limit.
func (s *Server) loginFailure(ctx context.Context, u storage.User, reason, ip string) error {
	after, err := s.store.RecordLoginFailure(ctx, u.ID, s.maxLoginFailures, s.lockout)
	if err != nil {
		return err
	}
	action := "login.failure"
	if after.LockedUntil != nil && after.LockedUntil.After(s.now()) {
		action = "login.lockout"
		reason += " locked-until=" + after.LockedUntil.UTC().Format(time.RFC3339)
	}
	s.auditLogin(ctx, u.Username, action, u.Username, "reason="+reason+" ip="+ip)
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
	writeJSON(w, http.StatusOK, loginResponse{Username: res.user.Username, Role: res.user.Role,
		CSRFToken: res.csrf, TOTPEnrolled: res.user.TOTPSecret != ""})
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
		CSRFToken: a.sess.CSRFToken, TOTPEnrolled: a.user.TOTPSecret != ""})
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
		s.renderLogin(w, r, http.StatusTooManyRequests, "Too many login attempts. Try again in a minute.", lp)
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
