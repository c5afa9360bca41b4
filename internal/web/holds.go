package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// holdJSON is a legal hold: evidence of the case, source or run it names
// is kept from retention until it is lifted.
type holdJSON struct {
	ID         uint64            `json:"id"`
	Scope      storage.HoldScope `json:"scope"`
	ObjectID   uint64            `json:"object_id"`
	Reason     string            `json:"reason"`
	SetBy      string            `json:"set_by"`
	SetAt      time.Time         `json:"set_at"`
	Active     bool              `json:"active"`
	LiftedBy   string            `json:"lifted_by,omitempty"`
	LiftedAt   *time.Time        `json:"lifted_at,omitempty"`
	LiftReason string            `json:"lift_reason,omitempty"`
}

func toHoldJSON(h storage.LegalHold) holdJSON {
	return holdJSON{ID: h.ID, Scope: h.Scope, ObjectID: h.ObjectID, Reason: h.Reason, SetBy: h.SetBy, SetAt: h.SetAt.UTC(),
		Active: h.Active(), LiftedBy: h.LiftedBy, LiftedAt: h.LiftedAt, LiftReason: h.LiftReason}
}

// addHoldRequest sets a legal hold on a case, a source or a crawl run.
type addHoldRequest struct {
	Scope    storage.HoldScope `json:"scope"` // case, source or run
	ObjectID uint64            `json:"object_id"`
	Reason   string            `json:"reason"` // a matter or request; no personal data
}

// liftHoldRequest lifts a legal hold.
type liftHoldRequest struct {
	Reason string `json:"reason"`
}

// handleAPIHolds lists the legal holds, newest first: the active ones, or
// all with ?all=true.
func (s *Server) handleAPIHolds(w http.ResponseWriter, r *http.Request, _ *authed) {
	if !checkQuery(w, r, "all") {
		return
	}
	all := r.URL.Query().Get("all")
	if all != "" && all != "true" && all != "false" {
		writeError(w, http.StatusBadRequest, "all: must be true or false")
		return
	}
	hs, err := s.store.LegalHolds(r.Context(), all == "true")
	if err != nil {
		s.internalError(w, r, "list legal holds", err)
		return
	}
	out := make([]holdJSON, 0, len(hs))
	for _, h := range hs {
		out = append(out, toHoldJSON(h))
	}
	writeJSON(w, http.StatusOK, listJSON[holdJSON]{Items: out})
}

func (s *Server) handleAPIAddHold(w http.ResponseWriter, r *http.Request, a *authed) {
	var req addHoldRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	h := storage.LegalHold{Scope: req.Scope, ObjectID: req.ObjectID, Reason: strings.TrimSpace(req.Reason),
		SetBy: a.user.Username, SetAt: s.now()}
	if !h.Scope.Valid() {
		writeError(w, http.StatusBadRequest, "scope: must be one of case, source, run")
		return
	}
	if h.Reason == "" {
		writeError(w, http.StatusBadRequest, "reason: required")
		return
	}
	var err error
	switch h.Scope {
	case storage.HoldCase:
		_, err = s.store.CaseByID(r.Context(), h.ObjectID)
	case storage.HoldSource:
		_, err = s.store.SourceByID(r.Context(), h.ObjectID)
	case storage.HoldRun:
		_, err = s.store.RunByID(r.Context(), h.ObjectID)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("object_id: no %s %d", h.Scope, h.ObjectID))
		return
	case err != nil:
		s.internalError(w, r, "legal hold object", err)
		return
	}
	if err := s.store.AddHold(r.Context(), &h); err != nil {
		s.internalError(w, r, "add legal hold", err)
		return
	}
	if err := s.store.Audit(r.Context(), a.user.Username, "hold.add", h.Object(), fmt.Sprintf("hold %d, reason %q", h.ID, h.Reason)); err != nil {
		s.internalError(w, r, "audit legal hold", err)
		return
	}
	writeJSON(w, http.StatusCreated, toHoldJSON(h))
}

func (s *Server) handleAPILiftHold(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "hold not found")
		return
	}
	var req liftHoldRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		writeError(w, http.StatusBadRequest, "reason: required")
		return
	}
	h, err := s.store.LiftHold(r.Context(), id, a.user.Username, reason, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "hold not found")
		return
	case errors.Is(err, storage.ErrHoldLifted):
		writeError(w, http.StatusConflict, "hold already lifted")
		return
	case err != nil:
		s.internalError(w, r, "lift legal hold", err)
		return
	}
	if err := s.store.Audit(r.Context(), a.user.Username, "hold.remove", h.Object(), fmt.Sprintf("hold %d, reason %q", h.ID, reason)); err != nil {
		s.internalError(w, r, "audit legal hold", err)
		return
	}
	writeJSON(w, http.StatusOK, toHoldJSON(h))
}

// handleHoldCaseForm places a legal hold on a case (the case page's form).
func (s *Server) handleHoldCaseForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "Case not found.")
		return
	}
	reason := strings.TrimSpace(formText(r, "reason"))
	if reason == "" {
		s.showCase(w, r, a, http.StatusBadRequest, "", "Not done: a legal hold needs a reason (the matter or request).")
		return
	}
	if _, err := s.store.CaseByID(r.Context(), id); err != nil {
		s.uiError(w, r, a, http.StatusNotFound, "This case no longer exists.")
		return
	}
	h := storage.LegalHold{Scope: storage.HoldCase, ObjectID: id, Reason: reason, SetBy: a.user.Username, SetAt: s.now()}
	if err := s.store.AddHold(r.Context(), &h); err != nil {
		s.pageError(w, r, a, "add legal hold", err)
		return
	}
	if err := s.store.Audit(r.Context(), a.user.Username, "hold.add", h.Object(), fmt.Sprintf("hold %d, reason %q", h.ID, reason)); err != nil {
		s.pageError(w, r, a, "audit legal hold", err)
		return
	}
	http.Redirect(w, r, "/cases/"+strconv.FormatUint(id, 10)+"?done=hold#hold", http.StatusSeeOther)
}

// handleLiftHoldForm lifts a legal hold, back to its case's page (or the
// sources page for a source's or a run's hold).
func (s *Server) handleLiftHoldForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "Legal hold not found.")
		return
	}
	reason := strings.TrimSpace(formText(r, "reason"))
	if reason == "" {
		s.uiError(w, r, a, http.StatusBadRequest, "Lifting a legal hold needs a reason.")
		return
	}
	h, err := s.store.LiftHold(r.Context(), id, a.user.Username, reason, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.uiError(w, r, a, http.StatusNotFound, "Legal hold not found.")
		return
	case errors.Is(err, storage.ErrHoldLifted):
		s.uiError(w, r, a, http.StatusConflict, "That legal hold was already lifted.")
		return
	case err != nil:
		s.pageError(w, r, a, "lift legal hold", err)
		return
	}
	if err := s.store.Audit(r.Context(), a.user.Username, "hold.remove", h.Object(), fmt.Sprintf("hold %d, reason %q", h.ID, reason)); err != nil {
		s.pageError(w, r, a, "audit legal hold", err)
		return
	}
	if h.Scope == storage.HoldCase {
		http.Redirect(w, r, "/cases/"+strconv.FormatUint(h.ObjectID, 10)+"?done=lift#hold", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/sources", http.StatusSeeOther)
}
