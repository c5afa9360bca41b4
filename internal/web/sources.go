package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

// Source limits.
const (
	maxSourceName = 100
	maxSourceURL  = 2048
	minEvery      = time.Minute
	maxEvery      = 30 * 24 * time.Hour
)

// defaultSourceKind is the kind of a source added without one: "web", as
// before kinds existed, so clients that send no kind get what they always
// got. It crawls exactly as generic.
const defaultSourceKind = storage.SourceWeb

// Audit actions of source changes. The CLI writes the same ones, except that
// it records an addition as "source.added".
const (
	auditSourceAdded   = "source.add"
	auditSourceEdited  = "source.edited"
	auditSourcePaused  = "source.paused"
	auditSourceResumed = "source.resumed"
	auditSourceRemoved = "source.removed"
)

// ---- requests ----

// sourceRequest is the body of POST /api/sources: the keys of sourceJSON
// that are settings. Every is a Go duration ("6h", "30m") or a number of
// seconds; empty or 0 means manual crawls only. Kind defaults to
// defaultSourceKind, Enabled to true.
type sourceRequest struct {
	Name         string             `json:"name"`
	Kind         storage.SourceKind `json:"kind"`
	URL          string             `json:"url"`
	Every        json.RawMessage    `json:"every"`
	Enabled      *bool              `json:"enabled"`
	Selectors    selectorsJSON      `json:"selectors"`
	Allow        []string           `json:"allow"`
	Deny         []string           `json:"deny"`
	MaxFileBytes int64              `json:"max_file_bytes"`
	Proxy        string             `json:"proxy"`
	Workers      int                `json:"workers"`
	Rate         float64            `json:"rate"`
	FileTypes    []string           `json:"file_types"`
	WatchTerms   []string           `json:"watch_terms"`
	Login        *loginJSON         `json:"login"`
	CookiesFile  string             `json:"cookies_file"`
	// Telegram: a telegram source's account, join, backfill and media.
	Telegram *storage.TelegramOptions `json:"telegram"`
}

// opt is a field of a partial update: Set when the key is present, Null when
// its value is null (which resets a setting to its default).
type opt[T any] struct {
	Set, Null bool
	V         T
}

func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(bytes.TrimSpace(b)) == "null" {
		var zero T
		o.Null, o.V = true, zero
		return nil
	}
	// A nested decoder does not inherit the outer one's strictness.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.V)
}

// sourcePatch is the body of PATCH /api/sources/{id}: only the keys present
// change. Lists are replaced as a whole; selectors and login are merged key
// by key; null resets a setting ("login": null removes the login).
type sourcePatch struct {
	Name         opt[string]                   `json:"name"` // only accepted unchanged: names are fixed
	Kind         opt[storage.SourceKind]       `json:"kind"`
	URL          opt[string]                   `json:"url"`
	Every        opt[json.RawMessage]          `json:"every"`
	Enabled      opt[bool]                     `json:"enabled"`
	Selectors    opt[selectorsPatch]           `json:"selectors"`
	Allow        opt[[]string]                 `json:"allow"`
	Deny         opt[[]string]                 `json:"deny"`
	MaxFileBytes opt[int64]                    `json:"max_file_bytes"`
	Proxy        opt[string]                   `json:"proxy"`
	Workers      opt[int]                      `json:"workers"`
	Rate         opt[float64]                  `json:"rate"`
	FileTypes    opt[[]string]                 `json:"file_types"`
	WatchTerms   opt[[]string]                 `json:"watch_terms"`
	Login        opt[loginPatch]               `json:"login"`
	CookiesFile  opt[string]                   `json:"cookies_file"`
	Telegram     opt[*storage.TelegramOptions] `json:"telegram"` // replaced as a whole
}

type selectorsPatch struct {
	Content *string `json:"content"`
	Links   *string `json:"links"`
	Next    *string `json:"next"`
	Files   *string `json:"files"`
}

type loginPatch struct {
	URL          *string `json:"url"`
	User         *string `json:"user"`
	UserField    *string `json:"user_field"`
	PassField    *string `json:"pass_field"`
	PasswordEnv  *string `json:"password_env"`
	PasswordFile *string `json:"password_file"`
}

// removedSourceJSON answers DELETE /api/sources/{id}.
type removedSourceJSON struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Kept    string `json:"kept"`
}

