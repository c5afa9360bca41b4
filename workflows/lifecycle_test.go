package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/internal/recipients"
	"github.com/leakwatch/leakwatch/internal/testkit/rdapsim"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink/badrelay"
	"github.com/leakwatch/leakwatch/storage"
)

// The lifecycle under the SDK's test environment, which skips time: the
// real activities against a real SQLite store, real templates and a real
// SMTP server on loopback. Only the site being re-checked is scripted
// (siteChecker): what a host has removed is the test's input.

// siteChecker answers re-checks from what the test says is still up.
type siteChecker struct {
	mu     sync.Mutex
	up     map[string]bool // URL → still served and matching
	checks int
}

func (c *siteChecker) set(url string, up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up[url] = up
}

func (c *siteChecker) Check(_ context.Context, _ storage.Case, items []storage.CaseItem) ([]storage.RemovalCheck, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks++
	var out []storage.RemovalCheck
	for _, it := range items {
		res := storage.CheckGone
		if c.up[it.URL] {
			res = storage.CheckPresent
		}
		out = append(out, storage.RemovalCheck{ItemID: it.ID, Result: res, Detail: "scripted"})
	}
	return out, nil
}

type lifecycleEnv struct {
	*testsuite.TestWorkflowEnvironment
	acts    *CaseActivities
	t       *testing.T
	store   *storage.Store
	sink    *smtpsink.Sink
	site    *siteChecker
	caseID  uint64
	target  string
	src     storage.Source
	run     storage.CrawlRun
	refs    []storage.Reference
	verdict map[string]error
}

func testInjunction() config.InjunctionConfig {
	return config.InjunctionConfig{Court: "High Court", FileNumber: "CIV-2026-404-1", DateOfOrders: "2026-11-20",
		Claimant: "Example Health Ltd", Defendants: "Unknown Defendants", Terms: "No person may access or publish the data.",
		Contact: config.ContactConfig{Name: "Legal", Email: "legal@health.example"}}
}

func newLifecycleEnv(t *testing.T, tune func(*config.NoticesConfig)) *lifecycleEnv {
	return newLifecycleEnvRelay(t, tune, "")
}

// newLifecycleEnvRelay sends through the relay at addr ("": a well-behaved
// SMTP sink, in e.sink).
func newLifecycleEnvRelay(t *testing.T, tune func(*config.NoticesConfig), addr string) *lifecycleEnv {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "", filepath.Join(t.TempDir(), "db"), nil)
	must(t, err)
	t.Cleanup(func() { store.Close() })
	var sink *smtpsink.Sink
	if addr == "" {
		sink, err = smtpsink.Start(ctx, smtpsink.Options{Logger: slog.New(slog.DiscardHandler)})
		must(t, err)
		t.Cleanup(func() { sink.Close() })
		addr = sink.Addr()
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	mailer, err := notices.NewMailer(config.SMTPConfig{Host: host, Port: p, TLS: "none", Timeout: 2 * time.Second})
	must(t, err)
	tpl, err := notices.Load()
	must(t, err)

	cfg := config.Default().Notices
	cfg.Recipients = map[string]string{"leaks.example": "abuse@leaks.example"}
	cfg.Escalation = map[string]string{"leaks.example": "abuse@transit.example"}
	cfg.Triage = config.TriageAuto
	cfg.DraftDelay = time.Minute
	if tune != nil {
		tune(&cfg)
	}
	site := &siteChecker{up: map[string]bool{}}
	acts := &CaseActivities{Store: store, Templates: tpl, Mailer: mailer, Notices: cfg, Injunction: testInjunction(),
		From: "Takedowns <takedowns@health.example>", Checker: site, Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))}

	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := &lifecycleEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), acts: acts, t: t, store: store, sink: sink, site: site,
		target: "leaks.example", verdict: map[string]error{}}
	e.RegisterWorkflowWithOptions(TakedownCase, workflow.RegisterOptions{Name: TakedownCaseName})
	e.RegisterActivity(acts)
	e.SetTestTimeout(2 * time.Minute)

	e.src = storage.Source{Name: "forum", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
	must(t, store.CreateSource(ctx, &e.src))
	e.run, err = store.StartRun(ctx, e.src.ID)
	must(t, err)
	for i := range 3 {
		r := storage.Reference{OpaqueID: fmt.Sprintf("ref-%d", i), SHA256: fmt.Sprintf("%064x", i+1), Size: 100}
		must(t, store.DB().Create(&r).Error)
		e.refs = append(e.refs, r)
	}
	c, err := store.EnsureCase(ctx, e.target, CaseWorkflowID(e.target))
	must(t, err)
	e.caseID = c.ID
	return e
}

