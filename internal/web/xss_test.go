package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/leakwatch/leakwatch/storage"
)

// xssPayloads are classic injections. Each carries a unique marker
// (xssN) so the test can tell that it reached a page as text, and the
// tag-shaped ones an xssmark attribute so an element built from one is
// recognised whatever its name.
var xssPayloads = []string{
	`<script>alert('xss1')</script>`,
	`"><img src=x onerror=alert('xss2') xssmark>`,
	`'><svg onload=alert('xss3') xssmark>`,
	`javascript:alert('xss4')`,
	`" onmouseover="alert('xss5')" xssmark="`,
	`' onfocus='alert(6)' autofocus xssmark=' xss6`,
	`</textarea><script>alert('xss7')</script><textarea>`,
	`</title><script xssmark>alert('xss8')</script>`,
	`\u003cscript\u003ealert('xss9')\u003c/script\u003e`,
	`<div style="width: expression(alert('xss10'))" xssmark>`,
	`<a href="javascript:alert('xss11')" xssmark>xss11</a>`,
	`<iframe src="data:text/html,<script>alert(12)</script>" xssmark>xss12</iframe>`,
	`{{.}} {{template "x"}} <!-- xss13 -->`,
	"\u2028\u202e<ſcript xssmark>alert('xss14')</ſcript>",
	`<style>@import 'http://evil.example/xss15.css';</style>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert('xss16') xssmark>`,
}

// xssMarker is payload i's marker text.
func xssMarker(i int) string { return "xss" + strconv.Itoa(i+1) }

// plantXSS stores the payloads in every scraped or user-controlled string
// the store holds, the way a crawl, a lawyer or an attacker-chosen name
// would put them there (straight through the store: what is stored is what
// must stay inert, whatever the forms accept).
func plantXSS(t *testing.T, m *matrix) {
	t.Helper()
	ctx := context.Background()
	st := m.f.store
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range xssPayloads {
		src := storage.Source{Name: fmt.Sprintf("%s #%d", p, i), Kind: storage.SourceForum, URL: "http://leaks.example/" + p, Enabled: true}
		if i%4 == 3 {
			src.Kind, src.URL = storage.SourceTelegram, "https://t.me/"+p
		}
		must(st.CreateSource(ctx, &src))
		if src.Kind == storage.SourceTelegram {
			must(st.SaveTelegramChannel(ctx, &storage.TelegramChannel{SourceID: src.ID, ChannelID: int64(1000 + i), Username: p, Title: p, Gone: p}))
		}
		run, err := st.StartRun(ctx, src.ID)
		must(err)
		run.Error, run.Stopped, run.Status = p, p, storage.RunFailed
		must(st.FinishRun(ctx, &run))
		target := fmt.Sprintf("x%d.example", i)
		if i%2 == 0 {
			target = p // a Telegram channel's name, or a host as scraped
		}
		capURL := "http://" + target + "/" + p
		if p == xssPayloads[3] {
			capURL = p // a javascript: URL as a link target
		}
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: capURL, FinalURL: p, Host: target,
			FetchedAt: time.Now().UTC(), Status: 200, ContentType: p, SniffedType: p, SHA256: fmt.Sprintf("%064x", i+100), Size: 10, Error: p}
		_, err = st.SaveCapture(ctx, &c)
		must(err)
		ref := storage.Reference{Name: p, Size: 1, SHA256: fmt.Sprintf("%064x", i+500)}
		_, err = st.AddReference(ctx, &ref)
		must(err)
		h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: "sha256", Score: 1, Why: p, Target: target}
		_, err = st.AddHit(ctx, &h)
		must(err)
		cs, err := st.EnsureCase(ctx, target, "case-xss-"+strconv.Itoa(i))
		must(err)
		res, err := st.TakeHits(ctx, cs.ID, []uint64{h.ID}, false)
		must(err)
		must(st.TriageItems(ctx, cs.ID, res.New, storage.ItemDismissed, p, p))
		n := storage.Notice{CaseID: cs.ID, Revision: 1, Recipient: p, Subject: p, BodyText: p + "\n" + p, BodyHTML: p, DraftedBy: p,
			MessageID: fmt.Sprintf("<xss-%d@leakwatch>", i), Reference: p, Comment: p, ItemIDs: storage.JoinIDs(res.New)}
		_, err = st.CreateNoticeDraft(ctx, &n)
		must(err)
		must(st.SetCaseState(ctx, cs.ID, storage.CaseDrafted, p))
		must(st.UpdateCase(ctx, cs.ID, map[string]any{"ack_note": p, "detail": p}))
		must(st.Audit(ctx, p, p, p, p))
		must(st.CreateUser(ctx, &storage.User{Username: fmt.Sprintf("%s-%d", p, i), PasswordHash: m.users[storage.RoleAnalyst].PasswordHash,
			Role: storage.RoleAnalyst}))
	}
}

