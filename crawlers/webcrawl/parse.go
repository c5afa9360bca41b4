package webcrawl

import (
	"bytes"
	"errors"
	"fmt"
	htmlpkg "html"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/gocolly/colly/v2"

	"github.com/leakwatch/leakwatch/storage"
)

// link is a URL found on a page. A free link costs no depth: pagination
// (the next page of a board or a thread) and files (attachments, downloads)
// are part of the page they hang off, so following a site's structure is
// not cut short by a depth budget meant for traps.
type link struct {
	url  string
	free bool
}

// parser parses pages already fetched, with colly: its transport replays
// the response the fetcher read, so colly never touches the network (and
// so never buffers, truncates or transcodes what is hashed as evidence).
type parser struct {
	col     *colly.Collector
	rt      *replay
	links   []link
	content []byte
	site    *site // the rules of the page being parsed
}

// replay is a RoundTripper that answers with the one response it holds.
type replay struct {
	mu   sync.Mutex
	resp *http.Response
}

func (r *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resp == nil {
		return nil, fmt.Errorf("webcrawl: no response to replay for %s", req.URL)
	}
	resp := r.resp
	r.resp = nil
	resp.Request = req
	return resp, nil
}

func newParser(host string) *parser {
	p := &parser{rt: &replay{}}
	p.col = colly.NewCollector(
		colly.AllowedDomains(host),
		colly.AllowURLRevisit(), // the crawler keeps its own frontier
		colly.DetectCharset(),
	)
	p.col.WithTransport(p.rt)
	p.col.OnHTML("html", func(e *colly.HTMLElement) {
		p.links = p.site.links(e, host) // before content, which strips the page
		if !p.site.noContent() {
			p.content = p.site.content(e.DOM)
		}
	})
	return p
}

// parse returns the same-host links of a page that the site's rules
// follow, and the HTML of its content.
func (p *parser) parse(pageURL string, body []byte, contentType string, s *site) ([]link, []byte, error) {
	p.links, p.content, p.site = nil, nil, s
	h := http.Header{}
	h.Set("Content-Type", contentType)
	p.rt.mu.Lock()
	p.rt.resp = &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Uncompressed: true}
	p.rt.mu.Unlock()
	err := p.col.Visit(pageURL)
	return p.links, p.content, err
}

var (
	pageParam = regexp.MustCompile(`(?i)^(page|p|pg|start|offset|from)$`)
	pagePath  = regexp.MustCompile(`(?i)/(page|p)[-/]?\d+/?$`)
	pageText  = regexp.MustCompile(`(?i)^\s*(\d{1,4}|next|next page|prev|previous|older|newer|first|last|more|»|›|>|>>|«|‹|<|<<)\s*$`)
	fileExts  = map[string]bool{
		".zip": true, ".7z": true, ".rar": true, ".tar": true, ".gz": true, ".tgz": true, ".bz2": true, ".xz": true, ".zst": true,
		".pdf": true, ".doc": true, ".docx": true, ".xls": true, ".xlsx": true, ".odt": true, ".ods": true, ".rtf": true,
		".csv": true, ".txt": true, ".json": true, ".sql": true, ".xml": true, ".eml": true, ".msg": true,
		".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true, ".tif": true, ".tiff": true, ".bmp": true, ".heic": true,
	}
	fileDirs = regexp.MustCompile(`(?i)/(attachments?|download|downloads|files?|uploads?|dl)(/|$)`)
)

// freeLink reports links that follow a site's structure rather than leave
// it: pagination and files, by the common signs of either.
func freeLink(u *url.URL, rel, text string) bool {
	if strings.Contains(strings.ToLower(rel), "next") || strings.Contains(strings.ToLower(rel), "prev") {
		return true
	}
	if pagePath.MatchString(u.Path) || pageText.MatchString(text) {
		return true
	}
	for k := range u.Query() {
		if pageParam.MatchString(k) {
			return true
		}
	}
	return fileExts[strings.ToLower(path.Ext(u.Path))] || fileDirs.MatchString(u.Path)
}

// chrome is the site's own furniture: navigation, banners, footers, forms
// and the signatures forum software repeats under every post. It is never
// evidence, however often it quotes what the site sells.
const chrome = `script, style, noscript, template, nav, header, footer, aside, form, iframe,
	[role=navigation], [role=banner], [role=contentinfo], [role=complementary],
	.signature, .sig, .postsig, .post-signature, .message-signature, .signaturecontainer,
	[class*="signature"], [id*="signature"], .navbar, .nav, .menu, .breadcrumb, .breadcrumbs,
	.sidebar, .footer, .header, .pagination, .pager`