// hit records a capture of url matched by the given references (one hit
// each) and returns the hit ids.
func (e *lifecycleEnv) hit(url string, refs ...int) []uint64 {
	e.t.Helper()
	ctx := context.Background()
	c := storage.Capture{RunID: e.run.ID, SourceID: e.src.ID, Kind: storage.CaptureFile, URL: url, Host: e.target,
		FetchedAt: time.Now().UTC(), Status: 200, SHA256: fmt.Sprintf("%064x", len(url)), Size: 1234}
	_, err := e.store.SaveCapture(ctx, &c)
	must(e.t, err)
	var ids []uint64
	for _, r := range refs {
		h := storage.Hit{CaptureID: c.ID, ReferenceID: e.refs[r].ID, Method: "sha256", Score: 1, Target: e.target}
		_, err := e.store.AddHit(ctx, &h)
		must(e.t, err)
		ids = append(ids, h.ID)
	}
	return ids
}

func (e *lifecycleEnv) at(d time.Duration, fn func()) { e.RegisterDelayedCallback(fn, d) }

func (e *lifecycleEnv) signal(d time.Duration, ids []uint64) {
	e.at(d, func() { e.SignalWorkflow(SignalHit, HitSignal{HitIDs: ids}) })
}

// update sends an update at d and records the validator's verdict under
// key (nil: accepted and completed without error).
func (e *lifecycleEnv) update(d time.Duration, key, name string, arg any) {
	e.verdict[key] = errors.New("not called")
	e.at(d, func() {
		e.UpdateWorkflow(name, key, &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { e.verdict[key] = err },
			OnAccept:   func() {},
			OnComplete: func(_ any, err error) { e.verdict[key] = err },
		}, arg)
	})
}

func (e *lifecycleEnv) status() CaseStatus {
	e.t.Helper()
	v, err := e.QueryWorkflow(QueryStatus)
	must(e.t, err)
	var st CaseStatus
	must(e.t, v.Get(&st))
	return st
}

func (e *lifecycleEnv) expectState(d time.Duration, want storage.CaseState) {
	e.at(d, func() {
		if st := e.status(); st.State != want {
			e.t.Errorf("at %s: state %s (%+v), want %s", d, st.State, st, want)
		}
	})
}

func (e *lifecycleEnv) start() {
	e.ExecuteWorkflow(TakedownCaseName, CaseInput{CaseID: e.caseID, Target: e.target})
}

func (e *lifecycleEnv) notices() []storage.Notice {
	ns, err := e.store.NoticesForCase(context.Background(), e.caseID)
	must(e.t, err)
	slices.Reverse(ns)
	return ns
}

func (e *lifecycleEnv) audited(action string) int {
	evs, err := e.store.AuditEvents(context.Background(), 10000)
	must(e.t, err)
	n := 0
	for _, ev := range evs {
		if ev.Action == action {
			n++
		}
	}
	return n
}

func (e *lifecycleEnv) accepted(keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		if err := e.verdict[k]; err != nil {
			e.t.Errorf("update %s: %v", k, err)
		}
	}
}

func (e *lifecycleEnv) rejected(keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		if err := e.verdict[k]; err == nil {
			e.t.Errorf("update %s was accepted; want it rejected", k)
		} else if err.Error() == "not called" {
			e.t.Errorf("update %s was never sent", k)
		}
	}
}

var (
	lee = Actor{User: "lee", Role: storage.RoleLegal}
	kim = Actor{User: "kim", Role: storage.RoleAdmin}
	ana = Actor{User: "ana", Role: storage.RoleAnalyst}
)

