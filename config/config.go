// Package config holds leakwatch's configuration: options with defaults, a YAML
// parser that remembers where each field was written, LEAKWATCH_* environment
// overrides, and validators whose errors name the field and its file line.
package config

import "time"

// Config is the whole configuration. Every field has a default (see Default).
type Config struct {
	// DataDir holds the embedded databases, WARC/evidence files and runtime state.
	DataDir      string             `yaml:"data_dir"`
	Log          LogConfig          `yaml:"log"`
	Database     DatabaseConfig     `yaml:"database"`
	Temporal     TemporalConfig     `yaml:"temporal"`
	Worker       WorkerConfig       `yaml:"worker"`
	Web          WebConfig          `yaml:"web"`
	Crawler      CrawlerConfig      `yaml:"crawler"`
	SMTP         SMTPConfig         `yaml:"smtp"`
	Notices      NoticesConfig      `yaml:"notices"`
	Injunction   InjunctionConfig   `yaml:"injunction"`
	Fingerprints FingerprintsConfig `yaml:"fingerprints"`
	Evidence     EvidenceConfig     `yaml:"evidence"`
	Retention    RetentionConfig    `yaml:"retention"`
	Telegram     TelegramConfig     `yaml:"telegram"`
	Sources      []SourceConfig     `yaml:"sources"`
	Webhooks     []WebhookConfig    `yaml:"webhooks"`
	Metrics      MetricsConfig      `yaml:"metrics"`
}

// EvidenceConfig is how crawls are kept as court-grade evidence. Every
// fetch is written as WARC under <data_dir>/evidence and each run is sealed
// with a Merkle root over its captures.
type EvidenceConfig struct {
	// TSAURL, if set, is an RFC 3161 timestamp authority that timestamps
	// each run's Merkle root.
	TSAURL string `yaml:"tsa_url"`
	// KeyFile holds the age identity (`leakwatch evidence keygen` or
	// `age-keygen`) that encrypts the evidence at rest and opens it for
	// `evidence verify|export`; LEAKWATCH_EVIDENCE_KEY (the identity
	// itself) wins over it. Keep it outside the data directory.
	KeyFile string `yaml:"key_file"`
	// Recipients are age public keys (age1…) the evidence is encrypted to
	// as well — or only, on hosts that write evidence and never read it.
	// With neither, evidence is kept unencrypted (and `up` says so).
	Recipients []string `yaml:"recipients"`
}

// RetentionConfig is how long scraped content (the WARC evidence of
// crawls) is kept; fingerprints, capture rows, digests, hits and seals are
// kept for ever. `leakwatch gc` (and `up`, daily) applies it.
type RetentionConfig struct {
	// ContentDays: a run's content is removed this many days after the
	// run, unless it is evidence of an open case or under legal hold.
	// 0 keeps it for ever.
	ContentDays int `yaml:"content_days"`
	// ClosedCaseDays: evidence of a closed case is kept this many days
	// after it closed (and at least ContentDays after the run).
	ClosedCaseDays int `yaml:"closed_case_days"`
}

// FingerprintsConfig configures recognising the breach's documents.
type FingerprintsConfig struct {
	// KeyFile holds the secret fingerprint key (hex or base64, >= 32 bytes);
	// LEAKWATCH_FINGERPRINT_KEY wins over it. Never put the key in the database.
	KeyFile string `yaml:"key_file"`
	// Passwords are tried on encrypted archives (leakers post them with the link).
	Passwords []string `yaml:"passwords"`
	// Workers fingerprint files in parallel; 0 = one per CPU.
	Workers int `yaml:"workers"`
	// MaxAnalyzeBytes: larger downloads are matched by SHA-256 only.
	MaxAnalyzeBytes int64 `yaml:"max_analyze_bytes"`
	// PDFToText says whether poppler's pdftotext reads the PDFs the built-in
	// reader cannot: PDFToTextAuto (when on $PATH), PDFToTextOff, or the
	// program's path.
	PDFToText string `yaml:"pdftotext"`
	// OCR says whether Tesseract reads scanned and photographed pages
	// (image-only PDF pages, images that look like a page of text) so they
	// match by their text too: OCRAuto (when on $PATH), OCROff, or the
	// program's path.
	OCR string `yaml:"ocr"`
	// OCRPageTimeout bounds recognising one page; it also counts against
	// the document's own extraction time.
	OCRPageTimeout time.Duration `yaml:"ocr_page_timeout"`
	// Thresholds decide what counts as a match.
	Thresholds ThresholdsConfig `yaml:"thresholds"`
}

