package web

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// The OpenAPI document (openapi.json) is generated from the operations
// below and the Go types the handlers encode and decode, so it cannot drift
// from them silently: `go test ./internal/web -run TestOpenAPIDocumentIsCurrent
// -update-openapi` rewrites it, and the tests in openapi_test.go check it
// against the route table and real responses.

// apiOp documents one operation of /api/v1.
type apiOp struct {
	method, path string // path as in the route table, under /api/v1
	summary      string
	desc         string
	query        []apiParam
	body         any // request body type (a zero value); nil: none
	optionalBody bool
	status       int // success status
	resp         any // success response type (a zero value); nil: only other media
	// media are success answers besides JSON: media type to schema.
	media map[string]any
	// required are the query parameters the operation cannot do without.
	required []string
	// refusals are the error statuses the operation answers besides the
	// common ones, with what they mean.
	refusals map[int]string
	public   bool
}

type apiParam struct {
	name, desc string
	schema     map[string]any
}

func strEnum[T ~string](vs []T) map[string]any {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, string(v))
	}
	return map[string]any{"type": "string", "enum": out}
}

var (
	pString = map[string]any{"type": "string"}
	pID     = map[string]any{"type": "integer", "format": "int64", "minimum": 1}
	pTime   = map[string]any{"type": "string", "format": "date-time"}
)

func pageParams(filters ...apiParam) []apiParam {
	return append([]apiParam{
		{"limit", "Page size, 1 to 500 (default 50).", map[string]any{"type": "integer", "minimum": 1, "maximum": maxLimit, "default": defaultLimit}},
		{"cursor", "Opaque cursor: a previous page's next_cursor.", pString},
	}, filters...)
}

// sessionsEndedJSON documents the answer of POST /api/v1/account/logout-all
// (the handler writes it as a map).
type sessionsEndedJSON struct {
	SessionsEnded int64 `json:"sessions_ended"`
}

// runStartedJSON documents the answer of POST /api/v1/sources/{id}/run.
type runStartedJSON struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Started bool   `json:"started"`
}

// userActionNames are the {action}s of POST /api/v1/users/{id}/{action}.
func userActionNames() []string {
	return slices.Sorted(maps.Keys(userActions))
}

