package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// Validate checks c and returns ValidationErrors listing every problem, or
// nil. It is for configs built in code; Load validates too, and only Load knows
// file lines and environment variable names to put in the messages.
func (c *Config) Validate(opts ...Option) error {
	if errs := c.validate(newOptions(opts), nil); len(errs) > 0 {
		return errs
	}
	return nil
}

// Missing returns the yaml paths (e.g. "injunction.court") of the fields a
// takedown notice must cite but which are empty, in a fixed order; nil when the
// injunction is complete.
func (i InjunctionConfig) Missing() []string {
	var out []string
	for _, f := range []struct{ path, value string }{
		{"injunction.court", i.Court},
		{"injunction.file_number", i.FileNumber},
		{"injunction.date_of_orders", i.DateOfOrders},
		{"injunction.claimant", i.Claimant},
		{"injunction.terms", i.Terms},
		{"injunction.contact.email", i.Contact.Email},
	} {
		if strings.TrimSpace(f.value) == "" {
			out = append(out, f.path)
		}
	}
	return out
}

// minSourceInterval keeps a misconfigured schedule from hammering a site.
const minSourceInterval = time.Minute

// minRetention is the Temporal server's minimum for local namespaces
// (system.namespaceMinRetentionLocal).
const minRetention = time.Hour

type validator struct {
	org  origins
	errs ValidationErrors
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Origin: v.org.lookup(path), Msg: fmt.Sprintf(format, args...)})
}

