package hostile

import (
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// Text of the non-UTF-8 pages, as a crawler should record it once decoded.
const (
	Win1252Text  = "Résumé du dossier : Zoë Müller’s “sample” – £60 000 or €70 000, ZZZ0016"
	ShiftJISText = "患者記録サンプル（テスト用）：ZZZ0016 山田 太郎、検査結果表は正常です。"
)

func writeHTML(w http.ResponseWriter, ctype, body string) {
	w.Header().Set("Content-Type", ctype)
	_, _ = io.WriteString(w, body)
}

func page(title, body string) string {
	return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body>\n<h1>" + html.EscapeString(title) + "</h1>\n" + body +
		"<footer><small>Hostile test site. All content is synthetic.</small></footer></body></html>\n"
}

func link(href, text string) string {
	return `<a href="` + html.EscapeString(href) + `">` + html.EscapeString(text) + `</a>`
}

func (s *Site) fileList(carrier string, filter func(*GoodFile) bool) string {
	var b strings.Builder
	b.WriteString("<ul class=\"files\">\n")
	for _, g := range s.byCarrier[carrier] {
		if filter == nil || filter(g) {
			fmt.Fprintf(&b, "<li>%s (%d bytes)</li>\n", link(g.Link, g.Name), g.Size)
		}
	}
	b.WriteString("</ul>\n")
	return b.String()
}

func (s *Site) handleIndex(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("<p>Samples of the portal breach. Good files first, then the mirrors.</p>\n<h2>Files</h2>\n")
	b.WriteString(s.fileList(cIndex, nil))
	b.WriteString("<h2>Mirrors</h2>\n<ul class=\"cases\">\n")
	items := [][2]string{
		{GzipBombPath, "full index (gzip bomb page)"},
		{ZipBombPath, "patients_full.zip (zip bomb)"},
		{HugePath, "full_dump.tar (10 GB)"},
		{DripPagePath, "slow mirror page (1 byte/s)"},
		{DripFilePath, "full_dump.7z (1 byte/s)"},
		{RedirectLoopA, "mirror A (redirect loop)"},
		{RedirectChainStart, "mirror B (long redirect chain)"},
		{CalendarPath, "release calendar (link trap)"},
		{LieHTMLPath, "file listing (HTML sent as application/octet-stream)"},
		{LiePDFPath, "lab report (PDF sent as text/html)"},
		{LieZIPPath, "archive (ZIP sent as text/html)"},
		{MalformedPath, "old index (malformed HTML)"},
		{Win1252HeaderPath, "French mirror (windows-1252, header)"},
		{Win1252MetaPath, "French mirror (windows-1252, meta)"},
		{ShiftJISHeaderPath, "Japanese mirror (Shift_JIS, header)"},
		{ShiftJISMetaPath, "Japanese mirror (Shift_JIS, meta)"},
		{LoginPath, "log in"},
		{MembersPath, "members area (login required)"},
	}
	for _, it := range items {
		fmt.Fprintf(&b, "<li>%s</li>\n", link(it[0], it[1]))
	}
	b.WriteString("</ul>\n<h2>Busy mirrors (rate limited)</h2>\n")
	b.WriteString(s.fileList(cRateLimit, nil))
	b.WriteString("<h2>Redirecting mirrors</h2>\n")
	b.WriteString(s.fileList(cRedirect, nil))
	writeHTML(w, "text/html; charset=utf-8", page("Portal leak - hostile mirror", b.String()))
}

// handleLieHTML serves an HTML page as application/octet-stream.
func (s *Site) handleLieHTML(w http.ResponseWriter, r *http.Request) {
	writeHTML(w, "application/octet-stream", page("File listing", "<p>Files of this mirror:</p>\n"+s.fileList(cOctet, nil)))
}

// malformedStyles are the broken ways the malformed page links a file; an
// HTML5 parser recovers every link. %[1]s is the href, %[2]s the text.
var malformedStyles = []string{
	"<p>first file: <a href=%[1]s>%[2]s</a>\n",                             // unquoted attribute, unclosed <p>
	"<P><A HREF='%[1]s'>%[2]s</A>\n",                                       // upper case, single quotes
	"<p>nul\x00bytes\x00here <a href=\"%[1]s\"   title=\"x\"  >%[2]s\n",    // NUL bytes, unclosed <a>
	"<p><b><i>misnested</b></i> <a  href = \"%[1]s\" >%[2]s</a></i></b>\n", // spaces around =, stray end tags
	"<li><a class=\"x\"href=\"%[1]s\"class=y>%[2]s</a></span></li></li>\n", // no space between attributes
	"<td><div><a href=\"%[1]s\" onclick=>%[2]s</a><div>\n",                 // empty attribute value, unclosed divs
}

func (s *Site) handleMalformed(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	// A BOM-less page with a NUL before the doctype, an invalid UTF-8
	// sequence, an unterminated table and a comment that closes badly.
	b.WriteString("\x00<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>old index</title>\n")
	b.WriteString("<body bgcolor=#000 text=\"#ccc\" =broken data-x='1 2'junk>\n")
	b.WriteString("<center><table><tr><td>Files \xff\xfe (mirror)\n")
	b.WriteString("<!-- comment -- with -- dashes --!>\n<div class=\"a\" class=\"b\">\n")
	for i, g := range s.byCarrier[cMalformed] {
		fmt.Fprintf(&b, malformedStyles[i%len(malformedStyles)], html.EscapeString(g.Link), html.EscapeString(g.Name))
	}
	b.WriteString("<p>end of list<br/></br><img src=x alt=\"broken\n</div></div></td></tr>\n</html></body>\n")
	writeHTML(w, "text/html; charset=utf-8", b.String())
}

// handleCharset serves the non-UTF-8 pages.
func (s *Site) handleCharset(w http.ResponseWriter, r *http.Request) {
	var (
		enc                  encoding.Encoding
		carrier, ctype, meta string
		title, text, anchor  string
	)
	switch r.URL.Path {
	case Win1252HeaderPath, Win1252MetaPath:
		enc, title, text, anchor = charmap.Windows1252, "Fichiers divulgués", Win1252Text, "Télécharger"
		if r.URL.Path == Win1252HeaderPath {
			carrier, ctype = cW1252H, "text/html; charset=windows-1252"
		} else {
			carrier, ctype, meta = cW1252M, "text/html", `<meta charset="windows-1252">`
		}
	default:
		enc, title, text, anchor = japanese.ShiftJIS, "流出ファイル", ShiftJISText, "ダウンロード"
		if r.URL.Path == ShiftJISHeaderPath {
			carrier, ctype = cSJISH, "text/html; charset=Shift_JIS"
		} else {
			carrier, ctype, meta = cSJISM, "text/html", `<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">`
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html>\n<html><head>%s<title>%s</title></head><body>\n<h1>%s</h1>\n<p class=\"leak-text\">%s</p>\n<ul class=\"files\">\n",
		meta, html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
	for _, g := range s.byCarrier[carrier] {
		fmt.Fprintf(&b, "<li>%s</li>\n", link(g.Link, anchor+" "+g.Name))
	}
	b.WriteString("</ul>\n<p>" + link("/", "index") + "</p>\n</body></html>\n")
	body, err := enc.NewEncoder().String(b.String())
	if err != nil {
		http.Error(w, "encoding: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeHTML(w, ctype, body)
}

// calendarEpoch is month 0 of the calendar trap.
var calendarEpoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// handleCalendar is the infinite link trap: every month links the months
// before and after it and three random-query variants of itself.
func (s *Site) handleCalendar(w http.ResponseWriter, r *http.Request) {
	month := 0
	if v := r.URL.Query().Get("month"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1_000_000 || n > 1_000_000 {
			http.Error(w, "bad month", http.StatusBadRequest)
			return
		}
		month = n
	}
	label := calendarEpoch.AddDate(0, month, 0).Format("January 2006")
	var b strings.Builder
	fmt.Fprintf(&b, "<p>Scheduled releases for %s.</p>\n<nav>%s | %s</nav>\n<ul class=\"days\">\n",
		html.EscapeString(label),
		link(fmt.Sprintf("%s?month=%d", CalendarPath, month-1), "« previous month"),
		link(fmt.Sprintf("%s?month=%d", CalendarPath, month+1), "next month »"))
	for range 3 {
		day := 1 + rand.IntN(28)
		fmt.Fprintf(&b, "<li>%s</li>\n", link(fmt.Sprintf("%s?month=%d&day=%d&sid=%08x", CalendarPath, month, day, rand.Uint32()), "day "+strconv.Itoa(day)))
	}
	b.WriteString("</ul>\n")
	if month == 0 {
		b.WriteString("<h2>Released this month</h2>\n" + s.fileList(cCalendar, nil))
	}
	writeHTML(w, "text/html; charset=utf-8", page("Release calendar", b.String()))
}

func (s *Site) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.loginForm(w, r, http.StatusOK, "")
}

func (s *Site) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	next := r.FormValue("next")
	if msg == "" && next != "" {
		msg = "Please log in to continue. Sessions expire quickly."
	}
	var b strings.Builder
	if msg != "" {
		fmt.Fprintf(&b, "<p class=\"notice\">%s</p>\n", html.EscapeString(msg))
	}
	fmt.Fprintf(&b, "<form method=\"post\" action=\"%s\">\n<input type=\"hidden\" name=\"next\" value=\"%s\">\n"+
		"<label>User <input type=\"text\" name=\"user\"></label>\n<label>Password <input type=\"password\" name=\"pass\"></label>\n"+
		"<button type=\"submit\">Log in</button>\n</form>\n", LoginPath, html.EscapeString(next))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, page("Members login", b.String()))
}

func (s *Site) handleMembers(w http.ResponseWriter, r *http.Request) {
	if !s.session(w, r) {
		return
	}
	var b strings.Builder
	b.WriteString("<p>Welcome back. Private releases:</p>\n<ul class=\"pages\">\n")
	for n := 1; n <= MembersPages; n++ {
		fmt.Fprintf(&b, "<li>%s</li>\n", link(fmt.Sprintf("%s%d", MembersPagePrefix, n), fmt.Sprintf("private release %d", n)))
	}
	b.WriteString("</ul>\n")
	writeHTML(w, "text/html; charset=utf-8", page("Members area", b.String()))
}

func (s *Site) handleMembersPage(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > MembersPages {
		http.NotFound(w, r)
		return
	}
	if !s.session(w, r) {
		return
	}
	self := r.URL.Path
	body := fmt.Sprintf("<p>Private release %d.</p>\n", n) +
		s.fileList(cMembers, func(g *GoodFile) bool { return g.LinkedFrom == self }) +
		"<p>" + link(MembersPath, "back to the members area") + "</p>\n"
	writeHTML(w, "text/html; charset=utf-8", page(fmt.Sprintf("Private release %d", n), body))
}
