package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// caseView is a case with everything its page and API answer show.
type caseView struct {
	Case    storage.Case
	Meaning string           // the state in plain words
	Notices []storage.Notice // every revision, newest first
	// Hits are every hit on the target (the API's "hits"); Unassigned are
	// those the case has not taken into an item yet.
	Hits       []storage.HitDetail
	Unassigned []storage.HitDetail
	Items      []itemRow // one per URL or message, oldest first
	// Draft is the revision a lawyer acts on (a draft, or one sent back
	// with changes requested); DraftItems are the items it lists.
	Draft      *storage.Notice
	DraftItems []itemRow
	// Pending are confirmed items in no sent notice and not in the draft:
	// shown beside it, pulled in only when a lawyer chooses.
	Pending []itemRow
	// Outgoing are notices past approval (approved, sending, uncertain,
	// refused, sent), newest first.
	Outgoing   []storage.Notice
	References []string              // of sent notices, oldest first
	History    []revisionRow         // newest first
	Checks     []checkRow            // newest first
	Status     *workflows.CaseStatus // nil when the workflow did not answer
	StatusNote string                // why Status is nil
	Listed     bool                  // some item is in a sent notice (re-checks apply)
	AnySent    bool                  // some notice was sent (acknowledgement applies)
	// RecipientTypes are the kinds of recipient a notice can address.
	RecipientTypes []string
	// Police and Regulator are the configured contacts for reports.
	Police, Regulator string
}

// itemRow is one infringing item with every reference and layer that
// matched it (one row per URL, however many hits it has).
type itemRow struct {
	storage.CaseItem
	Matches []itemMatch
	InDraft bool
	Pending bool
	// Image: the item's last capture is an image, shown only blurred.
	Image bool
	// Elsewhere are other cases' sent notices that listed the same
	// content: this item is a mirror of it.
	Elsewhere []elsewhereNotice
}

// elsewhereNotice is another case's sent notice about the same content.
type elsewhereNotice struct {
	CaseID    uint64
	Target    string
	Reference string
	SentAt    *time.Time
}

// Listed reports whether a sent notice listed the item.
func (r itemRow) Listed() bool { return r.NoticeID != 0 }

// Triageable reports whether the item may still be confirmed or dismissed:
// a listed item cannot be dismissed (the notice cannot be unsent).
func (r itemRow) Triageable() bool { return r.NoticeID == 0 }

// itemMatch is one reference and method that matched an item; Hits counts
// the captures that matched it that way.
type itemMatch struct {
	Ref    string // the reference's opaque id; "" for keyword hits (no reference)
	Method string
	Score  float64
	Why    string
	Hits   int
}

// checkRow is a removal re-check with the item's URL.
type checkRow struct {
	storage.RemovalCheck
	URL string
}

// revisionRow is one notice revision with what changed since the one
// before it (of the same letter).
type revisionRow struct {
	Notice storage.Notice
	Prev   int // revision compared with; 0: the first
	Diff   []diffLine
}

// diffLine is one line of a unified diff, classed for the stylesheet.
type diffLine struct {
	Text  string
	Class string // "add", "del", "hunk" or ""
}

// caseStateMeanings say in plain words what each state means for the
// people working the case.
var caseStateMeanings = map[storage.CaseState]string{
	storage.CaseDetected:        "Matching items arrived; no analyst has confirmed any yet. Confirm or dismiss them below.",
	storage.CaseTriaged:         "Confirmed items wait to be drafted into a notice (a draft follows once the crawl's batches settle).",
	storage.CaseNeedsRecipient:  "No takedown address was found for this host; someone must give one (Set recipient).",
	storage.CaseDrafted:         "A notice revision waits for a lawyer: approve it, edit it, or request changes.",
	storage.CaseApproved:        "The notice was approved and is being sent.",
	storage.CaseSendFailed:      "The mail relay refused the notice permanently; a new approval sends it again.",
	storage.CaseSendUncertain:   "The relay went silent while the notice was being transmitted: it may have been delivered. A person must say whether it was; it is never re-sent until then.",
	storage.CaseSent:            "The relay accepted the notice; the listed items are re-checked until they are gone.",
	storage.CaseAcknowledged:    "The host replied; the listed items are re-checked until they are gone.",
	storage.CaseEscalated:       "The items were not removed in time, so the upstream provider was notified.",
	storage.CaseVerifiedRemoved: "Every listed item was re-checked and is gone; the case keeps watching for the content to reappear.",
	storage.CaseClosed:          "No further action. New matches for this target reopen it.",
}

// stateMeaning says what a case state means, in plain words.
func stateMeaning(st storage.CaseState) string {
	if m, ok := caseStateMeanings[st]; ok {
		return m
	}
	return "Unknown state."
}

// statusTimeout bounds the live status query a case page makes: a page
// shows what the database holds rather than hang on Temporal.
const statusTimeout = 3 * time.Second

