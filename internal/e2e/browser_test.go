package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// noticeRecipient is the harness's default takedown address.
const noticeRecipient = "abuse@leakforum.example"

// TestBrowser drives the web UI in headless Chromium as its users do: an
// analyst logs in and confirms an item; a lawyer (enrolling TOTP when the
// app asks) reads the draft, approves it through the confirmation and the
// SMTP server receives the notice; an admin reads the audit log. Every
// screen is saved as a full-page screenshot at 1280 and 390 px, and no page
// may report a script error or a CSP violation.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	chromium := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots of every screen: %s", shots)

	h := newHarness(t, harnessOptions{})
	// An analyst confirms each item before a notice is drafted.
	h.setTriage("required")
	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	h.mustCLI(analystPW+"\n", "users", "add", "analyst", "--role", "analyst", "--password-stdin")
	h.mustCLI(adminPW+"\n", "users", "add", "boss", "--role", "admin", "--password-stdin")
	h.mustCLI("", "sources", "add", "forum", h.siteURL)
	h.up()
	h.mustCLI("", "crawl", "forum")
	analystAPI := h.login("analyst", analystPW)
	c := analystAPI.waitCase("a case about the forum", func(apiCase) bool { return true })
	item := waitNewItem(analystAPI, c.ID)

	// Bounds the browsers, however each step goes (each has its own timeout).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t, h, chromium, shots, 1280, 900, "")
	analystConfirms(b, analystAPI, c.ID, item)
	c = analystAPI.waitCase("a draft listing the confirmed item", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	lawyerApproves(ctx, b, c.ID, item)
	adminReadsAudit(ctx, b)
	checkCSPDetector(b)

	// A phone: the same screens reached through their links in a 390 px
	// window.
	phone := newBrowser(ctx, t, h, chromium, shots, 390, 844, "phone")
	phone.open("/")
	phone.shoot("login", nil)
	phone.login("analyst", analystPW, "")
	phone.shoot("dashboard", nil)
	phone.nav("/cases")
	phone.shoot("cases", nil)
	phone.click("open the case", fmt.Sprintf(`main a[href="/cases/%d"]`, c.ID))
	phone.shoot("case", nil)
	phone.nav("/sources")
	phone.shoot("sources", nil)
	phone.logout()
	phone.clean("after logging out", nil)
}

