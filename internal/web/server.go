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

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"

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
	SessionTTL       time.Duration // absolute session lifetime; default 12h
	MaxLoginFailures int           // free failures per account and network before delays; default 5
	LockoutDuration  time.Duration // the longest delay after failures; default 15m
	Cases            CaseService   // nil: approvals answer 503
	Mailbox          Mailbox       // nil: mailbox pages and endpoints 404
	Now              func() time.Time
	// LoginAttemptsPerMinute caps login attempts per client IP (IPv6 per /64);
	// default 10.
	LoginAttemptsPerMinute int
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed when
	// finding the client IP for throttling and audit; empty means none.
	TrustedProxies []netip.Prefix
	// SessionIdleTimeout ends a session unused this long; default 30m.
	SessionIdleTimeout time.Duration
	// AccountLoginFailures are the free failed logins per account from all
	// networks before browsers that never logged in to it are delayed too;
	// default 20.
	AccountLoginFailures int
	// Police and Regulator are where legal reports the breach's
	// republication (notices.police, notices.regulator); shown on every
	// case, empty ones left out.
	Police, Regulator string
	// EvidenceDir is where the WARC evidence lies and EvidenceIdentities
	// open it when encrypted at rest: the UI decodes leaked images from it
	// for (blurred) thumbnails. Empty: no thumbnails.
	EvidenceDir        string
	EvidenceIdentities []age.Identity
	// Sources runs and describes the crawl schedules; nil: the sources
	// page shows no next run and "run now" answers 503.
	Sources SourceService
	// Ready are the dependencies GET /readyz checks besides the database
	// (Temporal, in a process that has a client).
	Ready []ReadyCheck
	// Registry, if set, is the process's metrics registry (with the Go
	// and process collectors, internal/metrics.NewRegistry): GET /metrics
	// serves it with the case metrics added. nil: a registry of the
	// server's own.
	Registry *prometheus.Registry
}

// Server serves the UI and API.
type Server struct {
	store   *storage.Store
	ready   []ReadyCheck
	reg     *prometheus.Registry
	log     *slog.Logger
	now     func() time.Time
	cases   CaseService
	mailbox Mailbox

	police, regulator string
	evidenceDir       string
	evidenceIDs       []age.Identity
	sources           SourceService
	reveals           reveals
	// thumbSlots bounds concurrent image decodes for thumbnails (up to
	// maxThumbPixels each), so a burst of them costs bounded memory.
	thumbSlots chan struct{}

	listen           string
	secure           bool
	sessionTTL       time.Duration
	maxLoginFailures int           // free failures per (account, network)
	lockout          time.Duration // longest delay
	trustedProxies   []netip.Prefix
	sessionCookie    string
	loginCookie      string

	// sessionIdle ends unused sessions; accountFreeAttempts are the
	// failures from anywhere before unknown browsers are delayed.
	sessionIdle         time.Duration
	accountFreeAttempts int
	deviceCookie        string

	crossOrigin *http.CrossOriginProtection
	pages       map[string]*template.Template
	css         []byte
	limiter     *attemptLimiter
	// hashSlots bounds concurrent argon2id hashes (46 MiB each), so a login
	// flood costs bounded memory instead of exhausting it.
	hashSlots chan struct{}
	// dummyHash is checked for unknown users so they take as long as known ones.
	dummyHash string
	handler   http.Handler
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("web: Options.Store is required")
	}
	s := &Server{
		store:            opts.Store,
		ready:            opts.Ready,
		reg:              opts.Registry,
		log:              opts.Logger,
		now:              opts.Now,
		cases:            opts.Cases,
		mailbox:          opts.Mailbox,
		police:           opts.Police,
		regulator:        opts.Regulator,
		evidenceDir:      opts.EvidenceDir,
		evidenceIDs:      opts.EvidenceIdentities,
		sources:          opts.Sources,
		listen:           opts.Listen,
		sessionTTL:       opts.SessionTTL,
		maxLoginFailures: opts.MaxLoginFailures,
		lockout:          opts.LockoutDuration,
		trustedProxies:   opts.TrustedProxies,
		crossOrigin:      http.NewCrossOriginProtection(),
		hashSlots:        make(chan struct{}, runtime.GOMAXPROCS(0)),
		sessionIdle:      opts.SessionIdleTimeout,
		thumbSlots:       make(chan struct{}, 2),
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
	if s.sessionIdle <= 0 {
		s.sessionIdle = 30 * time.Minute
	}
	s.accountFreeAttempts = opts.AccountLoginFailures
	if s.accountFreeAttempts <= 0 {
		s.accountFreeAttempts = 20
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
	s.sessionCookie, s.loginCookie, s.deviceCookie = "leakwatch_session", "leakwatch_login", "leakwatch_device"
	if s.secure {
		s.sessionCookie, s.loginCookie, s.deviceCookie = "__Host-leakwatch_session", "__Host-leakwatch_login", "__Host-leakwatch_device"
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
			if err := s.store.DeleteIdleSessions(ctx, s.now().Add(-s.sessionIdle)); err != nil {
				s.log.WarnContext(ctx, "sweep idle sessions", "err", err)
			}
		}
	}
}