// From the first hits to verified removal and close: items per URL (two
// references on one file are one item), triage with a dismissal, one
// draft that a later item does not change (it waits as pending), pulling
// it in, approval, one message at the SMTP server, re-checks on schedule,
// removal, and every state change in the audit log.
func TestLifecycleToVerifiedRemoval(t *testing.T) {
	e := newLifecycleEnv(t, func(n *config.NoticesConfig) { n.Triage = config.TriageRequired })
	a := "http://leaks.example/files/a.pdf"
	b := "http://leaks.example/files/b.pdf"
	c := "http://leaks.example/files/c.pdf"
	e.site.set(a, true) // c is gone by the first re-check
	e.signal(time.Second, append(e.hit(a, 0, 1), e.hit(b, 2)...))
	e.expectState(time.Minute, storage.CaseDetected)
	items := func() []storage.CaseItem {
		its, err := e.store.CaseItems(context.Background(), e.caseID)
		must(t, err)
		return its
	}
	var ia, ib uint64
	e.at(2*time.Minute, func() {
		its := items()
		if len(its) != 2 {
			t.Fatalf("items %+v; want 2 (one per URL)", its)
		}
		ia, ib = its[0].ID, its[1].ID
		e.UpdateWorkflow(UpdateTriage, "dismiss-no-reason", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { e.verdict["dismiss-no-reason"] = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, TriageInput{Actor: ana, ItemIDs: []uint64{ib}})
		e.UpdateWorkflow(UpdateTriage, "triage", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { e.verdict["triage"] = err }, OnAccept: func() {}, OnComplete: func(_ any, err error) { e.verdict["triage"] = err },
		}, TriageInput{Actor: ana, ItemIDs: []uint64{ia}, Confirm: true})
		e.UpdateWorkflow(UpdateTriage, "dismiss", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { e.verdict["dismiss"] = err }, OnAccept: func() {}, OnComplete: func(_ any, err error) { e.verdict["dismiss"] = err },
		}, TriageInput{Actor: ana, ItemIDs: []uint64{ib}, Reason: "a public press release, not the breach"})
	})
	e.expectState(10*time.Minute, storage.CaseDrafted)
	// A new item while the lawyer reads revision 1: pending, no new revision.
	e.signal(11*time.Minute, e.hit(c, 0))
	e.at(20*time.Minute, func() {
		its := items()
		e.UpdateWorkflow(UpdateTriage, "triage-c", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { e.verdict["triage-c"] = err }, OnAccept: func() {}, OnComplete: func(_ any, err error) { e.verdict["triage-c"] = err },
		}, TriageInput{Actor: ana, ItemIDs: []uint64{its[2].ID}, Confirm: true})
	})
	e.at(30*time.Minute, func() {
		st := e.status()
		if st.State != storage.CaseDrafted || st.Revision != 1 || len(st.Pending) != 1 {
			t.Errorf("with a pending item: %+v; want drafted revision 1 with 1 pending", st)
		}
	})
	e.update(31*time.Minute, "analyst-approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "ana", Role: storage.RoleAnalyst})
	e.update(32*time.Minute, "pull", UpdateRevise, ReviseInput{Actor: lee, Revision: 1, PullPending: true})
	e.update(33*time.Minute, "stale-approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.update(34*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal})
	e.update(35*time.Minute, "approve-again", UpdateApprove, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal})
	e.expectState(time.Hour, storage.CaseSent)
	// 6 h re-check: a still up, c gone. 24 h: both gone.
	e.at(7*time.Hour, func() {
		if st := e.status(); st.State != storage.CaseSent {
			t.Errorf("after the 6 h check with a still up: %+v", st)
		}
		e.site.set(a, false)
	})
	e.expectState(25*time.Hour, storage.CaseVerifiedRemoved)
	e.start()

	if !e.IsWorkflowCompleted() {
		t.Fatal("the case did not close after the watch period")
	}
	if err := e.GetWorkflowError(); err != nil {
		t.Fatalf("case ended with %v", err)
	}
	e.accepted("triage", "dismiss", "triage-c", "pull", "approve")
	e.rejected("dismiss-no-reason", "analyst-approve", "stale-approve", "approve-again")
	ns := e.notices()
	if len(ns) != 2 || ns[0].State != storage.NoticeSuperseded || ns[1].State != storage.NoticeSent {
		t.Fatalf("notices %+v; want revision 1 superseded and revision 2 sent", ns)
	}
	if got := storage.SplitIDs(ns[1].ItemIDs); len(got) != 2 || slices.Contains(got, ib) {
		t.Errorf("sent notice lists items %v; want a and c, not the dismissed b", got)
	}
	if ns[1].Reference != ns[0].Reference || ns[1].BodySHA256 == "" || ns[1].RelayResponse == "" {
		t.Errorf("sent notice reference %q (draft %q), hash %q, relay %q", ns[1].Reference, ns[0].Reference, ns[1].BodySHA256, ns[1].RelayResponse)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the SMTP server received %d messages; want exactly 1", len(msgs))
	}
	if strings.Contains(msgs[0].Subject, "revision") || !strings.Contains(msgs[0].Subject, ns[1].Reference) {
		t.Errorf("subject %q: want the reference %s and no internal revision", msgs[0].Subject, ns[1].Reference)
	}
	cs, err := e.store.CaseByID(context.Background(), e.caseID)
	must(t, err)
	if cs.State != storage.CaseClosed || cs.VerifiedAt == nil {
		t.Errorf("case %+v; want closed after verified removal", cs)
	}
	if e.site.checks < 3 {
		t.Errorf("%d re-checks; want the 6 h, 24 h, 72 h ones at least", e.site.checks)
	}
	for _, action := range []string{"case.detected", "case.triaged", "case.drafted", "case.approved", "case.sent", "case.verified-removed",
		"case.closed", "case.triage", "notice.drafted", "notice.approved", "notice.sent", "item.removed"} {
		if e.audited(action) == 0 {
			t.Errorf("no %s in the audit log", action)
		}
	}
}