// setTriage sets notices.triage (for the next `up`).
func (h *harness) setTriage(mode string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\n  triage: auto\n", "\n  triage: "+mode+"\n", 1)
	if cfg == string(b) {
		h.t.Fatal("setTriage: no notices.triage in the config")
	}
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// caseItem is an item of GET /api/cases/{id}.
type caseItem struct {
	ID        uint64 `json:"id"`
	URL       string `json:"url"`
	State     string `json:"state"`
	TriagedBy string `json:"triaged_by"`
}

func caseItems(a *api, caseID uint64) []caseItem {
	a.h.t.Helper()
	var c struct {
		Items []caseItem `json:"items"`
	}
	if code := a.do("GET", fmt.Sprintf("/api/cases/%d", caseID), nil, &c); code != http.StatusOK {
		a.h.t.Fatalf("GET case %d: HTTP %d", caseID, code)
	}
	return c.Items
}

// waitNewItem waits for the case's items and picks one to triage: a leaked
// file if there is one.
func waitNewItem(a *api, caseID uint64) caseItem {
	a.h.t.Helper()
	var pick caseItem
	a.h.eventually("an item awaiting triage", 2*time.Minute, func() (bool, error) {
		for _, it := range caseItems(a, caseID) {
			if it.State != "new" {
				continue
			}
			if pick.ID == 0 || strings.Contains(it.URL, "/files/") && !strings.Contains(pick.URL, "/files/") {
				pick = it
			}
		}
		return pick.ID != 0, nil
	})
	return pick
}

// analystConfirms: the analyst logs in through the form, opens the case from
// the cases list and confirms one item.
func analystConfirms(b *browser, a *api, caseID uint64, item caseItem) {
	t := b.t
	b.open("/")
	if p := b.path(); p != "/login" {
		t.Fatalf("logged out, / leads to %s, want the login page", p)
	}
	b.shoot("login", nil)
	b.login("analyst", analystPW, "")
	b.shoot("dashboard-analyst", nil)
	b.nav("/cases")
	b.shoot("cases", nil)
	b.click("open the case from the list", fmt.Sprintf(`main a[href="/cases/%d"]`, caseID))
	b.shoot("case-analyst", nil)

	box := fmt.Sprintf(`input[name="item"][value="%d"]`, item.ID)
	b.do("select the item", chromedp.Click(chromedp.CSS(box)))
	b.click("confirm the selected item", `button[name="decision"][value="confirm"]`)
	row := eval[string](b, "read the item's row", `(() => {
		const box = document.querySelector(`+jsString(box)+`);
		const row = box && box.closest("tr, li, article, .item");
		return row ? row.innerText : "";
	})()`)
	if !strings.Contains(row, "confirmed") {
		t.Errorf("after confirming, the item's row reads %q; want it shown confirmed", row)
	}
	b.shoot("case-item-confirmed", nil)
	for _, it := range caseItems(a, caseID) {
		if it.ID == item.ID && (it.State != "confirmed" || it.TriagedBy != "analyst") {
			t.Errorf("item %d through the API: state %q triaged by %q; want confirmed by analyst", it.ID, it.State, it.TriagedBy)
		}
	}

	// The analyst's other screens.
	for _, s := range []struct{ href, name string }{{"/triage", "triage"}, {"/hits", "hits"}, {"/sources", "sources"}, {"/mailbox", "mailbox"}} {
		if b.exists(`header nav a[href="` + s.href + `"]`) {
			b.nav(s.href)
			b.shoot(s.name, nil)
		}
	}
	b.logout()
}

// lawyerApproves: the lawyer logs in (enrolling TOTP if asked, then logging
// in again with a code), opens the case, reads the draft, approves it
// through the confirmation, and the SMTP server receives the notice.
func lawyerApproves(ctx context.Context, b *browser, caseID uint64, item caseItem) {
	t, h := b.t, b.h
	b.login("lawyer", lawyerPW, "")
	if secret := enrolTOTP(ctx, b, "lawyer"); secret != "" {
		b.logout()
		b.login("lawyer", lawyerPW, secret)
	}
	b.shoot("dashboard-lawyer", nil)
	b.nav("/cases")
	b.click("open the case from the list", fmt.Sprintf(`main a[href="/cases/%d"]`, caseID))
	if draft := b.text("pre.notice-text"); !strings.Contains(draft, item.URL) {
		t.Errorf("the draft shown does not list the confirmed item's URL %s:\n%s", item.URL, draft)
	}
	b.shoot("case-lawyer", nil)

	form := fmt.Sprintf(`form[action="/cases/%d/approve"]`, caseID)
	if b.exists(form + ` input[name="read"]`) {
		b.do("tick “I have read”", chromedp.Click(chromedp.CSS(form+` input[name="read"]`)))
	}
	card := b.text(form)
	b.shootElement("approve-form", form)
	b.click("approve", form+` button[type="submit"]`)
	if b.path() != fmt.Sprintf("/cases/%d", caseID) {
		// A confirmation page: it must say who receives what.
		page := b.text("main")
		for _, want := range []string{noticeRecipient, item.URL} {
			if !strings.Contains(page, want) {
				t.Errorf("the approve confirmation page does not name %q:\n%s", want, page)
			}
		}
		b.shoot("approve-confirm", nil)
		b.click("confirm the approval", `main form[method="post"] button[type="submit"]:not(.secondary)`)
	} else if !strings.Contains(card, noticeRecipient) {
		t.Errorf("approving asked for no confirmation naming the recipient %s; the approve form read %q", noticeRecipient, card)
	}
	if p := b.path(); p != fmt.Sprintf("/cases/%d", caseID) {
		t.Fatalf("after approving the browser is at %s, want the case page", p)
	}
	if errText := b.text(`main [role="alert"]`); errText != "" {
		t.Fatalf("approving showed an error: %s", errText)
	}
	b.shoot("case-approved", nil)

	h.eventually("the notice to reach the SMTP server", 90*time.Second, func() (bool, error) { return len(h.sink.Messages()) > 0, nil })
	h.eventually("the case page to list the approved notice", 30*time.Second, func() (bool, error) {
		b.load("reload the case page", chromedp.Reload())
		return strings.Contains(b.text("main"), "approved by lawyer"), nil
	})
	b.shoot("case-sent", nil)
	msg := h.sink.Messages()[0]
	if len(msg.To) != 1 || msg.To[0] != noticeRecipient {
		t.Errorf("notice sent to %v, want %s", msg.To, noticeRecipient)
	}
	body := decodeQP(string(msg.Data))
	for _, want := range []string{item.URL, "CIV-2026-404-000123"} {
		if !strings.Contains(body, want) {
			t.Errorf("the notice received lacks %q", want)
		}
	}
	b.logout()
}

// adminReadsAudit: the admin logs in (enrolling TOTP if asked) and reads
// the audit log, which records the approval; then an unknown path.
func adminReadsAudit(ctx context.Context, b *browser) {
	t := b.t
	b.login("boss", adminPW, "")
	if secret := enrolTOTP(ctx, b, "boss"); secret != "" {
		b.logout()
		b.login("boss", adminPW, secret)
	}
	b.nav("/audit")
	if log := b.text("main"); !strings.Contains(log, "notice.approved") {
		t.Errorf("the audit page does not show the approval:\n%s", log)
	}
	b.shoot("audit", nil)

	// No link leads to a page that does not exist: type it.
	missing := b.h.webURL + "/no-such-page"
	if st := b.open("/no-such-page"); st != http.StatusNotFound {
		t.Errorf("unknown path: HTTP %d, want 404", st)
	}
	b.shoot("not-found", func(p problem) bool { return p.kind == "log.network" && p.url == missing })
	if !b.exists(`form[action="/logout"]`) {
		// Logged out-looking, though the session lives: back home to log out.
		t.Logf("the 404 page shows the logged-out layout (no menu, no log out)")
		b.click("go home from the 404 page", `header a[href="/"]`)
	}
	b.logout()
}

// checkCSPDetector proves the problem listener sees a CSP violation: an
// inline <style> the page's policy forbids must be reported.
func checkCSPDetector(b *browser) {
	b.t.Helper()
	b.takeProblems()
	eval[chromedp.Void](b, "add an inline style", `document.head.appendChild(Object.assign(document.createElement("style"), {textContent: "body{color:red}"})), undefined`)
	var seen []problem
	b.h.eventually("the browser to report the CSP violation", 10*time.Second, func() (bool, error) {
		seen = append(seen, b.takeProblems()...)
		for _, p := range seen {
			if strings.Contains(p.text, "Content Security Policy") {
				return true, nil
			}
		}
		return false, nil
	})
}