// ThresholdsConfig decides what the fingerprint layers count as a match.
type ThresholdsConfig struct {
	// WinnowMinRun: an excerpt matches when it shares a run of at least
	// this many normalised characters with a reference (measured from the
	// first shared fingerprint to the end of the last).
	WinnowMinRun int `yaml:"winnow_min_run"`
	// WinnowMinUnique: stretches of that run that no other reference holds.
	WinnowMinUnique int `yaml:"winnow_min_unique"`
	// WinnowMaxHolders: a run whose stretches are each held by at most
	// this many references together (a passage one document quotes from
	// another) matches every holder; 0 = 3, 1 = only runs in one reference.
	WinnowMaxHolders int `yaml:"winnow_max_holders"`
	// BoilerplateRefs: a text fingerprint found in more references than
	// this is boilerplate (letterheads, form labels); 0 = automatic.
	BoilerplateRefs int `yaml:"boilerplate_refs"`
	// TLSHAuto and TLSHReview: near-duplicate text below TLSHAuto matches;
	// below TLSHReview it is worth an analyst's look.
	TLSHAuto   int `yaml:"tlsh_auto"`
	TLSHReview int `yaml:"tlsh_review"`
	// PDQMax is the largest PDQ distance (bits of 256) that matches a photo.
	PDQMax int `yaml:"pdq_max"`
	// PDQMinQuality: images whose PDQ quality is lower (flat, featureless)
	// are not matched.
	PDQMinQuality int `yaml:"pdq_min_quality"`
	// EDMMinFields: fields a record must share with a reference record, one
	// of them the NHI or e-mail.
	EDMMinFields int `yaml:"edm_min_fields"`
}

// LogConfig selects the slog handler.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // text|json
}

// DatabaseConfig selects the app database.
type DatabaseConfig struct {
	// DSN empty means SQLite at <data_dir>/leakwatch.db; "postgres://…" selects PostgreSQL;
	// "sqlite:PATH" or a path ending in .db selects SQLite at PATH.
	DSN string `yaml:"dsn"`
}

// TemporalConfig says where the Temporal cluster is.
type TemporalConfig struct {
	// Address empty means: start and supervise the embedded leakwatch-temporal.
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TaskQueue string `yaml:"task_queue"`
	// ServerBinary is the path of leakwatch-temporal; empty means next to the leakwatch executable, then $PATH.
	ServerBinary string `yaml:"server_binary"`
	// Retention of closed workflows in the embedded server's namespace.
	Retention time.Duration `yaml:"retention"`
}

// WorkerConfig says what `leakwatch worker` serves. Every worker polls the
// base task queue (temporal.task_queue: workflows and database-only
// activities); Queues adds the queues of the heavy work, each
// <task_queue>-<name>: crawl (fetching), scan (matching against the
// reference index, which only scan workers load) and notify (sending
// notices). `up` serves all of them.
type WorkerConfig struct {
	// Queues is a comma-separated list of WorkerQueues.
	Queues string `yaml:"queues"`
	// CrawlSlots bounds the crawls (and Telegram listeners) one worker runs
	// at once.
	CrawlSlots int `yaml:"crawl_slots"`
	// ScanSlots bounds the scans of crawl runs' spooled captures (and
	// removal re-checks) one worker runs at once; each scan matches
	// fingerprints.workers captures in parallel.
	ScanSlots int `yaml:"scan_slots"`
}

