package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// page is what every template gets; Data is the page's own content.
type page struct {
	Title   string
	Nav     string // which menu entry is current
	User    *storage.User
	CSRF    string
	Mailbox bool // show the mailbox link (demo only)
	Admin   bool // show the audit link
	// Enrolling: the user must set up MFA before anything else, so the
	// menu (whose links would only lead back) is left out.
	Enrolling bool
	Flash     string
	Error     string
	Data      any
}

// parsePages parses each page template together with the shared layout, so
// every page is one self-contained template set.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"ts":    formatTime,
		"score": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html", f)
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// formatTime renders time.Time or *time.Time in UTC; nil and zero as "—".
func formatTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	default:
		return "—"
	}
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "unknown template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "render template", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageFor fills the common fields for an authenticated page.
func (s *Server) pageFor(a *authed, nav, title string, data any) page {
	p := page{Title: title, Nav: nav, Data: data, Mailbox: s.mailbox != nil}
	if a != nil {
		u := a.user
		p.User = &u
		p.CSRF = a.sess.CSRFToken
		p.Admin = a.can(permAudit)
		p.Enrolling = a.mfaPending()
	}
	return p
}

// uiError renders an error page.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, a *authed, status int, msg string) {
	p := s.pageFor(a, "", http.StatusText(status), nil)
	p.Error = msg
	s.render(w, r, status, "error", p)
}

func (s *Server) handleCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.css)
}

// pageError logs an internal error and shows a generic error page.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, a *authed, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "err", err)
	s.uiError(w, r, a, http.StatusInternalServerError, "Something went wrong. The error was logged.")
}

// casePageData is the case page.
type casePageData struct {
	caseView
	CanApprove bool
	Timeline   []timelineEvent
	// Holds are the case's active legal holds (shown to legal and admin).
	Holds []storage.LegalHold
}

// showCase renders a case page with an optional flash or error message.
func (s *Server) showCase(w http.ResponseWriter, r *http.Request, a *authed, status int, flash, errMsg string) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "Case not found.")
		return
	}
	cv, err := s.loadCase(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		s.uiError(w, r, a, http.StatusNotFound, "Case not found.")
		return
	}
	if err != nil {
		s.pageError(w, r, a, "load case", err)
		return
	}
	if flash == "" && r.URL.Query().Get("approved") != "" {
		flash = "Approval recorded. The notice will be sent by the case workflow."
	}
	if err := s.markImages(r.Context(), &cv); err != nil {
		s.pageError(w, r, a, "case captures", err)
		return
	}
	tl, err := s.caseTimeline(r.Context(), cv)
	if err != nil {
		s.pageError(w, r, a, "case timeline", err)
		return
	}
	d := casePageData{caseView: cv, CanApprove: a.can(permApprove), Timeline: tl}
	if d.CanApprove {
		if d.Holds, err = s.store.HoldsOn(r.Context(), storage.HoldCase, id); err != nil {
			s.pageError(w, r, a, "case holds", err)
			return
		}
	}
	p := s.pageFor(a, "cases", "Case #"+strconv.FormatUint(id, 10)+" · "+cv.Case.Target, d)
	p.Flash, p.Error = flash, errMsg
	s.render(w, r, status, "case", p)
}

func (s *Server) handleApproveForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "Case not found.")
		return
	}
	rev, err := strconv.Atoi(r.PostFormValue("revision"))
	if err != nil {
		rev = 0 // approve reports it as a bad revision
	}
	status, msg := s.approveWith(r.Context(), r, a, id, rev, false)
	switch status {
	case http.StatusOK:
		http.Redirect(w, r, "/cases/"+strconv.FormatUint(id, 10)+"?approved="+strconv.Itoa(rev), http.StatusSeeOther)
	case http.StatusNotFound:
		s.uiError(w, r, a, status, "This case no longer exists.")
	default:
		s.showCase(w, r, a, status, "", "Not approved: "+plainMessage(status, msg)+". The page below shows the case as it is now.")
	}
}

func (s *Server) handleHitsPage(w http.ResponseWriter, r *http.Request, a *authed) {
	hits, err := s.store.RecentHits(r.Context(), 200)
	if err != nil {
		s.pageError(w, r, a, "recent hits", err)
		return
	}
	s.render(w, r, http.StatusOK, "hits", s.pageFor(a, "triage", "All raw hits", hits))
}

func (s *Server) handleMailboxPage(w http.ResponseWriter, r *http.Request, a *authed) {
	s.render(w, r, http.StatusOK, "mailbox", s.pageFor(a, "mailbox", "Mailbox (demo)", s.mailbox.Messages()))
}