// decodeStrictJSON reads exactly one JSON value into v, refusing keys v does
// not have.
func decodeStrictJSON(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return errNotJSON
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errors.New("more than one JSON value")
	}
	return nil
}

// writeSourceDecodeError explains why a source body was refused.
func writeSourceDecodeError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errNotJSON), errors.As(err, &mbe):
		writeDecodeError(w, err)
	case errors.As(err, &te) && te.Field != "":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %s must be a %s, not a %s",
			te.Field, jsonTypeName(te.Type.String()), te.Value))
	default:
		msg := "invalid JSON body: " + strings.TrimPrefix(err.Error(), "json: ")
		if strings.Contains(err.Error(), "unknown field") {
			msg += " (GET /api/sources shows the fields a source has)"
			if strings.Contains(err.Error(), `"password"`) {
				msg += "; a login's password is never sent or stored: give login.password_env or login.password_file"
			}
		}
		writeError(w, http.StatusBadRequest, msg)
	}
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string" || goType == "storage.SourceKind":
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "number"
	case strings.HasPrefix(goType, "[]"):
		return "list"
	}
	return "object"
}

// ---- validation ----

// checkSource refuses settings a crawl could not use, with the reason: the
// rules of `leakwatch sources add/edit` (cmd/leakwatch checkSource), naming
// the API's fields. It checks a whole source as it would be stored.
func checkSource(src storage.Source) error {
	if !src.Kind.Valid() {
		return fmt.Errorf("kind %q is not one of %s", src.Kind, kindList())
	}
	if src.Kind == storage.SourceTelegram {
		if _, err := tme.ParseChannel(src.URL); err != nil {
			return fmt.Errorf("url: %w", err)
		}
	} else if !isHTTPURL(src.URL) {
		return errors.New("url must be an absolute http:// or https:// URL")
	}
	if e := src.Every(); e < 0 || (e != 0 && e < minEvery) {
		return fmt.Errorf("every: the interval must be 0 (manual only) or at least %s (got %s)", minEvery, e)
	}
	o := src.Options
	for _, list := range []struct {
		field string
		res   []string
	}{{"allow", o.Allow}, {"deny", o.Deny}} {
		for i, re := range list.res {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("%s[%d] %q is not a valid URL regexp: %w", list.field, i, re, err)
			}
		}
	}
	for i, t := range o.WatchTerms {
		if _, err := capture.CompileWatch([]string{t}); err != nil {
			return fmt.Errorf("watch_terms[%d]: %w", i, err)
		}
	}
	if l := o.Login; l != nil {
		if !isHTTPURL(l.URL) {
			return errors.New("login.url must be an absolute http:// or https:// URL")
		}
		if l.PasswordEnvIsOwn() {
			return fmt.Errorf("login.password_env %s is one of leakwatch's own settings; use another variable", l.PasswordEnv)
		}
		if l.User == "" || (l.PasswordEnv == "") == (l.PasswordFile == "") {
			return errors.New("login needs user and exactly one of password_env and password_file " +
				"(the password is read from there when a crawl starts; it is never sent or stored)")
		}
	}
	switch {
	case o.MaxFileBytes < 0:
		return errors.New("max_file_bytes must not be negative")
	case o.Workers < 0:
		return errors.New("workers must not be negative")
	case o.Rate < 0:
		return errors.New("rate must not be negative")
	}
	if p := o.Proxy; p != "" {
		pu, err := url.Parse(p)
		if err != nil || pu.Host == "" || !slices.Contains([]string{"socks5", "socks5h", "http", "https"}, pu.Scheme) {
			return errors.New("proxy must be a socks5h://, socks5://, http:// or https:// URL")
		}
	}
	return nil
}

