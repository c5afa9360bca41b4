package storage

import (
	"strings"
	"time"
)

// Source is a place leakwatch watches: a leak forum, blog, paste site or channel.
type Source struct {
	ID        uint64     `gorm:"primaryKey"`
	Name      string     `gorm:"uniqueIndex;not null"`
	Kind      SourceKind `gorm:"not null"`
	URL       string     `gorm:"not null"`
	EverySecs int64      `gorm:"not null;default:0"` // crawl interval; 0 = manual only
	// No gorm default: with one, gorm leaves a false Enabled out of the INSERT
	// and the column's DEFAULT TRUE silently enables the source.
	Enabled bool `gorm:"not null"`
	// Options are the source's own crawl settings.
	Options   SourceOptions `gorm:"serializer:json;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SourceOptions are a source's own crawl settings; zero values take the
// kind's and the configuration's defaults.
type SourceOptions struct {
	// Selectors override the kind's idea of the site's structure (CSS).
	Selectors Selectors `json:"selectors,omitzero"`
	// Allow, if set, lists URL regexps of which a link must match one to be
	// followed; Deny lists URL regexps never followed.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// MaxFileBytes caps each download (0: crawler.max_download_bytes).
	MaxFileBytes int64 `json:"max_file_bytes,omitempty"`
	// Proxy replaces crawler.proxy for this source (socks5h:// for Tor).
	Proxy string `json:"proxy,omitempty"`
	// Workers is how many fetches run at once on the source's host (0:
	// crawler.workers).
	Workers int `json:"workers,omitempty"`
	// Rate caps requests per second to the host (0: none).
	Rate float64 `json:"rate,omitempty"`
	// FileTypes, if set, are the only files downloaded (extensions or
	// sniffed types: pdf, zip, csv, jpg, …).
	FileTypes []string `json:"file_types,omitempty"`
	// WatchTerms are words (matched case-insensitively as whole words) or
	// /regular expressions/ whose appearance in a page's content is a hit
	// of method "keyword", file or no file: the breach's and the company's
	// names, the portal's domain.
	WatchTerms []string `json:"watch_terms,omitempty"`
	// Login logs in through the site's login form. The password is read
	// from the environment or a file when a crawl starts; it is never
	// stored here.
	Login *SourceLogin `json:"login,omitempty"`
	// CookiesFile is a Netscape cookies.txt (a session exported from a
	// browser), read when a crawl starts.
	CookiesFile string `json:"cookies_file,omitempty"`
	// Telegram holds a telegram source's own settings.
	Telegram *TelegramOptions `json:"telegram,omitempty"`
}

// TelegramOptions are how one Telegram channel is watched. MaxFileBytes and
// WatchTerms of SourceOptions apply too.
type TelegramOptions struct {
	// Account names the Telegram account that reads the channel (empty:
	// the first configured).
	Account string `json:"account,omitempty"`
	// Join lets the monitor join the channel (an invite link, or a group
	// that shows history to members only); without it the monitor only
	// reads what a non-member can.
	Join bool `json:"join,omitempty"`
	// BackfillCount and BackfillSince bound how far back the history is
	// read on the first runs: that many messages, and none older than
	// the date. Zero values: 1,000 messages, no date limit.
	BackfillCount int        `json:"backfill_count,omitempty"`
	BackfillSince *time.Time `json:"backfill_since,omitempty"`
	// Media lists the media downloaded: "document", "photo" (default both).
	Media []string `json:"media,omitempty"`
}

// SourceLogin is how to log in to a source.
type SourceLogin struct {
	URL          string `json:"url"`
	UserField    string `json:"user_field,omitempty"` // default "username"
	PassField    string `json:"pass_field,omitempty"` // default "password"
	User         string `json:"user"`
	PasswordEnv  string `json:"password_env,omitempty"`  // environment variable holding the password
	PasswordFile string `json:"password_file,omitempty"` // or a file holding it
}

// PasswordEnvIsOwn reports a password_env among leakwatch's own LEAKWATCH_*
// settings (the fingerprint key, the SMTP password): a login must never
// send one of those to a site.
func (l SourceLogin) PasswordEnvIsOwn() bool {
	return strings.HasPrefix(strings.ToUpper(l.PasswordEnv), "LEAKWATCH_")
}

// Selectors are CSS selectors for a site's structure.
type Selectors struct {
	Content string `json:"content,omitempty"` // the posts' bodies: what is matched
	Links   string `json:"links,omitempty"`   // links to follow (threads, posts)
	Next    string `json:"next,omitempty"`    // pagination links (followed at no depth cost)
	Files   string `json:"files,omitempty"`   // attachment and download links (no depth cost)
}

// Every is the crawl interval.
func (s Source) Every() time.Duration { return time.Duration(s.EverySecs) * time.Second }

// CrawlRun is one crawl of one source.
type CrawlRun struct {
	ID          uint64 `gorm:"primaryKey"`
	SourceID    uint64 `gorm:"index;not null"`
	StartedAt   time.Time
	FinishedAt  *time.Time
	Status      RunStatus `gorm:"index;not null"`
	Error       string
	Pages       int
	Files       int
	Hits        int
	Failed      int        `gorm:"not null;default:0"`  // fetches that captured nothing
	Bytes       int64      `gorm:"not null;default:0"`  // raw bytes received
	Stopped     string     `gorm:"not null;default:''"` // why the crawl ended (budget, done, …)
	Fresh       int        `gorm:"not null;default:0"`  // URLs not fetched: unchanged and checked within their revisit TTL
	Errors      string     `gorm:"not null;default:''"` // failed fetches by kind, as JSON {"timeout": 3}
	HeartbeatAt *time.Time // the crawler's last sign of life
	// The run's seal: a Merkle root (hex) over its captures' payload
	// digests in capture order, and an RFC 3161 token (base64) on it.
	MerkleRoot string `gorm:"not null;default:''"`
	TSAURL     string `gorm:"column:tsa_url;not null;default:''"`
	TSAToken   string `gorm:"column:tsa_token;not null;default:''"`
	StampedAt  *time.Time
}

// Capture is the evidence of one fetch: what was asked for, what came back, and
// the digest of the raw bytes. Content itself is never stored here.
type Capture struct {
	ID          uint64      `gorm:"primaryKey"`
	RunID       uint64      `gorm:"uniqueIndex:idx_capture_run_url;not null"`
	SourceID    uint64      `gorm:"index;not null"`
	Kind        CaptureKind `gorm:"not null"`
	URL         string      `gorm:"uniqueIndex:idx_capture_run_url;not null"`
	FinalURL    string
	Host        string `gorm:"index"`
	FetchedAt   time.Time
	Status      int
	ContentType string // as declared by the server
	SniffedType string // from the bytes
	SHA256      string `gorm:"index"` // hex of the raw payload; empty when nothing was read
	Size        int64
	Truncated   bool   // payload exceeded the cap; SHA256 covers the prefix read
	Error       string // why the fetch failed, if it did
	Refs        int64  // distinct reference files the payload matched
	Patients    int64  // distinct patients those concern
	// Evidence locates the raw exchange in the WARC files (the evidence
	// package's Record, as JSON); empty when nothing was received.
	Evidence  string `gorm:"not null;default:''"`
	Redirects string `gorm:"not null;default:''"` // JSON list of the URLs redirected through
}

// URLState is what the last crawls learnt of one URL of a source.
type URLState struct {
	SourceID        uint64      `gorm:"primaryKey;autoIncrement:false"`
	URL             string      `gorm:"primaryKey"`
	Kind            CaptureKind `gorm:"not null;default:'file'"`
	SHA256          string      `gorm:"column:sha256;not null;default:''"`
	Size            int64       `gorm:"not null;default:0"`
	ETag            string      `gorm:"column:etag;not null;default:''"`
	LastModified    string      `gorm:"not null;default:''"`
	IndexGeneration int64       `gorm:"not null;default:0"` // of the reference index it was matched against
	CaptureID       uint64      `gorm:"not null;default:0"` // the capture that fetched and matched it
	FetchedAt       time.Time
	// ContentSHA256 (pages) digests the page's content and structural
	// links: what a revisit compares, as raw bytes change with every
	// "users online" counter.
	ContentSHA256 string `gorm:"column:content_sha256;not null;default:''"`
	// Changed: the last fetch found the content different from the one
	// before (or it was the first): the page is live, fetched every run.
	Changed bool `gorm:"not null"` // no gorm default: it would write true for false
	// Links (pages) are the structural links (pagination, files) the page
	// had, as a JSON list: followed in its place while it is fresh.
	Links string `gorm:"not null;default:''"`
	// Refs is how many references it matched when last matched.
	Refs int `gorm:"not null;default:0"`
}

// Reference is one known document of the breach. Only its fingerprints are
// kept: text, field and image fingerprints are keyed with the fingerprint key,
// which never enters the database.
type Reference struct {
	ID         uint64 `gorm:"primaryKey"`
	OpaqueID   string `gorm:"uniqueIndex;not null"` // shown to users instead of content
	Name       string // path relative to the indexed directory ("a.zip!/b.pdf" for members); empty with --no-names
	Size       int64
	SHA256     string `gorm:"index;not null"`
	MD5        string // only from imported hash lists
	SHA1       string // only from imported hash lists
	CRC32      int64  `gorm:"column:crc32;not null;default:0"` // CRC-32 (IEEE) of the bytes; with Size, matches archive members from their directory
	Kind       string // sniffed type
	TextDigest string // keyed digest of the normalised text
	TextLen    int64  // normalised text length, in runes
	TLSH       string `gorm:"column:tlsh"` // keyed TLSH of the normalised text
	Prints     int64  // winnowing fingerprints stored for it
	PathMAC    string // keyed MAC of the relative path: resumable imports without storing names
	MTime      int64  `gorm:"column:mtime"` // source file's modification time (Unix ns)
	ParentID   uint64 // the archive reference this one is a member of, or 0
	Error      string // why it could not be fully fingerprinted
	// Segment is the print segment (RefSegment) holding its prints; 0
	// when it has none (or they are in the legacy ref_prints table).
	Segment uint64 `gorm:"not null;default:0"`
	// Retired: replaced by a newer import of its file, kept as history for
	// its hits; it matches nothing.
	Retired   bool `gorm:"not null"` // no gorm default: it would write true for false
	CreatedAt time.Time
}

// Hit is a match between a capture and a reference.
type Hit struct {
	ID           uint64 `gorm:"primaryKey"`
	CaptureID    uint64 `gorm:"uniqueIndex:idx_hit_capture_ref_method;not null"`
	ReferenceID  uint64 `gorm:"uniqueIndex:idx_hit_capture_ref_method;not null"`
	Method       string `gorm:"uniqueIndex:idx_hit_capture_ref_method;not null"`
	Score        float64
	Why          string
	Target       string `gorm:"index;not null"` // host or channel the case is about
	CreatedAt    time.Time
	DispatchedAt *time.Time `gorm:"index"`              // when the case workflow was signalled
	ItemID       uint64     `gorm:"not null;default:0"` // the case item (URL) it belongs to, once the case took it in
}

// Case is one takedown effort against one host or channel.
type Case struct {
	ID          uint64    `gorm:"primaryKey"`
	Target      string    `gorm:"uniqueIndex;not null"`
	WorkflowID  string    `gorm:"uniqueIndex;not null"`
	State       CaseState `gorm:"not null"`
	Recipient   string
	OpenedAt    time.Time
	UpdatedAt   time.Time
	ClosedAt    *time.Time
	AckedAt     *time.Time // when the host's reply was recorded
	AckNote     string     `gorm:"not null;default:''"`
	VerifiedAt  *time.Time // when every listed item was last found removed
	EscalatedAt *time.Time
	Reopened    int    `gorm:"not null;default:0"`  // times removed content came back
	Detail      string `gorm:"not null;default:''"` // why the case waits (e.g. what recipient lookups tried)
}

// CaseItem is one infringing URL or message of a case, with what people
// and re-checks decided about it. Its hits (one per reference and layer)
// point at it.
type CaseItem struct {
	ID             uint64 `gorm:"primaryKey"`
	CaseID         uint64 `gorm:"not null"`
	URL            string `gorm:"not null"`
	FirstCaptureID uint64 `gorm:"not null;default:0"`
	LastCaptureID  uint64 `gorm:"not null;default:0"`
	SHA256         string `gorm:"column:sha256;not null;default:''"`
	Size           int64  `gorm:"not null;default:0"`
	CapturedAt     time.Time
	State          ItemState `gorm:"not null;default:'new'"`
	Reason         string    `gorm:"not null;default:''"` // why dismissed
	TriagedBy      string    `gorm:"not null;default:''"`
	TriagedAt      *time.Time
	NoticeID       uint64 `gorm:"not null;default:0"` // the first sent notice that listed it
	ListedAt       *time.Time
	RemovedAt      *time.Time
	CheckedAt      *time.Time
	CheckResult    string `gorm:"not null;default:''"`
	Checks         int    `gorm:"not null;default:0"`
	Reappeared     int    `gorm:"not null;default:0"` // times it came back after removal
	// Earlier lists (comma-separated ids) the sent notices of other cases
	// that listed content matching the same references: the item is a
	// mirror of content already noticed elsewhere.
	Earlier   string `gorm:"not null;default:''"`
	CreatedAt time.Time
}

// NoticedRef records that a sent notice listed content matching a
// reference: content found later on another target is a mirror of it.
type NoticedRef struct {
	ReferenceID uint64 `gorm:"primaryKey;autoIncrement:false"`
	NoticeID    uint64 `gorm:"primaryKey;autoIncrement:false"`
	CaseID      uint64 `gorm:"not null"`
}

// RemovalCheck is one re-check of a listed item.
type RemovalCheck struct {
	ID        uint64 `gorm:"primaryKey"`
	CaseID    uint64 `gorm:"not null"`
	ItemID    uint64 `gorm:"not null"`
	CheckedAt time.Time
	Result    CheckResult `gorm:"not null"`
	Detail    string      `gorm:"not null;default:''"`
	CaptureID uint64      `gorm:"not null;default:0"` // the capture holding the check's evidence, if one was made
}

// Notice is one revision of a takedown notice for a case.
type Notice struct {
	ID         uint64      `gorm:"primaryKey"`
	CaseID     uint64      `gorm:"uniqueIndex:idx_notice_case_rev;not null"`
	Revision   int         `gorm:"uniqueIndex:idx_notice_case_rev;not null"`
	State      NoticeState `gorm:"not null"`
	Recipient  string      `gorm:"not null"`
	Subject    string      `gorm:"not null"`
	BodyText   string      `gorm:"not null"`
	BodyHTML   string      `gorm:"not null"`
	HitIDs     string      // comma-separated hit ids the notice lists
	DraftedBy  string      `gorm:"not null"`
	DraftedAt  time.Time
	ApprovedBy string
	ApprovedAt *time.Time
	// MessageID is fixed at draft time so a resend after a crash carries the same
	// Message-ID and receivers can de-duplicate it.
	MessageID string `gorm:"uniqueIndex;not null"`
	SentAt    *time.Time
	Attempts  int
	LastError string

	Kind          NoticeKind `gorm:"not null;default:'notice'"`
	Reference     string     `gorm:"not null;default:''"` // shared by a letter's revisions; quoted in replies
	Number        int        `gorm:"not null;default:1"`  // per recipient and kind: notice 1, follow-up 2, ...
	RecipientType string     `gorm:"not null;default:'hosting'"`
	Cites         string     `gorm:"not null;default:''"`                    // comma-separated ids of earlier sent notices it cites
	ItemIDs       string     `gorm:"not null;default:''"`                    // comma-separated case items it lists
	Comment       string     `gorm:"not null;default:''"`                    // a lawyer's change request or edit note
	BodySHA256    string     `gorm:"column:body_sha256;not null;default:''"` // of the sent message, frozen at send
	RelayResponse string     `gorm:"not null;default:''"`
	DataStartedAt *time.Time // DATA began: from here a failure is "may have been delivered"
	PDF           []byte     `gorm:"column:pdf"`
}

// User is a person who logs in to the UI/API.
type User struct {
	ID           uint64 `gorm:"primaryKey"`
	Username     string `gorm:"uniqueIndex;not null"`
	PasswordHash string `gorm:"not null"` // argon2id, PHC string
	Role         Role   `gorm:"not null"`
	TOTPSecret   string // empty = MFA not enrolled
	// TOTPLastStep is the newest TOTP time step accepted (replay guard).
	TOTPLastStep int64 `gorm:"column:totp_last_step;not null;default:0"`
	// FailedLogins and LockedUntil are the old hard lock, no longer set:
	// login_throttles replaced them (migration 17).
	FailedLogins int `gorm:"not null;default:0"`
	LockedUntil  *time.Time
	Disabled     bool `gorm:"not null;default:false"`
	LastLoginAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// MFAEnrolled reports whether the user has a TOTP secret.
func (u User) MFAEnrolled() bool { return u.TOTPSecret != "" }

// MFARequired reports whether the user's role must use MFA: legal and admin
// users can send court-backed notices and change accounts.
func (u User) MFARequired() bool { return u.Role == RoleLegal || u.Role == RoleAdmin }

// Session is a logged-in browser or API client. Only the token's hash is stored.
type Session struct {
	ID        uint64 `gorm:"primaryKey"`
	TokenHash string `gorm:"uniqueIndex;not null"`
	UserID    uint64 `gorm:"index;not null"`
	CSRFToken string `gorm:"not null"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"index"` // absolute expiry
	// LastSeenAt drives idle expiry; updated at most once a minute.
	LastSeenAt time.Time
	// PendingTOTP is a secret shown for enrolment, not yet confirmed.
	PendingTOTP string `gorm:"column:pending_totp;not null;default:''"`
}

// RecoveryCode is a single-use MFA fallback; only its hash is stored.
type RecoveryCode struct {
	ID        uint64 `gorm:"primaryKey"`
	UserID    uint64 `gorm:"not null"`
	CodeHash  string `gorm:"not null"`
	CreatedAt time.Time
	UsedAt    *time.Time
}

// LoginThrottle counts failed logins for an account from one source network
// (or from everywhere: Source "*") and when the next attempt may come.
type LoginThrottle struct {
	Account   string `gorm:"primaryKey"` // hash of the typed username
	Source    string `gorm:"primaryKey"`
	Failures  int64
	NextAt    time.Time
	UpdatedAt time.Time
}

// KnownDevice is a browser that logged in to an account before.
type KnownDevice struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    uint64 `gorm:"primaryKey"` // one browser may know several accounts
	CreatedAt time.Time
}

// AuditEvent is one entry of the append-only, hash-chained audit log. Detail
// never holds document content or personal data.
type AuditEvent struct {
	ID       uint64 `gorm:"primaryKey"`
	At       time.Time
	Actor    string `gorm:"not null"`
	Action   string `gorm:"not null"`
	Object   string
	Detail   string
	PrevHash string `gorm:"not null"`
	Hash     string `gorm:"uniqueIndex;not null"`
}

// RefImage is a keyed PDQ hash of one image of a reference, in one of the 8
// rotations/flips.
type RefImage struct {
	RefID   uint64 `gorm:"column:ref_id"`
	Image   int    // which image of the reference
	Variant int    // 0 = as is, 1..7 rotations/flips, 8.. centre crops (match.CropMargins)
	Hash    string // keyed, 64 hex
	Quality int
}

// RefField is one keyed field of one record in a reference (exact data match).
type RefField struct {
	Field string // nhi, email, phone, name_dob
	Hash  string
	RefID uint64 `gorm:"column:ref_id"`
	RowNo int64  `gorm:"column:row_no"`
}

// SchemaMigration records an applied migration.
type SchemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}