// MetricsConfig configures the process's own metrics listener.
type MetricsConfig struct {
	// Listen, host:port, serves /metrics, /healthz and /readyz with no
	// login on a listener of their own, in every process (worker, web,
	// up); empty serves none (up and web still serve them on web.listen,
	// to loopback and admins). Anyone who reaches it reads the metrics: keep
	// it on loopback, or on a container's interface inside its network.
	Listen string `yaml:"listen"`
}

// WebConfig configures the UI/API server.
type WebConfig struct {
	Listen  string `yaml:"listen"`   // host:port
	BaseURL string `yaml:"base_url"` // external URL, used in links and to decide Secure cookies
	// SessionTTL is how long a login lasts at most.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SessionIdleTimeout ends a session unused this long.
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// MaxLoginFailures are the free failed logins per account and client
	// network before delays start (1 s, doubling); LockoutDuration is the
	// longest delay. No account is ever locked from everywhere.
	MaxLoginFailures int           `yaml:"max_login_failures"`
	LockoutDuration  time.Duration `yaml:"lockout_duration"`
	// AccountLoginFailures are the free failed logins per account from all
	// networks before browsers that never logged in to it are delayed too.
	AccountLoginFailures int `yaml:"account_login_failures"`
}

// CrawlerConfig bounds every crawl.
type CrawlerConfig struct {
	UserAgent string `yaml:"user_agent"`
	Proxy     string `yaml:"proxy"` // e.g. socks5h://127.0.0.1:9050 for Tor; empty = direct
	// AllowNetworks are non-public networks (CIDR) the crawler may reach;
	// loopback, private, link-local (cloud metadata) and other internal
	// addresses are refused otherwise, after DNS and on every connection.
	// The configured proxy is always allowed.
	AllowNetworks    []string      `yaml:"allow_networks"`
	MaxDepth         int           `yaml:"max_depth"`
	MaxPages         int           `yaml:"max_pages"`
	MaxPageBytes     int64         `yaml:"max_page_bytes"`
	MaxDownloadBytes int64         `yaml:"max_download_bytes"`
	MaxRedirects     int           `yaml:"max_redirects"`
	DialTimeout      time.Duration `yaml:"dial_timeout"`
	HeaderTimeout    time.Duration `yaml:"header_timeout"`
	IdleTimeout      time.Duration `yaml:"idle_timeout"` // no body bytes for this long aborts a download
	Workers          int           `yaml:"workers"`
	// MinRate is the average throughput (bytes/s) a response body must keep
	// once SlowGrace has passed; a drip that is never idle is cut.
	MinRate   int64         `yaml:"min_rate"`
	SlowGrace time.Duration `yaml:"slow_grace"`
	// RunBudget caps one crawl's wall-clock time; the rest waits for the next run.
	RunBudget time.Duration `yaml:"run_budget"`
	// RevisitPages and RevisitFiles are how long a page or file that did
	// not change when last fetched is left alone (0: fetched every run).
	// Listings and live threads change, so they are fetched every run;
	// anything that matched the breach is checked every run.
	RevisitPages time.Duration `yaml:"revisit_pages"`
	RevisitFiles time.Duration `yaml:"revisit_files"`
	// HostBudget caps the requests all sources together send one host per
	// 24 hours (0: no cap).
	HostBudget int `yaml:"host_budget"`
}

// SMTPConfig is the outgoing mail relay for notices.
type SMTPConfig struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	From         string        `yaml:"from"`
	TLS          string        `yaml:"tls"` // starttls|implicit|none
	Timeout      time.Duration `yaml:"timeout"`
}

