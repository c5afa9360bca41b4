package webcrawl

import (
	"bytes"
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
	"github.com/gocolly/colly/v2"
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
	p.col.OnHTML("a[href], area[href]", func(e *colly.HTMLElement) {
		abs := e.Request.AbsoluteURL(e.Attr("href"))
		lu, err := url.Parse(abs)
		if abs == "" || err != nil || lu.Hostname() != host || (lu.Scheme != "http" && lu.Scheme != "https") {
			return // off-site links are not followed
		}
		p.links = append(p.links, link{url: normalize(lu), free: freeLink(lu, e.Attr("rel"), e.Text)})
	})
	p.col.OnHTML("html", func(e *colly.HTMLElement) {
		p.content = content(e.DOM)
	})
	return p
}

// parse returns the same-host links of a page and the HTML of its content.
func (p *parser) parse(pageURL string, body []byte, contentType string) ([]link, []byte, error) {
	p.links, p.content = nil, nil
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
	pageParam = regexp.MustCompile(`(?i)^(page|p|pg|start|offset|from|sid)$`)
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
// it: pagination and files.
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
// marks them up as such, else the body without the site's chrome.
func content(doc *goquery.Selection) []byte {
	d := doc.Clone()
	d.Find(chrome).Remove()
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>`)
	if title := strings.TrimSpace(d.Find("title").First().Text()); title != "" {
		// Thread titles name what is posted ("patient portal FULL DB").
		fmt.Fprintf(&b, "<h1>%s</h1>\n", htmlpkg.EscapeString(title))
	}
	d.Find("head").Remove()
	body := d.Find("body")
	if body.Length() == 0 {
		body = d
	}
	h, err := body.Html()
	if err != nil {
		return nil
	}
	b.WriteString(h)
	b.WriteString("</body></html>")
	return b.Bytes()
}