func (s *Server) loadCase(ctx context.Context, id uint64) (caseView, error) {
	c, err := s.store.CaseByID(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	ns, err := s.store.NoticesForCase(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	hits, err := s.store.HitsForTarget(ctx, c.Target)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	items, err := s.store.CaseItems(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	itemHits, err := s.store.ItemHits(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	checks, err := s.store.RemovalChecks(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	c.State = shownState(c.State, ns)
	cv := caseView{Case: c, Meaning: stateMeaning(c.State), Notices: ns, Hits: hits, Police: s.police, Regulator: s.regulator}
	for _, rt := range notices.RecipientTypes() {
		cv.RecipientTypes = append(cv.RecipientTypes, string(rt))
	}
	for _, h := range hits {
		if h.ItemID == 0 {
			cv.Unassigned = append(cv.Unassigned, h)
		}
	}
	var earlier []uint64
	for _, it := range items {
		earlier = append(earlier, storage.SplitIDs(it.Earlier)...)
	}
	refs, err := s.store.NoticeRefs(ctx, earlier)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	elsewhere := map[uint64]elsewhereNotice{}
	for _, n := range refs {
		elsewhere[n.ID] = elsewhereNotice{CaseID: n.CaseID, Target: n.Target, Reference: n.Reference, SentAt: n.SentAt}
	}
	urls := map[uint64]string{}
	for _, it := range items {
		urls[it.ID] = it.URL
		row := itemRow{CaseItem: it, Matches: matchesOf(itemHits[it.ID])}
		for _, nid := range storage.SplitIDs(it.Earlier) {
			if en, ok := elsewhere[nid]; ok {
				row.Elsewhere = append(row.Elsewhere, en)
			}
		}
		cv.Items = append(cv.Items, row)
		if it.NoticeID != 0 {
			cv.Listed = true
		}
	}
	for _, rc := range checks {
		cv.Checks = append(cv.Checks, checkRow{RemovalCheck: rc, URL: urls[rc.ItemID]})
	}

	// The draft is the newest revision still being worked on; notices
	// past approval are the case's correspondence.
	var busy []uint64 // items of the draft and of a notice approved but not sent
	for i := range ns {
		n := &ns[i]
		switch n.State {
		case storage.NoticeDraft, storage.NoticeChangesRequested:
			if cv.Draft == nil {
				cv.Draft = n
			}
			busy = append(busy, storage.SplitIDs(n.ItemIDs)...)
		case storage.NoticeApproved, storage.NoticeSending, storage.NoticeUncertain, storage.NoticeRefused:
			cv.Outgoing = append(cv.Outgoing, *n)
			busy = append(busy, storage.SplitIDs(n.ItemIDs)...)
		case storage.NoticeSent:
			cv.Outgoing = append(cv.Outgoing, *n)
			cv.AnySent = true
		}
	}
	for i := len(ns) - 1; i >= 0; i-- {
		if n := ns[i]; n.State == storage.NoticeSent && n.Reference != "" && !slices.Contains(cv.References, n.Reference) {
			cv.References = append(cv.References, n.Reference)
		}
	}
	cv.History = revisionHistory(ns)

	cv.Status, cv.StatusNote = s.caseStatus(ctx, id)
	var pending []uint64
	if cv.Status != nil {
		pending = cv.Status.Pending
	} else {
		for _, it := range items {
			if it.State == storage.ItemConfirmed && it.NoticeID == 0 && !slices.Contains(busy, it.ID) {
				pending = append(pending, it.ID)
			}
		}
	}
	var inDraft []uint64
	if cv.Draft != nil {
		inDraft = storage.SplitIDs(cv.Draft.ItemIDs)
	}
	for i := range cv.Items {
		row := &cv.Items[i]
		row.InDraft = slices.Contains(inDraft, row.ID)
		row.Pending = slices.Contains(pending, row.ID)
		if row.InDraft {
			cv.DraftItems = append(cv.DraftItems, *row)
		}
		if row.Pending {
			cv.Pending = append(cv.Pending, *row)
		}
	}
	return cv, nil
}

// caseStatus asks the case workflow for its live status; when it cannot
// answer, the page says why and shows what the database holds.
func (s *Server) caseStatus(ctx context.Context, id uint64) (*workflows.CaseStatus, string) {
	svc := s.caseActions()
	if svc == nil {
		return nil, "no case service is configured, so the workflow's live status is not shown"
	}
	qctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := svc.Status(qctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "case status query", "case", id, "err", err)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, "the case workflow is not running; the page shows what the database holds"
		}
		return nil, "the case workflow did not answer (Temporal may be down); the page shows what the database holds"
	}
	return &st, ""
}

// matchesOf folds an item's hits into one entry per reference and method.
func matchesOf(hits []storage.HitDetail) []itemMatch {
	var out []itemMatch
	for _, h := range hits {
		i := slices.IndexFunc(out, func(m itemMatch) bool { return m.Ref == h.RefOpaqueID && m.Method == h.Method })
		if i < 0 {
			out = append(out, itemMatch{Ref: h.RefOpaqueID, Method: h.Method, Score: h.Score, Why: h.Why, Hits: 1})
			continue
		}
		out[i].Hits++
		if h.Score > out[i].Score {
			out[i].Score, out[i].Why = h.Score, h.Why
		}
	}
	return out
}

// revisionHistory lists revisions newest first, each with a diff from the
// previous revision of the same letter (same reference).
func revisionHistory(ns []storage.Notice) []revisionRow {
	asc := slices.Clone(ns)
	slices.SortFunc(asc, func(a, b storage.Notice) int { return a.Revision - b.Revision })
	out := make([]revisionRow, 0, len(asc))
	for i, n := range asc {
		row := revisionRow{Notice: n}
		for j := i - 1; j >= 0; j-- {
			if p := asc[j]; p.Reference == n.Reference {
				row.Prev = p.Revision
				row.Diff = diffLines(notices.Diff(revisionText(p), revisionText(n)))
				break
			}
		}
		out = append(out, row)
	}
	slices.Reverse(out)
	return out
}

func revisionText(n storage.Notice) string {
	return "Subject: " + n.Subject + "\n\n" + n.BodyText
}

func diffLines(d string) []diffLine {
	if d == "" {
		return nil
	}
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
		class := ""
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			class = "file"
		case strings.HasPrefix(l, "@@"):
			class = "hunk"
		case strings.HasPrefix(l, "+"):
			class = "add"
		case strings.HasPrefix(l, "-"):
			class = "del"
		}
		out = append(out, diffLine{Text: l, Class: class})
	}
	return out
}

// approveTimeout bounds a CaseService call, well inside the server's write
// timeout, so a stuck workflow yields an error the user can read.
const approveTimeout = 45 * time.Second

// maxAuditDetail bounds the error text copied into the audit log.
const maxAuditDetail = 300

// approve checks the user may approve, then asks the CaseService to approve
// the revision. It returns the HTTP status and, when not 200, a message.
//
// The request is audited before the CaseService is called and the call is
// refused if that fails: an approval sends a legal notice, so there must never
// be one without an audit record. The outcome is audited afterwards.
func (s *Server) approve(ctx context.Context, r *http.Request, a *authed, caseID uint64, revision int) (int, string) {
	return s.approveWith(ctx, r, a, caseID, revision, true)
}

// approveWith is approve; legacy keeps the API's habit of showing the
// service's unclassified errors as 409s, the UI shows them as plain
// sentences instead.
func (s *Server) approveWith(ctx context.Context, r *http.Request, a *authed, caseID uint64, revision int, legacy bool) (int, string) {
	act := caseAction{
		audit: "notice.approve", legal: true, denied: "only legal or admin users may approve notices",
		detail: "revision=" + strconv.Itoa(revision),
		validate: func() string {
			if revision < 1 {
				return "revision must be a positive integer"
			}
			return ""
		},
		// Other errors than the workflow's refusals and an unreachable
		// Temporal are shown as refusals, as approvals always were.
		legacyErrors: legacy,
	}
	if s.cases == nil {
		act.unavailable = "approvals are not available: no case service configured"
	} else {
		act.call = func(ctx context.Context) error { return s.cases.Approve(ctx, caseID, revision, a.user) }
	}
	status, msg := s.runCaseAction(ctx, r, a, caseID, act)
	if status == http.StatusOK {
		s.log.InfoContext(ctx, "notice approved", "user", a.user.Username, "case", caseID, "revision", revision)
	}
	return status, msg
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// parseEvery reads a crawl interval: a Go duration ("6h") or whole seconds.
func parseEvery(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxEvery/time.Second) {
			return 0, errors.New("interval out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New(`interval must be a duration like "30m" or "6h", or seconds`)
	}
	return d.Truncate(time.Second), nil
}

// parseEveryJSON accepts "every" as a JSON string or number (seconds).
func parseEveryJSON(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return parseEvery(str)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return parseEvery(n.String())
	}
	return 0, errors.New(`every must be a duration string like "6h" or a number of seconds`)
}

// shownState is the case state a page shows: the workflow records a case's
// new state a moment after the notice's, so right after an approval (or a
// send) the case would still say "drafted" beside an approved notice.
// The newest notice's state wins when it is further along.
func shownState(st storage.CaseState, ns []storage.Notice) storage.CaseState {
	if len(ns) == 0 {
		return st
	}
	switch n := ns[0].State; {
	case st.AwaitsApproval() && (n == storage.NoticeApproved || n == storage.NoticeSending):
		return storage.CaseApproved
	case (st.AwaitsApproval() || st == storage.CaseApproved) && n == storage.NoticeSent:
		return storage.CaseSent
	}
	return st
}
