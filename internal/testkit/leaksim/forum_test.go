package leaksim

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

// Synthetic data only: NHIs in the Z test range, names from nowhere.
const (
	noteExcerpt = "Patient ZZZ0016 (Test Patient One) seen for review of HbA1c 41 mmol/mol.\nPlan: repeat bloods in 3 months & review foot care."
	breachLike  = "NHI ZZZ0024 Test Patient Two DOB 1970-01-01 ferritin 120"
)

var (
	postRE      = regexp.MustCompile(`<article class="post" id="post-(\d+)">`)
	signatureRE = regexp.MustCompile(`<div class="signature">`)
)

// crawlSite fetches every same-site HTML page reachable from "/" (following
// pagination, boards and threads; not the ?sort= loop, redirects or files)
// and returns the bodies by URI, plus every attachment link seen (not the
// huge and missing ones).
func crawlSite(t *testing.T, srv *httptest.Server) (map[string][]byte, map[string]bool) {
	t.Helper()
	c := noRedirect(srv.Client())
	pages := map[string][]byte{}
	files := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if _, ok := pages[u]; ok {
			continue
		}
		resp, body := testkit.Get(t, c, srv.URL+u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", u, resp.Status)
		}
		pages[u] = body
		for _, l := range links(t, body) {
			switch {
			case l == HugePath || l == MissingPath:
			case strings.HasPrefix(l, "/files/"):
				files[l] = true
			case strings.HasPrefix(l, "/") && !strings.Contains(l, "sort=") && !strings.HasPrefix(l, "/go/") && l != "/?page=1":
				queue = append(queue, l)
			}
		}
		if len(pages) > 5000 {
			t.Fatal("crawl does not end")
		}
	}
	return pages, files
}

func escaped(s string) string { return template.HTMLEscapeString(s) }

func TestForumPostsAndTable(t *testing.T) {
	table := [][]string{{"nhi", "name", "test", "result"}, {"ZZZ0016", "Test Patient One", "HbA1c", "41"}, {"ZZZ0024", "Test Patient <Two>", "Ferritin", "120"}}
	site := New(Options{
		Files: sampleFiles(),
		Posts: []Post{
			{Thread: "Portal sample part 1", Author: "leaker", Text: noteExcerpt, Source: "note-00001.txt"},
			{Thread: "Portal sample part 1", Author: "leaker", Text: "rows as proof", Table: table},
			{Thread: "Brand new thread", Text: "attachment in a reply", Files: []File{{Name: "reply.txt", Data: []byte("synthetic reply file")}}},
		},
	})
	srv := httptest.NewServer(site)
	defer srv.Close()

	posts := site.Posts()
	if len(posts) != 3 {
		t.Fatalf("Posts() = %d, want 3", len(posts))
	}
	p0 := posts[0]
	if p0.Number != 2 || p0.Author != "leaker" || p0.Source != "note-00001.txt" || p0.PagePath != p0.ThreadPath || p0.Text != noteExcerpt {
		t.Errorf("first post info %+v", p0)
	}
	if posts[1].Number != 3 || len(posts[1].Table) != 3 {
		t.Errorf("table post info %+v", posts[1])
	}
	if posts[2].Author != DefaultAuthor || len(posts[2].Files) != 1 {
		t.Errorf("reply with attachment: %+v", posts[2])
	}

	_, page := testkit.Get(t, srv.Client(), srv.URL+p0.ThreadPath)
	for _, want := range []string{
		`<article class="post" id="post-1">`, `<span class="author">` + OpeningAuthor + `</span>`, "US$60,000",
		`<article class="post" id="post-2">`, `<span class="author">leaker</span>`,
		// Lines of a paragraph are split by <br>; the text is escaped.
		escaped("Patient ZZZ0016 (Test Patient One) seen for review of HbA1c 41 mmol/mol.") + "<br>\n" + escaped("Plan: repeat bloods in 3 months & review foot care."),
		`<table class="proof">`, "<th>nhi</th><th>name</th><th>test</th><th>result</th>",
		"<td>ZZZ0016</td><td>Test Patient One</td>", "<td>Test Patient &lt;Two&gt;</td>",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("thread page lacks %q", want)
		}
	}
	// The opening post keeps the thread's File attachments.
	for _, a := range site.Attachments() {
		if a.Thread == "Portal sample part 1" && !bytes.Contains(page, []byte(`href="`+a.Path+`"`)) {
			t.Errorf("attachment %s not linked", a.Path)
		}
	}
	// A post's attachment is served, listed and linked from its page.
	resp, data := testkit.Get(t, srv.Client(), srv.URL+posts[2].Files[0])
	if resp.StatusCode != http.StatusOK || string(data) != "synthetic reply file" {
		t.Errorf("reply attachment: %s %q", resp.Status, data)
	}
	_, page = testkit.Get(t, srv.Client(), srv.URL+posts[2].PagePath)
	if !bytes.Contains(page, []byte(`href="`+posts[2].Files[0]+`"`)) {
		t.Error("reply attachment not linked from its page")
	}
	if n := len(site.Attachments()); n != len(sampleFiles())+1 {
		t.Errorf("Attachments() = %d", n)
	}

	// Removing the thread takes its posts and their attachments down.
	if !site.Remove(posts[2].ThreadPath) {
		t.Fatal("Remove")
	}
	if resp, _ := testkit.Get(t, srv.Client(), srv.URL+posts[2].Files[0]); resp.StatusCode != http.StatusNotFound {
		t.Errorf("attachment of a removed thread: %s", resp.Status)
	}
	if len(site.Posts()) != 2 {
		t.Errorf("Posts() after removal = %d", len(site.Posts()))
	}
}

