package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// fakeActions stands in for the Temporal side of the case service. These
// tests are about the web layer — roles, audit, CSRF, forms, rendering and
// the mapping of the service's errors — so a test double is enough here;
// the TakedownCase workflow and workflows.Cases themselves are tested in
// workflows/ against a real Temporal test server.
type fakeActions struct {
	*fakeCases
	mu        sync.Mutex
	calls     []string
	err       error
	status    *workflows.CaseStatus
	statusErr error
}

func (f *fakeActions) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeActions) recordedCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeActions) Triage(_ context.Context, id uint64, u storage.User, ids []uint64, confirm bool, reason string) error {
	return f.record("triage %d %s %v %v %q", id, u.Username, ids, confirm, reason)
}

func (f *fakeActions) Revise(_ context.Context, id uint64, u storage.User, in workflows.ReviseInput) (int, error) {
	err := f.record("revise %d %s rev=%d subject=%q text=%q pull=%v", id, u.Username, in.Revision, in.Subject, in.Text, in.PullPending)
	return in.Revision + 1, err
}

func (f *fakeActions) RequestChanges(_ context.Context, id uint64, u storage.User, rev int, comment string) error {
	return f.record("request-changes %d %s %d %q", id, u.Username, rev, comment)
}

func (f *fakeActions) Acknowledge(_ context.Context, id uint64, u storage.User, note string) error {
	return f.record("acknowledge %d %s %q", id, u.Username, note)
}

func (f *fakeActions) SetRecipient(_ context.Context, id uint64, u storage.User, addrs, rtype string) error {
	return f.record("recipient %d %s %q %q", id, u.Username, addrs, rtype)
}

func (f *fakeActions) ResolveSend(_ context.Context, id uint64, u storage.User, delivered bool) error {
	return f.record("resolve-send %d %s %v", id, u.Username, delivered)
}

func (f *fakeActions) Close(_ context.Context, id uint64, u storage.User, reason string) error {
	return f.record("close %d %s %q", id, u.Username, reason)
}

func (f *fakeActions) Recheck(_ context.Context, id uint64, u storage.User) error {
	return f.record("recheck %d %s", id, u.Username)
}

func (f *fakeActions) Status(_ context.Context, id uint64) (workflows.CaseStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return workflows.CaseStatus{}, f.statusErr
	}
	if f.status == nil {
		return workflows.CaseStatus{}, serviceerror.NewNotFound("workflow not found")
	}
	return *f.status, nil
}

func newActionsFixture(t *testing.T) (*fixture, *fakeActions) {
	t.Helper()
	fa := &fakeActions{fakeCases: &fakeCases{}}
	f := newFixture(t, func(o *Options) { o.Cases = fa })
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	f.addUser("root", storage.RoleAdmin, false)
	return f, fa
}

// lifecycleCase is a case seeded through the Store: items made from hits
// (one URL has three hits: two references, three methods), one dismissed
// with a reason, a draft listing two items and a confirmed item pending
// beside it.
type lifecycleCase struct {
	cs                           storage.Case
	multi, single, dismissed, pd storage.CaseItem
	refs                         []storage.Reference
	draft                        storage.Notice
}

