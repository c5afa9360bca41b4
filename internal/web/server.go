// Package web is leakwatch's server-rendered UI and JSON API. It talks only to
// storage and to a CaseService (the Temporal-backed workflows); it never shows
// document content, only evidence metadata and which fingerprints matched.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

// CaseService is what the UI/API may do to a running case (implemented by the
// workflows package over Temporal). A CaseService that also implements
// CaseActions (as *workflows.Cases does) enables every other case action.
type CaseService interface {
	// Approve approves revision `revision` of case caseID's notice as user.
	Approve(ctx context.Context, caseID uint64, revision int, user storage.User) error
}

// Mailbox is a local mail relay whose received messages the UI may show: the
// demo plugs in its SMTP sink so a newcomer sees the notices that went out.
// Production servers have none.
type Mailbox interface {
	Messages() []MailMessage
}

// MailMessage is one received message as the mailbox page shows it.
type MailMessage struct {
	From     string
	To       []string
	Subject  string
	Received time.Time
	Body     string // the text/plain part
}

// Options configure a Server. Store is required; the rest have defaults.
type Options struct {
	Store  *storage.Store
	Logger *slog.Logger
	// Listen is the address ListenAndServe binds (default 127.0.0.1:8080).
	Listen string
	// BaseURL is the public URL; https makes cookies Secure (with the __Host-
	// prefix) and turns on HSTS. Its origin is trusted for cross-origin checks.
	BaseURL          string
	SessionTTL       time.Duration // default 12h
	MaxLoginFailures int           // per account before lockout; default 5
	LockoutDuration  time.Duration // default 15m
	Cases            CaseService   // nil: approvals answer 503
	Mailbox          Mailbox       // nil: mailbox pages and endpoints 404
	Now              func() time.Time
	// LoginAttemptsPerMinute caps login attempts per client IP (IPv6 per /64);
	// default 10.
	LoginAttemptsPerMinute int
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed when
	// finding the client IP for throttling and audit; empty means none.
	TrustedProxies []netip.Prefix
	// Police and Regulator are where legal reports the breach's
	// republication (notices.police, notices.regulator); shown on every
	// case, empty ones left out.
	Police, Regulator string
}