func TestThreadPagination(t *testing.T) {
	site := New(Options{
		PostsPerPage: 5,
		Threads:      []ThreadSpec{{Title: "Long thread", Filler: 16}}, // 17 posts so far
		Posts: []Post{
			{Thread: "Long thread", Author: "quoter", Text: "pasted on page three", At: 11, Files: []File{{Name: "p3.txt", Data: []byte("page three file")}}},
		}, // 18 posts: pages of 5, 5, 5, 3
	})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := noRedirect(srv.Client())
	base := "/thread/long-thread"

	info := site.Posts()[0]
	if info.Number != 12 || info.PagePath != base+"/page/3" {
		t.Fatalf("post at reply 11: number %d page %s, want 12 on %s/page/3", info.Number, info.PagePath, base)
	}
	if a := site.Attachments()[0]; a.PagePath != base+"/page/3" || a.ThreadPath != base {
		t.Errorf("attachment pages: %+v", a)
	}

	want := map[int][]string{1: {"1", "2", "3", "4", "5"}, 2: {"6", "7", "8", "9", "10"}, 3: {"11", "12", "13", "14", "15"}, 4: {"16", "17", "18"}}
	for p := 1; p <= 4; p++ {
		u := base
		if p > 1 {
			u += fmt.Sprintf("/page/%d", p)
		}
		resp, body := testkit.Get(t, c, srv.URL+u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", u, resp.Status)
		}
		var nums []string
		for _, m := range postRE.FindAllSubmatch(body, -1) {
			nums = append(nums, string(m[1]))
		}
		if !slices.Equal(nums, want[p]) {
			t.Errorf("%s: posts %v, want %v", u, nums, want[p])
		}
		ls := links(t, body)
		// Every page links every page number (4 pages: no gaps).
		for q := 1; q <= 4; q++ {
			if q == p {
				continue
			}
			target := base
			if q > 1 {
				target += fmt.Sprintf("/page/%d", q)
			}
			if !slices.Contains(ls, target) {
				t.Errorf("%s does not link page %d", u, q)
			}
		}
		next := fmt.Sprintf(`<a class="next" rel="next" href="%s/page/%d">Next &raquo;</a>`, base, p+1)
		if got := bytes.Contains(body, []byte(next)); got != (p < 4) {
			t.Errorf("%s: Next link present %v", u, got)
		}
		if got := bytes.Contains(body, []byte(`rel="prev"`)); got != (p > 1) {
			t.Errorf("%s: Prev link present %v", u, got)
		}
		if got := bytes.Contains(body, []byte("pasted on page three")); got != (p == 3) {
			t.Errorf("%s: explicit post present %v", u, got)
		}
		if got := slices.Contains(ls, site.Attachments()[0].Path); got != (p == 3) {
			t.Errorf("%s: reply attachment linked %v", u, got)
		}
		if !slices.Contains(ls, u+"?sort=new") {
			t.Errorf("%s: no sort loop link", u)
		}
	}
	if resp, _ := testkit.Get(t, c, srv.URL+base+"/page/5"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("page 5: %s", resp.Status)
	}
	if resp, _ := testkit.Get(t, c, srv.URL+base+"/page/x"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("page x: %s", resp.Status)
	}
	resp, _ := testkit.Get(t, c, srv.URL+base+"/page/1")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base {
		t.Errorf("page 1: %s to %q, want 301 to %s", resp.Status, resp.Header.Get("Location"), base)
	}
	// Appending a post adds a page.
	site.AddPost(Post{Thread: "Long thread", Text: "one more"})
	site.AddPost(Post{Thread: "Long thread", Text: "and another", At: 1})
	if resp, _ := testkit.Get(t, c, srv.URL+base+"/page/4"); resp.StatusCode != http.StatusOK {
		t.Errorf("page 4 after adding: %s", resp.Status)
	}
	if p := site.Posts(); p[0].Text != "and another" || p[0].Number != 2 || p[1].Number != 13 || p[2].Number != 20 {
		t.Errorf("post numbers after inserts: %d %d %d", p[0].Number, p[1].Number, p[2].Number)
	}

	// Threads that fit on one page have no pager; the classic pages have
	// no /page/ route.
	classic := httptest.NewServer(New(Options{Files: sampleFiles()}))
	defer classic.Close()
	if resp, _ := testkit.Get(t, c, classic.URL+"/thread/portal-sample-part-1/page/2"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("classic site /page/2: %s", resp.Status)
	}
}

