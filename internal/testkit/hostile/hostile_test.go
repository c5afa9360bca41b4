package hostile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestSite serves a Site on a loopback httptest server.
func newTestSite(t *testing.T, opts Options) (*Site, *httptest.Server) {
	t.Helper()
	opts.Logger = quiet()
	site := New(opts)
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	return site, srv
}

// client is a plain client with short timeouts, no transparent
// decompression and no redirect following.
func client() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DisableCompression: true, ResponseHeaderTimeout: 5 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hrefs parses body as HTML5 and returns every <a href>.
func hrefs(t *testing.T, body []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var out []string
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
					break
				}
			}
		}
	}
	return out
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitIdle waits until no handler of site is running.
func waitIdle(t *testing.T, site *Site, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for site.Active() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running %v after the client left", site.Active(), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func manyFiles(n int) []File {
	var fs []File
	for i := range n {
		fs = append(fs, File{Name: fmt.Sprintf("doc-%02d.txt", i), Data: []byte(fmt.Sprintf("synthetic document %d, NHI ZZZ%04d\n", i, i))})
	}
	return fs
}

func TestIndexLinksEveryCase(t *testing.T) {
	site, srv := newTestSite(t, Options{})
	resp, body := testkit.Get(t, client(), srv.URL+"/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("index: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	ls := hrefs(t, body)
	for _, p := range []string{GzipBombPath, ZipBombPath, HugePath, DripPagePath, DripFilePath, RedirectLoopA,
		RedirectChainStart, CalendarPath, LieHTMLPath, LiePDFPath, LieZIPPath, MalformedPath, Win1252HeaderPath,
		Win1252MetaPath, ShiftJISHeaderPath, ShiftJISMetaPath, LoginPath, MembersPath} {
		if !slices.Contains(ls, p) {
			t.Errorf("index does not link %s", p)
		}
	}
	for _, g := range site.GoodFiles() {
		if g.LinkedFrom == IndexPath && !slices.Contains(ls, g.Link) {
			t.Errorf("index does not link good file %s", g.Link)
		}
	}
}

// TestGoodFilesPlacement: with default files every carrier page gets one;
// with many files each goes to exactly one carrier.
func TestGoodFilesPlacement(t *testing.T) {
	for _, n := range []int{0, 30} {
		var files []File
		if n > 0 {
			files = manyFiles(n)
		}
		site := New(Options{Files: files, Logger: quiet()})
		goods := site.GoodFiles()
		want := max(n, len(carriers)) + 2
		if len(goods) != want {
			t.Errorf("%d files: %d good URLs, want %d", n, len(goods), want)
		}
		from := map[string]int{}
		paths := map[string]bool{}
		for _, g := range goods {
			from[g.LinkedFrom]++
			if paths[g.Path] {
				t.Errorf("duplicate good path %s", g.Path)
			}
			paths[g.Path] = true
		}
		for _, p := range []string{IndexPath, MalformedPath, Win1252HeaderPath, Win1252MetaPath, ShiftJISHeaderPath,
			ShiftJISMetaPath, LieHTMLPath, CalendarPath, MembersPagePrefix + "1"} {
			if from[p] == 0 {
				t.Errorf("%d files: no good file linked from %s", n, p)
			}
		}
	}
}

// TestGoodFilesReachable follows each good file from the page that links it
// (logging in for the members' files) to its bytes.
func TestGoodFilesReachable(t *testing.T) {
	site, srv := newTestSite(t, Options{Files: manyFiles(40), RateLimitCount: -1, SessionRequests: 1000})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.PostForm(srv.URL+LoginPath, url.Values{"user": {DefaultUser}, "pass": {DefaultPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != MembersPath {
		t.Fatalf("login: %s at %s", resp.Status, resp.Request.URL)
	}
	pages := map[string][]string{}
	for _, g := range site.GoodFiles() {
		ls, ok := pages[g.LinkedFrom]
		if !ok {
			_, body := testkit.Get(t, c, srv.URL+g.LinkedFrom)
			ls = hrefs(t, body)
			pages[g.LinkedFrom] = ls
		}
		if !slices.Contains(ls, g.Link) {
			t.Errorf("%s does not link %s", g.LinkedFrom, g.Link)
			continue
		}
		resp, data := testkit.Get(t, c, srv.URL+g.Link)
		if resp.StatusCode != http.StatusOK || sum(data) != g.SHA256 || int64(len(data)) != g.Size {
			t.Errorf("%s: %s, sha %s size %d; want %s %d", g.Link, resp.Status, sum(data), len(data), g.SHA256, g.Size)
		}
		if resp.Request.URL.Path != unescape(g.Path) {
			t.Errorf("%s ended at %s, want %s", g.Link, resp.Request.URL.Path, g.Path)
		}
		if ct := resp.Header.Get("Content-Type"); ct != g.ContentType {
			t.Errorf("%s: Content-Type %q, want %q", g.Link, ct, g.ContentType)
		}
	}
}

func TestGzipBomb(t *testing.T) {
	site, srv := newTestSite(t, Options{})
	resp, body := testkit.Get(t, client(), srv.URL+GzipBombPath)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%s %v", resp.Status, h)
	}
	if len(body) > 2<<20 || len(body) < 512<<10 {
		t.Errorf("compressed body %d bytes, want about 1 MB", len(body))
	}
	// ISIZE (the inflated size mod 2^32) from the trailer; the bomb is
	// below 4 GiB, so it is the size.
	if isize := int64(binary.LittleEndian.Uint32(body[len(body)-4:])); isize < GzipBombMinInflated {
		t.Errorf("inflates to %d bytes, want at least %d", isize, GzipBombMinInflated)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 8<<20)
	if _, err := io.ReadFull(zr, head); err != nil {
		t.Fatalf("inflating the first 8 MiB: %v", err)
	}
	if !bytes.HasPrefix(head, []byte("<!doctype html>")) || !bytes.Contains(head, []byte("<p>archive</p>")) ||
		!bytes.Contains(head, []byte("<!--\x00\x00\x00")) || !bytes.HasSuffix(head, make([]byte, 1<<20)) {
		t.Errorf("unexpected inflated start: %q…", head[:200])
	}
	if site.Requests()[GzipBombPath] != 1 {
		t.Errorf("requests %v", site.Requests())
	}
}

// TestRepeatDeflate checks the bomb construction byte for byte on small
// sizes, including the gzip trailer (gzip.Reader verifies CRC and size).
func TestRepeatDeflate(t *testing.T) {
	for _, tc := range []struct {
		head, pat, tail string
		total           int64
	}{
		{"<html><!--", "\x00", "--></html>", 5 << 20},
		{"", "<p>x</p>\n", "", 3<<20 + 17},
		{strings.Repeat("head ", 20000), "ab", "tail", 1},
	} {
		d := repeatDeflate([]byte(tc.head), []byte(tc.pat), tc.total, []byte(tc.tail))
		got, err := io.ReadAll(flate.NewReader(bytes.NewReader(d.data)))
		if err != nil {
			t.Fatalf("%q: inflate: %v", tc.pat, err)
		}
		if int64(len(got)) != d.size || d.size < tc.total {
			t.Errorf("%q: inflated %d bytes, reported %d, asked at least %d", tc.pat, len(got), d.size, tc.total)
		}
		body := got[len(tc.head) : len(got)-len(tc.tail)]
		if string(got[:len(tc.head)]) != tc.head || string(got[len(got)-len(tc.tail):]) != tc.tail ||
			!bytes.Equal(body, bytes.Repeat([]byte(tc.pat), len(body)/len(tc.pat))) {
			t.Errorf("%q: inflated content differs", tc.pat)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gzipWrap(d)))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, zr); err != nil || n != d.size {
			t.Errorf("%q: gzip read %d bytes: %v", tc.pat, n, err)
		}
	}
}

// TestGzipBombInflatesFully reads the whole bomb once, verifying its CRC
// and size (about a second).
func TestGzipBombInflatesFully(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 1 GiB")
	}
	t.Parallel()
	zr, err := gzip.NewReader(bytes.NewReader(gzipBomb()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n < GzipBombMinInflated {
		t.Errorf("inflated %d bytes: %v", n, err)
	}
}

func TestZipBomb(t *testing.T) {
	_, srv := newTestSite(t, Options{})
	resp, body := testkit.Get(t, client(), srv.URL+ZipBombPath)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if len(body) > 2<<20 {
		t.Errorf("zip is %d bytes, want a small one", len(body))
	}
	check := func(name string, data []byte, memberSize int64) *zip.File {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var total int64
		big := 0
		var nested *zip.File
		for _, f := range zr.File {
			total += int64(f.UncompressedSize64)
			switch {
			case f.Name == "nested.zip":
				nested = f
			case strings.HasSuffix(f.Name, ".csv"):
				big++
				if n := int64(f.UncompressedSize64); n < memberSize || n > memberSize+repeatUnit {
					t.Errorf("%s/%s: %d bytes", name, f.Name, f.UncompressedSize64)
				}
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				head := make([]byte, 1<<20)
				_, err = io.ReadFull(rc, head)
				rc.Close()
				if err != nil || !bytes.HasPrefix(head, []byte("nhi,given")) {
					t.Errorf("%s/%s: first MiB: %v %q", name, f.Name, err, head[:20])
				}
			}
		}
		if big != ZipBombMembers || total < int64(ZipBombMembers)*memberSize {
			t.Errorf("%s: %d big members, %d bytes inflated", name, big, total)
		}
		return nested
	}
	nested := check("outer", body, ZipBombMemberSize)
	if nested == nil {
		t.Fatal("no nested.zip")
	}
	rc, err := nested.Open()
	if err != nil {
		t.Fatal(err)
	}
	inner, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if check("nested.zip", inner, ZipBombNestedMemberSize) != nil {
		t.Error("nested.zip nests again")
	}
}

func TestHugeDownload(t *testing.T) {
	const limit = 256 << 10
	site, srv := newTestSite(t, Options{HugeLimit: limit, HugeRate: 8 << 20})
	c := client()
	resp, err := c.Get(srv.URL + HugePath)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != HugeDeclaredSize {
		t.Errorf("declared %d", resp.ContentLength)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != limit || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %d bytes, err %v; want %d then unexpected EOF", n, err, limit)
	}
	waitIdle(t, site, 2*time.Second)

	// A client that leaves early ends the handler at once.
	site, srv = newTestSite(t, Options{})
	resp, err = c.Get(srv.URL + HugePath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 64<<10); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitIdle(t, site, 2*time.Second)
}

// TestDrip reads 3 s of each drip (in parallel) and checks one byte a
// second, then leaves and checks the handler stopped.
func TestDrip(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	for _, p := range []string{DripPagePath, DripFilePath} {
		t.Run(strings.Trim(p, "/"), func(t *testing.T) {
			t.Parallel()
			site, srv := newTestSite(t, Options{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+p, nil)
			start := time.Now()
			resp, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if p == DripFilePath && resp.ContentLength != DripFileDeclared {
				t.Errorf("declared %d", resp.ContentLength)
			}
			if p == DripPagePath && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			var got []byte
			var at []time.Duration
			buf := make([]byte, 16)
			// Bytes at 0, 1, 2 and 3 s: the read that starts before 2.5 s
			// returns at 3 s.
			for time.Since(start) < 2500*time.Millisecond {
				n, err := resp.Body.Read(buf)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				got = append(got, buf[:n]...)
				for range n {
					at = append(at, time.Since(start))
				}
			}
			cancel()
			if len(got) < 2 || len(got) > 5 {
				t.Errorf("%d bytes in %v, want about 4 (1/s): %v", len(got), time.Since(start), at)
			}
			for i := 1; i < len(at); i++ {
				// Generous bounds: a loaded machine delays ticks, never speeds them.
				if d := at[i] - at[i-1]; d < 700*time.Millisecond || d > 2500*time.Millisecond {
					t.Errorf("byte %d came %v after the previous one", i, d)
				}
			}
			want := dripPageHead
			if p == DripFilePath {
				want = dripFileHead
			}
			if !bytes.HasPrefix(want, got) {
				t.Errorf("bytes %q, want a prefix of %q", got, want)
			}
			waitIdle(t, site, 2*time.Second)
		})
	}
}

func TestDripServerBound(t *testing.T) {
	site, srv := newTestSite(t, Options{DripInterval: 10 * time.Millisecond, DripMax: 300 * time.Millisecond})
	start := time.Now()
	resp, err := client().Get(srv.URL + DripPagePath)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if d := time.Since(start); d > 2*time.Second || n < 5 {
		t.Errorf("drip with DripMax 300ms ran %v and sent %d bytes", d, n)
	}
	waitIdle(t, site, time.Second)
}

func TestRedirects(t *testing.T) {
	site, srv := newTestSite(t, Options{RedirectChain: 15})
	c := client()
	for from, to := range map[string]string{RedirectLoopA: RedirectLoopB, RedirectLoopB: RedirectLoopA, RedirectChainStart: RedirectChainPrefix + "1"} {
		resp, _ := testkit.Get(t, c, srv.URL+from)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != to {
			t.Errorf("%s: %s to %q, want 302 to %s", from, resp.Status, resp.Header.Get("Location"), to)
		}
	}
	// The standard client gives up after 10 redirects.
	follow := &http.Client{Timeout: 5 * time.Second}
	for _, p := range []string{RedirectLoopA, RedirectChainStart} {
		if _, err := follow.Get(srv.URL + p); err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
			t.Errorf("%s: err %v, want a redirect limit error", p, err)
		}
	}
	reqs := site.Requests()
	// Two direct requests, then the initial one and nine redirects.
	if reqs[RedirectLoopA]+reqs[RedirectLoopB] != 2+10 {
		t.Errorf("loop requests %d + %d", reqs[RedirectLoopA], reqs[RedirectLoopB])
	}
	// A patient client reaches the end of the chain.
	patient := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > 20 {
			return errors.New("too many")
		}
		return nil
	}}
	resp, body := testkit.Get(t, patient, srv.URL+RedirectChainStart)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != RedirectChainPrefix+"15" || !bytes.Contains(body, []byte("End of the chain")) {
		t.Errorf("end of chain: %s at %s", resp.Status, resp.Request.URL)
	}
	if resp, _ := testkit.Get(t, c, srv.URL+RedirectChainPrefix+"16"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("past the chain: %s", resp.Status)
	}
	// The short chain: three hops to a good file.
	for _, g := range site.GoodFiles() {
		if !strings.HasPrefix(g.Link, RedirectShortPrefix) {
			continue
		}
		hops := 0
		u := g.Link
		for strings.HasPrefix(u, RedirectShortPrefix) {
			resp, _ := testkit.Get(t, c, srv.URL+u)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("%s: %s", u, resp.Status)
			}
			u = resp.Header.Get("Location")
			hops++
		}
		if hops != 3 || u != g.Path {
			t.Errorf("%s: %d hops to %s, want 3 to %s", g.Link, hops, u, g.Path)
		}
	}
}