func (c *Config) validate(o options, org origins) ValidationErrors {
	v := &validator{org: org}

	v.nonEmpty("data_dir", c.DataDir)

	v.oneOf("log.level", strings.ToLower(c.Log.Level), "debug", "info", "warn", "error")
	v.oneOf("log.format", strings.ToLower(c.Log.Format), LogFormatText, LogFormatJSON)

	v.dsn("database.dsn", c.Database.DSN)

	if c.Temporal.Address != "" {
		v.hostPort("temporal.address", c.Temporal.Address, false)
	}
	v.nonEmpty("temporal.namespace", c.Temporal.Namespace)
	v.nonEmpty("temporal.task_queue", c.Temporal.TaskQueue)
	if c.Temporal.Retention < minRetention {
		v.add("temporal.retention", "must be at least %s, Temporal's minimum (got %s)", minRetention, c.Temporal.Retention)
	}

	if _, err := ParseQueues(c.Worker.Queues); err != nil {
		v.add("worker.queues", "%v", err)
	}
	v.atLeast("worker.crawl_slots", int64(c.Worker.CrawlSlots), 1)
	v.atLeast("worker.scan_slots", int64(c.Worker.ScanSlots), 1)

	v.hostPort("web.listen", c.Web.Listen, true)
	if c.Metrics.Listen != "" {
		v.hostPort("metrics.listen", c.Metrics.Listen, true)
	}
	v.httpURL("web.base_url", c.Web.BaseURL)
	v.positiveDuration("web.session_ttl", c.Web.SessionTTL)
	v.atLeast("web.max_login_failures", int64(c.Web.MaxLoginFailures), 1)
	v.positiveDuration("web.lockout_duration", c.Web.LockoutDuration)
	v.positiveDuration("web.session_idle_timeout", c.Web.SessionIdleTimeout)
	v.atLeast("web.account_login_failures", int64(c.Web.AccountLoginFailures), 1)

	v.nonEmpty("crawler.user_agent", c.Crawler.UserAgent)
	v.proxy("crawler.proxy", c.Crawler.Proxy)
	v.atLeast("crawler.max_depth", int64(c.Crawler.MaxDepth), 0)
	v.atLeast("crawler.max_pages", int64(c.Crawler.MaxPages), 1)
	v.atLeast("crawler.max_page_bytes", c.Crawler.MaxPageBytes, 1)
	v.atLeast("crawler.max_download_bytes", c.Crawler.MaxDownloadBytes, 1)
	v.atLeast("crawler.max_redirects", int64(c.Crawler.MaxRedirects), 0)
	v.positiveDuration("crawler.dial_timeout", c.Crawler.DialTimeout)
	v.positiveDuration("crawler.header_timeout", c.Crawler.HeaderTimeout)
	v.positiveDuration("crawler.idle_timeout", c.Crawler.IdleTimeout)
	v.atLeast("crawler.workers", int64(c.Crawler.Workers), 1)
	if s := c.Evidence.TSAURL; s != "" {
		if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			v.add("evidence.tsa_url", "must be empty or an http:// or https:// URL (got %q)", s)
		}
	}
	for i, n := range c.Crawler.AllowNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			if _, aerr := netip.ParseAddr(n); aerr != nil {
				v.add(fmt.Sprintf("crawler.allow_networks[%d]", i), "must be a network in CIDR form (e.g. 10.1.0.0/16) or an address (got %q)", n)
			}
		}
	}
	for i, r := range c.Evidence.Recipients {
		if _, err := age.ParseX25519Recipient(strings.TrimSpace(r)); err != nil {
			v.add(fmt.Sprintf("evidence.recipients[%d]", i), "must be an age public key (age1…; got %q)", r)
		}
	}
	v.atLeast("retention.content_days", int64(c.Retention.ContentDays), 0)
	v.atLeast("retention.closed_case_days", int64(c.Retention.ClosedCaseDays), 0)
	v.atLeast("crawler.min_rate", c.Crawler.MinRate, 1)
	v.positiveDuration("crawler.slow_grace", c.Crawler.SlowGrace)
	v.positiveDuration("crawler.run_budget", c.Crawler.RunBudget)
	v.atLeast("crawler.revisit_pages", int64(c.Crawler.RevisitPages), 0)
	v.atLeast("crawler.revisit_files", int64(c.Crawler.RevisitFiles), 0)
	v.atLeast("crawler.host_budget", int64(c.Crawler.HostBudget), 0)

	v.nonEmpty("smtp.host", c.SMTP.Host)
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		v.add("smtp.port", "must be between 1 and 65535 (got %d)", c.SMTP.Port)
	}
	if c.SMTP.Password != "" && c.SMTP.PasswordFile != "" {
		v.add("smtp.password_file", "set either smtp.password or smtp.password_file, not both")
	}
	v.address("smtp.from", c.SMTP.From)
	v.oneOf("smtp.tls", c.SMTP.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	v.positiveDuration("smtp.timeout", c.SMTP.Timeout)
	// One SMTP transaction must end well inside the send activity's
	// 2-minute limit, or a stalled relay would be retried while the first
	// attempt still runs.
	if c.SMTP.Timeout > 90*time.Second {
		v.add("smtp.timeout", "must be at most 90s (a notice's send attempt is limited to 2 minutes)")
	}

	if c.Notices.DefaultRecipient != "" {
		v.address("notices.default_recipient", c.Notices.DefaultRecipient)
	}
	hosts := make([]string, 0, len(c.Notices.Recipients))
	for h := range c.Notices.Recipients {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		p := mapKeyPath("notices.recipients", h)
		if strings.TrimSpace(h) == "" {
			v.add(p, "host must not be empty")
			continue
		}
		v.address(p, c.Notices.Recipients[h])
	}
	v.positiveDuration("notices.removal_deadline", c.Notices.RemovalDeadline)
	v.positiveDuration("notices.follow_up_after", c.Notices.FollowUpAfter)
	v.positiveDuration("notices.escalate_after", c.Notices.EscalateAfter)
	if c.Notices.EscalateAfter > 0 && c.Notices.EscalateAfter <= c.Notices.FollowUpAfter {
		v.add("notices.escalate_after", "must be longer than notices.follow_up_after (%s): escalation comes after the follow-up", c.Notices.FollowUpAfter)
	}
	for _, h := range sortedKeys(c.Notices.Escalation) {
		v.address(mapKeyPath("notices.escalation", h), c.Notices.Escalation[h])
	}
	for _, h := range sortedKeys(c.Notices.RecipientTypes) {
		v.oneOf(mapKeyPath("notices.recipient_types", h), c.Notices.RecipientTypes[h],
			"hosting", "registrar", "cdn", "forum", "filehost", "telegram", "search-engine")
	}
	for _, p := range []struct{ path, addr string }{{"notices.police", c.Notices.Police}, {"notices.regulator", c.Notices.Regulator}} {
		if p.addr != "" {
			v.address(p.path, p.addr)
		}
	}
	v.oneOf("notices.triage", c.Notices.Triage, TriageRequired, TriageExact, TriageAuto)
	if c.Notices.DraftDelay < 0 {
		v.add("notices.draft_delay", "must not be negative")
	}
	if len(c.Notices.VerifySchedule) == 0 {
		v.add("notices.verify_schedule", "needs at least one re-check time, e.g. [6h, 24h, 72h]")
	}
	for i, d := range c.Notices.VerifySchedule {
		p := fmt.Sprintf("notices.verify_schedule[%d]", i)
		v.positiveDuration(p, d)
		if i > 0 && d <= c.Notices.VerifySchedule[i-1] {
			v.add(p, "must be later than the re-check before it")
		}
	}
	v.positiveDuration("notices.verify_every", c.Notices.VerifyEvery)
	v.positiveDuration("notices.verify_for", c.Notices.VerifyFor)
	if c.Notices.RDAPServer != "" {
		v.httpURL("notices.rdap_server", c.Notices.RDAPServer)
	}

	fp := c.Fingerprints
	v.atLeast("fingerprints.workers", int64(fp.Workers), 0)
	v.atLeast("fingerprints.max_analyze_bytes", fp.MaxAnalyzeBytes, 1)
	v.pdftotext("fingerprints.pdftotext", fp.PDFToText)
	v.program("fingerprints.ocr", fp.OCR, "tesseract")
	v.positiveDuration("fingerprints.ocr_page_timeout", fp.OCRPageTimeout)
	th := fp.Thresholds
	// Below ~50 characters a shared run is a phrase, not a copied passage.
	v.between("fingerprints.thresholds.winnow_min_run", th.WinnowMinRun, 50, 100000)
	v.between("fingerprints.thresholds.winnow_min_unique", th.WinnowMinUnique, 1, 20)
	v.between("fingerprints.thresholds.winnow_max_holders", th.WinnowMaxHolders, 0, 16)
	v.atLeast("fingerprints.thresholds.boilerplate_refs", int64(th.BoilerplateRefs), 0)
	v.between("fingerprints.thresholds.tlsh_auto", th.TLSHAuto, 1, 300)
	v.between("fingerprints.thresholds.tlsh_review", th.TLSHReview, th.TLSHAuto, 300)
	// Unrelated photos sit ~128 bits apart; past 63 matches become noise.
	v.between("fingerprints.thresholds.pdq_max", th.PDQMax, 1, 63)
	v.between("fingerprints.thresholds.pdq_min_quality", th.PDQMinQuality, 1, 100)
	// The NHI checksum is weak: a record needs a second field to match.
	v.between("fingerprints.thresholds.edm_min_fields", th.EDMMinFields, 2, 4)

	in := c.Injunction
	if o.requireInjunction {
		for _, p := range in.Missing() {
			v.add(p, "required to draft takedown notices (set it in the config file or %s)", envName(p))
		}
	}
	if d := strings.TrimSpace(in.DateOfOrders); d != "" {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			v.add("injunction.date_of_orders", "must be a date as YYYY-MM-DD (got %q)", in.DateOfOrders)
		}
	}
	if strings.TrimSpace(in.Contact.Email) != "" {
		v.address("injunction.contact.email", in.Contact.Email)
	}
	if in.OrderPDF != "" {
		v.readablePDF("injunction.order_pdf", in.OrderPDF)
	}

	v.telegram(c.Telegram)
	names := map[string]int{}
	for i, s := range c.Sources {
		p := indexPath("sources", i)
		v.uniqueName(p, "source", "sources", s.Name, names, i)
		v.oneOf(p+".kind", s.Kind, SourceKinds...)
		for j, re := range s.Allow {
			v.regexp(fmt.Sprintf("%s.allow[%d]", p, j), re)
		}
		for j, re := range s.Deny {
			v.regexp(fmt.Sprintf("%s.deny[%d]", p, j), re)
		}
		for j, t := range s.WatchTerms {
			if len(t) > 2 && strings.HasPrefix(t, "/") && strings.HasSuffix(t, "/") {
				v.regexp(fmt.Sprintf("%s.watch_terms[%d]", p, j), t[1:len(t)-1])
			}
		}
		v.atLeast(p+".max_file_bytes", s.MaxFileBytes, 0)
		v.atLeast(p+".workers", int64(s.Workers), 0)
		if s.Rate < 0 {
			v.add(p+".rate", "must not be negative (got %g)", s.Rate)
		}
		v.proxy(p+".proxy", s.Proxy)
		if l := s.Login; l.URL != "" {
			v.httpURL(p+".login.url", l.URL)
			if l.User == "" {
				v.add(p+".login.user", "must not be empty when login is set")
			}
			if strings.HasPrefix(strings.ToUpper(l.PasswordEnv), EnvPrefix) {
				v.add(p+".login.password_env", "must not be one of leakwatch's own %s* variables (got %s)", EnvPrefix, l.PasswordEnv)
			}
			if (l.PasswordEnv == "") == (l.PasswordFile == "") {
				v.add(p+".login", "needs exactly one of password_env and password_file (the password is never put in this file)")
			}
		}
		if s.Kind == "telegram" {
			v.telegramSource(p, s, c.Telegram)
		} else {
			v.httpURL(p+".url", s.URL)
		}
		if s.Every < 0 || (s.Every > 0 && s.Every < minSourceInterval) {
			v.add(p+".every", "must be 0 (manual only) or at least %s (got %s)", minSourceInterval, s.Every)
		}
	}
	v.webhooks(c.Webhooks)
	return v.errs
}