// NoticesConfig governs drafting, approval and follow-up of takedown notices.
type NoticesConfig struct {
	// DefaultRecipient receives notices for hosts without an entry in Recipients.
	DefaultRecipient string `yaml:"default_recipient"`
	// Recipients maps a host (or channel) to its abuse/takedown address.
	Recipients map[string]string `yaml:"recipients"`
	// RemovalDeadline is the time the notice gives the host to remove the content.
	RemovalDeadline time.Duration `yaml:"removal_deadline"`
	// FollowUpAfter: a sent notice without confirmed removal is followed up after this long.
	FollowUpAfter time.Duration `yaml:"follow_up_after"`
	// TwoPersonRule: the approver must differ from the drafter.
	TwoPersonRule bool `yaml:"two_person_rule"`
	// EscalateAfter: content still up this long after a notice is
	// escalated to the host's upstream (network provider, registrar, CDN).
	EscalateAfter time.Duration `yaml:"escalate_after"`
	// Escalation maps a host to the upstream addresses its escalations go
	// to; without an entry they go to the RDAP abuse contacts of its
	// network and registrar.
	Escalation map[string]string `yaml:"escalation"`
	// RecipientTypes maps a host to the kind of recipient its notices
	// address: hosting, registrar, cdn, forum, filehost, telegram or
	// search-engine (default hosting; t.me targets telegram).
	RecipientTypes map[string]string `yaml:"recipient_types"`
	// Police and Regulator are contacts shown on every case for reports
	// a person decides to make (the privacy regulator, the police unit).
	Police    string `yaml:"police"`
	Regulator string `yaml:"regulator"`
	// Triage: "required" (an analyst confirms each item before it is
	// drafted), "exact" (exact copies are confirmed, partial and similar
	// matches wait for an analyst) or "auto" (every match is confirmed;
	// dismissals still work).
	Triage string `yaml:"triage"`
	// DraftDelay lets a crawl's batches of hits settle into one draft.
	DraftDelay time.Duration `yaml:"draft_delay"`
	// VerifySchedule: re-check listed items this long after the notice
	// is sent, then every VerifyEvery until VerifyFor has passed.
	VerifySchedule []time.Duration `yaml:"verify_schedule"`
	VerifyEvery    time.Duration   `yaml:"verify_every"`
	VerifyFor      time.Duration   `yaml:"verify_for"`
	// SecurityTxt: look up /.well-known/security.txt of a host without a
	// configured recipient (through the crawler's proxy).
	SecurityTxt bool `yaml:"security_txt"`
	// RDAP: look up the RDAP abuse contacts of a host without a
	// configured recipient or security.txt; RDAPServer overrides the
	// IANA bootstrap (a private RDAP mirror).
	RDAP       bool   `yaml:"rdap"`
	RDAPServer string `yaml:"rdap_server"`
}

// Triage modes.
const (
	TriageRequired = "required"
	TriageAuto     = "auto"
	TriageExact    = "exact"
)

// InjunctionConfig describes the court orders every notice cites.
type InjunctionConfig struct {
	Court        string `yaml:"court"`
	FileNumber   string `yaml:"file_number"`
	DateOfOrders string `yaml:"date_of_orders"` // YYYY-MM-DD
	Claimant     string `yaml:"claimant"`
	Defendants   string `yaml:"defendants"` // e.g. "Unknown Defendants"
	// Terms are the operative terms of the orders, quoted verbatim in notices.
	Terms   string        `yaml:"terms"`
	Contact ContactConfig `yaml:"contact"`
	// OrderPDF is the sealed order to attach; empty attaches nothing.
	OrderPDF string `yaml:"order_pdf"`
}

// ContactConfig is who recipients reply to.
type ContactConfig struct {
	Name    string `yaml:"name"`
	Email   string `yaml:"email"`
	Phone   string `yaml:"phone"`
	Address string `yaml:"address"`
}