func TestCalendarTrap(t *testing.T) {
	site, srv := newTestSite(t, Options{})
	c := client()
	_, body := testkit.Get(t, c, srv.URL+CalendarPath)
	ls := hrefs(t, body)
	for _, want := range []string{CalendarPath + "?month=-1", CalendarPath + "?month=1"} {
		if !slices.Contains(ls, want) {
			t.Errorf("month 0 does not link %s: %v", want, ls)
		}
	}
	random := func(ls []string) []string {
		var out []string
		for _, l := range ls {
			if strings.Contains(l, "sid=") {
				out = append(out, l)
			}
		}
		return out
	}
	r1 := random(ls)
	_, again := testkit.Get(t, c, srv.URL+CalendarPath)
	r2 := random(hrefs(t, again))
	if len(r1) != 3 || len(r2) != 3 || slices.Equal(r1, r2) {
		t.Errorf("random links %v then %v; want three new ones per fetch", r1, r2)
	}
	for _, g := range site.GoodFiles() {
		if g.LinkedFrom == CalendarPath && !slices.Contains(ls, g.Link) {
			t.Errorf("month 0 does not link good file %s", g.Link)
		}
	}
	// Far away months still link on, and carry no files.
	_, body = testkit.Get(t, c, srv.URL+CalendarPath+"?month=500")
	ls = hrefs(t, body)
	if !slices.Contains(ls, CalendarPath+"?month=499") || !slices.Contains(ls, CalendarPath+"?month=501") || slices.ContainsFunc(ls, func(l string) bool { return strings.Contains(l, "/files/") }) {
		t.Errorf("month 500 links %v", ls)
	}
	if resp, _ := testkit.Get(t, c, srv.URL+CalendarPath+"?month=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad month: %s", resp.Status)
	}
}