// Server serves the UI and API.
type Server struct {
	store   *storage.Store
	log     *slog.Logger
	now     func() time.Time
	cases   CaseService
	mailbox Mailbox

	police, regulator string

	listen           string
	secure           bool
	sessionTTL       time.Duration
	maxLoginFailures int
	lockout          time.Duration
	trustedProxies   []netip.Prefix
	sessionCookie    string
	loginCookie      string

	crossOrigin *http.CrossOriginProtection
	pages       map[string]*template.Template
	css         []byte
	limiter     *attemptLimiter
	// hashSlots bounds concurrent argon2id hashes (46 MiB each), so a login
	// flood costs bounded memory instead of exhausting it.
	hashSlots chan struct{}
	// dummyHash is checked for unknown users so they take as long as known ones.
	dummyHash string
	totpSteps *stepCache
	handler   http.Handler
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("web: Options.Store is required")
	}
	s := &Server{
		store:            opts.Store,
		log:              opts.Logger,
		now:              opts.Now,
		cases:            opts.Cases,
		mailbox:          opts.Mailbox,
		police:           opts.Police,
		regulator:        opts.Regulator,
		listen:           opts.Listen,
		sessionTTL:       opts.SessionTTL,
		maxLoginFailures: opts.MaxLoginFailures,
		lockout:          opts.LockoutDuration,
		trustedProxies:   opts.TrustedProxies,
		crossOrigin:      http.NewCrossOriginProtection(),
		hashSlots:        make(chan struct{}, runtime.GOMAXPROCS(0)),
		totpSteps:        &stepCache{last: map[uint64]int64{}},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.listen == "" {
		s.listen = "127.0.0.1:8080"
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = 12 * time.Hour
	}
	if s.maxLoginFailures <= 0 {
		s.maxLoginFailures = 5
	}
	if s.lockout <= 0 {
		s.lockout = 15 * time.Minute
	}
	perMinute := opts.LoginAttemptsPerMinute
	if perMinute <= 0 {
		perMinute = 10
	}
	s.limiter = newAttemptLimiter(perMinute, time.Minute)

	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("web: BaseURL %q must be an absolute http(s) URL", opts.BaseURL)
		}
		s.secure = u.Scheme == "https"
		// Behind a proxy that rewrites Host, the public origin still counts as ours.
		if err := s.crossOrigin.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("web: trust origin of BaseURL: %w", err)
		}
	}
	// The __Host- prefix makes browsers refuse the cookie unless it is Secure,
	// host-only and Path=/, so a sibling subdomain cannot plant or shadow it.
	s.sessionCookie, s.loginCookie = "leakwatch_session", "leakwatch_login"
	if s.secure {
		s.sessionCookie, s.loginCookie = "__Host-leakwatch_session", "__Host-leakwatch_login"
	}

	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.css, err = assets.ReadFile("static/style.css"); err != nil {
		return nil, fmt.Errorf("web: read stylesheet: %w", err)
	}
	tok, _, err := auth.NewToken()
	if err != nil {
		return nil, fmt.Errorf("web: dummy password: %w", err)
	}
	if s.dummyHash, err = auth.HashPassword(tok); err != nil {
		return nil, fmt.Errorf("web: dummy password hash: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler with all routes and middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on Options.Listen and serves until ctx ends, then
// shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.listen)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", s.listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: in-flight
// requests get up to 15 seconds to finish. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests inherit ctx's values but not its cancellation, so shutdown
		// drains them instead of aborting them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	defer close(stop)
	shutdownErr := make(chan error, 1)
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-stop:
			shutdownErr <- nil
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		shutdownErr <- srv.Shutdown(sctx)
	})
	wg.Go(func() { s.sweepSessions(ctx, stop) })

	s.log.InfoContext(ctx, "web server listening", "addr", ln.Addr().String())
	err := srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	if err := <-shutdownErr; err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	s.log.InfoContext(ctx, "web server stopped")
	return nil
}

// sweepSessions deletes expired sessions now and then; lookups already ignore
// them, this only keeps the table small.
func (s *Server) sweepSessions(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(15 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
			if err := s.store.DeleteExpiredSessions(ctx, s.now()); err != nil {
				s.log.WarnContext(ctx, "sweep expired sessions", "err", err)
			}
		}
	}
}