func kindList() string {
	kinds := make([]string, 0, 6)
	for _, k := range storage.SourceKinds() {
		kinds = append(kinds, string(k))
	}
	return strings.Join(kinds, ", ")
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// The API's own rules apply to values a request gives, on top of checkSource:
// sources from the config file or the CLI may predate them, and an edit of
// one setting must not fail on another the client did not touch.

func checkSourceName(name string) error {
	if name == "" || len(name) > maxSourceName {
		return fmt.Errorf("name must be 1 to %d characters", maxSourceName)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return errors.New("name must not contain control characters")
	}
	return nil
}

// checkURLInput checks a URL a request gives. Credentials in it would end up
// in the database, the audit log, notices and every user's view.
func checkURLInput(field, raw string) error {
	if len(raw) > maxSourceURL {
		return fmt.Errorf("%s is longer than %d characters", field, maxSourceURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http:// or https:// URL", field)
	}
	if u.User != nil {
		return fmt.Errorf("%s must not contain a user name or password", field)
	}
	return nil
}

func checkEveryInput(every time.Duration) error {
	if every != 0 && (every < minEvery || every > maxEvery) {
		return fmt.Errorf("every: the interval must be 0 (manual only) or between %s and %s", minEvery, maxEvery)
	}
	return nil
}

func checkProxyInput(p string) error {
	if len(p) > maxSourceURL {
		return fmt.Errorf("proxy is longer than %d characters", maxSourceURL)
	}
	if u, err := url.Parse(p); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return errors.New("proxy must not contain a password: it would be stored and shown to every user")
		}
	}
	return nil
}

func parseEveryField(raw json.RawMessage) (time.Duration, error) {
	every, err := parseEveryJSON(raw)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "every") {
			err = fmt.Errorf("every: %w", err)
		}
		return 0, err
	}
	return every, checkEveryInput(every)
}

// redactURL hides a password in a URL (as "xxxxx").
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); !has {
		return raw
	}
	return u.Redacted()
}

// sourceChanges names the settings that differ between a and b.
func sourceChanges(a, b storage.Source) []string {
	var out []string
	add := func(field string, differ bool) {
		if differ {
			out = append(out, field)
		}
	}
	ao, bo := a.Options, b.Options
	add("kind", a.Kind != b.Kind)
	add("url", a.URL != b.URL)
	add("every", a.EverySecs != b.EverySecs)
	add("enabled", a.Enabled != b.Enabled)
	add("selectors", ao.Selectors != bo.Selectors)
	add("allow", !slices.Equal(ao.Allow, bo.Allow))
	add("deny", !slices.Equal(ao.Deny, bo.Deny))
	add("max_file_bytes", ao.MaxFileBytes != bo.MaxFileBytes)
	add("proxy", ao.Proxy != bo.Proxy)
	add("workers", ao.Workers != bo.Workers)
	add("rate", ao.Rate != bo.Rate)
	add("file_types", !slices.Equal(ao.FileTypes, bo.FileTypes))
	add("watch_terms", !slices.Equal(ao.WatchTerms, bo.WatchTerms))
	add("login", (ao.Login == nil) != (bo.Login == nil) || (ao.Login != nil && *ao.Login != *bo.Login))
	add("cookies_file", ao.CookiesFile != bo.CookiesFile)
	add("telegram", !reflect.DeepEqual(ao.Telegram, bo.Telegram))
	return out
}

func hasCredentials(src storage.Source) bool {
	return src.Options.Login != nil || src.Options.CookiesFile != ""
}

// touchesCredentials reports whether going from before to after needs
// permSourceCredentials: it sets or changes a login or cookies file, or sends
// a source that has one to another URL or through another proxy.
func touchesCredentials(before, after storage.Source, changed []string) bool {
	if slices.Contains(changed, "login") || slices.Contains(changed, "cookies_file") {
		return true
	}
	return (hasCredentials(before) || hasCredentials(after)) &&
		(slices.Contains(changed, "url") || slices.Contains(changed, "proxy"))
}

const credentialsDenied = "only an admin may set a source's login or cookies_file, or change the url or proxy " +
	"of a source that has one: a crawl sends the password or cookies it names to that host"

// ---- operations shared by the API and the UI form ----

func sourceObject(id uint64) string { return "source/" + strconv.FormatUint(id, 10) }