// route is one authenticated endpoint: who may call it (perm) and how its
// errors are rendered (surf). The table is the whole access model, and the
// role × endpoint matrix test walks it.
type route struct {
	method, pattern string
	surf            surface
	perm            permission
	h               authedHandler
}

// authedRoutes lists every endpoint that needs a session. Case actions need
// only permRead: each checks the role itself, so a refusal is audited
// (legal actions need legal or admin).
func (s *Server) authedRoutes() []route {
	ui := func(method, pattern string, p permission, h authedHandler) route {
		return route{method: method, pattern: pattern, surf: surfaceUI, perm: p, h: h}
	}
	api := func(method, pattern string, p permission, h authedHandler) route {
		return route{method: method, pattern: pattern, surf: surfaceAPI, perm: p, h: h}
	}
	rs := []route{
		ui("POST", "/logout", permSelf, s.handleLogoutForm),
		ui("GET", "/account", permSelf, s.handleAccountPage),
		ui("GET", "/account/mfa", permSelf, s.handleMFAPage),
		ui("GET", "/account/mfa/qr.png", permSelf, s.handleMFAQR),
		ui("POST", "/account/mfa", permSelf, s.handleMFAForm),
		ui("POST", "/account/mfa/recovery-codes", permSelf, s.handleRecoveryCodesForm),
		ui("POST", "/account/logout-all", permSelf, s.handleLogoutAllForm),
		ui("GET", "/{$}", permRead, s.handleDashboard),
		ui("GET", "/cases", permRead, s.handleCasesList),
		ui("GET", "/cases/{id}", permRead, s.handleCaseView),
		ui("POST", "/cases/{id}/approve", permRead, s.handleApproveConfirmForm),
		ui("POST", "/cases/{id}/triage", permRead, s.handleTriageForm),
		ui("POST", "/cases/{id}/revise", permRead, s.handleReviseForm),
		ui("POST", "/cases/{id}/request-changes", permRead, s.handleRequestChangesForm),
		ui("POST", "/cases/{id}/acknowledge", permRead, s.handleAcknowledgeForm),
		ui("POST", "/cases/{id}/recipient", permRead, s.handleRecipientForm),
		ui("POST", "/cases/{id}/resolve-send", permRead, s.handleResolveSendForm),
		ui("POST", "/cases/{id}/close", permRead, s.handleCloseForm),
		ui("POST", "/cases/{id}/recheck", permRead, s.handleRecheckForm),
		ui("POST", "/cases/{id}/hold", permApprove, s.handleHoldCaseForm),
		ui("POST", "/holds/{id}/lift", permApprove, s.handleLiftHoldForm),
		ui("GET", "/hits", permRead, s.handleHitsPage),
		ui("GET", "/triage", permRead, s.handleTriagePage),
		ui("POST", "/triage", permRead, s.handleTriageQueueForm),
		ui("GET", "/captures/{id}/thumb", permRead, s.handleThumb),
		ui("GET", "/captures/{id}/reveal", permRead, s.handleRevealPage),
		ui("POST", "/captures/{id}/reveal", permRead, s.handleRevealForm),
		ui("GET", "/sources", permRead, s.handleSourcesPage),
		ui("POST", "/sources", permAddSource, s.handleAddSourceForm),
		ui("GET", "/sources/{id}/edit", permAddSource, s.handleEditSourcePage),
		ui("POST", "/sources/{id}/edit", permAddSource, s.handleEditSourceForm),
		ui("POST", "/sources/{id}/pause", permAddSource, s.handlePauseSourceForm),
		ui("POST", "/sources/{id}/resume", permAddSource, s.handleResumeSourceForm),
		ui("POST", "/sources/{id}/run", permAddSource, s.handleRunSourceForm),
		ui("POST", "/sources/{id}/remove", permRemoveSource, s.handleRemoveSourceForm),
		ui("GET", "/audit", permAudit, s.handleAuditPage),
		ui("GET", "/audit/export", permAudit, s.handleAuditExport),
		ui("GET", "/admin/users", permUsers, s.handleAdminUsersPage),
		ui("POST", "/admin/users", permUsers, s.handleAdminCreateUserForm),
		ui("GET", "/admin/users/{id}", permUsers, s.handleAdminUserPage),
		ui("POST", "/admin/users/{id}/{action}", permUsers, s.handleAdminUserActionForm),

		api("POST", "/api/logout", permSelf, noTokenLogout(s.handleAPILogout)),
		api("GET", "/api/me", permSelf, s.handleAPIMe),
		api("GET", "/api/account", permSelf, s.handleAPIAccount),
		api("GET", "/api/account/mfa", permSelf, s.handleAPIMFASetup),
		api("GET", "/api/account/mfa/qr.png", permSelf, s.handleMFAQR),
		api("POST", "/api/account/mfa", permSelf, s.handleAPIMFAEnrol),
		api("POST", "/api/account/mfa/recovery-codes", permSelf, s.handleAPIRecoveryCodes),
		api("POST", "/api/account/logout-all", permSelf, s.handleAPILogoutAll),
		api("GET", "/api/cases", permRead, s.handleAPICases),
		api("GET", "/api/cases/{id}", permRead, s.handleAPICase),
		api("POST", "/api/cases/{id}/approve", permRead, s.handleAPIApprove),
		api("POST", "/api/cases/{id}/triage", permRead, s.handleAPITriage),
		api("POST", "/api/cases/{id}/revise", permRead, s.handleAPIRevise),
		api("POST", "/api/cases/{id}/request-changes", permRead, s.handleAPIRequestChanges),
		api("POST", "/api/cases/{id}/acknowledge", permRead, s.handleAPIAcknowledge),
		api("POST", "/api/cases/{id}/recipient", permRead, s.handleAPIRecipient),
		api("POST", "/api/cases/{id}/resolve-send", permRead, s.handleAPIResolveSend),
		api("POST", "/api/cases/{id}/close", permRead, s.handleAPIClose),
		api("POST", "/api/cases/{id}/recheck", permRead, s.handleAPIRecheck),
		api("GET", "/api/hits", permRead, s.handleAPIHits),
		api("GET", "/api/captures", permRead, s.handleAPICaptures),
		api("GET", "/api/sources", permRead, s.handleAPISourcesList),
		api("POST", "/api/sources", permAddSource, s.handleAPIAddSource),
		api("GET", "/api/sources/{id}", permRead, s.handleAPISource),
		api("PATCH", "/api/sources/{id}", permAddSource, s.handleAPIEditSource),
		api("POST", "/api/sources/{id}/pause", permAddSource, s.handleAPIPauseSource),
		api("POST", "/api/sources/{id}/resume", permAddSource, s.handleAPIResumeSource),
		api("DELETE", "/api/sources/{id}", permRemoveSource, s.handleAPIRemoveSource),
		api("POST", "/api/sources/{id}/run", permAddSource, s.handleAPIRunSource),
		api("GET", "/api/status", permRead, s.handleAPIStatus),
		api("GET", "/api/metrics/cases", permRead, s.handleAPICaseMetrics),
		api("GET", "/api/audit", permAudit, s.handleAPIAudit),
		api("GET", "/api/audit/export", permAudit, s.handleAuditExport),
		api("GET", "/api/audit/verify", permAudit, s.handleAPIAuditVerify),
		api("GET", "/api/users", permUsers, s.handleAPIUsers),
		api("POST", "/api/users", permUsers, s.handleAPICreateUser),
		api("POST", "/api/users/{id}/{action}", permUsers, s.handleAPIUserAction),
		ui("GET", "/admin/tokens", permManageTokens, s.handleAdminTokensPage),
		ui("POST", "/admin/tokens", permManageTokens, s.handleAdminCreateTokenForm),
		ui("POST", "/admin/tokens/{id}/revoke", permManageTokens, s.handleAdminRevokeTokenForm),
		api("GET", "/api/tokens", permManageTokens, s.handleAPITokens),
		api("POST", "/api/tokens", permManageTokens, s.handleAPICreateToken),
		api("DELETE", "/api/tokens/{id}", permManageTokens, s.handleAPIRevokeToken),
		// Legal holds keep evidence from retention: legal's call.
		api("GET", "/api/holds", permApprove, s.handleAPIHolds),
		api("POST", "/api/holds", permApprove, s.handleAPIAddHold),
		api("POST", "/api/holds/{id}/lift", permApprove, s.handleAPILiftHold),
	}
	if s.mailbox != nil {
		rs = append(rs,
			ui("GET", "/mailbox", permRead, s.handleMailboxPage),
			api("GET", "/api/mailbox", permRead, s.handleAPIMailbox))
	}
	return rs
}

// routes wires every endpoint: the public ones here, the rest from
// authedRoutes.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /static/style.css", s.handleCSS)
	// Prometheus: loopback clients and signed-in admins only (metricsAllowed).
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLoginForm)
	mux.HandleFunc("POST /api/login", s.handleAPILogin)
	mux.HandleFunc("POST "+apiV1+"/login", s.handleAPILogin)
	mux.HandleFunc("GET "+apiV1+"/openapi.json", s.handleOpenAPI)

	all := s.allRoutes()
	for _, rt := range all {
		mux.HandleFunc(rt.method+" "+rt.pattern, s.guard(rt.surf, rt.perm, rt.h))
	}
	handleAPIMethodsNotAllowed(mux, all)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Signed in, the 404 keeps the nav and the user: a mistyped link
		// must not look like being logged out.
		a, _ := s.authenticate(r)
		s.uiError(w, r, a, http.StatusNotFound, "There is no page at this address. Use the menu above to find what you were looking for.")
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})

	return s.recoverPanics(s.logRequests(s.securityHeaders(s.checkCrossOrigin(mux))))
}
