package web

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// recentRunsShown is how many finished runs a source's health looks at.
const recentRunsShown = 10

// nextRunTimeout bounds each schedule description the sources page asks
// for: the page shows what the database holds rather than hang.
const nextRunTimeout = 2 * time.Second

// Source health, as the sources page and the dashboard name it.
const (
	healthOK      = "healthy"
	healthFailing = "failing"
	healthPaused  = "paused"
	healthNever   = "never run"
	healthRunning = "running"
)

// sourceHealth is one source with what its recent runs say.
type sourceHealth struct {
	storage.Source
	Status  string // healthOK, healthFailing, healthPaused, healthNever
	Problem string // for failing: what went wrong, in plain words
	Last    *storage.CrawlRun
	// Duration of the last run.
	Duration time.Duration
	// Errors counts failed fetches by kind over the recent runs.
	Errors   []kindCount
	Failed   int // of the recent runs, how many failed
	Runs     int // recent runs looked at
	Next     *time.Time
	NextNote string // why Next is nil
}

// kindCount is a number of failed fetches of one kind.
type kindCount struct {
	Kind string
	N    int
}

// sourcesHealth loads every source's health; withNext asks the schedule
// service for next runs too.
func (s *Server) sourcesHealth(ctx context.Context, withNext bool) ([]sourceHealth, error) {
	srcs, err := s.store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sourceHealth, 0, len(srcs))
	for _, src := range srcs {
		runs, err := s.store.RecentRuns(ctx, src.ID, recentRunsShown)
		if err != nil {
			return nil, err
		}
		h := healthOf(src, runs)
		if withNext {
			h.Next, h.NextNote = s.nextRun(ctx, src)
		}
		out = append(out, h)
	}
	return out, nil
}