func TestContentTypeLies(t *testing.T) {
	site, srv := newTestSite(t, Options{})
	c := client()
	resp, body := testkit.Get(t, c, srv.URL+LieHTMLPath)
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("HTML page sent as %q", ct)
	}
	if sniff := http.DetectContentType(body); !strings.HasPrefix(sniff, "text/html") {
		t.Errorf("HTML page sniffs as %q", sniff)
	}
	ls := hrefs(t, body)
	for _, g := range site.GoodFiles() {
		if g.LinkedFrom == LieHTMLPath && !slices.Contains(ls, g.Link) {
			t.Errorf("octet-stream page lacks %s", g.Link)
		}
	}
	for p, sniffed := range map[string]string{LiePDFPath: "application/pdf", LieZIPPath: "application/zip"} {
		resp, body := testkit.Get(t, c, srv.URL+p)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s sent as %q", p, ct)
		}
		if got := http.DetectContentType(body); got != sniffed {
			t.Errorf("%s sniffs as %q, want %q", p, got, sniffed)
		}
	}
}

func TestMalformedHTML(t *testing.T) {
	site, srv := newTestSite(t, Options{Files: manyFiles(len(carriers) * len(malformedStyles))})
	_, body := testkit.Get(t, client(), srv.URL+MalformedPath)
	if !bytes.Contains(body, []byte{0}) || utf8.Valid(body) {
		t.Error("malformed page has no NUL byte or no invalid UTF-8")
	}
	ls := hrefs(t, body)
	n := 0
	for _, g := range site.GoodFiles() {
		if g.LinkedFrom != MalformedPath {
			continue
		}
		n++
		if !slices.Contains(ls, g.Link) {
			t.Errorf("HTML5 parser does not find %s in the malformed page", g.Link)
		}
	}
	if n < len(malformedStyles) {
		t.Errorf("only %d malformed links, want every style", n)
	}
}

