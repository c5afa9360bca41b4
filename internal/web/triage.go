package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/leakwatch/leakwatch/storage"
)

// triagePageSize is how many items a triage page lists.
const triagePageSize = 50

// triageData is the triage queue page.
type triageData struct {
	Groups  []triageGroup
	Total   int64
	Shown   int
	Counts  map[storage.ItemState]int64
	Filter  triageFilterForm
	Sources []storage.Source
	Methods []string
	States  []storage.ItemState
	Action  string // where the triage form posts: the queue with its filters
	Next    string // the next page, "" on the last
	First   string // the first page, "" when on it
	Done    string
	// Reason is the bulk dismissal reason sent back after a refusal.
	Reason string
}

// triageFilterForm is the filter as the form shows it.
type triageFilterForm struct {
	State, Method, Target, Sort string
	Source                      uint64
	After                       string
}

// query renders the filter as a query string (without the cursor).
func (f triageFilterForm) query() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("state", f.State)
	set("method", f.Method)
	set("target", f.Target)
	set("sort", f.Sort)
	if f.Source != 0 {
		v.Set("source", strconv.FormatUint(f.Source, 10))
	}
	return v
}

// triageGroup is the items of one case on the page.
type triageGroup struct {
	CaseID    uint64
	Target    string
	CaseState storage.CaseState
	Items     []triageRow
}

// triageRow is one URL or message with every reference and layer that
// matched it.
type triageRow struct {
	storage.TriageItem
	Matches []itemMatch
	// Image: the capture is an image, shown only as a blurred thumbnail.
	Image bool
}

// parseTriageFilter reads the queue's filters from a query; ok is false
// for a malformed one.
func parseTriageFilter(q url.Values) (triageFilterForm, bool) {
	f := triageFilterForm{State: strings.TrimSpace(q.Get("state")), Method: strings.TrimSpace(q.Get("method")),
		Target: strings.TrimSpace(q.Get("target")), Sort: strings.TrimSpace(q.Get("sort")), After: q.Get("after")}
	if f.State != "" && !slices.Contains(itemStates(), storage.ItemState(f.State)) {
		return f, false
	}
	if f.Sort != "" && f.Sort != string(storage.TriageNewest) && f.Sort != string(storage.TriageExposure) {
		return f, false
	}
	if v := strings.TrimSpace(q.Get("source")); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return f, false
		}
		f.Source = id
	}
	return f, len(f.Method) <= 64 && len(f.Target) <= 512
}

func itemStates() []storage.ItemState {
	return []storage.ItemState{storage.ItemNew, storage.ItemConfirmed, storage.ItemDismissed, storage.ItemRemoved}
}

// triageDone says what a completed triage post did.
var triageDone = map[string]string{
	"confirm": "Confirmed. The items go into the case's next notice.",
	"dismiss": "Dismissed, with your reason on record.",
}

func (s *Server) handleTriagePage(w http.ResponseWriter, r *http.Request, a *authed) {
	q := r.URL.Query()
	d := triageData{Done: triageDone[q.Get("done")]}
	if n := q.Get("n"); d.Done != "" && n != "" {
		if k, err := strconv.Atoi(n); err == nil {
			d.Done = fmt.Sprintf("%d item(s): %s", k, d.Done)
		}
	}
	s.showTriage(w, r, a, http.StatusOK, d, "")
}

// showTriage renders the queue for the request's filters.
func (s *Server) showTriage(w http.ResponseWriter, r *http.Request, a *authed, status int, d triageData, errMsg string) {
	ctx := r.Context()
	ff, ok := parseTriageFilter(r.URL.Query())
	if !ok {
		s.uiError(w, r, a, http.StatusBadRequest, "That filter is not one this page offers. Clear the filters and try again.")
		return
	}
	d.Filter = ff
	pg, err := s.store.TriageQueue(ctx, storage.TriageFilter{State: storage.ItemState(ff.State), SourceID: ff.Source,
		Method: ff.Method, Target: ff.Target, Sort: storage.TriageSort(ff.Sort), After: ff.After, Limit: triagePageSize})
	if errors.Is(err, storage.ErrBadCursor) {
		s.uiError(w, r, a, http.StatusBadRequest, "That page link is no longer valid. Go back to the first page of the queue.")
		return
	}
	if err != nil {
		s.pageError(w, r, a, "triage queue", err)
		return
	}
	if d.Counts, err = s.store.ItemCounts(ctx); err != nil {
		s.pageError(w, r, a, "item counts", err)
		return
	}
	if d.Sources, err = s.store.ListSources(ctx); err != nil {
		s.pageError(w, r, a, "list sources", err)
		return
	}
	if d.Methods, err = s.store.HitMethods(ctx); err != nil {
		s.pageError(w, r, a, "hit methods", err)
		return
	}
	d.States, d.Total, d.Shown = itemStates(), pg.Total, len(pg.Items)
	d.Groups = groupTriage(pg.Items)
	base := ff.query()
	d.Action = "/triage?" + base.Encode()
	if pg.Next != "" {
		nq := ff.query()
		nq.Set("after", pg.Next)
		d.Next = "/triage?" + nq.Encode()
	}
	if ff.After != "" {
		d.First = "/triage?" + base.Encode()
	}
	p := s.pageFor(a, "triage", "Triage", d)
	p.Flash, p.Error = d.Done, errMsg
	s.render(w, r, status, "triage", p)
}