// Content still up: a follow-up after follow_up_after that cites the
// first notice and threads with it, then an escalation upstream after
// escalate_after; the host's reply is recorded.
func TestLifecycleFollowUpAndEscalation(t *testing.T) {
	e := newLifecycleEnv(t, nil)
	a := "http://leaks.example/files/a.pdf"
	e.site.set(a, true)
	e.signal(time.Second, e.hit(a, 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.update(10*time.Hour, "ack", UpdateAcknowledge, AcknowledgeInput{Actor: lee, Note: "host says it is looking into it"})
	e.expectState(11*time.Hour, storage.CaseAcknowledged)
	e.expectState(73*time.Hour, storage.CaseDrafted) // the follow-up
	e.update(74*time.Hour, "approve-follow-up", UpdateApprove, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal})
	e.expectState(121*time.Hour, storage.CaseDrafted) // the escalation
	e.update(122*time.Hour, "approve-escalation", UpdateApprove, ApproveInput{Revision: 3, Approver: "kim", Role: storage.RoleAdmin})
	e.expectState(123*time.Hour, storage.CaseEscalated)
	e.at(124*time.Hour, func() { e.CancelWorkflow() })
	e.start()

	e.accepted("approve", "ack", "approve-follow-up", "approve-escalation")
	ns := e.notices()
	if len(ns) != 3 {
		t.Fatalf("notices %+v; want notice, follow-up, escalation", ns)
	}
	kinds := []storage.NoticeKind{ns[0].Kind, ns[1].Kind, ns[2].Kind}
	if !slices.Equal(kinds, []storage.NoticeKind{storage.NoticeFirst, storage.NoticeFollowUp, storage.NoticeEscalation}) {
		t.Errorf("kinds %v", kinds)
	}
	if !slices.Contains(storage.SplitIDs(ns[1].Cites), ns[0].ID) || !strings.Contains(ns[1].BodyText, ns[0].Reference) {
		t.Errorf("the follow-up does not cite notice %s: cites %q", ns[0].Reference, ns[1].Cites)
	}
	if ns[2].Recipient != "abuse@transit.example" {
		t.Errorf("escalation went to %q, want the upstream", ns[2].Recipient)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 3 {
		t.Fatalf("SMTP server received %d messages, want 3", len(msgs))
	}
	if !strings.Contains(string(msgs[1].Data), ns[0].MessageID) {
		t.Error("the follow-up does not thread with the first notice (In-Reply-To/References)")
	}
}

// Removed content back at another URL reopens a verified-removed case with
// a reappearance notice that cites the earlier one.
func TestLifecycleReappearanceReopens(t *testing.T) {
	e := newLifecycleEnv(t, nil)
	a := "http://leaks.example/files/a.pdf"
	mirror := "http://leaks.example/mirror/a.pdf"
	e.signal(time.Second, e.hit(a, 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.expectState(7*time.Hour, storage.CaseVerifiedRemoved)
	e.signal(8*time.Hour, e.hit(mirror, 0))
	e.expectState(8*time.Hour+5*time.Minute, storage.CaseDrafted)
	e.at(9*time.Hour, func() { e.CancelWorkflow() })
	e.start()

	ns := e.notices()
	if len(ns) != 2 || ns[1].Kind != storage.NoticeReappearance || !slices.Contains(storage.SplitIDs(ns[1].Cites), ns[0].ID) {
		t.Fatalf("notices %+v; want a reappearance notice citing the first", ns)
	}
	if ns[1].Reference == ns[0].Reference {
		t.Errorf("the reappearance notice reuses reference %s", ns[0].Reference)
	}
	cs, _ := e.store.CaseByID(context.Background(), e.caseID)
	if cs.Reopened != 1 || e.audited("case.reopened") != 1 {
		t.Errorf("reopened %d, audited %d; want 1, 1", cs.Reopened, e.audited("case.reopened"))
	}
}

// The same content on another host, after old.example was sent a notice
// about it: this host's first notice is a reappearance notice that names
// old.example's notice (not threaded with it), and both cases' audit logs
// record the mirror.
func TestLifecycleMirrorOnAnotherHost(t *testing.T) {
	e := newLifecycleEnv(t, nil)
	ctx := context.Background()
	old, err := e.store.EnsureCase(ctx, "old.example", CaseWorkflowID("old.example"))
	must(t, err)
	c := storage.Capture{RunID: e.run.ID, SourceID: e.src.ID, Kind: storage.CaptureFile, URL: "http://old.example/a.pdf", Host: "old.example",
		FetchedAt: time.Now().UTC(), Status: 200, SHA256: fmt.Sprintf("%064x", 7), Size: 1234}
	_, err = e.store.SaveCapture(ctx, &c)
	must(t, err)
	h := storage.Hit{CaptureID: c.ID, ReferenceID: e.refs[0].ID, Method: "sha256", Score: 1, Target: "old.example"}
	_, err = e.store.AddHit(ctx, &h)
	must(t, err)
	taken, err := e.store.TakeHits(ctx, old.ID, []uint64{h.ID}, true)
	must(t, err)
	sentAt := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	earlier := storage.Notice{CaseID: old.ID, Revision: 1, State: storage.NoticeSent, Recipient: "abuse@old.example", Subject: "s",
		BodyText: "t", BodyHTML: "h", DraftedBy: "system", DraftedAt: sentAt, SentAt: &sentAt, MessageID: "<old-1@leakwatch>",
		Kind: storage.NoticeFirst, Reference: "LW-1-1", ItemIDs: storage.JoinIDs(taken.New)}
	must(t, e.store.DB().Create(&earlier).Error)
	must(t, e.store.MarkItemsListed(ctx, taken.New, earlier.ID, sentAt))

	e.signal(time.Second, e.hit("http://leaks.example/copy.pdf", 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.expectState(10*time.Minute, storage.CaseSent)
	e.at(time.Hour, func() { e.CancelWorkflow() })
	e.start()

	ns := e.notices()
	if len(ns) != 1 || ns[0].Kind != storage.NoticeReappearance || !slices.Equal(storage.SplitIDs(ns[0].Cites), []uint64{earlier.ID}) {
		var got []string
		for _, n := range ns {
			got = append(got, fmt.Sprintf("%s citing %q", n.Kind, n.Cites))
		}
		t.Fatalf("notices %v; want one reappearance notice citing old.example's %d", got, earlier.ID)
	}
	if body := strings.Join(strings.Fields(ns[0].BodyText), " "); !strings.Contains(body, "LW-1-1 of 2026-11-30 concerning old.example") ||
		!strings.Contains(body, "has reappeared on leaks.example") {
		t.Errorf("notice does not cite old.example's notice:\n%s", ns[0].BodyText)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages at the SMTP server; want 1", len(msgs))
	}
	if raw := string(msgs[0].Data); strings.Contains(raw, "old-1@leakwatch") {
		t.Errorf("threaded with a message leaks.example never received:\n%.600s", raw)
	}
	if e.audited("case.mirror") != 1 || e.audited("case.reappeared-elsewhere") != 1 {
		t.Errorf("audited mirror %d, reappeared-elsewhere %d; want 1, 1", e.audited("case.mirror"), e.audited("case.reappeared-elsewhere"))
	}
}

// No address anywhere: the case waits at needs-recipient, visibly, until
// a person gives one. Request changes and the two-person rule on edits.
func TestLifecycleRecipientChangesTwoPerson(t *testing.T) {
	e := newLifecycleEnv(t, func(n *config.NoticesConfig) {
		n.Recipients, n.DefaultRecipient, n.TwoPersonRule = nil, "", true
	})
	e.signal(time.Second, e.hit("http://leaks.example/files/a.pdf", 0))
	e.at(5*time.Minute, func() {
		cs, _ := e.store.CaseByID(context.Background(), e.caseID)
		if cs.State != storage.CaseNeedsRecipient || !strings.Contains(cs.Detail, "no takedown recipient") {
			t.Errorf("case %s %q; want needs-recipient saying why", cs.State, cs.Detail)
		}
	})
	e.update(6*time.Minute, "analyst-recipient", UpdateSetRecipient, SetRecipientInput{Actor: ana, Addresses: "abuse@leaks.example"})
	e.update(7*time.Minute, "recipient", UpdateSetRecipient, SetRecipientInput{Actor: lee, Addresses: "Abuse <abuse@leaks.example>"})
	e.expectState(8*time.Minute, storage.CaseDrafted)
	e.update(9*time.Minute, "changes", UpdateRequestChanges, RequestChangesInput{Actor: kim, Revision: 1, Comment: "cite the sealed order"})
	e.update(10*time.Minute, "approve-changed", UpdateApprove, ApproveInput{Revision: 1, Approver: "kim", Role: storage.RoleAdmin})
	e.update(11*time.Minute, "edit", UpdateRevise, ReviseInput{Actor: lee, Revision: 1, Text: "Edited notice text citing the sealed order.", Comment: "as asked"})
	e.update(12*time.Minute, "self-approve", UpdateApprove, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal})
	e.update(13*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 2, Approver: "kim", Role: storage.RoleAdmin})
	e.expectState(time.Hour, storage.CaseSent)
	e.at(2*time.Hour, func() { e.CancelWorkflow() })
	e.start()

	e.accepted("recipient", "changes", "edit", "approve")
	e.rejected("analyst-recipient", "approve-changed", "self-approve")
	msgs := e.sink.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].TextBody(), "Edited notice text") {
		t.Fatalf("messages %d; want the edited notice once", len(msgs))
	}
	if e.audited("notice.changes_requested") != 1 || e.audited("case.recipient") != 1 {
		t.Error("change request or recipient not audited")
	}
}

func TestNextCheck(t *testing.T) {
	sent := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sched := []time.Duration{6 * time.Hour, 24 * time.Hour, 72 * time.Hour}
	day := 24 * time.Hour
	for _, tc := range []struct {
		last time.Time
		want time.Time
	}{
		{time.Time{}, sent.Add(6 * time.Hour)},
		{sent.Add(6 * time.Hour), sent.Add(24 * time.Hour)},
		{sent.Add(30 * time.Hour), sent.Add(72 * time.Hour)},
		{sent.Add(72 * time.Hour), sent.Add(96 * time.Hour)},
		{sent.Add(100 * time.Hour), sent.Add(120 * time.Hour)},
		{sent.Add(29 * day), sent.Add(30 * day)},
		{sent.Add(30 * day), time.Time{}},
	} {
		if got := NextCheck(sent, tc.last, sched, day, 30*day); !got.Equal(tc.want) {
			t.Errorf("NextCheck(last=%s) = %s, want %s", tc.last, got, tc.want)
		}
	}
}

// A sent case, idle between re-checks, continues as new when the server
// suggests it; a hit whose signal woke that very task (on a real server the
// suggestion arrives with some event, usually a crawl's hit) travels in
// the new run's input rather than being lost. A case whose draft awaits a
// lawyer never continues as new (an approval must not race the handover).
func TestLifecycleContinueAsNew(t *testing.T) {
	e := newLifecycleEnv(t, nil)
	a := "http://leaks.example/files/a.pdf"
	e.site.set(a, true)
	e.signal(time.Second, e.hit(a, 0))
	e.at(3*time.Minute, func() {
		// Drafted and suggested: it keeps waiting for the lawyer.
		e.SetContinueAsNewSuggested(true)
	})
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	late := e.hit(a, 1) // a re-crawl: another layer matched the same file
	e.at(4*time.Minute, func() {
		if st := e.status(); st.State != storage.CaseDrafted {
			t.Errorf("drafted case with the suggestion: %+v", st)
		}
		e.SetContinueAsNewSuggested(false)
	})
	e.at(2*time.Hour, func() {
		e.SignalWorkflow(SignalHit, HitSignal{HitIDs: late})
		e.SetContinueAsNewSuggested(true)
	})
	e.start()

	e.accepted("approve")
	if !e.IsWorkflowCompleted() {
		t.Fatal("the case did not continue as new")
	}
	var can *workflow.ContinueAsNewError
	if err := e.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("the case ended with %v, want continue-as-new", err)
	}
	var in CaseInput
	must(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	hs, err := e.store.HitDetailsByIDs(context.Background(), late)
	must(t, err)
	if taken := hs[0].ItemID != 0; !taken && !slices.Equal(in.Seen, late) {
		t.Errorf("the late hit %v was neither taken nor carried (%v)", late, in.Seen)
	}
	if in.CaseID != e.caseID || in.Target != e.target {
		t.Errorf("continued with %+v", in)
	}
	if n := len(e.sink.Messages()); n != 1 {
		t.Errorf("%d messages before continuing; want the one notice", n)
	}
}

func equal[T comparable](a, b []T) bool { return slices.Equal(a, b) }

// A relay that goes silent after the message's end: the notice may have
// been delivered. It is never re-sent on its own (hours pass, one DATA);
// a lawyer saying "not delivered" sends it again, "delivered" settles it.
func TestLifecycleUncertainSend(t *testing.T) {
	relay, err := badrelay.Start(context.Background(), badrelay.Options{Fault: badrelay.StallAfterData})
	must(t, err)
	t.Cleanup(func() { relay.Close() })
	e := newLifecycleEnvRelay(t, nil, relay.Addr())
	e.site.set("http://leaks.example/files/a.pdf", true)
	e.signal(time.Second, e.hit("http://leaks.example/files/a.pdf", 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.expectState(time.Hour, storage.CaseSendUncertain)
	e.at(5*time.Hour, func() {
		if st := relay.Stats(); st.Data != 1 || st.Messages != 1 {
			t.Errorf("relay saw %+v; want one DATA and no resend while uncertain", st)
		}
	})
	e.update(5*time.Hour+time.Minute, "analyst-resolve", UpdateResolveSend, ResolveSendInput{Actor: ana, Delivered: true})
	e.update(5*time.Hour+2*time.Minute, "not-delivered", UpdateResolveSend, ResolveSendInput{Actor: lee})
	e.expectState(6*time.Hour, storage.CaseSendUncertain)
	e.update(6*time.Hour+time.Minute, "delivered", UpdateResolveSend, ResolveSendInput{Actor: kim, Delivered: true})
	e.expectState(7*time.Hour, storage.CaseSent)
	e.at(8*time.Hour, func() { e.CancelWorkflow() })
	e.start()

	e.accepted("approve", "not-delivered", "delivered")
	e.rejected("analyst-resolve")
	if st := relay.Stats(); st.Data != 2 {
		t.Errorf("relay saw %d DATA commands; want 2 (the first, and the one a lawyer asked for)", st.Data)
	}
	ns := e.notices()
	if len(ns) != 1 || ns[0].State != storage.NoticeSent || ns[0].SentAt == nil {
		t.Fatalf("notices %+v; want the one notice settled as sent", ns)
	}
	its, err := e.store.CaseItems(context.Background(), e.caseID)
	must(t, err)
	if its[0].NoticeID != ns[0].ID {
		t.Errorf("item not listed by the settled notice: %+v", its[0])
	}
	if e.audited("notice.uncertain") < 2 || e.audited("notice.resolved") != 2 || e.audited("case.send-uncertain") == 0 {
		t.Error("uncertain sends or their resolution not audited")
	}
}

// A relay refusing the notice (5xx) parks the case at send-failed with the
// reason; a new approval sends the same notice again.
func TestLifecyclePermanentRefusal(t *testing.T) {
	relay, err := badrelay.Start(context.Background(), badrelay.Options{Fault: badrelay.RejectRcpt})
	must(t, err)
	t.Cleanup(func() { relay.Close() })
	e := newLifecycleEnvRelay(t, nil, relay.Addr())
	e.signal(time.Second, e.hit("http://leaks.example/files/a.pdf", 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.at(time.Hour, func() {
		if st := e.status(); st.State != storage.CaseSendFailed || !strings.Contains(st.LastError, "554") {
			t.Errorf("after the refusal: %+v; want send-failed with the relay's 554", st)
		}
	})
	e.update(2*time.Hour, "wrong-revision", UpdateApprove, ApproveInput{Revision: 2, Approver: "kim", Role: storage.RoleAdmin})
	e.update(2*time.Hour+time.Minute, "re-approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "kim", Role: storage.RoleAdmin})
	e.expectState(3*time.Hour, storage.CaseSendFailed)
	e.at(4*time.Hour, func() { e.CancelWorkflow() })
	e.start()

	e.accepted("approve", "re-approve")
	e.rejected("wrong-revision")
	if st := relay.Stats(); st.Rcpts != 2 || st.Data != 0 {
		t.Errorf("relay %+v; want two refused attempts, one per approval", st)
	}
	if ns := e.notices(); len(ns) != 1 || ns[0].State != storage.NoticeRefused {
		t.Errorf("notices %+v; want one, refused", ns)
	}
}

// Recipients a case finds on its own: the host's security.txt, else its
// RDAP abuse contact (both on loopback fixtures), remembered on the case
// and audited; escalations go to the RDAP network and registrar contacts;
// nothing anywhere is a NoRecipient error that names what was tried.
func TestCaseRecipientLookups(t *testing.T) {
	ctx := context.Background()
	rd, err := rdapsim.Start(ctx, rdapsim.Options{})
	must(t, err)
	t.Cleanup(func() { rd.Close() })
	rd.AddDomain("leaks.example", "abuse@registrar.example", "")
	must(t, rd.AddNetwork("192.0.2.0/24", "abuse@transit.example"))
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "withtxt.example" && r.URL.Path == "/.well-known/security.txt" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "Contact: mailto:security@withtxt.example\nExpires: %s\n", time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(site.Close)
	toSite := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", site.Listener.Addr().String())
	}}
	rdapURL, _ := url.Parse(rd.URL())
	e := newLifecycleEnv(t, func(n *config.NoticesConfig) { n.Recipients, n.DefaultRecipient, n.Escalation = nil, "", nil })
	e.acts.Recipients = &recipients.Resolver{
		HTTPClient: &http.Client{Transport: toSite}, RDAPServer: rdapURL,
		LookupIP: func(_ context.Context, host string) ([]net.IP, error) {
			if host == "leaks.example" {
				return []net.IP{net.ParseIP("192.0.2.7")}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
	}
	for _, tc := range []struct {
		target, want string
		kind         storage.NoticeKind
	}{
		{"withtxt.example", "security@withtxt.example", storage.NoticeFirst},
		{"leaks.example", "abuse@registrar.example", storage.NoticeFirst},
		{"leaks.example", "abuse@registrar.example, abuse@transit.example", storage.NoticeEscalation},
		{"nothing.invalid", "", storage.NoticeFirst},
	} {
		c, err := e.store.EnsureCase(ctx, tc.target, CaseWorkflowID(tc.target))
		must(t, err)
		to, _, err := e.acts.recipientFor(ctx, c, tc.kind)
		if tc.want == "" {
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != errTypeNoRecipient || !strings.Contains(err.Error(), "security.txt") {
				t.Errorf("%s: %q, %v; want a NoRecipient error naming what was tried", tc.target, to, err)
			}
			continue
		}
		if err != nil || to != tc.want {
			t.Errorf("%s %s: %q, %v; want %q", tc.target, tc.kind, to, err, tc.want)
		}
	}
	c, _ := e.store.CaseByRef(ctx, "withtxt.example")
	if c.Recipient != "security@withtxt.example" || e.audited("case.recipient") != 2 {
		t.Errorf("the found recipient was not remembered (%q) or audited (%d)", c.Recipient, e.audited("case.recipient"))
	}
}

// Escalation with no upstream contact says so on the case once (no retry
// at every wake-up); a re-check on demand runs at once; a lawyer closes the
// case with a reason (an analyst may not), and the workflow ends.
func TestLifecycleNoUpstreamRecheckClose(t *testing.T) {
	e := newLifecycleEnv(t, func(n *config.NoticesConfig) { n.Escalation = nil })
	a := "http://leaks.example/files/a.pdf"
	e.site.set(a, true)
	e.signal(time.Second, e.hit(a, 0))
	e.update(5*time.Minute, "approve", UpdateApprove, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	e.update(73*time.Hour, "approve-follow-up", UpdateApprove, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal})
	e.at(121*time.Hour, func() {
		cs, _ := e.store.CaseByID(context.Background(), e.caseID)
		if cs.State != storage.CaseSent || !strings.Contains(cs.Detail, "no upstream contact") {
			t.Errorf("escalation without upstream: case %s %q", cs.State, cs.Detail)
		}
	})
	var checksBefore int
	e.at(122*time.Hour, func() { checksBefore = e.site.checks })
	e.update(122*time.Hour+time.Second, "recheck", UpdateRecheck, lee)
	e.at(122*time.Hour+time.Minute, func() {
		if e.site.checks != checksBefore+1 {
			t.Errorf("re-check on demand: %d checks, want %d", e.site.checks, checksBefore+1)
		}
	})
	e.update(123*time.Hour, "analyst-close", UpdateClose, CloseInput{Actor: ana, Reason: "done"})
	e.update(123*time.Hour+time.Minute, "close-no-reason", UpdateClose, CloseInput{Actor: lee})
	e.update(123*time.Hour+2*time.Minute, "close", UpdateClose, CloseInput{Actor: lee, Reason: "host unreachable; referred to the police"})
	e.start()

	e.accepted("approve", "approve-follow-up", "recheck", "close")
	e.rejected("analyst-close", "close-no-reason")
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("case did not end cleanly on close: %v", e.GetWorkflowError())
	}
	cs, _ := e.store.CaseByID(context.Background(), e.caseID)
	if cs.State != storage.CaseClosed || cs.ClosedAt == nil || e.audited("case.closed") != 1 {
		t.Errorf("case %+v; want closed, audited once", cs)
	}
	if n := len(e.notices()); n != 2 {
		t.Errorf("%d notices; want the notice and the follow-up, no escalation", n)
	}
}
