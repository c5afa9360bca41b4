package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// apiTokenPrefix marks leakwatch API tokens, so a leaked one is easy to
// recognise (and to find with secret scanners).
const apiTokenPrefix = "lw_"

// maxTokenNameLen bounds a token's label.
const maxTokenNameLen = 100

// ErrTokenOwner means a token was asked for a user that cannot have one.
var ErrTokenOwner = errors.New("no such enabled user")

// ErrTokenName means a token's name is empty or too long.
var ErrTokenName = fmt.Errorf("a token needs a name of 1 to %d characters", maxTokenNameLen)

// IssueAPIToken creates an API token that acts as username, labelled name,
// expiring after expires (0: never), and audits it as actor. It returns the
// token, which is never stored and cannot be shown again.
func IssueAPIToken(ctx context.Context, store *storage.Store, actor, username, name string, expires time.Duration,
	now time.Time) (string, storage.APITokenInfo, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxTokenNameLen {
		return "", storage.APITokenInfo{}, ErrTokenName
	}
	if expires < 0 {
		return "", storage.APITokenInfo{}, errors.New("expiry must be in the future")
	}
	u, err := store.UserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return "", storage.APITokenInfo{}, fmt.Errorf("user %q: %w", username, ErrTokenOwner)
	}
	if err != nil {
		return "", storage.APITokenInfo{}, err
	}
	raw, _, err := auth.NewToken()
	if err != nil {
		return "", storage.APITokenInfo{}, err
	}
	tok := apiTokenPrefix + raw
	t := storage.APIToken{Name: name, UserID: u.ID, TokenHash: auth.HashToken(tok), CreatedBy: actor, CreatedAt: now}
	if expires > 0 {
		at := now.Add(expires)
		t.ExpiresAt = &at
	}
	if err := store.CreateAPIToken(ctx, &t); err != nil {
		return "", storage.APITokenInfo{}, err
	}
	detail := fmt.Sprintf("user=%s role=%s expires=%s", u.Username, u.Role, formatTime(t.ExpiresAt))
	if err := store.Audit(ctx, actor, "api_token.create", tokenObject(t.ID), detail); err != nil {
		return "", storage.APITokenInfo{}, err
	}
	return tok, storage.APITokenInfo{APIToken: t, Username: u.Username}, nil
}

// RevokeAPIToken ends token id for good and audits it as actor.
func RevokeAPIToken(ctx context.Context, store *storage.Store, actor string, id uint64, now time.Time) error {
	if err := store.RevokeAPIToken(ctx, id, now); err != nil {
		return err
	}
	return store.Audit(ctx, actor, "api_token.revoke", tokenObject(id), "")
}

func tokenObject(id uint64) string { return "api_token/" + strconv.FormatUint(id, 10) }

// ParseTokenExpiry reads a token lifetime: "" (never), days as "90d", or a
// Go duration such as "12h".
func ParseTokenExpiry(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return 0, fmt.Errorf("expiry %q: give whole days from 1 to 3650, e.g. 90d", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("expiry %q: give days (90d) or a duration of at least a minute (12h)", v)
	}
	return d, nil
}

// bearerToken returns the token of an "Authorization: Bearer …" header.
// Other schemes (a proxy's Basic auth, say) are not ours and leave the
// request to its session cookie.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.TrimSpace(tok), strings.EqualFold(scheme, "Bearer")
}