func TestPagerGaps(t *testing.T) {
	v := pager(10, 20, func(p int) string { return fmt.Sprint(p) })
	var got []string
	for _, it := range v.Items {
		switch {
		case it.Gap:
			got = append(got, "…")
		case it.Current:
			got = append(got, "["+it.Href+"]")
		default:
			got = append(got, it.Href)
		}
	}
	if want := "1 … 8 9 [10] 11 12 … 20"; strings.Join(got, " ") != want {
		t.Errorf("pager = %q, want %q", strings.Join(got, " "), want)
	}
	if v.Prev != "9" || v.Next != "11" {
		t.Errorf("prev %q next %q", v.Prev, v.Next)
	}
	if pager(1, 1, nil) != nil {
		t.Error("one page has a pager")
	}
}

func TestChromeAndSignatures(t *testing.T) {
	chrome := &Chrome{
		Banner: "BANNER: escrow only",
		Nav:    []Link{{Text: "Home", Href: "/"}, {Text: "Rules", Href: RulesPath}},
		Footer: "FOOTER: no logs kept",
		Signatures: map[string]string{
			"sigguy":      breachLike, // breach-like text in a signature: boilerplate
			OpeningAuthor: "we always deliver",
		},
	}
	site := New(Options{
		Files:         sampleFiles(),
		Chrome:        chrome,
		PostsPerPage:  4,
		FillerAuthors: []string{"sigguy", "quiet"},
		Threads: []ThreadSpec{
			{Title: "Portal sample part 1", Filler: 9},
			{Title: "Portal sample part 2", Filler: 5},
		},
		// The same text pasted once in a post body.
		Posts: []Post{{Thread: "Portal sample part 2", Author: "quiet", Text: breachLike, At: 3}},
	})
	chrome.Banner = "changed after New" // the site keeps its own copy
	srv := httptest.NewServer(site)
	defer srv.Close()

	pages, files := crawlSite(t, srv)
	if want := site.PagePaths(); len(pages) != len(want) {
		t.Errorf("crawled %d pages, PagePaths has %d: %v", len(pages), len(want), want)
	} else {
		for _, p := range want {
			if pages[p] == nil {
				t.Errorf("PagePaths entry %s not reached", p)
			}
		}
	}
	if len(files) != len(sampleFiles()) {
		t.Errorf("found %d attachment links, want %d", len(files), len(sampleFiles()))
	}
	sigPosts, bodyPosts := 0, 0
	for u, body := range pages {
		s := string(body)
		for _, want := range []string{
			`<div class="banner">BANNER: escrow only</div>`,
			`<nav class="navbar"><a class="nav" href="/">Home</a> <a class="nav" href="/rules">Rules</a> </nav>`,
			`<p class="footer-text">FOOTER: no logs kept</p>`,
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks chrome %q", u, want)
			}
		}
		// Every post by sigguy, and only those, carries the signature,
		// right after the post; the opening post carries its own.
		for _, art := range strings.Split(s, `<article class="post"`)[1:] {
			art, _, _ = strings.Cut(art, "</article>")
			author := regexp.MustCompile(`<span class="author">([^<]*)</span>`).FindStringSubmatch(art)[1]
			sig := chrome.Signatures[author]
			hasSig := strings.Contains(art, `<div class="signature">`+escaped(sig)+`</div>`)
			if (sig != "") != hasSig || (sig == "") != !signatureRE.MatchString(art) {
				t.Errorf("%s: post by %s: signature present %v, configured %q", u, author, hasSig, sig)
			}
			if author == "sigguy" {
				sigPosts++
			}
			body, _, _ := strings.Cut(art, `<div class="signature">`)
			if strings.Contains(body, escaped(breachLike)) {
				bodyPosts++
			}
		}
	}
	if sigPosts < 5 {
		t.Errorf("signature shown under %d posts; the test needs it repeated", sigPosts)
	}
	if bodyPosts != 1 {
		t.Errorf("breach-like text in %d post bodies, want exactly 1", bodyPosts)
	}
	if !bytes.Contains(pages[RulesPath], []byte(`<ol class="rules">`)) {
		t.Error("rules page missing")
	}
	// Without chrome there is no /rules page.
	plain := httptest.NewServer(New(Options{Files: sampleFiles()}))
	defer plain.Close()
	if resp, _ := testkit.Get(t, plain.Client(), plain.URL+RulesPath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("rules without chrome: %s", resp.Status)
	}
}