// groupTriage groups the page's items by case, keeping the page's order
// (a case appears where its first item falls).
func groupTriage(items []storage.TriageItem) []triageGroup {
	var out []triageGroup
	for _, it := range items {
		i := slices.IndexFunc(out, func(g triageGroup) bool { return g.CaseID == it.CaseID })
		if i < 0 {
			out = append(out, triageGroup{CaseID: it.CaseID, Target: it.Target, CaseState: it.CaseState})
			i = len(out) - 1
		}
		out[i].Items = append(out[i].Items, triageRow{TriageItem: it, Matches: matchesOf(it.Hits),
			Image: isImageType(it.ContentType)})
	}
	return out
}

// handleTriageForm confirms or dismisses items from the queue: one row's
// buttons (act=confirm:ID, dismiss:ID with that row's reason) or the
// selection (act=confirm / dismiss, item=ID…, the shared reason). Items
// of several cases are triaged case by case, each through the case's
// workflow and audited like the case page's triage.
func (s *Server) handleTriageQueueForm(w http.ResponseWriter, r *http.Request, a *authed) {
	act := r.PostFormValue("act")
	decision, one, _ := strings.Cut(act, ":")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	var ids []uint64
	if one != "" {
		id, err := strconv.ParseUint(one, 10, 64)
		if err != nil || id == 0 {
			s.triageRefused(w, r, a, http.StatusBadRequest, "That item is not one of the queue's.", reason)
			return
		}
		ids = []uint64{id}
		if rr := strings.TrimSpace(r.PostFormValue("reason_" + one)); rr != "" {
			reason = rr
		}
	} else {
		var ok bool
		if ids, ok = formIDs(r, "item"); !ok {
			s.triageRefused(w, r, a, http.StatusBadRequest, "That item is not one of the queue's.", reason)
			return
		}
	}
	switch {
	case decision != "confirm" && decision != "dismiss":
		s.triageRefused(w, r, a, http.StatusBadRequest, "Choose Confirm or Dismiss.", reason)
		return
	case len(ids) == 0:
		s.triageRefused(w, r, a, http.StatusBadRequest, "Select at least one item first (tick its box).", reason)
		return
	case decision == "dismiss" && reason == "":
		s.triageRefused(w, r, a, http.StatusBadRequest, "Nothing was dismissed: say why in the reason box (for example “public brochure, not the breach”).", reason)
		return
	}
	items, err := s.store.CaseItemsByIDs(r.Context(), ids)
	if err != nil {
		s.pageError(w, r, a, "load items", err)
		return
	}
	if len(items) != len(ids) {
		s.triageRefused(w, r, a, http.StatusConflict, "Some of those items no longer exist. The queue below is up to date.", reason)
		return
	}
	byCase := map[uint64][]uint64{}
	var order []uint64
	for _, it := range items {
		if _, ok := byCase[it.CaseID]; !ok {
			order = append(order, it.CaseID)
		}
		byCase[it.CaseID] = append(byCase[it.CaseID], it.ID)
	}
	done := 0
	for _, cid := range order {
		status, msg := s.runCaseAction(r.Context(), r, a, cid, s.triageAction(a, cid, byCase[cid], decision, reason))
		if status != http.StatusOK {
			prefix := ""
			if done > 0 {
				prefix = fmt.Sprintf("%d item(s) were done; then ", done)
			}
			s.triageRefused(w, r, a, status, prefix+"case #"+strconv.FormatUint(cid, 10)+" refused: "+plainMessage(status, msg), reason)
			return
		}
		done += len(byCase[cid])
	}
	back := url.Values{}
	if ff, ok := parseTriageFilter(r.URL.Query()); ok {
		back = ff.query()
	}
	back.Set("done", decision)
	back.Set("n", strconv.Itoa(done))
	http.Redirect(w, r, "/triage?"+back.Encode(), http.StatusSeeOther)
}

// triageRefused shows the queue again with why nothing (more) was done.
func (s *Server) triageRefused(w http.ResponseWriter, r *http.Request, a *authed, status int, msg, reason string) {
	s.showTriage(w, r, a, status, triageData{Reason: reason}, msg)
}

// plainMessage turns a case action's outcome into a sentence for the page:
// internal errors never show their text.
func plainMessage(status int, msg string) string {
	switch status {
	case http.StatusInternalServerError:
		return "something went wrong on our side (it was logged); reload the page and try again"
	case http.StatusServiceUnavailable:
		return "the case service is not answering right now; reload the page in a minute and try again"
	case http.StatusNotFound:
		return "the case no longer exists"
	}
	return msg
}