func seedLifecycle(t *testing.T, f *fixture, target string) lifecycleCase {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	src := storage.Source{Name: "blog-" + target, Kind: storage.SourceLeakBlog, URL: "http://" + target + "/", Enabled: true}
	must(f.store.CreateSource(ctx, &src))
	run, err := f.store.StartRun(ctx, src.ID)
	must(err)
	var lc lifecycleCase
	for i, name := range []string{"batch-1/lab-results-0001.pdf", "batch-2/clinical-note-0002.docx"} {
		ref := storage.Reference{Name: name, Size: 100, SHA256: strings.Repeat(fmt.Sprintf("%x", i+1), 64)}
		_, err := f.store.AddReference(ctx, &ref)
		must(err)
		lc.refs = append(lc.refs, ref)
	}
	capture := func(path string, n int) storage.Capture {
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://" + target + path, Host: target,
			FetchedAt: time.Date(2026, 1, 2, 3, 4, n, 0, time.UTC), Status: 200, SHA256: strings.Repeat(fmt.Sprintf("%x", 9-n), 64), Size: 1000}
		_, err := f.store.SaveCapture(ctx, &c)
		must(err)
		return c
	}
	var hitIDs []uint64
	hit := func(c storage.Capture, ref storage.Reference, method string, score float64, why string) {
		h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: method, Score: score, Why: why, Target: target}
		_, err := f.store.AddHit(ctx, &h)
		must(err)
		hitIDs = append(hitIDs, h.ID)
	}
	a := capture("/dump/part1.zip", 1)
	hit(a, lc.refs[0], "sha256", 1, "identical bytes")
	hit(a, lc.refs[1], "winnow", 0.82, "82% of text fingerprints")
	hit(a, lc.refs[0], "text-sha256", 1, "same normalised text")
	b := capture("/dump/part2.zip", 2)
	hit(b, lc.refs[1], "sha256", 1, "identical bytes")
	c := capture("/brochure.pdf", 3)
	hit(c, lc.refs[0], "tlsh", 0.6, "similar layout")
	d := capture("/dump/part3.zip", 4)
	hit(d, lc.refs[1], "pdq", 0.9, "same photograph")

	lc.cs, err = f.store.EnsureCase(ctx, target, workflows.CaseWorkflowID(target))
	must(err)
	_, err = f.store.TakeHits(ctx, lc.cs.ID, hitIDs, false)
	must(err)
	items, err := f.store.CaseItems(ctx, lc.cs.ID)
	must(err)
	if len(items) != 4 {
		t.Fatalf("%d items from 4 URLs", len(items))
	}
	lc.multi, lc.single, lc.dismissed, lc.pd = items[0], items[1], items[2], items[3]
	must(f.store.TriageItems(ctx, lc.cs.ID, []uint64{lc.multi.ID, lc.single.ID, lc.pd.ID}, storage.ItemConfirmed, "", "alice"))
	must(f.store.TriageItems(ctx, lc.cs.ID, []uint64{lc.dismissed.ID}, storage.ItemDismissed, "public brochure, not the breach", "alice"))
	lc.draft = storage.Notice{CaseID: lc.cs.ID, Revision: 1, Recipient: "abuse@" + target, Subject: "Takedown notice LW-1-1",
		BodyText: "High Court orders CIV-2026-404-1\nURL: " + a.URL + "\nURL: " + b.URL, BodyHTML: "<p>x</p>", DraftedBy: "workflow",
		MessageID: "<" + target + "-1@leakwatch>", Kind: storage.NoticeFirst, Reference: fmt.Sprintf("LW-%d-1", lc.cs.ID),
		ItemIDs: storage.JoinIDs([]uint64{lc.multi.ID, lc.single.ID})}
	_, err = f.store.CreateNoticeDraft(ctx, &lc.draft)
	must(err)
	must(f.store.SetCaseState(ctx, lc.cs.ID, storage.CaseDrafted, "abuse@"+target))
	lc.cs, err = f.store.CaseByID(ctx, lc.cs.ID)
	must(err)
	return lc
}