// envVarName is what a secret_env may be: a portable variable name.
var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// webhooks checks the webhooks section: unique names, https (plain http
// only to loopback, where nothing is on the wire), a secret from the
// environment, known events.
func (v *validator) webhooks(ws []WebhookConfig) {
	names := map[string]int{}
	for i, w := range ws {
		p := indexPath("webhooks", i)
		v.uniqueName(p, "webhook", "webhooks", w.Name, names, i)
		u, err := url.Parse(w.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.add(p+".url", "must be an absolute https:// URL (got %q)", w.URL)
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			v.add(p+".url", "must use https:// (plain http:// only to a loopback address)")
		case u.User != nil:
			v.add(p+".url", "must not hold a user or password")
		}
		if !envVarName.MatchString(w.SecretEnv) {
			v.add(p+".secret_env", "must name the environment variable holding the signing secret, like SIEM_WEBHOOK_SECRET (the value is not shown: it may be the secret, which never goes in this file)")
		}
		if len(w.Events) == 0 {
			v.add(p+".events", "must list at least one of %s", strings.Join(WebhookEvents, ", "))
		}
		for j, e := range w.Events {
			v.oneOf(fmt.Sprintf("%s.events[%d]", p, j), e, WebhookEvents...)
		}
	}
}

// isLoopbackHost reports a loopback address or the name localhost.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// telegramSource checks a telegram source: a channel named the way
// Telegram names them (crawlers/tgmonitor parses it fully), an account that
// exists, known media types.
func (v *validator) telegramSource(p string, s SourceConfig, tc TelegramConfig) {
	u := strings.TrimSpace(s.URL)
	if !strings.HasPrefix(u, "@") && !strings.Contains(u, "t.me/") && !strings.Contains(u, "telegram.me/") && !strings.HasPrefix(u, "tg://") {
		v.add(p+".url", "must be a Telegram channel: @username, https://t.me/username or an invite link https://t.me/+HASH (got %q)", s.URL)
	}
	if len(tc.Accounts) == 0 {
		v.add(p, "telegram sources need an account under telegram.accounts")
	}
	if a := s.Telegram.Account; a != "" && !slices.ContainsFunc(tc.Accounts, func(c TelegramAccountConfig) bool { return c.Name == a }) {
		v.add(p+".telegram.account", "no account %q under telegram.accounts", a)
	}
	v.atLeast(p+".telegram.backfill_count", int64(s.Telegram.BackfillCount), 0)
	if d := s.Telegram.BackfillSince; d != "" {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			v.add(p+".telegram.backfill_since", "must be a date YYYY-MM-DD (got %q)", d)
		}
	}
	for j, m := range s.Telegram.Media {
		v.oneOf(fmt.Sprintf("%s.telegram.media[%d]", p, j), m, "document", "photo")
	}
}