func TestBoards(t *testing.T) {
	var specs []ThreadSpec
	for i := range 7 {
		specs = append(specs, ThreadSpec{Title: fmt.Sprintf("DB thread %d", i), Board: "Databases"})
	}
	specs = append(specs, ThreadSpec{Title: "Chat", Board: "Off-topic", Filler: 2})
	site := New(Options{Threads: specs, PageSize: 3, Files: sampleFiles()}) // sample threads have no board
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := srv.Client()

	_, index := testkit.Get(t, c, srv.URL+"/")
	var boards []string
	for _, l := range links(t, index) {
		if strings.HasPrefix(l, "/board/") {
			boards = append(boards, l)
		}
	}
	if want := []string{"/board/databases", "/board/off-topic", "/board/general"}; !slices.Equal(boards, want) {
		t.Errorf("board links %v, want %v", boards, want)
	}
	if resp, _ := testkit.Get(t, c, srv.URL+"/?page=2"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("board index page 2: %s", resp.Status)
	}
	for page, want := range map[int]int{1: 3, 2: 3, 3: 2} { // 7 threads in 3s, dump thread on the last page
		u := "/board/databases"
		if page > 1 {
			u += fmt.Sprintf("?page=%d", page)
		}
		_, body := testkit.Get(t, c, srv.URL+u)
		n := 0
		for _, l := range links(t, body) {
			if strings.HasPrefix(l, "/thread/") {
				n++
			}
		}
		if n != want {
			t.Errorf("%s: %d thread links, want %d", u, n, want)
		}
		if got := bytes.Contains(body, []byte(`href="`+DumpThreadPath+`"`)); got != (page == 3) {
			t.Errorf("%s: dump thread listed %v", u, got)
		}
	}
	if resp, _ := testkit.Get(t, c, srv.URL+"/board/databases?page=4"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("board page 4: %s", resp.Status)
	}
	if resp, _ := testkit.Get(t, c, srv.URL+"/board/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown board: %s", resp.Status)
	}
	_, th := testkit.Get(t, c, srv.URL+"/thread/chat")
	if !bytes.Contains(th, []byte(`<a href="/board/off-topic">Off-topic</a> &rsaquo; Chat`)) {
		t.Error("thread breadcrumb lacks its board")
	}
	pages, files := crawlSite(t, srv)
	if len(pages) != len(site.PagePaths()) || len(files) != len(sampleFiles()) {
		t.Errorf("crawl: %d pages (PagePaths %d), %d files", len(pages), len(site.PagePaths()), len(files))
	}
}

