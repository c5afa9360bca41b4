package hostile

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}
}

// handleChain is the long redirect chain: hop n redirects to hop n+1 until
// RedirectChain, which answers a small page.
func (s *Site) handleChain(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	switch {
	case err != nil || n < 0 || n > s.opts.RedirectChain:
		http.NotFound(w, r)
	case n < s.opts.RedirectChain:
		http.Redirect(w, r, RedirectChainPrefix+strconv.Itoa(n+1), http.StatusFound)
	default:
		writeHTML(w, "text/html; charset=utf-8", page("End of the chain", "<p>You followed every redirect.</p>\n"))
	}
}

// handleShort is the short chain to a good file: /redirect/to/<hops>/<name>
// redirects to hops-1, and hop 1 to the file.
func (s *Site) handleShort(w http.ResponseWriter, r *http.Request) {
	hops, err := strconv.Atoi(r.PathValue("hops"))
	name := r.PathValue("name")
	g := s.byPath[GoodFilePrefix+cRedirect+"/"+name]
	if err != nil || hops < 1 || hops > 3 || g == nil {
		http.NotFound(w, r)
		return
	}
	target := g.Path
	if hops > 1 {
		target = RedirectShortPrefix + strconv.Itoa(hops-1) + "/" + url.PathEscape(name)
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// clientKey identifies a client for the 429 storm: its IP address.
func clientKey(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// handleRateLimited answers 429 with Retry-After to the first
// RateLimitCount requests of each client for a path, then the file.
func (s *Site) handleRateLimited(w http.ResponseWriter, r *http.Request) {
	g := s.byPath[r.URL.Path]
	if g == nil {
		http.NotFound(w, r)
		return
	}
	key := clientKey(r) + " " + r.URL.Path
	s.mu.Lock()
	limited := s.limited[key] < s.opts.RateLimitCount
	if limited {
		s.limited[key]++
	}
	s.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", strconv.Itoa(s.opts.RetryAfterSeconds))
		http.Error(w, "429 too many requests: slow down", http.StatusTooManyRequests)
		return
	}
	serveGood(w, r, g)
}

// handleGood serves the good files that need no session or patience,
// including the two lying about their type.
func (s *Site) handleGood(w http.ResponseWriter, r *http.Request) {
	g := s.byPath[r.URL.Path]
	if g == nil || strings.HasPrefix(r.URL.Path, GoodFilePrefix+cMembers+"/") {
		http.NotFound(w, r)
		return
	}
	serveGood(w, r, g)
}

func serveGood(w http.ResponseWriter, r *http.Request, g *GoodFile) {
	h := w.Header()
	h.Set("Content-Type", g.ContentType)
	if g.Path != LiePDFPath && g.Path != LieZIPPath {
		h.Set("Content-Disposition", cmp.Or(mime.FormatMediaType("attachment", map[string]string{"filename": g.Name}), "attachment"))
	}
	h.Set("ETag", `"`+g.SHA256[:32]+`"`)
	http.ServeContent(w, r, g.Name, time.Time{}, bytes.NewReader(g.data))
}

func (s *Site) handleMembersFile(w http.ResponseWriter, r *http.Request) {
	g := s.byPath[r.URL.Path]
	if g == nil {
		http.NotFound(w, r)
		return
	}
	if !s.session(w, r) {
		return
	}
	serveGood(w, r, g)
}

// maxSessions bounds the session table.
const maxSessions = 10_000

func (s *Site) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	okUser := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("user")), []byte(s.opts.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("pass")), []byte(s.opts.Pass)) == 1
	if !okUser || !okPass {
		s.mu.Lock()
		s.badLogins++
		s.mu.Unlock()
		s.loginForm(w, r, http.StatusUnauthorized, "Invalid user or password.")
		return
	}
	token := rand.Text()
	s.mu.Lock()
	if len(s.sessions) >= maxSessions {
		clear(s.sessions)
	}
	s.sessions[token] = s.opts.SessionRequests
	s.logins++
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	next := r.PostForm.Get("next")
	if !strings.HasPrefix(next, MembersPath) {
		next = MembersPath
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// session reports whether r carries a live session, spending one of its
// requests; otherwise it redirects to the login form and returns false.
func (s *Site) session(w http.ResponseWriter, r *http.Request) bool {
	ok := false
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		if left := s.sessions[c.Value]; left > 0 {
			ok = true
			if left == 1 {
				delete(s.sessions, c.Value) // this was its last request
			} else {
				s.sessions[c.Value] = left - 1
			}
		}
		s.mu.Unlock()
	}
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
	}
	return ok
}