var (
	pngMedia = map[string]any{"image/png": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	// mfaRefusals are the refusals a user can fix, in plain words.
	mfaRefusals  = map[int]string{422: "Refused: a wrong or used code, MFA already on (or not on yet), or the set-up expired."}
	userRefusals = map[int]string{422: "Refused: a bad name, role or password, a duplicate user, or an action on oneself that is not allowed."}
)

// okJSON is the answer of actions that only succeed or fail.
type okJSON struct {
	OK bool `json:"ok"`
}

type reviseOKJSON struct {
	OK       bool `json:"ok"`
	Revision int  `json:"revision"`
}

func apiOps() []apiOp {
	caseAction := func(path, summary string, body any) apiOp {
		return apiOp{method: "POST", path: "/api/v1/cases/{id}/" + path, summary: summary, body: body, status: 200, resp: okJSON{}}
	}
	recheck := caseAction("recheck", "Re-check now whether the case's listed items are still online.", struct{}{})
	recheck.optionalBody = true
	return []apiOp{
		{method: "POST", path: "/api/v1/login", summary: "Log in; sets the session cookie and returns the CSRF token.",
			body: loginRequest{}, status: 200, resp: loginResponse{}, public: true},
		{method: "GET", path: "/api/v1/openapi.json", summary: "This document.", status: 200, resp: map[string]any{}, public: true},
		{method: "POST", path: "/api/v1/logout", summary: "End the session.", status: 200, resp: okJSON{}},
		{method: "GET", path: "/api/v1/me", summary: "Who is calling, with which role (csrf_token is empty for API tokens).",
			status: 200, resp: loginResponse{}},
		{method: "GET", path: "/api/v1/account", summary: "The caller's account: role, whether two-step login (MFA) is on or required, recovery codes left.",
			status: 200, resp: accountData{}},
		{method: "GET", path: "/api/v1/account/mfa", summary: "Start setting up two-step login: the secret to add to an authenticator app " +
			"(kept with this session until confirmed). Legal and admin sessions may call nothing else until MFA is on.",
			status: 200, resp: mfaSetupJSON{}},
		{method: "GET", path: "/api/v1/account/mfa/qr.png", summary: "The QR code of the secret being set up.", status: 200,
			media: pngMedia, refusals: map[int]string{404: "No set-up in progress: call GET /api/v1/account/mfa first."}},
		{method: "POST", path: "/api/v1/account/mfa", summary: "Turn two-step login on with a current code of the new secret. " +
			"Every session of the account ends; this answer sets a new session cookie and gives its CSRF token, and the recovery codes (shown only now).",
			body: codeRequest{}, status: 200, resp: mfaEnrolledJSON{}, refusals: mfaRefusals},
		{method: "POST", path: "/api/v1/account/mfa/recovery-codes", summary: "Replace the recovery codes (needs a current code); the new ones are shown only now.",
			body: codeRequest{}, status: 200, resp: mfaEnrolledJSON{}, refusals: mfaRefusals},
		{method: "POST", path: "/api/v1/account/logout-all", summary: "End every session of the caller's account, this one included.",
			status: 200, resp: sessionsEndedJSON{}},
		{method: "GET", path: "/api/v1/cases", summary: "Takedown cases, newest first.",
			query: pageParams(apiParam{"state", "Only cases in this state.", strEnum(storage.CaseStates())},
				apiParam{"target", "Only the case about this host or channel (exact).", pString},
				apiParam{"q", "Only cases whose target contains this text (any case).", pString}),
			status: 200, resp: listJSON[caseJSON]{}},
		{method: "GET", path: "/api/v1/cases/{id}", summary: "One case with its items, notices, re-checks, live status and hits.",
			query:  []apiParam{{"bodies", "1: include each notice's text.", map[string]any{"type": "string", "enum": []string{"0", "1"}}}},
			status: 200, resp: caseDetailJSON{}},
		caseAction("approve", "Approve a notice revision (legal and admin); it is then sent.", approveRequest{}),
		caseAction("triage", "Confirm or dismiss items (a dismissal needs a reason).", triageRequest{}),
		{method: "POST", path: "/api/v1/cases/{id}/revise", summary: "Write a new draft revision.", body: reviseRequest{}, status: 200, resp: reviseOKJSON{}},
		caseAction("request-changes", "Send a draft back with a comment (legal and admin).", revisionCommentRequest{}),
		caseAction("acknowledge", "Record the host's reply.", acknowledgeRequest{}),
		caseAction("recipient", "Give the takedown recipient when none was found.", recipientRequest{}),
		caseAction("resolve-send", "Say whether a notice whose sending is uncertain was delivered.", resolveSendRequest{}),
		caseAction("close", "Close the case.", closeRequest{}),
		recheck,
		{method: "GET", path: "/api/v1/hits", summary: "Matches, newest first. ref_name only for roles that may see reference names.",
			query: pageParams(apiParam{"state", "Only hits whose item is in this state; pending: no case took the hit in yet.",
				map[string]any{"type": "string", "enum": hitStates()}},
				apiParam{"method", "Only hits found this way.", map[string]any{"type": "string", "enum": hitMethods()}},
				apiParam{"source", "Only hits from this source (id).", pID},
				apiParam{"target", "Only hits about this host or channel (exact).", pString},
				apiParam{"case", "Only hits in this case (id).", pID}),
			status: 200, resp: listJSON[hitJSON]{}},
		{method: "GET", path: "/api/v1/captures", summary: "Evidence records of fetches, newest first.",
			query:  pageParams(apiParam{"source", "Only captures of this source (id).", pID}, apiParam{"run", "Only captures of this crawl run (id).", pID}),
			status: 200, resp: listJSON[captureJSON]{}},
		{method: "GET", path: "/api/v1/sources", summary: "Monitored sources, newest first.",
			query:  pageParams(apiParam{"kind", "Only sources of this kind.", map[string]any{"type": "string", "enum": sourceKindNames()}}),
			status: 200, resp: listJSON[sourceJSON]{}},
		{method: "POST", path: "/api/v1/sources", summary: "Add a source.", body: sourceRequest{}, status: 201, resp: sourceJSON{}},
		{method: "GET", path: "/api/v1/sources/{id}", summary: "One source.", status: 200, resp: sourceJSON{}},
		{method: "PATCH", path: "/api/v1/sources/{id}", summary: "Change a source: only the keys given change; null resets one.",
			body: sourcePatch{}, status: 200, resp: sourceJSON{}},
		{method: "POST", path: "/api/v1/sources/{id}/pause", summary: "Stop crawling a source on schedule.", status: 200, resp: sourceJSON{}},
		{method: "POST", path: "/api/v1/sources/{id}/resume", summary: "Crawl a source on schedule again.", status: 200, resp: sourceJSON{}},
		{method: "DELETE", path: "/api/v1/sources/{id}", summary: "Remove a source (admin); its runs, captures and hits stay.",
			status: 200, resp: removedSourceJSON{}},
		{method: "POST", path: "/api/v1/sources/{id}/run", summary: "Start a crawl of the source now (audited).", status: 202, resp: runStartedJSON{}},
		{method: "GET", path: "/api/v1/status", summary: "Row counts.", status: 200, resp: storage.Counts{}},
		{method: "GET", path: "/api/v1/metrics/cases", summary: "Takedown timing and exposure per target.", status: 200, resp: caseMetricsJSON{}},
		{method: "GET", path: "/api/v1/audit", summary: "The audit log, newest first (admin). The first page also verifies the hash chain.",
			query: pageParams(apiParam{"actor", "Only events by this user.", pString}, apiParam{"action", "Only events of this action.", pString},
				apiParam{"object", "Only events about this object, such as source/3.", pString},
				apiParam{"since", "Only events at or after this time.", pTime}, apiParam{"until", "Only events before this time.", pTime}),
			status: 200, resp: auditListJSON{}},
		{method: "GET", path: "/api/v1/audit/export", summary: "Download the filtered audit events (admin; audited), oldest first, at most 50000.",
			query: []apiParam{
				{"format", "csv or json.", map[string]any{"type": "string", "enum": []string{"csv", "json"}}},
				{"actor", "Only events by this user.", pString},
				{"action", "Only events whose action starts with this, such as login.", pString},
				{"object", "Only events about this object, such as source/3.", pString},
				{"from", "Only events from this date (YYYY-MM-DD, UTC) or RFC 3339 time.", pString},
				{"to", "Only events up to this date (inclusive) or RFC 3339 time.", pString},
				{"before", "Only events older than this event id.", pID},
			},
			required: []string{"format"}, status: 200, resp: []auditEventJSON{},
			media: map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string",
				"description": "Columns id, at, actor, action, object, detail, prev_hash, hash."}}}},
		{method: "GET", path: "/api/v1/audit/verify", summary: "Verify the audit log's hash chain (admin; audited).", status: 200, resp: auditVerifyJSON{}},
		{method: "GET", path: "/api/v1/users", summary: "Every user (admin).", status: 200, resp: []userRow{}},
		{method: "POST", path: "/api/v1/users", summary: "Create a user (admin). Without a password a temporary one is made and shown only in this answer.",
			body: newUserRequest{}, status: 201, resp: userActionResult{}, refusals: userRefusals},
		{method: "POST", path: "/api/v1/users/{id}/{action}", summary: "Act on a user (admin): change the role (body {\"role\": …}), disable, " +
			"enable, reset the password (the temporary one is in this answer only) or two-step login, unlock logins, or end all sessions. " +
			"Every action but enable and unlock ends the user's sessions.",
			body: userActionRequest{}, optionalBody: true, status: 200, resp: userActionResult{}, refusals: userRefusals},
		{method: "GET", path: "/api/v1/mailbox", summary: "Messages the demo's mail relay received (demo only).", status: 200, resp: []mailJSON{}},
		{method: "GET", path: "/api/v1/tokens", summary: "API tokens (admin), newest first; never the tokens themselves.",
			status: 200, resp: listJSON[apiTokenJSON]{}},
		{method: "POST", path: "/api/v1/tokens", summary: "Create an API token acting as a user (admin). The token is in this answer only.",
			body: createTokenRequest{}, status: 201, resp: createdTokenJSON{}},
		{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke an API token for good (admin).", status: 200, resp: apiTokenJSON{}},
		{method: "GET", path: "/api/v1/holds", summary: "Legal holds (legal, admin), newest first: the active ones, or all.",
			query:  []apiParam{{"all", "true: lifted holds too.", map[string]any{"type": "string", "enum": []string{"true", "false"}}}},
			status: 200, resp: listJSON[holdJSON]{}},
		{method: "POST", path: "/api/v1/holds", summary: "Set a legal hold on a case, a source or a crawl run (legal, admin): " +
			"retention removes none of its evidence until the hold is lifted.",
			body: addHoldRequest{}, status: 201, resp: holdJSON{}, refusals: map[int]string{422: "No case, source or run of that id."}},
		{method: "POST", path: "/api/v1/holds/{id}/lift", summary: "Lift a legal hold (legal, admin); it stays listed, lifted.",
			body: liftHoldRequest{}, status: 200, resp: holdJSON{}, refusals: map[int]string{409: "The hold was already lifted."}},
	}
}

