package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// contentSecurityPolicy allows nothing but our own stylesheet and images: no
// scripts at all, no inline styles, no framing, forms only to ourselves.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// maxBodyBytes bounds every request body; nothing we accept is larger.
const maxBodyBytes = 64 << 10

// securityHeaders sets the headers every response carries. Responses are
// no-store by default because almost every page shows case data; the
// stylesheet handler relaxes that for itself.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		h.Set("Cache-Control", "no-store")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// checkCrossOrigin rejects unsafe cross-origin browser requests (by
// Sec-Fetch-Site, else Origin vs Host) before any handler runs. This also
// covers the login endpoints, which have no session CSRF token yet.
func (s *Server) checkCrossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.crossOrigin.Check(r); err != nil {
			s.log.WarnContext(r.Context(), "cross-origin request rejected", "method", r.Method,
				"path", r.URL.Path, "ip", s.clientIP(r).String(), "err", err)
			s.fail(w, r, nil, surfaceOf(r), http.StatusForbidden, "cross-origin request rejected")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one access-log line per request. The query string is
// left out: it is never needed to debug and keeps the log free of user input.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/static/style.css" {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start), "ip", s.clientIP(r).String())
	})
}

// recoverPanics turns a handler panic into a 500 and a logged stack instead of
// a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "path", r.URL.Path, "panic", v,
					"stack", string(debug.Stack()))
				s.fail(w, r, nil, surfaceOf(r), http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// surface says how errors are rendered: HTML pages or JSON.
type surface int

const (
	surfaceUI surface = iota
	surfaceAPI
)

func surfaceOf(r *http.Request) surface {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		return surfaceAPI
	}
	return surfaceUI
}

// fail writes an error in the surface's format.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, a *authed, surf surface, status int, msg string) {
	if surf == surfaceAPI {
		writeError(w, status, msg)
		return
	}
	s.uiError(w, r, a, status, msg)
}

// permission is something a role may do.
type permission int

const (
	permRead      permission = iota // everything that only reads
	permAddSource                   // add, edit, pause and resume monitored sources
	permApprove                     // approve a takedown notice
	permAudit                       // read the audit log
	// permRemoveSource deletes a source (its runs, captures and hits stay).
	permRemoveSource
	// permSourceCredentials sets a source's login or cookies file, or moves a
	// source that has one (its URL or proxy): a crawl reads the named
	// environment variable or file and sends it to the source's host, so
	// whoever may do this can read the server's secrets.
	permSourceCredentials
	// permRefNames sees reference file names, which can carry a patient's
	// name or number; everyone else works with opaque ids.
	permRefNames
	// permSelf manages one's own account (MFA, log out everywhere). It is
	// all a session may do while its user still has to enrol in MFA.
	permSelf
	// permUsers manages other users' accounts (admins only).
	permUsers
	// permManageTokens creates, lists and revokes API tokens (admin only).
	permManageTokens
)

// allowed is the whole role model: analysts read and manage sources, legal
// may also approve notices and see reference names, admins may do everything (read the audit log,
// remove sources, give sources credentials). Unknown roles may do nothing.
func allowed(role storage.Role, p permission) bool {
	switch role {
	case storage.RoleAdmin:
		return true
	case storage.RoleLegal:
		return p == permRead || p == permAddSource || p == permApprove || p == permRefNames || p == permSelf
	case storage.RoleAnalyst:
		return p == permRead || p == permAddSource || p == permSelf
	}
	return false
}

// authed is the logged-in user of a request and their session.
type authed struct {
	user      storage.User
	sess      storage.Session
	tokenHash string
	tokenID   uint64 // the API token of a bearer request; 0: a session
}

func (a *authed) can(p permission) bool { return a != nil && allowed(a.user.Role, p) }

// mfaPending: a session of a legal or admin user without MFA. API tokens
// are exempt: an admin (who has MFA) issued them for automation.
func (a *authed) mfaPending() bool {
	return a.tokenID == 0 && a.user.MFARequired() && !a.user.MFAEnrolled()
}

// authedHandler is a handler that runs only for an authenticated user.
type authedHandler func(w http.ResponseWriter, r *http.Request, a *authed)

// guard authenticates the request, checks the CSRF token on unsafe methods
// and the role's permission, then runs h.
func (s *Server) guard(surf surface, p permission, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticate(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				s.log.ErrorContext(r.Context(), "load session", "err", err)
				s.fail(w, r, nil, surf, http.StatusInternalServerError, "internal error")
				return
			}
			if surf == surfaceAPI {
				writeError(w, http.StatusUnauthorized, "authentication required")
				return
			}
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.Path)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		// A bearer request carries no cookie, so there is nothing to forge.
		if !isSafeMethod(r.Method) && a.tokenID == 0 && !s.validCSRF(r, a.sess.CSRFToken) {
			s.log.WarnContext(r.Context(), "csrf token missing or wrong", "user", a.user.Username,
				"method", r.Method, "path", r.URL.Path)
			s.fail(w, r, a, surf, http.StatusForbidden, "missing or invalid CSRF token; reload the page and try again")
			return
		}
		if !a.can(p) {
			s.fail(w, r, a, surf, http.StatusForbidden, "your role does not allow this")
			return
		}
		if p != permSelf && a.mfaPending() {
			s.requireMFA(w, r, surf)
			return
		}
		h(w, r, a)
	}
}

// requireMFA answers a request from a legal or admin user who has not
// enrolled in MFA yet: only the enrolment pages and logout are open to them.
func (s *Server) requireMFA(w http.ResponseWriter, r *http.Request, surf surface) {
	if surf == surfaceAPI {
		writeError(w, http.StatusForbidden, mfaRequiredMsg)
		return
	}
	http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
}

// mfaRequiredMsg tells an API client what to do before anything else works.
const mfaRequiredMsg = "your role requires two-step login (MFA): enrol first with GET then POST /api/account/mfa"

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// errNoSession means the request carries no valid session.
var errNoSession = errors.New("no valid session")

// authenticate finds the request's session and user. Disabled users and
// expired sessions count as no session.
func (s *Server) authenticate(r *http.Request) (*authed, error) {
	// API tokens are for the API only; a header on a page is ignored.
	if tok, ok := bearerToken(r); ok && surfaceOf(r) == surfaceAPI {
		return s.authenticateBearer(r, tok)
	}
	c, err := r.Cookie(s.sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, errNoSession
	}
	hash := auth.HashToken(c.Value)
	sess, err := s.store.SessionByTokenHash(r.Context(), hash, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errNoSession
	}
	if err := s.checkIdle(r.Context(), &sess); err != nil {
		return nil, err
	}
	return &authed{user: u, sess: sess, tokenHash: hash}, nil
}

// checkIdle ends a session unused for the idle timeout, else records its
// use, at most once a minute so reading pages does not write on every request.
func (s *Server) checkIdle(ctx context.Context, sess *storage.Session) error {
	now := s.now()
	seen := sess.LastSeenAt
	if seen.IsZero() {
		seen = sess.CreatedAt // sessions from before migration 17
	}
	if now.Sub(seen) > s.sessionIdle {
		if err := s.store.DeleteSession(ctx, sess.TokenHash); err != nil {
			s.log.WarnContext(ctx, "delete idle session", "err", err)
		}
		return errNoSession
	}
	if now.Sub(seen) >= time.Minute {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.WarnContext(ctx, "touch session", "err", err)
		}
		sess.LastSeenAt = now
	}
	return nil
}

// validCSRF compares the request's CSRF token (header X-CSRF-Token, else form
// field csrf_token) with the session's in constant time.
func (s *Server) validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