func TestGenerateForumCounts(t *testing.T) {
	var atts []File
	for i := range 10 {
		atts = append(atts, File{Name: fmt.Sprintf("doc-%02d.txt", i), Data: []byte(fmt.Sprintf("synthetic document %d for ZZZ00%02d", i, i))})
	}
	doc := strings.Repeat("Synthetic clinical note for ZZZ0016 Test Patient One: reviewed bloods, plan to repeat in three months. ", 12)
	fo := ForumOptions{
		Boards: 3, ThreadsPerBoard: 7, PostsPerThread: 23, PostsPerPage: 5, ThreadsPerPage: 4,
		Attachments: atts,
		Documents:   []Document{{Name: "note-a.txt", Text: doc}, {Name: "note-b.txt", Text: "short synthetic note"}},
		Excerpts:    5,
		Tables:      [][][]string{{{"nhi", "name"}, {"ZZZ0016", "Test Patient One"}}, {{"nhi"}, {"ZZZ0024"}}},
		Seed:        7,
	}
	opts := GenerateForum(fo)
	if again := GenerateForum(fo); fmt.Sprint(again.Threads, again.Posts) != fmt.Sprint(opts.Threads, opts.Posts) {
		t.Error("GenerateForum is not deterministic")
	}
	if len(opts.Threads) != 21 || len(opts.Files) != 5 || len(opts.Posts) != 5+5+2 {
		t.Fatalf("threads %d, opening attachments %d, posts %d", len(opts.Threads), len(opts.Files), len(opts.Posts))
	}
	site := New(opts)
	srv := httptest.NewServer(site)
	defer srv.Close()

	// 1 index + 3 boards x 2 pages + 21 threads x 5 pages + dump + rules.
	paths := site.PagePaths()
	if len(paths) != 1+6+21*5+1+1 {
		t.Errorf("PagePaths = %d, want %d", len(paths), 1+6+21*5+2)
	}
	pages, files := crawlSite(t, srv)
	if len(pages) != len(paths) {
		t.Errorf("crawled %d pages, want %d", len(pages), len(paths))
	}
	if len(files) != len(atts) || len(site.Attachments()) != len(atts) {
		t.Errorf("attachment links %d, Attachments() %d, want %d", len(files), len(site.Attachments()), len(atts))
	}
	later := 0
	for _, a := range site.Attachments() {
		if a.PagePath != a.ThreadPath {
			later++
		}
		if !bytes.Contains(pages[a.PagePath], []byte(`href="`+a.Path+`"`)) {
			t.Errorf("%s not linked from its PagePath %s", a.Path, a.PagePath)
		}
	}
	if later == 0 {
		t.Error("no attachment on a later thread page")
	}
	// Every thread has exactly PostsPerThread posts over its pages.
	perThread := map[string]int{}
	for u, body := range pages {
		if strings.HasPrefix(u, "/thread/") && u != DumpThreadPath {
			slug := strings.Split(strings.TrimPrefix(u, "/thread/"), "/")[0]
			perThread[slug] += len(postRE.FindAll(body, -1))
		}
	}
	for slug, n := range perThread {
		if n != 23 {
			t.Errorf("thread %s has %d posts, want 23", slug, n)
		}
	}
	if len(perThread) != 21 {
		t.Errorf("%d threads crawled", len(perThread))
	}
	// Excerpts and tables are on the pages Posts reports.
	excerpts := 0
	for _, p := range site.Posts() {
		body := pages[p.PagePath]
		if !bytes.Contains(body, []byte(fmt.Sprintf(`id="post-%d"`, p.Number))) {
			t.Errorf("post %d not on %s", p.Number, p.PagePath)
		}
		switch {
		case strings.HasPrefix(p.Source, "note-"):
			excerpts++
			_, quote, _ := strings.Cut(p.Text, "\n\n")
			if n := len([]rune(quote)); p.Source == "note-a.txt" && (n < MinExcerpt || n > MaxExcerpt) {
				t.Errorf("excerpt of %d characters", n)
			}
			if !strings.Contains(doc+" short synthetic note", quote) || !bytes.Contains(body, []byte(escaped(quote))) {
				t.Errorf("excerpt %q not from the document or not on its page", quote)
			}
		case strings.HasPrefix(p.Source, "table-"):
			if !bytes.Contains(body, []byte(`<table class="proof">`)) {
				t.Errorf("table post on %s has no table", p.PagePath)
			}
		}
	}
	if excerpts != 5 {
		t.Errorf("%d excerpt posts, want 5", excerpts)
	}
}