// schemaGen turns Go types into OpenAPI 3.0 schemas, named structs as
// components.
type schemaGen struct {
	components map[string]any
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	optRE    = regexp.MustCompile(`^opt\[`)
)

// enums are the closed vocabularies documented as enums.
var enums = map[reflect.Type]map[string]any{
	reflect.TypeFor[storage.CaseState]():   strEnum(storage.CaseStates()),
	reflect.TypeFor[storage.Role]():        strEnum(storage.Roles()),
	reflect.TypeFor[storage.SourceKind]():  map[string]any{"type": "string", "enum": sourceKindNames()},
	reflect.TypeFor[storage.ItemState]():   strEnum([]storage.ItemState{storage.ItemNew, storage.ItemConfirmed, storage.ItemDismissed, storage.ItemRemoved}),
	reflect.TypeFor[storage.CaptureKind](): strEnum([]storage.CaptureKind{storage.CapturePage, storage.CaptureFile, storage.CaptureMessage}),
	reflect.TypeFor[storage.Stage]():       strEnum(storage.Stages()),
	reflect.TypeFor[storage.HoldScope]():   strEnum([]storage.HoldScope{storage.HoldCase, storage.HoldSource, storage.HoldRun}),
}

func (g *schemaGen) schema(t reflect.Type, request bool) map[string]any {
	if optRE.MatchString(t.Name()) {
		// A patch field: the value's schema, or null to reset it.
		s := g.schema(t.Field(2).Type, request)
		return nullable(s)
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"description": "A duration such as \"6h\", or seconds."}
	}
	if e, ok := enums[t]; ok {
		return e
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem(), request))
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), request)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), request)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		return g.structSchema(t, request)
	}
	panic("openapi: no schema for " + t.String())
}