// content returns the HTML of a page's content: the posts, where the page
// marks them up as such (the source's content selector, else its kind's),
// else the body without the site's chrome.
//
// It strips the chrome from doc itself (no copy): call it last.
func (s *site) content(doc *goquery.Selection) []byte {
	d := doc
	d.Find(chrome).Remove()
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>`)
	if title := strings.TrimSpace(d.Find("title").First().Text()); title != "" {
		// Thread titles name what is posted ("patient portal FULL DB").
		fmt.Fprintf(&b, "<h1>%s</h1>\n", htmlpkg.EscapeString(title))
	}
	d.Find("head").Remove()
	parts := d.Find("body")
	if parts.Length() == 0 {
		parts = d
	}
	if sel := s.contentSelector(); sel != "" {
		if posts := d.Find(sel); posts.Length() > 0 {
			parts = posts
		}
	}
	parts.Each(func(_ int, part *goquery.Selection) {
		h, err := part.Html()
		if err == nil {
			b.WriteString("<div>")
			b.WriteString(h)
			b.WriteString("</div>\n")
		}
	})
	b.WriteString("</body></html>")
	return b.Bytes()
}

// site is how one source's pages are read: its kind's structure, overridden
// by the source's selectors, and its URL filters.
type site struct {
	kind        storage.SourceKind
	sel         storage.Selectors
	allow, deny []*regexp.Regexp
}

func newSite(o *Options) (*site, error) {
	s := &site{kind: o.Kind, sel: o.Selectors}
	if s.kind == "" || s.kind == storage.SourceWeb {
		s.kind = storage.SourceGeneric
	}
	if s.kind == storage.SourceTelegram {
		return nil, errors.New("crawler: a telegram source is read by the Telegram monitor, not crawled as a web site")
	}
	if !s.kind.Valid() {
		return nil, fmt.Errorf("crawler: unknown source kind %q", o.Kind)
	}
	for _, sel := range []string{s.sel.Content, s.sel.Links, s.sel.Next, s.sel.Files} {
		if sel == "" {
			continue
		}
		if _, err := cascadia.Compile(sel); err != nil {
			return nil, fmt.Errorf("crawler: CSS selector %q: %w", sel, err)
		}
	}
	compile := func(exprs []string) ([]*regexp.Regexp, error) {
		var out []*regexp.Regexp
		for _, e := range exprs {
			re, err := regexp.Compile(e)
			if err != nil {
				return nil, fmt.Errorf("crawler: URL pattern %q: %w", e, err)
			}
			out = append(out, re)
		}
		return out, nil
	}
	var err error
	if s.allow, err = compile(o.Allow); err != nil {
		return nil, err
	}
	if s.deny, err = compile(o.Deny); err != nil {
		return nil, err
	}
	return s, nil
}

// Per-kind structure: where the posts are, and what is navigation.
var (
	kindContent = map[storage.SourceKind]string{
		// phpBB, XenForo, vBulletin, MyBB, Discourse, SMF, and generic markup.
		storage.SourceForum: `.postbody .content, .message-body, .messageContent, .bbWrapper, .post_body, .postcontent,
			.post-content, .post-body, .post-message, .cooked, .inner, [itemprop="text"], .post .content, article .content`,
		storage.SourceLeakBlog: `article, .entry-content, .post-content, .post-body, main`,
		storage.SourcePaste:    `pre, textarea, .paste, #paste, .paste-content, .de1, code`,
	}
	// opendirSkip are a directory listing's own links: parent, sorting.
	opendirSkip = regexp.MustCompile(`(?i)[?&;](C|O)=[A-Z]|^\.\./?$`)
)

func (s *site) contentSelector() string {
	if s.sel.Content != "" {
		return s.sel.Content
	}
	return kindContent[s.kind]
}

// noContent: a directory listing is navigation, not a post.
func (s *site) noContent() bool { return s.kind == storage.SourceOpenDir && s.sel.Content == "" }

// links returns the page's same-host links that the rules follow, each
// marked free when it costs no depth (pagination, files).
func (s *site) links(e *colly.HTMLElement, host string) []link {
	var out []link
	seen := map[string]bool{}
	// Resolve with net/url against the page (or its <base href>): colly's
	// AbsoluteURL runs a WHATWG parser that cost a fifth of a crawl's CPU.
	base := e.Request.URL
	if bh, ok := e.DOM.Find("base[href]").First().Attr("href"); ok {
		if bu, err := base.Parse(strings.TrimSpace(bh)); err == nil {
			base = bu
		}
	}
	add := func(el *goquery.Selection, free bool) {
		href, ok := el.Attr("href")
		if !ok {
			return
		}
		href = strings.TrimSpace(href)
		if href == "" || strings.HasPrefix(href, "#") {
			return
		}
		lu, err := base.Parse(href)
		if err != nil || lu.Hostname() != host || (lu.Scheme != "http" && lu.Scheme != "https") {
			return // off-site links are not followed
		}
		if s.kind == storage.SourceOpenDir && (opendirSkip.MatchString(href) || strings.EqualFold(strings.TrimSpace(el.Text()), "Parent Directory")) {
			return
		}
		n := normalize(lu)
		if seen[n] || !s.allowed(n) {
			return
		}
		seen[n] = true
		if !free {
			rel, _ := el.Attr("rel")
			// In a directory listing every entry is part of the listing.
			free = s.kind == storage.SourceOpenDir || freeLink(lu, rel, el.Text())
		}
		out = append(out, link{url: n, free: free})
	}
	// The source's own selectors first: what they name is followed as
	// they say.
	if s.sel.Next != "" {
		e.DOM.Find(s.sel.Next).Each(func(_ int, el *goquery.Selection) { add(el, true) })
	}
	if s.sel.Files != "" {
		e.DOM.Find(s.sel.Files).Each(func(_ int, el *goquery.Selection) { add(el, true) })
	}
	links := "a[href], area[href]"
	if s.sel.Links != "" {
		links = s.sel.Links
	}
	e.DOM.Find(links).Each(func(_ int, el *goquery.Selection) { add(el, false) })
	return out
}

func (s *site) allowed(u string) bool {
	for _, re := range s.deny {
		if re.MatchString(u) {
			return false
		}
	}
	if len(s.allow) == 0 {
		return true
	}
	for _, re := range s.allow {
		if re.MatchString(u) {
			return true
		}
	}
	return false
}