// authenticateBearer finds the user an API token (lw_…) acts as. A bearer
// request carries no cookie, so it needs no CSRF token; it gets the
// owner's role, never more. Revoked and expired tokens, and tokens of
// disabled users, count as no session.
func (s *Server) authenticateBearer(r *http.Request, tok string) (*authed, error) {
	if !strings.HasPrefix(tok, apiTokenPrefix) || len(tok) > 128 {
		return nil, errNoSession
	}
	t, err := s.store.ActiveAPIToken(r.Context(), auth.HashToken(tok), s.now())
	if errors.Is(err, storage.ErrNotFound) {
		s.log.WarnContext(r.Context(), "unknown, revoked or expired api token", "ip", s.clientIP(r).String())
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(r.Context(), t.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.TouchAPIToken(r.Context(), t.ID, s.now()); err != nil {
		// Last use is informational; the request goes on.
		s.log.WarnContext(r.Context(), "record api token use", "token", t.ID, "err", err)
	}
	return &authed{user: u, tokenID: t.ID}, nil
}

// noTokenLogout refuses to log out an API token: it has no session to end,
// and pretending would leave a script believing it was cut off. Tokens are
// revoked instead.
func noTokenLogout(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a *authed) {
		if a.tokenID != 0 {
			writeError(w, http.StatusBadRequest, "an API token has no session to log out of; an admin revokes it instead")
			return
		}
		h(w, r, a)
	}
}

// apiTokenJSON is an API token as lists show it; the token itself is only
// in the answer that created it.
type apiTokenJSON struct {
	ID         uint64     `json:"id"`
	Name       string     `json:"name"`
	User       string     `json:"user"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func toAPITokenJSON(t storage.APITokenInfo) apiTokenJSON {
	return apiTokenJSON{ID: t.ID, Name: t.Name, User: t.Username, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// createdTokenJSON answers POST /api/tokens: the one time the token is shown.
type createdTokenJSON struct {
	apiTokenJSON
	Token string `json:"token"`
}

// createTokenRequest is the body of POST /api/tokens.
type createTokenRequest struct {
	User    string `json:"user"`
	Name    string `json:"name"`
	Expires string `json:"expires"` // "90d", "12h"; "": never
}

func (s *Server) handleAPITokens(w http.ResponseWriter, r *http.Request, _ *authed) {
	if !checkQuery(w, r) {
		return
	}
	ts, err := s.store.ListAPITokens(r.Context())
	if err != nil {
		s.internalError(w, r, "list api tokens", err)
		return
	}
	out := make([]apiTokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toAPITokenJSON(t))
	}
	writeJSON(w, http.StatusOK, listJSON[apiTokenJSON]{Items: out})
}

func (s *Server) handleAPICreateToken(w http.ResponseWriter, r *http.Request, a *authed) {
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	exp, err := ParseTokenExpiry(req.Expires)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tok, info, err := IssueAPIToken(r.Context(), s.store, a.user.Username, req.User, req.Name, exp, s.now())
	switch {
	case errors.Is(err, ErrTokenOwner):
		writeError(w, http.StatusBadRequest, "user: no enabled user of that name")
		return
	case errors.Is(err, ErrTokenName):
		writeError(w, http.StatusBadRequest, "name: "+err.Error())
		return
	case err != nil:
		s.internalError(w, r, "create api token", err)
		return
	}
	writeJSON(w, http.StatusCreated, createdTokenJSON{apiTokenJSON: toAPITokenJSON(info), Token: tok})
}

func (s *Server) handleAPIRevokeToken(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "token not found")
		return
	}
	err := RevokeAPIToken(r.Context(), s.store, a.user.Username, id, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "token not found")
		return
	case errors.Is(err, storage.ErrRevoked):
		writeError(w, http.StatusConflict, "token already revoked")
		return
	case err != nil:
		s.internalError(w, r, "revoke api token", err)
		return
	}
	t, err := s.store.APITokenByID(r.Context(), id)
	if err != nil {
		s.internalError(w, r, "load api token", err)
		return
	}
	writeJSON(w, http.StatusOK, toAPITokenJSON(t))
}

// adminTokensData is the API tokens page.
type adminTokensData struct {
	Tokens []storage.APITokenInfo
	Users  []storage.User
	// Created is the token just made, shown this once.
	Created     string
	CreatedName string
	Form        createTokenRequest
}

func (s *Server) handleAdminTokensPage(w http.ResponseWriter, r *http.Request, a *authed) {
	s.renderAdminTokens(w, r, a, http.StatusOK, adminTokensData{}, "", "")
}

func (s *Server) renderAdminTokens(w http.ResponseWriter, r *http.Request, a *authed, status int, d adminTokensData,
	flash, errMsg string) {
	var err error
	if d.Tokens, err = s.store.ListAPITokens(r.Context()); err != nil {
		s.pageError(w, r, a, "list api tokens", err)
		return
	}
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.pageError(w, r, a, "list users", err)
		return
	}
	for _, u := range users {
		if !u.Disabled {
			d.Users = append(d.Users, u)
		}
	}
	p := s.pageFor(a, "tokens", "API tokens", d)
	p.Flash, p.Error = flash, errMsg
	s.render(w, r, status, "admin_tokens", p)
}

func (s *Server) handleAdminCreateTokenForm(w http.ResponseWriter, r *http.Request, a *authed) {
	form := createTokenRequest{User: r.PostFormValue("user"), Name: r.PostFormValue("name"),
		Expires: r.PostFormValue("expires")}
	d := adminTokensData{Form: form}
	exp, err := ParseTokenExpiry(form.Expires)
	if err != nil {
		s.renderAdminTokens(w, r, a, http.StatusBadRequest, d, "", "Expiry: give a number of days such as 90d, or leave it empty.")
		return
	}
	tok, info, err := IssueAPIToken(r.Context(), s.store, a.user.Username, form.User, form.Name, exp, s.now())
	switch {
	case errors.Is(err, ErrTokenOwner):
		s.renderAdminTokens(w, r, a, http.StatusBadRequest, d, "", "Choose an enabled user for the token to act as.")
		return
	case errors.Is(err, ErrTokenName):
		s.renderAdminTokens(w, r, a, http.StatusBadRequest, d, "", "Give the token a name that says what it is for.")
		return
	case err != nil:
		s.pageError(w, r, a, "create api token", err)
		return
	}
	d = adminTokensData{Created: tok, CreatedName: info.Name}
	s.renderAdminTokens(w, r, a, http.StatusOK, d, "", "")
}

func (s *Server) handleAdminRevokeTokenForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "No such token.")
		return
	}
	err := RevokeAPIToken(r.Context(), s.store, a.user.Username, id, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.uiError(w, r, a, http.StatusNotFound, "No such token.")
		return
	case errors.Is(err, storage.ErrRevoked):
		s.renderAdminTokens(w, r, a, http.StatusOK, adminTokensData{}, "That token was already revoked.", "")
		return
	case err != nil:
		s.pageError(w, r, a, "revoke api token", err)
		return
	}
	s.renderAdminTokens(w, r, a, http.StatusOK, adminTokensData{}, "Token revoked: it no longer works.", "")
}