// nullable allows null besides s ($ref siblings are ignored in 3.0, hence
// the allOf).
func nullable(s map[string]any) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"nullable": true, "allOf": []any{s}}
	}
	out := map[string]any{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// withDescription documents s; a $ref cannot have siblings in 3.0.
func withDescription(s map[string]any, d string) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"description": d, "allOf": []any{s}}
	}
	out := map[string]any{"description": d}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func (g *schemaGen) structSchema(t reflect.Type, request bool) map[string]any {
	name := componentName(t, request)
	if name != "" {
		if _, ok := g.components[name]; !ok {
			g.components[name] = nil // recursion guard
			g.components[name] = g.objectSchema(t, request)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return g.objectSchema(t, request)
}

// componentName names a struct's component; generic and anonymous
// structs are inlined.
func componentName(t reflect.Type, request bool) string {
	n := t.Name()
	if n == "" || strings.Contains(n, "[") {
		return ""
	}
	switch n {
	case "loginJSON", "loginPatch": // a source's login, not the user's
		n = "source" + strings.ToUpper(n[:1]) + n[1:]
	}
	n = strings.TrimSuffix(n, "JSON")
	n = strings.ToUpper(n[:1]) + n[1:]
	if t.PkgPath() != reflect.TypeFor[page]().PkgPath() {
		n = strings.ToUpper(t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:][:1]) + t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+2:] + n
	}
	if request && !strings.HasSuffix(n, "Request") && !strings.HasSuffix(n, "Patch") {
		n += "Input"
	}
	return n
}