// routes wires every endpoint. Each authenticated route names the permission
// it needs; see allowed.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /static/style.css", s.handleCSS)
	// Prometheus: loopback clients and signed-in admins only (metricsAllowed).
	mux.Handle("GET /metrics", s.metricsHandler())

	// UI.
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLoginForm)
	mux.HandleFunc("POST /logout", s.ui(permRead, s.handleLogoutForm))
	mux.HandleFunc("GET /{$}", s.ui(permRead, s.handleDashboard))
	// Case actions need only a session: each checks the role itself, so a
	// refusal is audited (legal actions need legal or admin).
	mux.HandleFunc("GET /cases", s.ui(permRead, s.handleCasesList))
	mux.HandleFunc("GET /cases/{id}", s.ui(permRead, s.handleCaseView))
	mux.HandleFunc("POST /cases/{id}/approve", s.ui(permRead, s.handleApproveConfirmForm))
	mux.HandleFunc("POST /cases/{id}/triage", s.ui(permRead, s.handleTriageForm))
	mux.HandleFunc("POST /cases/{id}/revise", s.ui(permRead, s.handleReviseForm))
	mux.HandleFunc("POST /cases/{id}/request-changes", s.ui(permRead, s.handleRequestChangesForm))
	mux.HandleFunc("POST /cases/{id}/acknowledge", s.ui(permRead, s.handleAcknowledgeForm))
	mux.HandleFunc("POST /cases/{id}/recipient", s.ui(permRead, s.handleRecipientForm))
	mux.HandleFunc("POST /cases/{id}/resolve-send", s.ui(permRead, s.handleResolveSendForm))
	mux.HandleFunc("POST /cases/{id}/close", s.ui(permRead, s.handleCloseForm))
	mux.HandleFunc("POST /cases/{id}/recheck", s.ui(permRead, s.handleRecheckForm))
	mux.HandleFunc("GET /hits", s.ui(permRead, s.handleHitsPage))
	mux.HandleFunc("GET /sources", s.ui(permRead, s.handleSourcesPage))
	mux.HandleFunc("POST /sources", s.ui(permAddSource, s.handleAddSourceForm))
	mux.HandleFunc("GET /audit", s.ui(permAudit, s.handleAuditPage))
	if s.mailbox != nil {
		mux.HandleFunc("GET /mailbox", s.ui(permRead, s.handleMailboxPage))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.uiError(w, r, nil, http.StatusNotFound, "Page not found.")
	})

	// API.
	mux.HandleFunc("POST /api/login", s.handleAPILogin)
	mux.HandleFunc("POST /api/logout", s.api(permRead, s.handleAPILogout))
	mux.HandleFunc("GET /api/me", s.api(permRead, s.handleAPIMe))
	mux.HandleFunc("GET /api/cases", s.api(permRead, s.handleAPICases))
	mux.HandleFunc("GET /api/cases/{id}", s.api(permRead, s.handleAPICase))
	mux.HandleFunc("POST /api/cases/{id}/approve", s.api(permRead, s.handleAPIApprove))
	mux.HandleFunc("POST /api/cases/{id}/triage", s.api(permRead, s.handleAPITriage))
	mux.HandleFunc("POST /api/cases/{id}/revise", s.api(permRead, s.handleAPIRevise))
	mux.HandleFunc("POST /api/cases/{id}/request-changes", s.api(permRead, s.handleAPIRequestChanges))
	mux.HandleFunc("POST /api/cases/{id}/acknowledge", s.api(permRead, s.handleAPIAcknowledge))
	mux.HandleFunc("POST /api/cases/{id}/recipient", s.api(permRead, s.handleAPIRecipient))
	mux.HandleFunc("POST /api/cases/{id}/resolve-send", s.api(permRead, s.handleAPIResolveSend))
	mux.HandleFunc("POST /api/cases/{id}/close", s.api(permRead, s.handleAPIClose))
	mux.HandleFunc("POST /api/cases/{id}/recheck", s.api(permRead, s.handleAPIRecheck))
	mux.HandleFunc("GET /api/hits", s.api(permRead, s.handleAPIHits))
	mux.HandleFunc("GET /api/captures", s.api(permRead, s.handleAPICaptures))
	mux.HandleFunc("GET /api/sources", s.api(permRead, s.handleAPISources))
	mux.HandleFunc("POST /api/sources", s.api(permAddSource, s.handleAPIAddSource))
	mux.HandleFunc("GET /api/sources/{id}", s.api(permRead, s.handleAPISource))
	mux.HandleFunc("PATCH /api/sources/{id}", s.api(permAddSource, s.handleAPIEditSource))
	mux.HandleFunc("POST /api/sources/{id}/pause", s.api(permAddSource, s.handleAPIPauseSource))
	mux.HandleFunc("POST /api/sources/{id}/resume", s.api(permAddSource, s.handleAPIResumeSource))
	mux.HandleFunc("DELETE /api/sources/{id}", s.api(permRemoveSource, s.handleAPIRemoveSource))
	mux.HandleFunc("GET /api/status", s.api(permRead, s.handleAPIStatus))
	mux.HandleFunc("GET /api/metrics/cases", s.api(permRead, s.handleAPICaseMetrics))
	mux.HandleFunc("GET /api/audit", s.api(permAudit, s.handleAPIAudit))
	if s.mailbox != nil {
		mux.HandleFunc("GET /api/mailbox", s.api(permRead, s.handleAPIMailbox))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})

	return s.recoverPanics(s.logRequests(s.securityHeaders(s.checkCrossOrigin(mux))))
}