func TestCaseActionRolesAndAudit(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	id := lc.cs.ID
	analyst, legal, admin := f.client("192.0.2.70"), f.client("192.0.2.71"), f.client("192.0.2.72")
	analyst.mustLogin("alice")
	legal.mustLogin("lee")
	admin.mustLogin("root")

	legalOnly := []struct {
		path, audit string
		body        any
		call        string
	}{
		{"revise", "case.revise", map[string]any{"revision": 1, "pull_pending": true}, "revise %d lee rev=1"},
		{"request-changes", "case.request-changes", map[string]any{"revision": 1, "comment": "cite the order's date"}, "request-changes %d lee 1"},
		{"acknowledge", "case.acknowledge", map[string]any{"note": "host says removed"}, "acknowledge %d lee"},
		{"recipient", "case.recipient", map[string]any{"addresses": "abuse@host.example", "type": "hosting"}, "recipient %d lee"},
		{"resolve-send", "case.resolve-send", map[string]any{"delivered": true}, "resolve-send %d lee true"},
		{"close", "case.close", map[string]any{"reason": "duplicate of case 7"}, "close %d lee"},
		{"approve", "notice.approve", map[string]any{"revision": 1}, ""},
	}
	for _, tc := range legalOnly {
		path := fmt.Sprintf("/api/cases/%d/%s", id, tc.path)
		wantErrorJSON(t, analyst.postJSON(path, tc.body), http.StatusForbidden, "legal or admin")
		if ev := f.findAudit(tc.audit + ".denied"); ev.Actor != "alice" || ev.Object != fmt.Sprintf("case/%d", id) ||
			!strings.Contains(ev.Detail, "role=analyst") {
			t.Errorf("%s: denied audit %+v", tc.path, ev)
		}
		if n := len(fa.recordedCalls()) + len(fa.recorded()); n != 0 {
			t.Fatalf("%s: the case service was called for an analyst", tc.path)
		}
	}
	for _, tc := range legalOnly {
		path := fmt.Sprintf("/api/cases/%d/%s", id, tc.path)
		wantStatus(t, legal.postJSON(path, tc.body), http.StatusOK)
		if f.countAudit(tc.audit+".request") != 1 || f.countAudit(tc.audit) != 1 {
			t.Errorf("%s: request and outcome not both audited", tc.path)
		}
		if f.findAudit(tc.audit).Actor != "lee" {
			t.Errorf("%s: audited as someone else", tc.path)
		}
		if tc.call == "" {
			continue
		}
		calls := fa.recordedCalls()
		if want := fmt.Sprintf(tc.call, id); len(calls) == 0 || !strings.HasPrefix(calls[len(calls)-1], want) {
			t.Errorf("%s: last call %v, want %q", tc.path, calls, want)
		}
	}
	// Revise answers the new revision.
	var rev map[string]any
	decode(t, admin.postJSON(fmt.Sprintf("/api/cases/%d/revise", id), map[string]any{"revision": 1, "subject": "Edited"}), &rev)
	if rev["ok"] != true || rev["revision"] != 2.0 {
		t.Fatalf("revise answered %v", rev)
	}

	// Triage and re-checks are for every role.
	wantStatus(t, analyst.postJSON(fmt.Sprintf("/api/cases/%d/triage", id),
		map[string]any{"item_ids": []uint64{lc.pd.ID}, "decision": "dismiss", "reason": "duplicate"}), http.StatusOK)
	wantStatus(t, analyst.postJSON(fmt.Sprintf("/api/cases/%d/recheck", id), nil), http.StatusOK)
	calls := fa.recordedCalls()
	if got := calls[len(calls)-2:]; got[0] != fmt.Sprintf(`triage %d alice [%d] false "duplicate"`, id, lc.pd.ID) || got[1] != fmt.Sprintf("recheck %d alice", id) {
		t.Fatalf("calls %v", got)
	}
	if ev := f.findAudit("case.triage"); ev.Actor != "alice" || !strings.Contains(ev.Detail, "decision=dismiss") {
		t.Fatalf("triage audit %+v", ev)
	}
	// Malformed requests are refused before the service is asked.
	before := len(fa.recordedCalls())
	wantErrorJSON(t, analyst.postJSON(fmt.Sprintf("/api/cases/%d/triage", id),
		map[string]any{"item_ids": []uint64{lc.pd.ID}, "decision": "dismiss"}), http.StatusBadRequest, "reason")
	wantErrorJSON(t, legal.postJSON(fmt.Sprintf("/api/cases/%d/resolve-send", id), map[string]any{}), http.StatusBadRequest, "delivered")
	wantErrorJSON(t, legal.postJSON(fmt.Sprintf("/api/cases/%d/recipient", id),
		map[string]any{"addresses": "a@b.example", "type": "pigeon"}), http.StatusBadRequest, "recipient type")
	wantErrorJSON(t, legal.postJSON("/api/cases/9999/close", map[string]any{"reason": "x"}), http.StatusNotFound, "not found")
	if len(fa.recordedCalls()) != before {
		t.Fatal("a malformed request reached the case service")
	}

	// The UI forms enforce the same roles, and audit the denial.
	rec := analyst.postForm(fmt.Sprintf("/cases/%d/close", id), url.Values{"reason": {"done"}, "csrf_token": {analyst.csrf}})
	wantStatus(t, rec, http.StatusForbidden)
	if !strings.Contains(rec.Body.String(), "only legal or admin users may close cases") {
		t.Fatal("the page does not say why")
	}
	if f.countAudit("case.close.denied") != 2 {
		t.Fatal("UI denial not audited")
	}
	rec = legal.postForm(fmt.Sprintf("/cases/%d/close", id), url.Values{"reason": {"settled"}, "csrf_token": {legal.csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("/cases/%d?done=close", id) {
		t.Fatalf("redirect %q", loc)
	}
	if body := legal.getJSON(fmt.Sprintf("/cases/%d?done=close", id)).Body.String(); !strings.Contains(body, "The case is closing.") {
		t.Fatal("no flash after closing")
	}
}

func TestCaseFormsNeedCSRF(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	legal := f.client("192.0.2.73")
	legal.mustLogin("root")
	forms := map[string]url.Values{
		"triage":          {"item": {fmt.Sprint(lc.pd.ID)}, "decision": {"confirm"}},
		"approve":         {"revision": {"1"}, "needs_read": {"1"}, "read": {"1"}},
		"revise":          {"revision": {"1"}, "pull": {"1"}},
		"request-changes": {"revision": {"1"}, "comment": {"x"}},
		"acknowledge":     {"note": {"x"}},
		"recipient":       {"addresses": {"a@b.example"}},
		"resolve-send":    {"delivered": {"yes"}},
		"close":           {"reason": {"x"}},
		"recheck":         {},
	}
	for name, form := range forms {
		path := fmt.Sprintf("/cases/%d/%s", lc.cs.ID, name)
		wantStatus(t, legal.postForm(path, form), http.StatusForbidden)
		form.Set("csrf_token", "wrong")
		wantStatus(t, legal.postForm(path, form), http.StatusForbidden)
		form.Set("csrf_token", legal.csrf)
		wantStatus(t, legal.postForm(path, form), http.StatusSeeOther)
	}
	if n := len(fa.recordedCalls()) + len(fa.recorded()); n != len(forms) {
		t.Fatalf("%d service calls, want %d (one per form with its token)", n, len(forms))
	}
	// Every form on the page carries the token.
	body := legal.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	nForms := strings.Count(body, `<form`)
	nTokens := strings.Count(body, `name="csrf_token" value="`+legal.csrf+`"`)
	if nForms < 6 || nTokens != nForms {
		t.Fatalf("%d forms, %d with the CSRF token", nForms, nTokens)
	}
}

func TestCaseApproveNeedsReadConfirmation(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	legal := f.client("192.0.2.74")
	legal.mustLogin("lee")
	path := fmt.Sprintf("/cases/%d/approve", lc.cs.ID)
	rec := legal.postForm(path, url.Values{"revision": {"1"}, "needs_read": {"1"}, "csrf_token": {legal.csrf}})
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "I have read revision 1") {
		t.Fatal("the page does not ask for the confirmation")
	}
	rec = legal.postForm(path, url.Values{"revision": {"1"}, "needs_read": {"1"}, "read": {"2"}, "csrf_token": {legal.csrf}})
	wantStatus(t, rec, http.StatusBadRequest)
	if len(fa.recorded()) != 0 {
		t.Fatal("approved without the confirmation")
	}
	wantStatus(t, legal.postForm(path, url.Values{"revision": {"1"}, "needs_read": {"1"}, "read": {"1"}, "csrf_token": {legal.csrf}}),
		http.StatusSeeOther)
	if calls := fa.recorded(); len(calls) != 1 || calls[0] != (approveCall{lc.cs.ID, 1, "lee"}) {
		t.Fatalf("approvals %+v", calls)
	}
	page := legal.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	if !strings.Contains(page, `name="read" value="1" required`) || !strings.Contains(page, "I have read revision 1") {
		t.Fatal("the approve form lacks the required confirmation")
	}
}

func TestCasePageOneRowPerItem(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	analyst := f.client("192.0.2.75")
	analyst.mustLogin("alice")
	rec := analyst.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID))
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()

	// Six hits on four URLs: four rows.
	rows := regexp.MustCompile(`(?s)<tr class="item item-[a-z]+">.*?</tr>`).FindAllString(body, -1)
	if len(rows) != 4 {
		t.Fatalf("%d item rows, want 4 (one per URL)", len(rows))
	}
	multi := rows[0]
	for _, want := range []string{lc.multi.URL, lc.refs[0].OpaqueID, lc.refs[1].OpaqueID, "sha256", "winnow", "text-sha256",
		"82% of text fingerprints", "2026-01-02 03:04:01 UTC", lc.multi.SHA256} {
		if !strings.Contains(multi, want) {
			t.Errorf("the row of the item with three hits lacks %q", want)
		}
	}
	if strings.Count(body, lc.multi.URL) < 1 || strings.Count(body, `value="`+fmt.Sprint(lc.multi.ID)+`"`) != 1 {
		t.Error("the item with three hits is not one selectable row")
	}
	for _, ref := range lc.refs {
		if strings.Contains(body, ref.Name) {
			t.Fatalf("the page shows reference name %q", ref.Name)
		}
	}
	// The dismissed item, with its reason.
	if !strings.Contains(rows[2], "dismissed") || !strings.Contains(rows[2], "public brochure, not the breach") || !strings.Contains(rows[2], "alice") {
		t.Errorf("dismissed row: %s", rows[2])
	}
	// The draft with its items, and the pending item beside it.
	draft := body[strings.Index(body, `<section class="draft">`):strings.Index(body, `<aside class="pending">`)]
	pending := body[strings.Index(body, `<aside class="pending">`):strings.Index(body, `</aside>`)]
	if !strings.Contains(draft, `<pre class="notice-text">High Court orders`) || !strings.Contains(draft, lc.multi.URL) ||
		!strings.Contains(draft, "Takedown notice LW-1-1") {
		t.Errorf("draft section: %s", draft)
	}
	if !strings.Contains(pending, "Pending items (1)") || !strings.Contains(pending, lc.pd.URL) || strings.Contains(pending, lc.single.URL) {
		t.Errorf("pending section: %s", pending)
	}
	// Analysts triage; they see no legal forms.
	if !strings.Contains(body, `action="/cases/`+fmt.Sprint(lc.cs.ID)+`/triage"`) || strings.Contains(body, "/close\"") ||
		strings.Contains(body, "Pull 1 pending") || !strings.Contains(body, "awaits approval by a legal or admin user") {
		t.Error("analyst forms wrong")
	}
	// Without a running workflow the page says so and still renders.
	if !strings.Contains(body, "the case workflow is not running") {
		t.Error("no note on the missing live status")
	}

	// With the workflow answering: its next timer and its pending list.
	next := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fa.status = &workflows.CaseStatus{CaseID: lc.cs.ID, State: storage.CaseDrafted, Revision: 1, Pending: []uint64{lc.pd.ID},
		NextTimer: next, NextWhat: "re-check"}
	legal := f.client("192.0.2.76")
	legal.mustLogin("lee")
	body = legal.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	for _, want := range []string{"re-check at 2026-03-01 12:00:00 UTC", "Pull 1 pending item into a new revision",
		"Approve revision 1", "Request changes", "Edit revision 1", "Set recipient", "Close case", caseStateMeanings[storage.CaseDrafted]} {
		if !strings.Contains(body, want) {
			t.Errorf("legal case page lacks %q", want)
		}
	}
	// Temporal down: the page degrades to what the database holds.
	fa.statusErr = serviceerror.NewUnavailable("connection refused")
	rec = legal.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID))
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "did not answer") || !strings.Contains(rec.Body.String(), lc.pd.URL) {
		t.Error("page with Temporal down")
	}
}