func (g *schemaGen) objectSchema(t reflect.Type, request bool) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, request, props, &required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

// fieldDocs describe the fields whose meaning is not plain from the name,
// by component and JSON name.
var fieldDocs = map[string]string{
	"Hit.ref_name": "The reference's file name. Only for roles that may see names (legal, admin): a file name can " +
		"carry a patient identifier. Absent for analysts, who work with ref_opaque_id.",
	"Hit.state":                           "In hit lists: the state of the hit's item, or pending while no case has taken it in.",
	"Hit.case_id":                         "In hit lists: the case that took the hit in; 0 while pending.",
	"Case.detail":                         "Why the case waits, in plain words.",
	"ApiToken.user":                       "The user the token acts as, with that user's role.",
	"CreatedToken.token":                  "The token. Shown only in this answer: leakwatch keeps only its hash.",
	"CreateTokenRequest.expires":          "Lifetime: days such as \"90d\", or a duration such as \"12h\"; empty: never expires.",
	"AuditList.chain":                     "Whether the whole hash chain verifies; only on the first page (no cursor).",
	"Notice.body_text":                    "The notice as sent; empty unless ?bodies=1.",
	"MfaSetup.secret":                     "The secret being set up (base32), for apps that cannot scan the QR code; absent once MFA is on.",
	"MfaSetup.qr_code_url":                "Where the secret's QR code is (PNG); absent once MFA is on.",
	"MfaEnrolled.recovery_codes":          "One-time codes for when the phone is lost. Shown only in this answer.",
	"MfaEnrolled.csrf_token":              "The CSRF token of the new session (after turning MFA on); absent otherwise.",
	"UserActionResult.temporary_password": "A temporary password, shown only in this answer; absent unless one was made.",
	"UserRow.failed_logins":               "The most failed logins from one network, or in all, since the last success or unlock.",
	"UserRow.delayed_until":               "Until when logins to the account are delayed after failures; absent when they are not.",
	"NewUserRequest.password":             "Optional: without one a temporary password is made and returned once.",
	"UserActionRequest.role":              "The new role; only the role action reads it.",
}

// fieldEnums close the fields that take one of a few words.
var fieldEnums = map[string][]string{
	"TriageRequest.decision": {"confirm", "dismiss"},
}

func (g *schemaGen) fields(t reflect.Type, request bool, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, request, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type, request)
		if e, ok := fieldEnums[componentName(t, request)+"."+name]; ok {
			props[name].(map[string]any)["enum"] = e
		}
		if d, ok := fieldDocs[componentName(t, request)+"."+name]; ok {
			props[name] = withDescription(props[name].(map[string]any), d)
		}
		if !request && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