// createSource validates and stores a new source. It returns the status
// (201 on success) and, otherwise, a message for the user.
func (s *Server) createSource(ctx context.Context, r *http.Request, a *authed, src storage.Source) (storage.Source, int, string) {
	src.Name, src.URL = strings.TrimSpace(src.Name), strings.TrimSpace(src.URL)
	if src.Kind == "" {
		src.Kind = defaultSourceKind
	}
	// Who may set credentials first: a refusal must not depend on, or
	// reveal, how the credentials would be checked.
	if touchesCredentials(storage.Source{}, src, sourceChanges(storage.Source{}, src)) && !a.can(permSourceCredentials) {
		s.log.WarnContext(ctx, "source credentials refused by role", "user", a.user.Username, "role", a.user.Role)
		return storage.Source{}, http.StatusForbidden, credentialsDenied
	}
	if err := checkNewSource(src); err != nil {
		return storage.Source{}, http.StatusBadRequest, err.Error()
	}
	if err := s.store.CreateSource(ctx, &src); errors.Is(err, storage.ErrDuplicate) {
		return storage.Source{}, http.StatusConflict, fmt.Sprintf("a source named %q already exists", src.Name)
	} else if err != nil {
		s.log.ErrorContext(ctx, "create source", "err", err)
		return storage.Source{}, http.StatusInternalServerError, "internal error"
	}
	detail := fmt.Sprintf("name=%q kind=%s url=%q every=%s enabled=%t ip=%s", src.Name, src.Kind, src.URL, src.Every(),
		src.Enabled, s.clientIP(r))
	if err := s.store.Audit(ctx, a.user.Username, auditSourceAdded, sourceObject(src.ID), detail); err != nil {
		s.log.ErrorContext(ctx, "audit source add", "source", src.ID, "err", err)
	}
	s.log.InfoContext(ctx, "source added", "user", a.user.Username, "source", src.Name)
	s.syncSchedules(ctx)
	return src, http.StatusCreated, ""
}

// checkNewSource applies every rule to a source about to be created.
func checkNewSource(src storage.Source) error {
	if err := checkSourceName(src.Name); err != nil {
		return err
	}
	if !src.Kind.Valid() {
		return fmt.Errorf("kind %q is not one of %s", src.Kind, kindList())
	}
	if err := checkURLInput("url", src.URL); err != nil {
		return err
	}
	if err := checkEveryInput(src.Every()); err != nil {
		return err
	}
	if err := checkProxyInput(src.Options.Proxy); err != nil {
		return err
	}
	if l := src.Options.Login; l != nil {
		if err := checkURLInput("login.url", l.URL); err != nil {
			return err
		}
	}
	return checkSource(src)
}

// addSource adds a source from the UI form (name, URL and interval; the
// default kind, no options).
func (s *Server) addSource(ctx context.Context, r *http.Request, a *authed, name, rawURL string, every time.Duration) (storage.Source, int, string) {
	return s.createSource(ctx, r, a, storage.Source{Name: name, URL: rawURL, EverySecs: int64(every / time.Second), Enabled: true})
}

// apply returns src with the patch's settings, checking the values given.
func (p sourcePatch) apply(src storage.Source) (storage.Source, error) {
	out := src // slices and the login are replaced, never changed in place
	if p.Name.Set && p.Name.V != src.Name {
		return src, errors.New("name cannot be changed")
	}
	if p.Kind.Set {
		if p.Kind.V == "" {
			return src, fmt.Errorf("kind must be one of %s", kindList())
		}
		out.Kind = p.Kind.V
	}
	if p.URL.Set {
		u := strings.TrimSpace(p.URL.V)
		if err := checkURLInput("url", u); err != nil {
			return src, err
		}
		out.URL = u
	}
	if p.Every.Set {
		every, err := parseEveryField(p.Every.V)
		if err != nil {
			return src, err
		}
		out.EverySecs = int64(every / time.Second)
	}
	if p.Enabled.Set {
		if p.Enabled.Null {
			return src, errors.New("enabled must be true or false")
		}
		out.Enabled = p.Enabled.V
	}
	o := &out.Options
	if p.Selectors.Set {
		sp := p.Selectors.V
		sel := o.Selectors
		if p.Selectors.Null {
			sel = storage.Selectors{}
		}
		setStr(&sel.Content, sp.Content)
		setStr(&sel.Links, sp.Links)
		setStr(&sel.Next, sp.Next)
		setStr(&sel.Files, sp.Files)
		o.Selectors = sel
	}
	setOpt(&o.Allow, p.Allow)
	setOpt(&o.Deny, p.Deny)
	setOpt(&o.MaxFileBytes, p.MaxFileBytes)
	if p.Proxy.Set {
		if err := checkProxyInput(p.Proxy.V); err != nil {
			return src, err
		}
		o.Proxy = p.Proxy.V
	}
	setOpt(&o.Workers, p.Workers)
	setOpt(&o.Rate, p.Rate)
	setOpt(&o.FileTypes, p.FileTypes)
	setOpt(&o.WatchTerms, p.WatchTerms)
	if p.Login.Set {
		if p.Login.Null {
			o.Login = nil
		} else {
			var l storage.SourceLogin
			if o.Login != nil {
				l = *o.Login
			}
			lp := p.Login.V
			setStr(&l.URL, lp.URL)
			setStr(&l.User, lp.User)
			setStr(&l.UserField, lp.UserField)
			setStr(&l.PassField, lp.PassField)
			setStr(&l.PasswordEnv, lp.PasswordEnv)
			setStr(&l.PasswordFile, lp.PasswordFile)
			if lp.URL != nil {
				if err := checkURLInput("login.url", l.URL); err != nil {
					return src, err
				}
			}
			o.Login = &l
		}
	}
	setOpt(&o.CookiesFile, p.CookiesFile)
	setOpt(&o.Telegram, p.Telegram)
	return out, nil
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setOpt[T any](dst *T, o opt[T]) {
	if o.Set {
		*dst = o.V
	}
}

// ---- API handlers ----

// sourceFromPath loads the source named by the {id} path value, answering
// 404 or 500 itself when it cannot.
func (s *Server) sourceFromPath(w http.ResponseWriter, r *http.Request) (storage.Source, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusNotFound, "source not found")
		return storage.Source{}, false
	}
	src, err := s.store.SourceByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "source not found")
		return storage.Source{}, false
	}
	if err != nil {
		s.internalError(w, r, "load source", err)
		return storage.Source{}, false
	}
	return src, true
}