// A mirror's item names the other host's sent notice about the same
// content, on the page (linked to that case) and in the API; the page
// shows the configured police contact.
func TestCasePageNoticedElsewhere(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Cases = &fakeActions{fakeCases: &fakeCases{}}
		o.Police = "cybercrime@police.example"
	})
	f.addUser("alice", storage.RoleAnalyst, false)
	ctx := context.Background()
	old := seedLifecycle(t, f, "old.example")
	sentAt := time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC)
	sent := storage.Notice{CaseID: old.cs.ID, Revision: 2, State: storage.NoticeSent, Recipient: "abuse@old.example", Subject: "s",
		BodyText: "t", BodyHTML: "h", DraftedBy: "workflow", SentAt: &sentAt, MessageID: "<old-2@leakwatch>",
		Kind: storage.NoticeFirst, Reference: "LW-7-1", ItemIDs: storage.JoinIDs([]uint64{old.multi.ID})}
	if err := f.store.DB().Create(&sent).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkItemsListed(ctx, []uint64{old.multi.ID}, sent.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	mirror, err := f.store.EnsureCase(ctx, "mirror.example", workflows.CaseWorkflowID("mirror.example"))
	if err != nil {
		t.Fatal(err)
	}
	src := storage.Source{Name: "m2", Kind: storage.SourceLeakBlog, URL: "http://mirror.example/2", Enabled: true}
	if err := f.store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	run, _ := f.store.StartRun(ctx, src.ID)
	c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://mirror.example/copy.zip", Host: "mirror.example",
		FetchedAt: time.Now().UTC(), Status: 200, SHA256: strings.Repeat("e", 64), Size: 10}
	if _, err := f.store.SaveCapture(ctx, &c); err != nil {
		t.Fatal(err)
	}
	h := storage.Hit{CaptureID: c.ID, ReferenceID: old.refs[0].ID, Method: "sha256", Score: 1, Target: "mirror.example"}
	if _, err := f.store.AddHit(ctx, &h); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.TakeHits(ctx, mirror.ID, []uint64{h.ID}, true); err != nil {
		t.Fatal(err)
	}
	cl := f.client("192.0.2.77")
	cl.mustLogin("alice")
	body := cl.getJSON(fmt.Sprintf("/cases/%d", mirror.ID)).Body.String()
	want := fmt.Sprintf(`Noticed before on <a href="/cases/%d">old.example</a>: LW-7-1 of 2026-01-03 09:00:00 UTC`, old.cs.ID)
	if !strings.Contains(body, want) || strings.Count(body, "Noticed before on") != 1 {
		t.Errorf("the mirror's page lacks %q once", want)
	}
	// The configured contacts for reports; none for an unset regulator.
	if !strings.Contains(body, "<dt>Police</dt><dd>cybercrime@police.example</dd>") || strings.Contains(body, "Privacy regulator") {
		t.Error("the case page does not show the police contact alone")
	}
	var detail caseDetailJSON
	decode(t, cl.getJSON(fmt.Sprintf("/api/cases/%d", mirror.ID)), &detail)
	var got []elsewhereJSON
	for _, it := range detail.Items {
		got = append(got, it.Elsewhere...)
	}
	if len(got) != 1 || got[0].CaseID != old.cs.ID || got[0].Target != "old.example" || got[0].Reference != "LW-7-1" {
		t.Errorf("API noticed_elsewhere %+v", got)
	}
}