// TestGenerateForumLarge builds the 10,000-page forum of the crawler
// benchmark and serves a few of its pages, checking it is cheap to set up.
func TestGenerateForumLarge(t *testing.T) {
	atts := make([]File, 1000)
	for i := range atts {
		atts[i] = File{Name: fmt.Sprintf("f%04d.txt", i), Data: []byte(fmt.Sprint("synthetic ZZZ", i))}
	}
	start := time.Now()
	site := New(GenerateForum(ForumOptions{Boards: 10, ThreadsPerBoard: 100, PostsPerThread: 100, PostsPerPage: 10, Attachments: atts}))
	paths := site.PagePaths()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("building the forum took %v", d)
	}
	threadPages := 0
	for _, p := range paths {
		if strings.HasPrefix(p, "/thread/") && p != DumpThreadPath {
			threadPages++
		}
	}
	if threadPages != 10_000 || len(site.Attachments()) != 1000 {
		t.Errorf("thread pages %d, attachments %d", threadPages, len(site.Attachments()))
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	for _, p := range []string{paths[0], paths[1], paths[len(paths)/2], paths[len(paths)-3]} {
		if resp, _ := testkit.Get(t, srv.Client(), srv.URL+p); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
}

func BenchmarkForumThreadPage(b *testing.B) {
	site := New(GenerateForum(ForumOptions{Boards: 10, ThreadsPerBoard: 100, PostsPerThread: 100, PostsPerPage: 10}))
	paths := site.PagePaths()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := paths[i%len(paths)]
		u, _ := url.Parse(p)
		r := httptest.NewRequest(http.MethodGet, u.String(), nil)
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d", p, w.Code)
		}
	}
}