func TestRateLimit(t *testing.T) {
	site, srv := newTestSite(t, Options{RateLimitCount: 2, RetryAfterSeconds: 2})
	var g GoodFile
	for _, gg := range site.GoodFiles() {
		if strings.HasPrefix(gg.Path, RateLimitPrefix) {
			g = gg
		}
	}
	c := client()
	for i := range 2 {
		resp, _ := testkit.Get(t, c, srv.URL+g.Link)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("request %d: %s Retry-After %q", i, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	resp, data := testkit.Get(t, c, srv.URL+g.Link)
	if resp.StatusCode != http.StatusOK || sum(data) != g.SHA256 {
		t.Errorf("third request: %s", resp.Status)
	}
	if times := site.RequestTimes(unescape(g.Path)); len(times) != 3 || !slices.IsSortedFunc(times, time.Time.Compare) {
		t.Errorf("request times %v", times)
	}
	// Another client (another loopback address) gets its own 429s.
	other := client()
	other.Transport = &http.Transport{DisableCompression: true, DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	resp, err := other.Get(srv.URL + g.Link)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second client's first request: %s", resp.Status)
	}
}

func TestLoginWall(t *testing.T) {
	site, srv := newTestSite(t, Options{User: "u1", Pass: "p1", SessionRequests: 3})
	c := client()
	members := srv.URL + MembersPath

	resp, _ := testkit.Get(t, c, members)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != LoginPath+"?next=%2Fmembers%2F" {
		t.Fatalf("no session: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := testkit.Get(t, c, srv.URL+resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`<form method="post" action="/login">`)) ||
		!bytes.Contains(body, []byte(`name="user"`)) || !bytes.Contains(body, []byte(`name="pass"`)) || !bytes.Contains(body, []byte(`value="/members/"`)) {
		t.Fatalf("login form: %s\n%s", resp.Status, body)
	}
	resp, err := c.PostForm(srv.URL+LoginPath, url.Values{"user": {"u1"}, "pass": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad password: %s", resp.Status)
	}
	login := func() *http.Cookie {
		t.Helper()
		resp, err := c.PostForm(srv.URL+LoginPath, url.Values{"user": {"u1"}, "pass": {"p1"}, "next": {MembersPagePrefix + "2"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != MembersPagePrefix+"2" {
			t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == SessionCookie {
				return ck
			}
		}
		t.Fatal("no session cookie")
		return nil
	}
	withCookie := func(ck *http.Cookie, u string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+u, nil)
		req.AddCookie(ck)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	ck := login()
	var memberFile GoodFile
	for _, g := range site.GoodFiles() {
		if strings.HasPrefix(g.Path, MembersFilePrefix) {
			memberFile = g
		}
	}
	for i, u := range []string{MembersPath, MembersPagePrefix + "1", memberFile.Path} {
		if resp := withCookie(ck, u); resp.StatusCode != http.StatusOK {
			t.Errorf("request %d of the session (%s): %s", i+1, u, resp.Status)
		}
	}
	// The wall comes back mid-crawl.
	resp = withCookie(ck, MembersPagePrefix+"2")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != LoginPath+"?next=%2Fmembers%2Fp%2F2" {
		t.Errorf("expired session: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp := withCookie(login(), MembersPagePrefix+"2"); resp.StatusCode != http.StatusOK {
		t.Errorf("after logging in again: %s", resp.Status)
	}
	if ok, bad := site.Logins(); ok != 2 || bad != 1 {
		t.Errorf("Logins() = %d, %d", ok, bad)
	}
}

func TestCharsets(t *testing.T) {
	site, srv := newTestSite(t, Options{})
	for _, tc := range []struct {
		path, ctype, meta, text, title string
		enc                            encoding.Encoding
	}{
		{Win1252HeaderPath, "text/html; charset=windows-1252", "", Win1252Text, "Fichiers divulgués", charmap.Windows1252},
		{Win1252MetaPath, "text/html", `<meta charset="windows-1252">`, Win1252Text, "Fichiers divulgués", charmap.Windows1252},
		{ShiftJISHeaderPath, "text/html; charset=Shift_JIS", "", ShiftJISText, "流出ファイル", japanese.ShiftJIS},
		{ShiftJISMetaPath, "text/html", `<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">`, ShiftJISText, "流出ファイル", japanese.ShiftJIS},
	} {
		resp, raw := testkit.Get(t, client(), srv.URL+tc.path)
		if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, ct, tc.ctype)
		}
		if utf8.Valid(raw) || bytes.Contains(raw, []byte(tc.title)) {
			t.Errorf("%s: body is UTF-8", tc.path)
		}
		dec, err := tc.enc.NewDecoder().Bytes(raw)
		if err != nil {
			t.Fatalf("%s: decode: %v", tc.path, err)
		}
		for _, want := range []string{tc.text, "<title>" + tc.title + "</title>", tc.meta} {
			if !strings.Contains(string(dec), html.EscapeString(want)) && !strings.Contains(string(dec), want) {
				t.Errorf("%s: decoded page lacks %q", tc.path, want)
			}
		}
		ls := hrefs(t, dec)
		for _, g := range site.GoodFiles() {
			if g.LinkedFrom == tc.path && !slices.Contains(ls, g.Link) {
				t.Errorf("%s does not link %s", tc.path, g.Link)
			}
		}
	}
}

func TestOnionOnly(t *testing.T) {
	h := OnionOnly("abcdefghijklmnop.onion", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hidden")
	}))
	for host, want := range map[string]int{
		"abcdefghijklmnop.onion": 200, "ABCDEFGHIJKLMNOP.onion:80": 200,
		"127.0.0.1": 421, "127.0.0.1:8080": 421, "other.onion": 421,
	} {
		r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}

func TestServeShutdown(t *testing.T) {
	site := New(Options{Logger: quiet()})
	ctx, cancel := context.WithCancel(t.Context())
	addr, err := site.Serve(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Errorf("default address %s is not loopback", addr)
	}
	base := "http://" + addr.String()
	c := client()
	resp, err := c.Get(base + DripPagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("drip still running 5 s after ctx ended")
	}
	waitIdle(t, site, 2*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get(base + "/")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answering after ctx ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
