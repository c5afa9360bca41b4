package config

import (
	"strings"
	"time"
)

// DefaultFileName is the config file FindDefault looks for.
const DefaultFileName = "leakwatch.yaml"

// Values of LogConfig.Format.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Values of SMTPConfig.TLS.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses to send without it.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "implicit"
	// TLSNone sends in clear text; only sensible for a relay on loopback.
	TLSNone = "none"
)

// Values of FingerprintsConfig.PDFToText besides a path; the same spellings
// as extract.ResolvePDFToText, which turns them into what the extractor runs.
const (
	// PDFToTextAuto runs pdftotext when it is on $PATH.
	PDFToTextAuto = "auto"
	// PDFToTextOff never runs external programs on documents.
	PDFToTextOff = "off"
)

// Values of FingerprintsConfig.OCR besides a path; the same spellings as
// ocr.Resolve.
const (
	// OCRAuto runs tesseract when it is on $PATH.
	OCRAuto = "auto"
	// OCROff never reads the text of images.
	OCROff = "off"
)

// SourceKinds are the source kinds (storage.SourceKind holds the same;
// a test keeps them in step). "web" is the generic kind's old name.
var SourceKinds = []string{"forum", "leakblog", "paste", "opendir", "filehost", "generic", "telegram", "web"}

// Worker queues (worker.queues): each is served on the task queue
// <temporal.task_queue>-<name>.
const (
	QueueCrawl  = "crawl"
	QueueScan   = "scan"
	QueueNotify = "notify"
)

// WorkerQueues are the queues a worker may serve, in the order workers
// start them.
var WorkerQueues = []string{QueueCrawl, QueueScan, QueueNotify}

// Database drivers returned by (*Config).ResolveDatabase.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Default returns a configuration with a default for every field. It validates
// as is, except that the injunction (which only the operator can know) is empty,
// so it fails Validate(RequireInjunction(true)).
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Log: LogConfig{
			Level:  "info",
			Format: LogFormatText,
		},
		Database: DatabaseConfig{DSN: ""},
		Temporal: TemporalConfig{
			Address:   "",
			Namespace: "leakwatch",
			TaskQueue: "leakwatch",
			// The embedded server's default is 24 h; our DB is the system of record,
			// but case histories are worth keeping for a month.
			Retention: 720 * time.Hour,
		},
		Worker: WorkerConfig{
			Queues: strings.Join(WorkerQueues, ","),
			// Crawls wait on the network (and Tor) far more than on the CPU.
			CrawlSlots: 4,
			// Each scan uses every core (fingerprints.workers): two
			// overlap one run's database writes with another's matching.
			ScanSlots: 2,
		},
		Web: WebConfig{
			Listen:           "127.0.0.1:8080",
			BaseURL:          "http://127.0.0.1:8080",
			SessionTTL:       12 * time.Hour,
			MaxLoginFailures: 5,
			LockoutDuration:  15 * time.Minute,
			// Sliding: each use extends it (at most once a minute).
			SessionIdleTimeout:   30 * time.Minute,
			AccountLoginFailures: 20,
		},
		Crawler: CrawlerConfig{
			UserAgent:        "leakwatch/0.1 (+takedown monitoring)",
			Proxy:            "",
			MaxDepth:         3,
			MaxPages:         500,
			MaxPageBytes:     10 << 20,
			MaxDownloadBytes: 512 << 20,
			MaxRedirects:     5,
			DialTimeout:      15 * time.Second,
			HeaderTimeout:    30 * time.Second,
			IdleTimeout:      60 * time.Second,
			Workers:          4,
			MinRate:          4 << 10,
			SlowGrace:        30 * time.Second,
			RunBudget:        6 * time.Hour,
			RevisitPages:     24 * time.Hour,
			RevisitFiles:     7 * 24 * time.Hour,
		},
		SMTP: SMTPConfig{
			Host:    "127.0.0.1",
			Port:    25,
			From:    "takedowns@localhost",
			TLS:     TLSStartTLS,
			Timeout: 30 * time.Second,
		},
		// Scraped content is leaked personal data: kept only while it can
		// matter. A quarter covers triage, notice and verified removal of
		// most cases; a closed case's evidence stays half a year for
		// complaints and proceedings.
		Retention: RetentionConfig{ContentDays: 90, ClosedCaseDays: 180},
		Telegram: TelegramConfig{
			MaxFloodWait: 5 * time.Minute,
			Rate:         2,
			// Telegram's addresses for illegal public content and for
			// copyright (DESIGN.md §5).
			AbuseAddresses: []string{"abuse@telegram.org", "dmca@telegram.org"},
			ReportInApp:    true,
		},
		Notices: NoticesConfig{
			RemovalDeadline: 48 * time.Hour,
			FollowUpAfter:   72 * time.Hour,
			TwoPersonRule:   false,
			EscalateAfter:   5 * 24 * time.Hour,
			Triage:          TriageRequired,
			DraftDelay:      time.Minute,
			VerifySchedule:  []time.Duration{6 * time.Hour, 24 * time.Hour, 72 * time.Hour},
			VerifyEvery:     24 * time.Hour,
			VerifyFor:       30 * 24 * time.Hour,
			SecurityTxt:     true,
			RDAP:            true,
		},
		Fingerprints: FingerprintsConfig{
			MaxAnalyzeBytes: 256 << 20,
			PDFToText:       PDFToTextAuto,
			OCR:             OCRAuto,
			OCRPageTimeout:  20 * time.Second,
			Thresholds: ThresholdsConfig{
				WinnowMinRun:    180,
				WinnowMinUnique: 2,
				TLSHAuto:        30,
				TLSHReview:      100,
				PDQMax:          31,
				PDQMinQuality:   50,
				EDMMinFields:    2,
			},
		},
		Injunction: InjunctionConfig{
			Defendants: "Unknown Defendants",
		},
	}
}
