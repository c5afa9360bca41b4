package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/leakwatch/leakwatch/storage"
)

// exposureDays is how far back the dashboard's exposure chart goes.
const exposureDays = 30

// dashboardData is the dashboard: every number with the list behind it.
type dashboardData struct {
	Counts storage.Counts
	// OpenCases counts open cases by state (states with none left out).
	OpenCases []stateCount
	Open      int
	// Awaiting is what waits for the signed-in user's role.
	Awaiting []linkedCount
	// Removal is the time from first capture to verified removal, per host.
	Removal []hostRemoval
	Crawl   []linkedCount
	Chart   template.HTML
	// Telegram accounts that need someone: a dead session stops their
	// channels until a login, a flood wait delays them.
	Telegram []storage.TelegramAccount
}

// linkedCount is a number on the dashboard and the list it comes from.
type linkedCount struct {
	Label string
	N     int64
	Href  string
	Class string // "bad" when it needs attention
}

// hostRemoval is one host's time to removal.
type hostRemoval struct {
	Target      string
	Href        string
	Removed     int
	Median, P90 string
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request, a *authed) {
	d, err := s.loadDashboard(r.Context(), a)
	if err != nil {
		s.pageError(w, r, a, "dashboard", err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", s.pageFor(a, "dashboard", "Dashboard", d))
}

func (s *Server) loadDashboard(ctx context.Context, a *authed) (dashboardData, error) {
	var d dashboardData
	var err error
	if d.Counts, err = s.store.Count(ctx); err != nil {
		return d, err
	}
	cases, err := s.store.ListCases(ctx)
	if err != nil {
		return d, err
	}
	_, counts := filterCases(cases, "", "")
	for _, c := range counts {
		if c.N > 0 && c.State.Open() {
			d.OpenCases = append(d.OpenCases, c)
			d.Open += c.N
		}
	}
	byState := func(st storage.CaseState) int64 {
		if i := slices.IndexFunc(counts, func(c stateCount) bool { return c.State == st }); i >= 0 {
			return int64(counts[i].N)
		}
		return 0
	}
	items, err := s.store.ItemCounts(ctx)
	if err != nil {
		return d, err
	}
	d.Awaiting = awaitingFor(a, items, byState)

	now := s.now()
	m, err := s.store.CaseMetrics(ctx, now)
	if err != nil {
		return d, err
	}
	for _, t := range m.Targets {
		st := t.Stages[storage.StageRemoval]
		if st.Count == 0 {
			continue
		}
		d.Removal = append(d.Removal, hostRemoval{Target: t.Target, Href: "/cases?q=" + url.QueryEscape(t.Target),
			Removed: st.Count, Median: humanDuration(st.Median), P90: humanDuration(st.P90)})
	}

	health, err := s.sourcesHealth(ctx, false)
	if err != nil {
		return d, err
	}
	hc := map[string]int64{}
	for _, h := range health {
		hc[h.Status]++
	}
	d.Crawl = []linkedCount{
		{Label: "sources failing", N: hc[healthFailing], Href: "/sources?status=failing", Class: badIf(hc[healthFailing] > 0)},
		{Label: "sources healthy", N: hc[healthOK], Href: "/sources?status=healthy"},
		{Label: "sources paused", N: hc[healthPaused], Href: "/sources?status=paused"},
		{Label: "sources never run", N: hc[healthNever], Href: "/sources?status=never"},
	}

	days, err := s.store.ExposureByDay(ctx, now.AddDate(0, 0, -(exposureDays-1)), now)
	if err != nil {
		return d, err
	}
	d.Chart = exposureChart(days)

	accts, err := s.store.TelegramAccounts(ctx)
	if err != nil {
		return d, err
	}
	for _, acct := range accts {
		if acct.Status == storage.TelegramDead || acct.Status == storage.TelegramFloodWait || acct.Status == storage.TelegramLoggedOut {
			acct.Session, acct.Phone = nil, "" // never sent to the page
			d.Telegram = append(d.Telegram, acct)
		}
	}
	return d, nil
}

// awaitingFor is what waits for the user's role: analysts triage items,
// lawyers approve drafts, resolve uncertain sends, give missing
// recipients and record replies; admins see both.
func awaitingFor(a *authed, items map[storage.ItemState]int64, byState func(storage.CaseState) int64) []linkedCount {
	var out []linkedCount
	if a.user.Role == storage.RoleAnalyst || a.user.Role == storage.RoleAdmin {
		out = append(out, linkedCount{Label: "items to triage", N: items[storage.ItemNew], Href: "/triage?state=new"})
	}
	if a.can(permApprove) {
		out = append(out,
			linkedCount{Label: "drafts to approve", N: byState(storage.CaseDrafted), Href: "/cases?state=drafted"},
			linkedCount{Label: "refused sends to approve again", N: byState(storage.CaseSendFailed), Href: "/cases?state=send-failed",
				Class: badIf(byState(storage.CaseSendFailed) > 0)},
			linkedCount{Label: "uncertain sends to resolve", N: byState(storage.CaseSendUncertain), Href: "/cases?state=send-uncertain",
				Class: badIf(byState(storage.CaseSendUncertain) > 0)},
			linkedCount{Label: "cases without a recipient", N: byState(storage.CaseNeedsRecipient), Href: "/cases?state=needs-recipient"},
			linkedCount{Label: "sent notices awaiting a reply", N: byState(storage.CaseSent), Href: "/cases?state=sent"},
		)
	}
	return out
}

func badIf(b bool) string {
	if b {
		return "bad"
	}
	return ""
}