func (s *Server) handleAPISource(w http.ResponseWriter, r *http.Request, _ *authed) {
	if src, ok := s.sourceFromPath(w, r); ok {
		writeJSON(w, http.StatusOK, toSourceJSON(src))
	}
}

func (s *Server) handleAPIAddSource(w http.ResponseWriter, r *http.Request, a *authed) {
	var req sourceRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeSourceDecodeError(w, err)
		return
	}
	every, err := parseEveryField(req.Every)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	src := storage.Source{Name: req.Name, Kind: req.Kind, URL: req.URL, EverySecs: int64(every / time.Second), Enabled: true,
		Options: storage.SourceOptions{Selectors: storage.Selectors(req.Selectors), Allow: req.Allow, Deny: req.Deny,
			MaxFileBytes: req.MaxFileBytes, Proxy: req.Proxy, Workers: req.Workers, Rate: req.Rate, FileTypes: req.FileTypes,
			WatchTerms: req.WatchTerms, CookiesFile: req.CookiesFile, Telegram: req.Telegram}}
	if req.Enabled != nil {
		src.Enabled = *req.Enabled
	}
	if l := req.Login; l != nil {
		src.Options.Login = &storage.SourceLogin{URL: strings.TrimSpace(l.URL), UserField: l.UserField, PassField: l.PassField,
			User: l.User, PasswordEnv: l.PasswordEnv, PasswordFile: l.PasswordFile}
	}
	src, status, msg := s.createSource(r.Context(), r, a, src)
	if status != http.StatusCreated {
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Location", "/api/sources/"+strconv.FormatUint(src.ID, 10))
	writeJSON(w, http.StatusCreated, toSourceJSON(src))
}

func (s *Server) handleAPIEditSource(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceFromPath(w, r)
	if !ok {
		return
	}
	var p sourcePatch
	if err := decodeStrictJSON(r, &p); err != nil {
		writeSourceDecodeError(w, err)
		return
	}
	after, err := p.apply(src)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	changed := sourceChanges(src, after)
	if len(changed) == 0 {
		writeJSON(w, http.StatusOK, toSourceJSON(src))
		return
	}
	if touchesCredentials(src, after, changed) && !a.can(permSourceCredentials) {
		s.log.WarnContext(r.Context(), "source credentials refused by role", "user", a.user.Username,
			"role", a.user.Role, "source", src.ID)
		writeError(w, http.StatusForbidden, credentialsDenied)
		return
	}
	if err := checkSource(after); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.saveSource(w, r, a, after, auditSourceEdited, "fields="+strings.Join(changed, ","))
}

func (s *Server) handleAPIPauseSource(w http.ResponseWriter, r *http.Request, a *authed) {
	s.setSourceEnabled(w, r, a, false)
}

func (s *Server) handleAPIResumeSource(w http.ResponseWriter, r *http.Request, a *authed) {
	s.setSourceEnabled(w, r, a, true)
}