// telegram checks the telegram section.
func (v *validator) telegram(t TelegramConfig) {
	if len(t.Accounts) > 0 {
		if t.APIID <= 0 {
			v.add("telegram.api_id", "must be set when accounts are (from my.telegram.org)")
		}
		if (t.APIHash == "") == (t.APIHashFile == "") {
			v.add("telegram", "needs exactly one of api_hash and api_hash_file when accounts are set")
		}
	}
	names := map[string]bool{}
	for i, a := range t.Accounts {
		p := indexPath("telegram.accounts", i)
		switch {
		case strings.TrimSpace(a.Name) == "":
			v.add(p+".name", "must not be empty")
		case names[a.Name]:
			v.add(p+".name", "duplicate account name %q", a.Name)
		}
		names[a.Name] = true
		if !phoneRE.MatchString(a.Phone) {
			v.add(p+".phone", "must be an international number such as +442071234567 (got %q)", a.Phone)
		}
	}
	if t.MaxFloodWait < 0 {
		v.add("telegram.max_flood_wait", "must not be negative (got %s)", t.MaxFloodWait)
	}
	if t.Rate < 0 {
		v.add("telegram.rate", "must not be negative (got %g)", t.Rate)
	}
	for i, a := range t.AbuseAddresses {
		v.address(fmt.Sprintf("telegram.abuse_addresses[%d]", i), a)
	}
}

var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// envName is the override variable for a yaml path (see Fields).
func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func (v *validator) nonEmpty(path, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(path, "must not be empty")
	}
}

