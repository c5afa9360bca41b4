package storage

import "slices"

// leakwatch's domain vocabulary: every state and kind that is stored, in one
// place. Workflows, the web app and the CLI use these types rather than bare
// strings, so a state that nothing can reach, or one that is reached but not
// listed, shows up here.

// SourceKind says how a source is watched.
type SourceKind string

// Source kinds: each follows its kind of site's structure by default (see
// crawlers/webcrawl); Options.Selectors override it.
const (
	SourceForum    SourceKind = "forum"    // boards → pages → threads → thread pages → attachments
	SourceLeakBlog SourceKind = "leakblog" // a ransomware group's blog: posts with download links
	SourcePaste    SourceKind = "paste"    // a paste site: the paste text is the content
	SourceOpenDir  SourceKind = "opendir"  // an open directory listing: files and subdirectories
	SourceFileHost SourceKind = "filehost" // a file host's landing pages: download links
	SourceGeneric  SourceKind = "generic"  // any site: links within the host, pages' text as content
	// SourceTelegram is a Telegram channel or group, read through a user
	// account (crawlers/tgmonitor); its URL is a t.me link or @username.
	SourceTelegram SourceKind = "telegram"
	// SourceWeb is what sources were before kinds existed; it crawls as generic.
	SourceWeb SourceKind = "web"
)

// SourceKinds lists the kinds a new source may have.
func SourceKinds() []SourceKind {
	return []SourceKind{SourceForum, SourceLeakBlog, SourcePaste, SourceOpenDir, SourceFileHost, SourceGeneric, SourceTelegram}
}

// Valid reports whether k is a known kind (including the legacy "web").
func (k SourceKind) Valid() bool { return k == SourceWeb || slices.Contains(SourceKinds(), k) }

// RunStatus is where one crawl of a source stands.
type RunStatus string

// Crawl run states.
const (
	RunRunning RunStatus = "running"
	RunOK      RunStatus = "ok"
	RunFailed  RunStatus = "failed"
	// RunInterrupted: the crawler stopped reporting (its process died); a
	// retry of the same run resumes it.
	RunInterrupted RunStatus = "interrupted"
)

// CaptureKind says what a capture holds evidence of.
type CaptureKind string

// Capture kinds.
const (
	CapturePage CaptureKind = "page" // an HTML page the crawler read for links
	CaptureFile CaptureKind = "file" // a downloaded file, matched against the reference index
	// CaptureMessage is a Telegram message: its text is matched and
	// searched for watch terms like a page's content.
	CaptureMessage CaptureKind = "message"
)

// TelegramStatus is how a Telegram account stands.
type TelegramStatus string

// Telegram account states.
const (
	TelegramLoggedOut TelegramStatus = "logged-out" // no session yet: run `leakwatch telegram login`
	TelegramOK        TelegramStatus = "ok"
	TelegramFloodWait TelegramStatus = "flood-wait" // Telegram asked to wait; FloodUntil says until when
	// TelegramDead: the session was revoked, its key unregistered or the
	// user deactivated. The account stops (no reconnect loop) until
	// someone logs in again.
	TelegramDead TelegramStatus = "dead"
)

// CaseState is where a takedown case stands. The TakedownCase workflow owns
// the state; the database mirrors it for the UI.
type CaseState string

// Case states, in the order a case normally moves through them.
const (
	CaseDetected        CaseState = "detected"         // items arrived; an analyst has not confirmed any yet
	CaseTriaged         CaseState = "triaged"          // confirmed items wait to be drafted into a notice
	CaseNeedsRecipient  CaseState = "needs-recipient"  // no takedown address found; a person must give one
	CaseDrafted         CaseState = "drafted"          // a notice revision waits for a lawyer's approval
	CaseApproved        CaseState = "approved"         // approved; sending
	CaseSendFailed      CaseState = "send-failed"      // the relay refused the notice permanently; a new approval retries it
	CaseSendUncertain   CaseState = "send-uncertain"   // the relay went silent during DATA: it may have been delivered; a person decides
	CaseSent            CaseState = "sent"             // the relay accepted the notice; removal is being verified
	CaseAcknowledged    CaseState = "acknowledged"     // the host replied; removal is being verified
	CaseEscalated       CaseState = "escalated"        // no removal in time: the upstream provider was notified
	CaseVerifiedRemoved CaseState = "verified-removed" // every listed item was re-checked and is gone; watching for reappearance
	CaseClosed          CaseState = "closed"           // no further action; ClosedAt is set
)