// healthOf sums up a source's recent runs (newest first).
func healthOf(src storage.Source, runs []storage.CrawlRun) sourceHealth {
	h := sourceHealth{Source: src, Runs: len(runs)}
	kinds := map[string]int{}
	for i, r := range runs {
		if r.Status == storage.RunFailed || r.Status == storage.RunInterrupted {
			h.Failed++
		}
		var byKind map[string]int
		if r.Errors != "" && json.Unmarshal([]byte(r.Errors), &byKind) == nil {
			for k, n := range byKind {
				kinds[k] += n
			}
		}
		if i == 0 {
			h.Last = &runs[0]
			if r.FinishedAt != nil {
				h.Duration = r.FinishedAt.Sub(r.StartedAt).Round(time.Second)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		h.Errors = append(h.Errors, kindCount{Kind: k, N: kinds[k]})
	}
	slices.SortStableFunc(h.Errors, func(a, b kindCount) int { return b.N - a.N })
	switch {
	case !src.Enabled:
		h.Status = healthPaused
	case h.Last == nil:
		h.Status = healthNever
	case h.Last.Status == storage.RunFailed || h.Last.Status == storage.RunInterrupted:
		h.Status, h.Problem = healthFailing, runProblem(*h.Last)
	case h.Last.Pages+h.Last.Files == 0 && h.Last.Failed > 0:
		h.Status, h.Problem = healthFailing, "every fetch of the last run failed"
		if len(h.Errors) > 0 {
			h.Problem += " (" + h.Errors[0].Kind + ")"
		}
	default:
		h.Status = healthOK
	}
	return h
}

// runProblem says in plain words why a run failed, without the error's
// text (which can name internal addresses).
func runProblem(r storage.CrawlRun) string {
	if r.Status == storage.RunInterrupted {
		return "the crawler stopped in the middle of the run"
	}
	e := strings.ToLower(r.Error)
	for _, k := range []struct{ in, says string }{
		{"connection refused", "connection refused: the site is down or refuses us"},
		{"no such host", "the site's name does not resolve (no such host)"},
		{"timeout", "the site did not answer in time (timeout)"},
		{"deadline exceeded", "the site did not answer in time (timeout)"},
		{"certificate", "the site's TLS certificate was refused"},
		{"tls", "the secure connection failed (TLS)"},
		{"connection reset", "the connection was reset"},
		{"proxy", "the proxy failed"},
		{"refused", "the crawl was refused by our safety rules"},
		{"403", "the site forbids us (HTTP 403)"},
		{"404", "the start page is gone (HTTP 404)"},
		{"login", "logging in to the site failed"},
	} {
		if strings.Contains(e, k.in) {
			return k.says
		}
	}
	return "the crawl failed"
}

// nextRun asks the schedule service when the source next runs.
func (s *Server) nextRun(ctx context.Context, src storage.Source) (*time.Time, string) {
	switch {
	case !src.Enabled:
		return nil, "paused"
	case src.EverySecs == 0:
		return nil, "manual only"
	case s.sources == nil:
		return nil, "schedules not available here"
	}
	qctx, cancel := context.WithTimeout(ctx, nextRunTimeout)
	defer cancel()
	t, ok, err := s.sources.NextRun(qctx, src.ID)
	if err != nil {
		s.log.WarnContext(ctx, "next run of source", "source", src.ID, "err", err)
		return nil, "the scheduler did not answer"
	}
	if !ok {
		return nil, "not scheduled yet"
	}
	return &t, ""
}

// sourcesData is the sources page and its add form.
type sourcesData struct {
	Sources   []sourceHealth
	Status    string // the ?status= filter
	Counts    map[string]int
	CanAdd    bool
	CanRemove bool
	CanRun    bool
	FormName  string
	FormURL   string
	FormEvery string
}

// sourceDone says what a completed source form did.
var sourceDone = map[string]string{
	"added":   "Source added. Its first crawl starts shortly.",
	"edited":  "Source saved. Its schedule follows the new settings.",
	"paused":  "Source paused: no crawls until you resume it.",
	"resumed": "Source resumed: it is crawled on its schedule again.",
	"removed": "Source removed. Its past crawls, captures and hits are kept as evidence.",
	"run":     "Crawl started. Its result shows here when it finishes.",
}

func (s *Server) handleSourcesPage(w http.ResponseWriter, r *http.Request, a *authed) {
	flash := sourceDone[r.URL.Query().Get("done")]
	if r.URL.Query().Get("added") != "" {
		flash = sourceDone["added"]
	}
	s.showSources(w, r, a, http.StatusOK, flash, "", sourcesData{FormEvery: "6h"})
}

func (s *Server) showSources(w http.ResponseWriter, r *http.Request, a *authed, status int, flash, errMsg string, d sourcesData) {
	all, err := s.sourcesHealth(r.Context(), true)
	if err != nil {
		s.pageError(w, r, a, "list sources", err)
		return
	}
	// Failing sources first: they are the ones someone must look at.
	rank := map[string]int{healthFailing: 0, healthNever: 1, healthOK: 2, healthPaused: 3}
	slices.SortStableFunc(all, func(x, y sourceHealth) int { return rank[x.Status] - rank[y.Status] })
	d.Status = r.URL.Query().Get("status")
	d.Counts = map[string]int{}
	for _, h := range all {
		d.Counts[h.Status]++
		if d.Status == "" || d.Status == h.Status || (d.Status == "never" && h.Status == healthNever) {
			d.Sources = append(d.Sources, h)
		}
	}
	d.CanAdd, d.CanRemove, d.CanRun = a.can(permAddSource), a.can(permRemoveSource), a.can(permAddSource) && s.sources != nil
	p := s.pageFor(a, "sources", "Sources", d)
	p.Flash, p.Error = flash, errMsg
	s.render(w, r, status, "sources", p)
}

func (s *Server) handleAddSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	d := sourcesData{FormName: r.PostFormValue("name"), FormURL: r.PostFormValue("url"), FormEvery: r.PostFormValue("every")}
	every, err := parseEvery(d.FormEvery)
	if err != nil {
		s.showSources(w, r, a, http.StatusBadRequest, "", "Not added: "+err.Error()+".", d)
		return
	}
	_, status, msg := s.addSource(r.Context(), r, a, d.FormName, d.FormURL, every)
	if status != http.StatusCreated {
		s.showSources(w, r, a, status, "", "Not added: "+plainMessage(status, msg)+".", d)
		return
	}
	http.Redirect(w, r, "/sources?added=1", http.StatusSeeOther)
}

// sourceForm loads the {id} source for a form, answering itself when it
// cannot.
func (s *Server) sourceForm(w http.ResponseWriter, r *http.Request, a *authed) (storage.Source, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err == nil && id != 0 {
		src, err := s.store.SourceByID(r.Context(), id)
		if err == nil {
			return src, true
		}
		if !errors.Is(err, storage.ErrNotFound) {
			s.pageError(w, r, a, "load source", err)
			return storage.Source{}, false
		}
	}
	s.showSources(w, r, a, http.StatusNotFound, "", "That source no longer exists; the list below is up to date.", sourcesData{FormEvery: "6h"})
	return storage.Source{}, false
}

// sourceResult redirects after a done source form, or shows why not.
func (s *Server) sourceResult(w http.ResponseWriter, r *http.Request, a *authed, status int, msg, done string) {
	if status == http.StatusOK {
		http.Redirect(w, r, "/sources?done="+done, http.StatusSeeOther)
		return
	}
	s.showSources(w, r, a, status, "", "Not done: "+plainMessage(status, msg)+".", sourcesData{FormEvery: "6h"})
}

func (s *Server) handlePauseSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.setEnabledForm(w, r, a, false)
}

func (s *Server) handleResumeSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.setEnabledForm(w, r, a, true)
}

