package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The case page lets legal place a legal hold and lift it, audited; an
// analyst sees no hold form and is refused.
func TestCasePageLegalHold(t *testing.T) {
	f, _ := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	id := lc.cs.ID
	analyst, legal := f.client("192.0.2.80"), f.client("192.0.2.81")
	analyst.mustLogin("alice")
	legal.mustLogin("lee")
	page := fmt.Sprintf("/cases/%d", id)

	if body := analyst.getJSON(page).Body.String(); strings.Contains(body, "/hold\"") {
		t.Fatal("the analyst's case page has the hold form")
	}
	wantStatus(t, analyst.postForm(page+"/hold", url.Values{"reason": {"x"}, "csrf_token": {analyst.csrf}}), http.StatusForbidden)

	body := legal.getJSON(page).Body.String()
	if !strings.Contains(body, `action="`+page+`/hold"`) || !strings.Contains(body, "No legal hold") {
		t.Fatal("the lawyer's case page has no hold form")
	}
	wantStatus(t, legal.postForm(page+"/hold", url.Values{"reason": {" "}, "csrf_token": {legal.csrf}}), http.StatusBadRequest)
	rec := legal.postForm(page+"/hold", url.Values{"reason": {"claim CIV-2026-404"}, "csrf_token": {legal.csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != page+"?done=hold#hold" {
		t.Fatalf("redirect %q", loc)
	}
	body = legal.getJSON(page + "?done=hold").Body.String()
	if !strings.Contains(body, "Legal hold placed") || !strings.Contains(body, "claim CIV-2026-404") || !strings.Contains(body, `action="/holds/1/lift"`) {
		t.Fatalf("the case page does not show the hold:\n%s", body)
	}
	if ev := f.findAudit("hold.add"); ev.Actor != "lee" || ev.Object != fmt.Sprintf("case:%d", id) {
		t.Fatalf("hold.add audited as %+v", ev)
	}
	rec = legal.postForm("/holds/1/lift", url.Values{"reason": {"settled"}, "csrf_token": {legal.csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != page+"?done=lift#hold" {
		t.Fatalf("redirect %q", loc)
	}
	wantStatus(t, legal.postForm("/holds/1/lift", url.Values{"reason": {"again"}, "csrf_token": {legal.csrf}}), http.StatusConflict)
	if body := legal.getJSON(page).Body.String(); !strings.Contains(body, "No legal hold") {
		t.Fatal("the lifted hold is still shown")
	}
	if f.countAudit("hold.remove") != 1 {
		t.Fatal("lifting not audited once")
	}
}