// TelegramConfig is how leakwatch reads Telegram: as user accounts (a bot
// cannot read channels it does not administer).
type TelegramConfig struct {
	// APIID and APIHash identify the application (my.telegram.org). The
	// hash may come from APIHashFile instead of this file.
	APIID       int    `yaml:"api_id"`
	APIHash     string `yaml:"api_hash"`
	APIHashFile string `yaml:"api_hash_file"`
	// Accounts are the user accounts monitoring may use; a channel names
	// one, or takes the first. Several spread the load.
	Accounts []TelegramAccountConfig `yaml:"accounts"`
	// MaxFloodWait is the longest FLOOD_WAIT a run waits out; a longer one
	// ends the run and shows the account as waiting.
	MaxFloodWait time.Duration `yaml:"max_flood_wait"`
	// Rate is the requests per second one account sends.
	Rate float64 `yaml:"rate"`
	// AbuseAddresses receive takedown notices about channels.
	AbuseAddresses []string `yaml:"abuse_addresses"`
	// ReportInApp also reports a channel's messages through Telegram's
	// in-app report once its notice is sent.
	ReportInApp bool `yaml:"report_in_app"`
}

// TelegramAccountConfig names one account.
type TelegramAccountConfig struct {
	Name  string `yaml:"name"`
	Phone string `yaml:"phone"` // international format, +4420…
}

// TelegramSourceConfig are a telegram source's own settings.
type TelegramSourceConfig struct {
	Account       string   `yaml:"account"`        // empty: the first account
	Join          bool     `yaml:"join"`           // may join the channel (invite links, member-only history)
	BackfillCount int      `yaml:"backfill_count"` // messages of history read (default 1000)
	BackfillSince string   `yaml:"backfill_since"` // YYYY-MM-DD: no older history
	Media         []string `yaml:"media"`          // document, photo (default both)
}

// SourceConfig seeds a monitored source on start (sources may also be added with the CLI/UI).
type SourceConfig struct {
	Name  string        `yaml:"name"`
	Kind  string        `yaml:"kind"` // one of SourceKinds
	URL   string        `yaml:"url"`
	Every time.Duration `yaml:"every"` // crawl interval; 0 = manual only
	// The source's own crawl settings; empty values take the kind's and the
	// crawler section's defaults.
	Selectors    SelectorsConfig `yaml:"selectors"`
	Allow        []string        `yaml:"allow"` // URL regexps: follow only links matching one
	Deny         []string        `yaml:"deny"`  // URL regexps never followed
	MaxFileBytes int64           `yaml:"max_file_bytes"`
	Proxy        string          `yaml:"proxy"`
	Workers      int             `yaml:"workers"`
	Rate         float64         `yaml:"rate"`        // requests per second to the host; 0 = no cap
	FileTypes    []string        `yaml:"file_types"`  // only these files are downloaded (pdf, zip, …); empty = all
	WatchTerms   []string        `yaml:"watch_terms"` // words, or /regexps/, that make a page a keyword hit
	Login        LoginConfig     `yaml:"login"`
	CookiesFile  string          `yaml:"cookies_file"` // Netscape cookies.txt of a browser session
	// Telegram holds a telegram source's settings (kind: telegram; url: a
	// t.me link, @username or invite link).
	Telegram TelegramSourceConfig `yaml:"telegram"`
}

// LoginConfig logs a crawl in through a site's login form. The password
// comes from the environment or a file, never from this file.
type LoginConfig struct {
	URL          string `yaml:"url"`
	UserField    string `yaml:"user_field"`
	PassField    string `yaml:"pass_field"`
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// SelectorsConfig are CSS selectors overriding a source kind's structure.
type SelectorsConfig struct {
	Content string `yaml:"content"` // the posts' bodies: what is matched
	Links   string `yaml:"links"`   // links to follow
	Next    string `yaml:"next"`    // pagination links
	Files   string `yaml:"files"`   // attachment and download links
}

// WebhookConfig is a receiver of leakwatch's events (SIEM, chat relay):
// signed JSON POSTs, see package internal/webhook.
type WebhookConfig struct {
	// Name keys the endpoint's delivery cursor: keep it when changing url.
	Name string `yaml:"name"`
	// URL must be https, except on loopback.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC secret
	// (at least 16 characters); the secret is never put in this file.
	SecretEnv string `yaml:"secret_env"`
	// Events are the kinds sent: item.new, case.state.
	Events []string `yaml:"events"`
}

// WebhookEvents are the event kinds a webhook may subscribe to.
var WebhookEvents = []string{"item.new", "case.state"}