// CaseStates lists every case state, in order.
func CaseStates() []CaseState {
	return []CaseState{CaseDetected, CaseTriaged, CaseNeedsRecipient, CaseDrafted, CaseApproved, CaseSendFailed,
		CaseSendUncertain, CaseSent, CaseAcknowledged, CaseEscalated, CaseVerifiedRemoved, CaseClosed}
}

// AwaitsApproval reports whether a lawyer's approval can move the case on.
func (s CaseState) AwaitsApproval() bool { return s == CaseDrafted || s == CaseSendFailed }

// Open reports whether the case still has work or watching to do.
func (s CaseState) Open() bool { return s != CaseClosed }

// ItemState is what people and checks decided about one infringing item.
type ItemState string

// Item states.
const (
	ItemNew       ItemState = "new"       // matched; not triaged yet
	ItemConfirmed ItemState = "confirmed" // an analyst (or the auto-confirm rule) confirmed it is the breach
	ItemDismissed ItemState = "dismissed" // an analyst dismissed it, with a reason; listed, never dropped
	ItemRemoved   ItemState = "removed"   // a re-check found it gone or no longer matching
)

// NoticeKind is what a notice asks for.
type NoticeKind string

// Notice kinds.
const (
	NoticeFirst        NoticeKind = "notice"       // the first notice to a recipient about the items
	NoticeFollowUp     NoticeKind = "follow-up"    // items still up after the follow-up period
	NoticeEscalation   NoticeKind = "escalation"   // to the upstream provider, registrar or CDN
	NoticeReappearance NoticeKind = "reappearance" // removed content came back
)

// NoticeState is where one notice revision stands.
type NoticeState string

// Notice states.
const (
	NoticeDraft            NoticeState = "draft"
	NoticeChangesRequested NoticeState = "changes-requested" // a lawyer sent it back with a comment
	NoticeApproved         NoticeState = "approved"
	NoticeSending          NoticeState = "sending" // claimed by a sender; a retry resumes it
	// NoticeUncertain: DATA began and no final reply came (timeout, cut
	// connection): it may have been delivered. It is never re-sent until
	// a person says it was not delivered.
	NoticeUncertain NoticeState = "uncertain"
	// NoticeRefused: the relay refused it permanently (5xx); a new
	// approval sends it again.
	NoticeRefused    NoticeState = "refused"
	NoticeSent       NoticeState = "sent"
	NoticeSuperseded NoticeState = "superseded" // a newer revision replaced it before it was sent
)

// Role is what a user may do.
type Role string

// Roles.
const (
	RoleAnalyst Role = "analyst" // sources, captures, hits: read and triage
	RoleLegal   Role = "legal"   // also approves notices
	RoleAdmin   Role = "admin"   // everything, including users
)

// Roles lists every role, least privileged first.
func Roles() []Role { return []Role{RoleAnalyst, RoleLegal, RoleAdmin} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAnalyst, RoleLegal, RoleAdmin:
		return true
	}
	return false
}

// CanApproveNotices reports whether r may approve a takedown notice.
func (r Role) CanApproveNotices() bool { return r == RoleLegal || r == RoleAdmin }

// CheckResult is what a removal re-check found.
type CheckResult string

// Removal check results.
const (
	CheckGone        CheckResult = "gone"         // 404/410, no such host, connection refused
	CheckNotMatching CheckResult = "not-matching" // still served, but no longer the breach's content
	CheckPresent     CheckResult = "present"      // still there and still matching
	CheckError       CheckResult = "error"        // the check itself failed (timeout, 5xx): says nothing
)

// Removed reports whether the result counts as removal.
func (r CheckResult) Removed() bool { return r == CheckGone || r == CheckNotMatching }