func (v *validator) regexp(path, expr string) {
	if _, err := regexp.Compile(expr); err != nil {
		v.add(path, "not a valid regular expression: %v", err)
	}
}

func (v *validator) oneOf(path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), s)
	}
}

func (v *validator) atLeast(path string, n, min int64) {
	if n < min {
		v.add(path, "must be at least %d (got %d)", min, n)
	}
}

func (v *validator) between(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(path, "must be between %d and %d (got %d)", lo, hi, n)
	}
}

func (v *validator) positiveDuration(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be a positive duration such as 30s or 12h (got %s)", d)
	}
}

// hostPort checks host:port; listen addresses may leave the host empty (all interfaces)
// and use port 0 (any free port), dial addresses may not.
func (v *validator) hostPort(path, s string, listen bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(path, "must be host:port (got %q)", s)
		return
	}
	if host == "" && !listen {
		v.add(path, "must name a host, as host:port (got %q)", s)
		return
	}
	n, err := strconv.Atoi(port)
	minPort := 1
	if listen {
		minPort = 0
	}
	if err != nil || n < minPort || n > 65535 {
		v.add(path, "port must be a number between %d and 65535 (got %q)", minPort, s)
	}
}

func (v *validator) httpURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "must be an absolute http:// or https:// URL (got %q)", s)
	}
}

func (v *validator) proxy(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !slices.Contains([]string{"socks5", "socks5h", "http", "https"}, u.Scheme) {
		// The value may carry proxy credentials: show only its scheme.
		scheme := ""
		if err == nil {
			scheme = u.Scheme
		}
		v.add(path, "must be empty or a socks5://, socks5h://, http:// or https:// URL with a host (got scheme %q)", scheme)
	}
}

// dsn accepts the forms storage understands; the value may hold a password,
// so it is never echoed.
func (v *validator) dsn(path, s string) {
	switch {
	case s == "":
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			v.add(path, "is not a valid PostgreSQL URL (check that special characters in the password are %%-encoded)")
		}
	case strings.HasPrefix(s, "sqlite:"):
		if sqlitePath(s) == "" {
			v.add(path, "sqlite: needs a file path, e.g. sqlite:/var/lib/leakwatch/leakwatch.db")
		}
	case strings.HasSuffix(s, ".db") && !strings.Contains(s, "://"):
	default:
		v.add(path, "must be empty (SQLite in data_dir), postgres://…, postgresql://… or sqlite:PATH")
	}
}

// address checks an e-mail address, bare or as "Name <addr>".
func (v *validator) address(path, s string) {
	if _, err := mail.ParseAddress(s); err != nil {
		v.add(path, "must be an e-mail address (got %q)", s)
	}
}

// pdftotext checks auto, off or the program's path now, so a wrong path fails
// at start rather than as a warning on every PDF read.
func (v *validator) pdftotext(path, s string) { v.program(path, s, "pdftotext") }

// program checks a setting that is auto, off or the path of the external
// program name (the pdftotext and ocr settings).
func (v *validator) program(path, s, name string) {
	if s == "auto" || s == "off" {
		return
	}
	want := "must be auto, off or the path of the " + name + " program"
	if strings.TrimSpace(s) == "" {
		v.add(path, "%s (got %q)", want, s)
		return
	}
	// exec.LookPath is the check the extractor's resolution makes: an
	// executable regular file (a bare name is looked up on $PATH).
	if _, err := exec.LookPath(s); err != nil {
		why := "not an executable file"
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			why = "not found"
		}
		v.add(path, "%s (%s: %s)", want, s, why)
	}
}

// readablePDF opens the order now so a wrong path fails at start, not when the
// first notice is sent.
func (v *validator) readablePDF(path, file string) {
	f, err := os.Open(file)
	if err != nil {
		v.add(path, "the order PDF must exist and be readable: %v", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		v.add(path, "the order PDF must exist and be readable: %v", err)
		return
	}
	if !fi.Mode().IsRegular() {
		v.add(path, "the order PDF must be a regular file (%s is not)", file)
		return
	}
	head := make([]byte, 5)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte("%PDF-")) {
		v.add(path, "%s is not a PDF (it does not start with %%PDF-)", file)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// uniqueName checks that the name of entry i of list (at path p) is set
// and not taken by an earlier entry; seen maps names to their entries.
func (v *validator) uniqueName(p, what, list, name string, seen map[string]int, i int) {
	switch first, dup := seen[name]; {
	case strings.TrimSpace(name) == "":
		v.add(p+".name", "must not be empty")
	case dup:
		v.add(p+".name", "duplicate %s name %q (also %s[%d])", what, name, list, first)
	default:
		seen[name] = i
	}
}