// xssMailbox is the demo mailbox holding the payloads.
func xssMailbox() staticMailbox {
	var mb staticMailbox
	for _, p := range xssPayloads {
		mb = append(mb, MailMessage{From: p, To: []string{p}, Subject: p, Body: p, Received: time.Now()})
	}
	return mb
}

// injected reports the first node of doc built from markup in a payload:
// a script (ours would be a /static file with no inline code), an on*
// handler, a javascript: or data: URL, a CSS expression, or anything
// carrying the xssmark attribute.
func injected(doc *html.Node) string {
	var found string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != "" {
			return
		}
		if n.Type == html.ElementNode {
			name := strings.ToLower(n.Data)
			switch {
			case name == "script" && (attr(n, "src") == "" || !strings.HasPrefix(attr(n, "src"), "/static/") || n.FirstChild != nil):
				found = "a <script> element"
			case name == "iframe" || name == "object" || name == "embed" || name == "xssmark":
				found = "an <" + name + "> element"
			case name == "style" && n.FirstChild != nil && strings.Contains(n.FirstChild.Data, "xss"):
				found = "a <style> element with payload CSS"
			}
			for _, a := range n.Attr {
				key, val := strings.ToLower(a.Key), strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
				switch {
				case key == "xssmark":
					found = fmt.Sprintf("<%s> with the payload's xssmark attribute", name)
				case strings.HasPrefix(key, "on"):
					found = fmt.Sprintf("<%s %s=%q>", name, a.Key, a.Val)
				case (key == "href" || key == "src" || key == "action" || key == "formaction" || key == "xlink:href") &&
					(strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "data:") || strings.HasPrefix(val, "vbscript:")):
					found = fmt.Sprintf("<%s %s=%q>", name, a.Key, a.Val)
				case key == "style" && strings.Contains(val, "expression("):
					found = fmt.Sprintf("<%s style=%q>", name, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

// textOf is the page's text and attribute values, as a browser decodes
// them: where an escaped payload shows up.
func textOf(doc *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for _, a := range n.Attr {
			b.WriteString(" " + a.Val + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

// xssPaths are the concrete paths of a GET route: one per case or source
// for their pages, else the matrix's choice of id. ok is false for a
// wildcard the test does not know.
func xssPaths(m *matrix, rt route, cases []storage.Case, sources []storage.Source) ([]string, bool) {
	p := strings.TrimSuffix(rt.pattern, "{$}")
	before, _, found := strings.Cut(p, "/{id}")
	if !found {
		return []string{p}, !strings.Contains(p, "{")
	}
	var ids []uint64
	switch kind := before[strings.LastIndex(before, "/")+1:]; kind {
	case "cases":
		for _, c := range cases {
			ids = append(ids, c.ID)
		}
	case "sources":
		for _, s := range sources {
			ids = append(ids, s.ID)
		}
	case "captures":
		// The planted captures, whose URLs and types are payloads, and the
		// matrix's image.
		caps, err := m.f.store.ListCaptures(context.Background(), 1000)
		if err != nil {
			m.t.Fatal(err)
		}
		for _, c := range caps {
			ids = append(ids, c.ID)
		}
	default:
		id, ok := m.idFor(kind)
		if !ok {
			return nil, false
		}
		ids = []uint64{id}
	}
	var out []string
	for _, id := range ids {
		q := strings.Replace(p, "{id}", strconv.FormatUint(id, 10), 1)
		if strings.Contains(q, "{") {
			return nil, false
		}
		out = append(out, q)
	}
	return out, true
}

// TestXSSCorpus plants classic payloads in every stored string, renders
// every GET page (and error pages echoing the request) as each role, and
// checks that no element or attribute came from a payload while the
// payloads do show as text; every GET API answer is valid JSON holding the
// payloads as data.
func TestXSSCorpus(t *testing.T) {
	m := newMatrixWith(t, func(o *Options) { o.Mailbox = xssMailbox() })
	plantXSS(t, m)
	ctx := context.Background()
	cases, err := m.f.store.ListCases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sources, err := m.f.store.ListSources(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Image routes (thumbnails, the MFA QR code) answer PNGs, which carry
	// no markup, and their errors as plain text for the <img> that asked;
	// every other route must answer HTML or JSON.
	images := map[string]bool{}
	for key, ex := range matrixExercises() {
		if strings.HasPrefix(ex.contentType, "image/") {
			images[key] = true
		}
	}
	shownHTML := map[int]bool{} // payloads seen as text on some page
	shownJSON := map[int]bool{}
	pages, pngs := 0, 0
	check := func(t *testing.T, path string, image bool, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code >= 500 {
			t.Errorf("GET %s: status %d", path, rec.Code)
			return
		}
		ct := rec.Header().Get("Content-Type")
		body := rec.Body.Bytes()
		if image && (ct == "image/png" || strings.HasPrefix(ct, "text/plain")) {
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: %q without nosniff: a browser may sniff it as HTML", path, ct)
			}
			switch {
			case ct == "image/png" && !bytes.HasPrefix(body, []byte("\x89PNG\r\n\x1a\n")):
				t.Errorf("GET %s: image/png that is no PNG: %.100q", path, body)
			case ct == "image/png":
				pngs++
			case bytes.Contains(body, []byte("xss")) || bytes.Contains(body, []byte("<")):
				t.Errorf("GET %s: plain-text error echoes markup or a payload: %.200q", path, body)
			}
			return
		}
		if strings.HasPrefix(ct, "application/json") {
			if !json.Valid(body) {
				t.Errorf("GET %s: invalid JSON: %.300s", path, body)
				return
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(v)
			for i := range xssPayloads {
				if jsonHolds(v, xssPayloads[i]) {
					shownJSON[i] = true
				}
			}
			if bytes.Contains(body, []byte("<script")) {
				t.Errorf("GET %s: JSON carries a raw <script (not \\u003c-escaped): %.200s", path, data)
			}
			return
		}
		if !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: content type %q", path, ct)
			return
		}
		doc, err := html.Parse(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s: parse HTML: %v", path, err)
		}
		pages++
		if what := injected(doc); what != "" {
			t.Errorf("GET %s: a payload became markup: %s", path, what)
		}
		text := textOf(doc)
		for i := range xssPayloads {
			if strings.Contains(text, xssMarker(i)) {
				shownHTML[i] = true
			}
		}
	}

	for _, role := range storage.Roles() {
		sess := m.session(role)
		for _, rt := range m.f.srv.authedRoutes() {
			if rt.method != http.MethodGet || !allowed(role, rt.perm) {
				continue
			}
			paths, ok := xssPaths(m, rt, cases, sources)
			if !ok {
				t.Errorf("route %s %s: xssPaths (internal/web/xss_test.go) does not know its wildcard; teach it which ids to render",
					rt.method, rt.pattern)
				continue
			}
			for _, p := range paths {
				check(t, p, images[rt.method+" "+rt.pattern], m.call(rt, exercise{}, p, &sess, "", nil))
			}
		}
		// Pages that echo the request: flashes, filters, unknown paths.
		for _, p := range []string{
			"/cases?q=" + urlQuery(xssPayloads[1]) + "&state=detected",
			"/cases?state=" + urlQuery(xssPayloads[0]),
			fmt.Sprintf("/cases/%d?done=%s", cases[0].ID, urlQuery(xssPayloads[2])),
			"/nowhere/" + urlPath(xssPayloads[0]),
			"/api/nowhere/" + urlPath(xssPayloads[1]),
		} {
			rt := route{method: http.MethodGet, pattern: p, surf: surfaceOf(mustRequest(t, p))}
			check(t, p, false, m.call(rt, exercise{}, p, &sess, "", nil))
		}
	}
	for _, p := range []string{"/login", "/login?next=" + urlQuery(xssPayloads[1]), "/login?next=" + urlQuery(xssPayloads[3])} {
		check(t, p, false, m.call(route{method: http.MethodGet, pattern: p}, exercise{}, p, nil, "", nil))
	}

	if pages < 10 {
		t.Errorf("only %d pages rendered: the corpus covered too little", pages)
	}
	if pngs == 0 {
		t.Error("no image route answered a PNG: the image answers went unchecked")
	}
	for i, p := range xssPayloads {
		if !shownHTML[i] {
			t.Errorf("payload %q never showed as text on any page: the test planted it where nothing displays", p)
		}
		if !shownJSON[i] {
			t.Errorf("payload %q never came back as data from the API", p)
		}
	}
}

// jsonHolds reports whether a decoded JSON value holds s in some string.
func jsonHolds(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, s)
	case []any:
		for _, e := range x {
			if jsonHolds(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if jsonHolds(e, s) {
				return true
			}
		}
	}
	return false
}

func urlQuery(s string) string { return url.QueryEscape(s) }
func urlPath(s string) string  { return url.PathEscape(s) }

func mustRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, "http://leakwatch.test"+path, nil)
}