// openAPIDocument builds the document.
func openAPIDocument() map[string]any {
	g := &schemaGen{components: map[string]any{}}
	errorSchema := map[string]any{"type": "object", "required": []string{"error"}, "additionalProperties": false,
		"properties": map[string]any{"error": map[string]any{"type": "string", "description": "What was wrong, in plain words."}}}
	g.components["Error"] = errorSchema
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	paths := map[string]any{}
	for _, op := range apiOps() {
		o := map[string]any{"summary": op.summary, "operationId": operationID(op)}
		var params []any
		if strings.Contains(op.path, "{id}") {
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": pID})
		}
		if strings.Contains(op.path, "{action}") {
			params = append(params, map[string]any{"name": "action", "in": "path", "required": true,
				"schema": map[string]any{"type": "string", "enum": userActionNames()}})
		}
		for _, p := range op.query {
			param := map[string]any{"name": p.name, "in": "query", "description": p.desc, "schema": p.schema}
			if slices.Contains(op.required, p.name) {
				param["required"] = true
			}
			params = append(params, param)
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != nil {
			o["requestBody"] = map[string]any{"required": !op.optionalBody, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.body), true)}}}
		}
		content := map[string]any{}
		if op.resp != nil {
			content["application/json"] = map[string]any{"schema": g.schema(reflect.TypeOf(op.resp), false)}
		}
		maps.Copy(content, op.media)
		resps := map[string]any{
			itoaInt(op.status): map[string]any{"description": "Success.", "content": content},
			"400":              errResp("Bad request: a malformed body, an unknown field, or a bad query parameter."),
			"500":              errResp("Internal error (logged)."),
		}
		if op.public {
			o["security"] = []any{}
			if op.method == "POST" {
				resps["401"] = errResp("Wrong username, password or code.")
				resps["429"] = errResp("Too many attempts; see Retry-After.")
			}
		} else {
			resps["401"] = errResp("No valid session or API token.")
			resps["403"] = errResp("The role does not allow this, or (with a session) the CSRF token is missing.")
			if strings.Contains(op.path, "{id}") {
				resps["404"] = errResp("No such object.")
			}
			if op.method != "GET" {
				resps["409"] = errResp("The object is not in a state that allows this.")
				resps["503"] = errResp("The case service is unavailable.")
			}
		}
		for status, desc := range op.refusals {
			resps[itoaInt(status)] = errResp(desc)
		}
		if op.body != nil {
			resps["413"] = errResp("Body too large.")
			resps["415"] = errResp("Content-Type must be application/json.")
		}
		o["responses"] = resps
		p, _ := paths[op.path].(map[string]any)
		if p == nil {
			p = map[string]any{}
			paths[op.path] = p
		}
		p[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "leakwatch API",
			"version": "1",
			"description": "The JSON API of leakwatch, under /api/v1 (the old /api paths are an alias; their lists are " +
				"bare arrays of the first page with the next cursor in a Next-Cursor header). Lists are newest first, in pages: " +
				"pass a page's next_cursor as ?cursor= for the next; an empty next_cursor is the last page. Unknown " +
				"query parameters, filter values and body fields are refused with 400. Authenticate with the session " +
				"cookie from POST /api/v1/login (unsafe methods also need the X-CSRF-Token header it returns), or with " +
				"an API token (Authorization: Bearer lw_…) that an admin created; a token acts with its user's role and needs no CSRF token.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "leakwatch_session",
					"description": "Session cookie from POST /api/v1/login (named __Host-leakwatch_session over https)."},
				"csrf": map[string]any{"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
					"description": "The csrf_token of the login answer; required with the session cookie on POST, PATCH and DELETE."},
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "lw_ token",
					"description": "An API token from /admin/tokens, POST /api/v1/tokens or `leakwatch tokens create`."},
			},
		},
		"security": []any{
			map[string]any{"session": []string{}, "csrf": []string{}},
			map[string]any{"session": []string{}},
			map[string]any{"bearer": []string{}},
		},
	}
}

func operationID(op apiOp) string {
	parts := []string{strings.ToLower(op.method)}
	for p := range strings.SplitSeq(strings.TrimPrefix(op.path, "/api/v1/"), "/") {
		p = strings.Trim(p, "{}")
		p = strings.ReplaceAll(strings.ReplaceAll(p, "-", "_"), ".", "_")
		parts = append(parts, p)
	}
	return strings.Join(parts, "_")
}

func itoaInt(n int) string { b, _ := json.Marshal(n); return string(b) }