func TestCaseRevisionHistoryDiff(t *testing.T) {
	f, _ := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	n := lc.draft
	n.ID, n.Revision, n.MessageID = 0, 2, "<rev2@leakwatch>"
	n.BodyText = strings.Replace(n.BodyText, "CIV-2026-404-1", "CIV-2026-404-1 <b>dated 2026-01-14</b>", 1)
	if _, err := f.store.CreateNoticeDraft(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	c := f.client("192.0.2.77")
	c.mustLogin("lee")
	body := c.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	if !strings.Contains(body, "Changes from revision 1") ||
		!strings.Contains(body, `<span class="diff-add">&#43;High Court orders CIV-2026-404-1 &lt;b&gt;dated 2026-01-14&lt;/b&gt;</span>`) ||
		!strings.Contains(body, `<span class="diff-del">-High Court orders CIV-2026-404-1</span>`) {
		t.Fatalf("no diff between revisions:\n%s", body)
	}
}

func TestCasesAPIAndListFilter(t *testing.T) {
	f, _ := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	other := f.seedCase("mirror.example")
	if err := f.store.SetCaseState(context.Background(), other.ID, storage.CaseSent, ""); err != nil {
		t.Fatal(err)
	}
	c := f.client("192.0.2.78")
	c.mustLogin("alice")
	var list []caseJSON
	decode(t, c.getJSON("/api/cases?state=drafted"), &list)
	if len(list) != 1 || list[0].ID != lc.cs.ID || list[0].Meaning == "" {
		t.Fatalf("drafted cases %+v", list)
	}
	decode(t, c.getJSON("/api/cases?state=sent"), &list)
	if len(list) != 1 || list[0].ID != other.ID {
		t.Fatalf("sent cases %+v", list)
	}
	decode(t, c.getJSON("/api/cases?q=MIRROR"), &list)
	if len(list) != 1 || list[0].ID != other.ID {
		t.Fatalf("target search %+v", list)
	}
	decode(t, c.getJSON("/api/cases"), &list)
	if len(list) != 2 {
		t.Fatalf("all cases %+v", list)
	}
	wantErrorJSON(t, c.getJSON("/api/cases?state=bogus"), http.StatusBadRequest, "unknown state")

	page := c.getJSON("/cases?state=sent").Body.String()
	if !strings.Contains(page, "mirror.example") || strings.Contains(page, `href="/cases/`+fmt.Sprint(lc.cs.ID)+`"`) {
		t.Fatal("the cases page does not filter by state")
	}
	if !regexp.MustCompile(`state-drafted">drafted</span> <strong>1</strong>`).MatchString(page) ||
		!regexp.MustCompile(`all <strong>2</strong>`).MatchString(page) {
		t.Fatal("the cases page lacks the counts per state")
	}
	wantStatus(t, c.getJSON("/cases?state=bogus"), http.StatusBadRequest)

	// The case: items with their matches, notices without bodies unless asked.
	var detail caseDetailJSON
	decode(t, c.getJSON(fmt.Sprintf("/api/cases/%d", lc.cs.ID)), &detail)
	if len(detail.Items) != 4 || len(detail.Items[0].Matches) != 3 || detail.Items[2].Reason != "public brochure, not the breach" ||
		len(detail.Pending) != 1 || detail.Pending[0] != lc.pd.ID || detail.Status != nil || detail.StatusNote == "" {
		t.Fatalf("case detail %+v", detail)
	}
	if len(detail.Notices) != 1 || detail.Notices[0].BodyText != "" || detail.Notices[0].Reference != lc.draft.Reference ||
		len(detail.Notices[0].ItemIDs) != 2 {
		t.Fatalf("notices %+v", detail.Notices)
	}
	decode(t, c.getJSON(fmt.Sprintf("/api/cases/%d?bodies=1", lc.cs.ID)), &detail)
	if !strings.HasPrefix(detail.Notices[0].BodyText, "High Court orders") {
		t.Fatal("?bodies=1 does not include the body")
	}
	raw := c.getJSON(fmt.Sprintf("/api/cases/%d", lc.cs.ID)).Body.String()
	for _, ref := range lc.refs {
		if strings.Contains(raw, ref.Name) && !strings.Contains(raw, `"ref_name"`) {
			t.Fatalf("items show reference name %q", ref.Name)
		}
	}
}

func TestCaseAPIRefusesUnknownFields(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	c := f.client("192.0.2.79")
	c.mustLogin("lee")
	for _, p := range []struct {
		path string
		body any
	}{
		{"close", map[string]any{"reason": "x", "force": true}},
		{"triage", map[string]any{"items": []int{1}, "decision": "confirm"}},
		{"approve", map[string]any{"revision": 1, "approver": "someone-else"}},
		{"recheck", map[string]any{"now": true}},
	} {
		wantErrorJSON(t, c.postJSON(fmt.Sprintf("/api/cases/%d/%s", lc.cs.ID, p.path), p.body), http.StatusBadRequest, "unknown field")
	}
	if len(fa.recordedCalls())+len(fa.recorded()) != 0 {
		t.Fatal("a refused body reached the case service")
	}
}

func TestCaseServiceErrors(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	c := f.client("192.0.2.80")
	c.mustLogin("lee")
	path := fmt.Sprintf("/api/cases/%d/close", lc.cs.ID)
	body := map[string]string{"reason": "settled"}

	// The workflow's refusal: 409 with its reason, audited.
	fa.err = fmt.Errorf("close case %d: %w: %w", lc.cs.ID, workflows.ErrRejected, errors.New("a notice is being sent; close the case after it went out"))
	wantErrorJSON(t, c.postJSON(path, body), http.StatusConflict, "a notice is being sent")
	if ev := f.findAudit("case.close.rejected"); !strings.Contains(ev.Detail, "a notice is being sent") || ev.Actor != "lee" {
		t.Fatalf("rejection audit %+v", ev)
	}
	var e map[string]string
	decode(t, c.postJSON(path, body), &e)
	if strings.Contains(e["error"], "rejected by the case") {
		t.Fatalf("the message keeps the wrapping: %q", e["error"])
	}
	// Temporal unreachable: 503, readable.
	fa.err = fmt.Errorf("close case %d: %w", lc.cs.ID, serviceerror.NewUnavailable("dial tcp 127.0.0.1:7233: connect: connection refused"))
	wantErrorJSON(t, c.postJSON(path, body), http.StatusServiceUnavailable, "Temporal")
	if ev := f.findAudit("case.close.failed"); !strings.Contains(ev.Detail, "Temporal") {
		t.Fatalf("failure audit %+v", ev)
	}
	// Anything else is not shown.
	fa.err = errors.New("sql: database is closed")
	rec := c.postJSON(path, body)
	wantErrorJSON(t, rec, http.StatusInternalServerError, "internal error")
	if strings.Contains(rec.Body.String(), "sql") {
		t.Fatal("an internal error leaked")
	}
	// The UI shows the refusal on the case page.
	fa.err = fmt.Errorf("%w: %w", workflows.ErrRejected, errors.New("give a reason for closing"))
	rec = c.postForm(fmt.Sprintf("/cases/%d/close", lc.cs.ID), url.Values{"reason": {"x"}, "csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "Not done: give a reason for closing") {
		t.Fatal("the case page does not show the refusal")
	}
	// Without a case service that can act: 503.
	f2 := newFixture(t, nil)
	f2.addUser("lee", storage.RoleLegal, false)
	cs := f2.seedCase("leaks.example")
	c2 := f2.client("192.0.2.81")
	c2.mustLogin("lee")
	wantErrorJSON(t, c2.postJSON(fmt.Sprintf("/api/cases/%d/close", cs.ID), body), http.StatusServiceUnavailable, "not available")
}

func TestCaseEditFormAndSentNotices(t *testing.T) {
	f, fa := newActionsFixture(t)
	ctx := context.Background()
	lc := seedLifecycle(t, f, "leaks.example")
	c := f.client("192.0.2.82")
	c.mustLogin("lee")
	path := fmt.Sprintf("/cases/%d/revise", lc.cs.ID)

	// The edit form sends everything back: unchanged is no revision.
	crlf := strings.ReplaceAll(lc.draft.BodyText, "\n", "\r\n")
	rec := c.postForm(path, url.Values{"revision": {"1"}, "subject": {lc.draft.Subject}, "text": {crlf}, "csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "nothing was changed in revision 1") || len(fa.recordedCalls()) != 0 {
		t.Fatal("an unchanged edit was sent")
	}
	rec = c.postForm(path, url.Values{"revision": {"1"}, "subject": {lc.draft.Subject}, "text": {crlf + "\r\nDeadline: 48 hours."},
		"csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	want := fmt.Sprintf("revise %d lee rev=1 subject=%q text=%q pull=false", lc.cs.ID, lc.draft.Subject, lc.draft.BodyText+"\nDeadline: 48 hours.")
	if calls := fa.recordedCalls(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls %q, want %q", calls, want)
	}

	// A notice that may have been delivered: a person resolves it.
	n := storage.Notice{CaseID: lc.cs.ID, Revision: 2, Recipient: "abuse@leaks.example", Subject: "s", BodyText: "b", BodyHTML: "h",
		DraftedBy: "workflow", MessageID: "<rev2@leakwatch>", Kind: storage.NoticeFirst, Reference: lc.draft.Reference, Number: 1,
		ItemIDs: lc.draft.ItemIDs}
	if _, err := f.store.CreateNoticeDraft(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ApproveNotice(ctx, n.ID, "lee"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.BeginSend(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkDataStarted(ctx, n.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkUncertain(ctx, n.ID, "timeout after DATA"); err != nil {
		t.Fatal(err)
	}
	body := c.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	for _, w := range []string{"It was delivered", "Not delivered: send again", "timeout after DATA", lc.draft.Reference} {
		if !strings.Contains(body, w) {
			t.Errorf("sent notices lack %q", w)
		}
	}
	wantStatus(t, c.postForm(fmt.Sprintf("/cases/%d/resolve-send", lc.cs.ID), url.Values{"delivered": {"no"}, "csrf_token": {c.csrf}}),
		http.StatusSeeOther)
	if calls := fa.recordedCalls(); calls[len(calls)-1] != fmt.Sprintf("resolve-send %d lee false", lc.cs.ID) {
		t.Fatalf("calls %q", calls)
	}
	analyst := f.client("192.0.2.83")
	analyst.mustLogin("alice")
	if body := analyst.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String(); strings.Contains(body, "It was delivered") {
		t.Fatal("an analyst is offered to resolve the send")
	}

	// A refused notice is re-approved.
	other := seedLifecycle(t, f, "mirror.example")
	r := storage.Notice{CaseID: other.cs.ID, Revision: 2, Recipient: "abuse@mirror.example", Subject: "s", BodyText: "b", BodyHTML: "h",
		DraftedBy: "workflow", MessageID: "<m-rev2@leakwatch>", Kind: storage.NoticeFirst, Reference: other.draft.Reference, Number: 1}
	if _, err := f.store.CreateNoticeDraft(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ApproveNotice(ctx, r.ID, "lee"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.BeginSend(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkRefused(ctx, r.ID, "550 5.7.1 relaying denied"); err != nil {
		t.Fatal(err)
	}
	body = c.getJSON(fmt.Sprintf("/cases/%d", other.cs.ID)).Body.String()
	if !strings.Contains(body, "Re-approve revision 2") || !strings.Contains(body, "550 5.7.1 relaying denied") {
		t.Fatal("no re-approval of the refused notice")
	}
}