// setSourceEnabled pauses or resumes a source; doing it again changes nothing.
func (s *Server) setSourceEnabled(w http.ResponseWriter, r *http.Request, a *authed, enabled bool) {
	src, ok := s.sourceFromPath(w, r)
	if !ok {
		return
	}
	if src.Enabled == enabled {
		writeJSON(w, http.StatusOK, toSourceJSON(src))
		return
	}
	src.Enabled = enabled
	action := auditSourcePaused
	if enabled {
		action = auditSourceResumed
	}
	s.saveSource(w, r, a, src, action, "")
}

// saveSource stores src's settings, audits the change and answers with the
// stored source. A running `up` follows within 15 s (schedules follow the
// sources table).
func (s *Server) saveSource(w http.ResponseWriter, r *http.Request, a *authed, src storage.Source, action, detail string) {
	saved, status, msg := s.updateSource(r.Context(), r, a, src, action, detail)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, toSourceJSON(saved))
}

// updateSource stores src's settings, audits the change and returns the
// stored source, or a status and message. Schedules follow at once when a
// SourceService is configured, else at the next housekeeping tick.
func (s *Server) updateSource(ctx context.Context, r *http.Request, a *authed, src storage.Source, action, detail string) (storage.Source, int, string) {
	if err := s.store.UpdateSource(ctx, &src); errors.Is(err, storage.ErrNotFound) {
		return storage.Source{}, http.StatusNotFound, "source not found"
	} else if err != nil {
		s.log.ErrorContext(ctx, "update source", "err", err)
		return storage.Source{}, http.StatusInternalServerError, "internal error"
	}
	d := fmt.Sprintf("name=%q", src.Name)
	if detail != "" {
		d += " " + detail
	}
	d += " ip=" + s.clientIP(r).String()
	if err := s.store.Audit(ctx, a.user.Username, action, sourceObject(src.ID), d); err != nil {
		s.log.ErrorContext(ctx, "audit source change", "action", action, "source", src.ID, "err", err)
	}
	s.log.InfoContext(ctx, "source changed", "user", a.user.Username, "action", action, "source", src.Name)
	s.syncSchedules(ctx)
	saved, err := s.store.SourceByID(ctx, src.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "reload source", "err", err)
		return storage.Source{}, http.StatusInternalServerError, "internal error"
	}
	return saved, http.StatusOK, ""
}

// removeSource deletes a source (its runs, captures and hits stay) and
// audits it.
func (s *Server) removeSource(ctx context.Context, r *http.Request, a *authed, src storage.Source) (int, string) {
	if err := s.store.DeleteSource(ctx, src.ID); errors.Is(err, storage.ErrNotFound) {
		return http.StatusNotFound, "source not found"
	} else if err != nil {
		s.log.ErrorContext(ctx, "delete source", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	detail := fmt.Sprintf("name=%q ip=%s", src.Name, s.clientIP(r))
	if err := s.store.Audit(ctx, a.user.Username, auditSourceRemoved, sourceObject(src.ID), detail); err != nil {
		s.log.ErrorContext(ctx, "audit source removal", "source", src.ID, "err", err)
	}
	s.log.InfoContext(ctx, "source removed", "user", a.user.Username, "source", src.Name)
	s.syncSchedules(ctx)
	return http.StatusOK, ""
}

// syncSchedules asks the SourceService to bring schedules in step now; a
// failure only delays it to the next housekeeping tick.
func (s *Server) syncSchedules(ctx context.Context) {
	if s.sources == nil {
		return
	}
	if err := s.sources.Sync(ctx); err != nil {
		s.log.WarnContext(ctx, "schedule sync after a source change; housekeeping retries", "err", err)
	}
}

func (s *Server) handleAPIRemoveSource(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceFromPath(w, r)
	if !ok {
		return
	}
	if status, msg := s.removeSource(r.Context(), r, a, src); status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, removedSourceJSON{ID: src.ID, Name: src.Name, Removed: true,
		Kept: "the source and its schedule are gone; its crawl runs, captures and hits are kept as evidence"})
}

// handleAPIRunSource starts a crawl of the source now.
func (s *Server) handleAPIRunSource(w http.ResponseWriter, r *http.Request, a *authed) {
	src, ok := s.sourceFromPath(w, r)
	if !ok {
		return
	}
	if status, msg := s.runSourceNow(r.Context(), r, a, src); status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": src.ID, "name": src.Name, "started": true})
}