func (s *Server) setEnabledForm(w http.ResponseWriter, r *http.Request, a *authed, enabled bool) {
	src, ok := s.sourceForm(w, r, a)
	if !ok {
		return
	}
	done, action := "paused", auditSourcePaused
	if enabled {
		done, action = "resumed", auditSourceResumed
	}
	if src.Enabled == enabled {
		s.sourceResult(w, r, a, http.StatusOK, "", done)
		return
	}
	src.Enabled = enabled
	_, status, msg := s.updateSource(r.Context(), r, a, src, action, "")
	s.sourceResult(w, r, a, status, msg, done)
}

func (s *Server) handleRemoveSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceForm(w, r, a)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != src.Name {
		s.showSources(w, r, a, http.StatusBadRequest, "", "Not removed: type the source's name ("+src.Name+") to confirm.", sourcesData{FormEvery: "6h"})
		return
	}
	status, msg := s.removeSource(r.Context(), r, a, src)
	s.sourceResult(w, r, a, status, msg, "removed")
}

func (s *Server) handleRunSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceForm(w, r, a)
	if !ok {
		return
	}
	status, msg := s.runSourceNow(r.Context(), r, a, src)
	s.sourceResult(w, r, a, status, msg, "run")
}

// runSourceNow starts a crawl through the SourceService and audits it.
func (s *Server) runSourceNow(ctx context.Context, r *http.Request, a *authed, src storage.Source) (int, string) {
	if s.sources == nil {
		return http.StatusServiceUnavailable, "crawls cannot be started from here: no scheduler is configured"
	}
	detail := "name=" + strconv.Quote(src.Name) + " ip=" + s.clientIP(r).String()
	if err := s.store.Audit(ctx, a.user.Username, "source.run", sourceObject(src.ID), detail); err != nil {
		s.log.ErrorContext(ctx, "audit source run", "source", src.ID, "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	cctx, cancel := context.WithTimeout(ctx, approveTimeout)
	defer cancel()
	if err := s.sources.RunNow(cctx, src.ID); err != nil {
		s.log.WarnContext(ctx, "run source now", "source", src.ID, "err", err)
		return http.StatusServiceUnavailable, "the scheduler (Temporal) did not start the crawl; try again in a minute"
	}
	return http.StatusOK, ""
}

// sourceEditData is the edit form of one source.
type sourceEditData struct {
	Source     storage.Source
	URL        string
	Every      string
	WatchTerms string
}

func (s *Server) handleEditSourcePage(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceForm(w, r, a)
	if !ok {
		return
	}
	d := sourceEditData{Source: src, URL: src.URL, Every: everyText(src), WatchTerms: strings.Join(src.Options.WatchTerms, "\n")}
	s.render(w, r, http.StatusOK, "source_edit", s.pageFor(a, "sources", "Edit source "+src.Name, d))
}

func everyText(src storage.Source) string {
	if src.EverySecs == 0 {
		return "0"
	}
	return src.Every().String()
}

// handleEditSourceForm saves the form's URL, interval and watch terms
// with the same checks as the API's PATCH.
func (s *Server) handleEditSourceForm(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceForm(w, r, a)
	if !ok {
		return
	}
	d := sourceEditData{Source: src, URL: strings.TrimSpace(r.PostFormValue("url")), Every: r.PostFormValue("every"),
		WatchTerms: formText(r, "watch_terms")}
	refuse := func(status int, msg string) {
		p := s.pageFor(a, "sources", "Edit source "+src.Name, d)
		p.Error = "Not saved: " + msg + "."
		s.render(w, r, status, "source_edit", p)
	}
	after := src
	after.URL = d.URL
	every, err := parseEvery(d.Every)
	if err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	after.EverySecs = int64(every / time.Second)
	var terms []string
	for _, t := range strings.Split(d.WatchTerms, "\n") {
		if t = strings.TrimSpace(t); t != "" {
			terms = append(terms, t)
		}
	}
	after.Options.WatchTerms = terms
	if err := checkURLInput("url", after.URL); err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	if after.EverySecs != src.EverySecs {
		if err := checkEveryInput(after.Every()); err != nil {
			refuse(http.StatusBadRequest, err.Error())
			return
		}
	}
	changed := sourceChanges(src, after)
	if len(changed) == 0 {
		s.sourceResult(w, r, a, http.StatusOK, "", "edited")
		return
	}
	if touchesCredentials(src, after, changed) && !a.can(permSourceCredentials) {
		refuse(http.StatusForbidden, credentialsDenied)
		return
	}
	if err := checkSource(after); err != nil {
		refuse(http.StatusBadRequest, err.Error())
		return
	}
	_, status, msg := s.updateSource(r.Context(), r, a, after, auditSourceEdited, "fields="+strings.Join(changed, ","))
	if status != http.StatusOK {
		refuse(status, plainMessage(status, msg))
		return
	}
	s.sourceResult(w, r, a, http.StatusOK, "", "edited")
}
