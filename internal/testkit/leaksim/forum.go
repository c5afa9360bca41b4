package leaksim

import (
	"cmp"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Forum realism: what the types below add to a Site, all opt-in.
//
//   - Reply posts with text, a table and/or attachments (Post, AddPost),
//     rendered as <article class="post" id="post-N"> with the author, the
//     text as paragraphs (<p>, lines split by <br>), a Table as an HTML
//     <table class="proof"> whose first row is the header, and the author's
//     signature (<div class="signature">) when Chrome has one.
//   - Generated chatter replies (ThreadSpec.Filler): short, deterministic
//     posts by FillerAuthors, computed on request, never stored.
//   - Boards: a thread declared with a board (ThreadSpec.Board,
//     Post.Board) turns "/" into a board index linking /board/<slug>, each
//     a thread list paginated with ?page=N; threads without a board are
//     listed under DefaultBoard. Without boards "/" stays the thread list.
//   - Thread pagination (Options.PostsPerPage): page 1 is /thread/<slug>,
//     page n is /thread/<slug>/page/<n> (/page/1 redirects to page 1). A
//     pager with page numbers, "Prev" and "Next" links (rel=prev/next) is
//     above and below the posts; board and index pages have the same pager.
//   - Chrome: a header banner, a navigation bar, a footer and per-author
//     signatures repeated on every page, so a crawler can be checked to drop
//     site boilerplate: text that appears in a signature on every page must
//     not match, while the same text pasted once in a post body must.
//
// Pages render on request from a compact model: a thread stores its explicit
// posts only, so a GenerateForum site with 10,000 pages costs little memory.

// Defaults of the forum features.
const (
	// DefaultBoard lists threads that name no board once the site has
	// boards.
	DefaultBoard = "General"
	// OpeningAuthor is the author of every thread's opening post (the
	// ransom text and the thread's File attachments).
	OpeningAuthor = "KeaLeaks"
	// DefaultAuthor is the author of a Post that names none.
	DefaultAuthor = "anonymous"
	// RulesPath is the rules page served (with the chrome) when
	// Options.Chrome is set; DefaultChrome links it from the navigation bar.
	RulesPath = "/rules"
)

// DefaultFillerAuthors write the generated chatter replies unless
// Options.FillerAuthors names others.
var DefaultFillerAuthors = []string{
	"b1tcrawler", "m0rpheus_x", "dumpster", "ghostwriter",
	"n0_name", "lurker42", "pwnd_pete", "escrow_bot",
}

// ThreadSpec declares a thread before files and posts join it by title.
type ThreadSpec struct {
	Title  string // empty means DefaultThread; an existing live thread is reused
	Board  string // board of a new thread; "" means none (DefaultBoard in board mode)
	Filler int    // generated chatter replies to add to the thread
}

// Post is a reply in a thread.
type Post struct {
	Thread string // thread title; empty means DefaultThread; created if new
	Board  string // board of a new thread; ignored when the thread exists
	Author string // empty means DefaultAuthor
	// Text is the body, plain text: blank lines separate paragraphs and
	// single newlines become <br>. It is HTML-escaped.
	Text string
	// Table, if any, is rendered after the text as an HTML <table>; the
	// first row is the header (<th>).
	Table [][]string
	// Files are attachments of this post (their Thread field is ignored).
	Files []File
	// At is the reply number the post takes: 1 is the first reply, right
	// after the opening post, and later replies move down one. 0, or a
	// number past the end, appends.
	At int
	// Source is not rendered: a label (e.g. the document an excerpt comes
	// from) that Posts reports back so tests know what a post quotes.
	Source string
}

// PostInfo describes a post added with Post, as the site currently shows it.
type PostInfo struct {
	Thread     string
	ThreadPath string
	PagePath   string // the thread page showing the post
	Number     int    // post number in the thread: 1 is the opening post; the anchor is #post-<Number>
	Author     string
	Text       string
	Table      [][]string
	Files      []string // URL paths of the post's attachments
	Source     string
}

// Chrome is the site boilerplate repeated on every page.
type Chrome struct {
	Banner string // in the page header, under the site title
	Nav    []Link // the navigation bar
	Footer string // the footer
	// Signatures maps an author to the signature shown under each of
	// their posts (the opening post's author included).
	Signatures map[string]string
}

// Link is a navigation bar entry.
type Link struct {
	Text string
	Href string
}

// DefaultChrome returns typical leak-forum boilerplate, without personal
// data: a banner, a navigation bar linking "/" and RulesPath, a footer and
// signatures for some DefaultFillerAuthors.
func DefaultChrome() *Chrome {
	return &Chrome{
		Banner: "Verified leaks only. Escrow available, PM staff. New here? Read the rules before posting.",
		Nav:    []Link{{Text: "Forums", Href: "/"}, {Text: "Rules", Href: RulesPath}},
		Footer: "Powered by ForumSoft 2.3 | All times are UTC | We do not log IPs",
		Signatures: map[string]string{
			OpeningAuthor: "KeaLeaks team | contact via tox only | we always deliver",
			"dumpster":    "PGP 0x5EC0FFEE | escrow only | no DMs from newbies",
			"lurker42":    "stay safe, use tor, trust no one",
			"escrow_bot":  "[automated] escrow service online 24/7",
		},
	}
}

type post struct {
	pos    int // reply number, 1-based; the opening post is 0
	author string
	text   string
	table  [][]string
	source string
	files  []*attachment
}

type board struct {
	name, slug string
}

func (s *Site) isForum() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forum
}

// AddThread declares a thread (see ThreadSpec) and returns its URL path.
// Filler adds to the filler of an existing live thread of the same title.
func (s *Site) AddThread(ts ThreadSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forum = true
	t := s.threadLocked(ts.Title, ts.Board)
	t.filler += max(0, ts.Filler)
	return t.path()
}

// AddPost adds p as a reply (see Post) and switches the site to forum
// rendering.
func (s *Site) AddPost(p Post) PostInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forum = true
	t := s.threadLocked(p.Thread, p.Board)
	n := t.replies()
	pos := p.At
	if pos < 1 || pos > n+1 {
		pos = n + 1
	}
	for _, q := range t.posts {
		if q.pos >= pos {
			q.pos++
		}
	}
	np := &post{
		pos:    pos,
		author: cmp.Or(strings.TrimSpace(p.Author), DefaultAuthor),
		text:   p.Text,
		source: p.Source,
	}
	for _, row := range p.Table {
		np.table = append(np.table, slices.Clone(row))
	}
	for _, f := range p.Files {
		np.files = append(np.files, s.newAttachmentLocked(f, t, np))
	}
	i := sort.Search(len(t.posts), func(i int) bool { return t.posts[i].pos > pos })
	t.posts = slices.Insert(t.posts, i, np)
	return s.postInfoLocked(t, np)
}

// Posts lists the live posts added with Post, thread by thread in posting
// order, each in reply order.
func (s *Site) Posts() []PostInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PostInfo
	for _, t := range s.threads {
		if t.removed {
			continue
		}
		for _, p := range t.posts {
			out = append(out, s.postInfoLocked(t, p))
		}
	}
	return out
}

func (s *Site) postInfoLocked(t *thread, p *post) PostInfo {
	info := PostInfo{
		Thread: t.title, ThreadPath: t.path(), PagePath: s.pagePathLocked(t, s.pageOfLocked(p.pos)),
		Number: p.pos + 1, Author: p.author, Text: p.text, Source: p.source,
	}
	for _, row := range p.table {
		info.Table = append(info.Table, slices.Clone(row))
	}
	for _, a := range p.files {
		if !a.removed {
			info.Files = append(info.Files, a.path())
		}
	}
	return info
}

// PagePaths lists the canonical URL (path and query) of every HTML page a
// crawler reaches by following the site's structure: the index or board
// pages with their pagination, every page of every live thread, the
// announcement thread and, when the navigation bar links it, RulesPath. It
// leaves out the ?sort= loop variants, redirects and "/?page=1", which the
// old-style index links as a second URL of page 1.
func (s *Site) PagePaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{"/"}
	if s.boardModeLocked() {
		for _, b := range s.boardsLocked() {
			threads := s.boardThreadsLocked(b)
			for p := 1; p <= boardPages(len(threads), s.opts.PageSize); p++ {
				out = append(out, boardPagePath(b, p))
			}
		}
	} else {
		live := 0
		for _, t := range s.threads {
			if !t.removed {
				live++
			}
		}
		for p := 2; p <= max(2, (live+s.opts.PageSize-1)/s.opts.PageSize); p++ {
			out = append(out, "/?page="+strconv.Itoa(p))
		}
	}
	for _, t := range s.threads {
		if t.removed {
			continue
		}
		for p := 1; p <= s.threadPagesLocked(t); p++ {
			out = append(out, s.pagePathLocked(t, p))
		}
	}
	out = append(out, DumpThreadPath)
	if s.rulesLinked() {
		out = append(out, RulesPath)
	}
	return out
}

func (s *Site) rulesLinked() bool {
	if s.opts.Chrome == nil {
		return false
	}
	for _, l := range s.opts.Chrome.Nav {
		if l.Href == RulesPath {
			return true
		}
	}
	return false
}

func (t *thread) replies() int { return t.filler + len(t.posts) }

// eachAttachment calls fn for the thread's live attachments in page order.
func (t *thread) eachAttachment(fn func(*attachment)) {
	for _, a := range t.files {
		if !a.removed {
			fn(a)
		}
	}
	for _, p := range t.posts {
		for _, a := range p.files {
			if !a.removed {
				fn(a)
			}
		}
	}
}

func (s *Site) threadPagesLocked(t *thread) int {
	if s.opts.PostsPerPage <= 0 {
		return 1
	}
	return (1 + t.replies() + s.opts.PostsPerPage - 1) / s.opts.PostsPerPage
}

// pageOfLocked returns the page of the post at position pos (0 is the
// opening post).
func (s *Site) pageOfLocked(pos int) int {
	if s.opts.PostsPerPage <= 0 {
		return 1
	}
	return pos/s.opts.PostsPerPage + 1
}

func (s *Site) pagePathLocked(t *thread, page int) string {
	if page <= 1 {
		return t.path()
	}
	return t.path() + "/page/" + strconv.Itoa(page)
}

func (s *Site) attachmentPageLocked(a *attachment) string {
	if a.post == nil {
		return a.thread.path()
	}
	return s.pagePathLocked(a.thread, s.pageOfLocked(a.post.pos))
}

// Boards.

func (s *Site) boardModeLocked() bool {
	for _, t := range s.threads {
		if !t.removed && t.board != "" {
			return true
		}
	}
	return false
}

// boardsLocked lists the boards with live threads in order of first use,
// DefaultBoard last unless a thread named it earlier, with unique slugs.
func (s *Site) boardsLocked() []board {
	var names []string
	seen := map[string]bool{}
	hasDefault := false
	for _, t := range s.threads {
		if t.removed {
			continue
		}
		if t.board == "" {
			hasDefault = true
			continue
		}
		if !seen[t.board] {
			seen[t.board] = true
			names = append(names, t.board)
		}
	}
	if hasDefault && !seen[DefaultBoard] {
		names = append(names, DefaultBoard)
	}
	out := make([]board, 0, len(names))
	slugs := map[string]bool{}
	for _, n := range names {
		base := slugify(n)
		slug := base
		for i := 2; slugs[slug]; i++ {
			slug = base + "-" + strconv.Itoa(i)
		}
		slugs[slug] = true
		out = append(out, board{name: n, slug: slug})
	}
	return out
}

func (s *Site) boardThreadsLocked(b board) []*thread {
	var out []*thread
	for _, t := range s.threads {
		if !t.removed && cmp.Or(t.board, DefaultBoard) == b.name {
			out = append(out, t)
		}
	}
	return out
}

func boardPages(threads, size int) int { return max(1, (threads+size-1)/size) }

func boardPagePath(b board, page int) string {
	if page <= 1 {
		return "/board/" + b.slug
	}
	return "/board/" + b.slug + "?page=" + strconv.Itoa(page)
}

// Handlers.

func parsePage(r *http.Request) (int, bool) {
	p := r.URL.Query().Get("page")
	if p == "" {
		return 1, true
	}
	n, err := strconv.Atoi(p)
	return n, err == nil && n >= 1
}

func (s *Site) chromeLocked() chromeView {
	v := chromeView{Site: s.opts.Title}
	if c := s.opts.Chrome; c != nil {
		v.Banner, v.Footer, v.Nav = c.Banner, c.Footer, c.Nav
	}
	return v
}

func (s *Site) signatureLocked(author string) string {
	if c := s.opts.Chrome; c != nil {
		return c.Signatures[author]
	}
	return ""
}

func (s *Site) handleForumIndex(w http.ResponseWriter, r *http.Request, page int) {
	s.mu.Lock()
	data := forumListData{Chrome: s.chromeLocked(), Title: s.opts.Title}
	if s.boardModeLocked() {
		if page != 1 {
			s.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		for _, b := range s.boardsLocked() {
			threads := s.boardThreadsLocked(b)
			posts := 0
			for _, t := range threads {
				posts += 1 + t.replies()
			}
			data.Boards = append(data.Boards, boardView{Name: b.name, Path: boardPagePath(b, 1), Threads: len(threads), Posts: posts})
		}
		s.mu.Unlock()
		s.render(w, r, "forum-list", data)
		return
	}
	s.mu.Unlock()
	views, pages := s.indexPage(page)
	if page > pages {
		http.NotFound(w, r)
		return
	}
	data.Threads = views
	data.Pager = pager(page, pages, func(p int) string {
		if p == 1 {
			return "/"
		}
		return "/?page=" + strconv.Itoa(p)
	})
	s.render(w, r, "forum-list", data)
}

func (s *Site) handleBoard(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(r)
	s.mu.Lock()
	var b board
	found := false
	if ok && s.forum && s.boardModeLocked() {
		for _, bb := range s.boardsLocked() {
			if bb.slug == r.PathValue("slug") {
				b, found = bb, true
			}
		}
	}
	var data forumListData
	if found {
		threads := s.boardThreadsLocked(b)
		pages := boardPages(len(threads), s.opts.PageSize)
		if page > pages {
			found = false
		} else {
			size := s.opts.PageSize
			for _, t := range threads[min((page-1)*size, len(threads)):min(page*size, len(threads))] {
				n := 0
				t.eachAttachment(func(*attachment) { n++ })
				data.Threads = append(data.Threads, threadView{Title: t.title, Path: t.path(), Count: n})
			}
			if page == pages {
				data.Threads = append(data.Threads, threadView{Title: dumpThreadTitle, Path: DumpThreadPath})
			}
			data.Chrome = s.chromeLocked()
			data.Title = b.name
			data.Crumbs = []Link{{Text: s.opts.Title, Href: "/"}}
			data.Pager = pager(page, pages, func(p int) string { return boardPagePath(b, p) })
		}
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	s.render(w, r, "forum-list", data)
}

func (s *Site) handleThreadPage(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || slug == dumpThreadSlug || !s.isForum() {
		http.NotFound(w, r)
		return
	}
	if n == 1 {
		s.mu.Lock()
		t := s.slugs[slug]
		live := t != nil && !t.removed
		gone := t != nil && t.removed && t.gone
		s.mu.Unlock()
		if gone {
			goneResponse(w, r)
			return
		}
		if !live {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/thread/"+slug, http.StatusMovedPermanently)
		return
	}
	s.handleForumThread(w, r, slug, n)
}

func (s *Site) handleForumThread(w http.ResponseWriter, r *http.Request, slug string, page int) {
	s.mu.Lock()
	t := s.slugs[slug]
	if t != nil && t.removed && t.gone {
		s.mu.Unlock()
		goneResponse(w, r)
		return
	}
	if t == nil || t.removed || page > s.threadPagesLocked(t) {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	pages := s.threadPagesLocked(t)
	self := s.pagePathLocked(t, page)
	data := forumThreadData{
		Chrome:    s.chromeLocked(),
		Crumbs:    []Link{{Text: s.opts.Title, Href: "/"}},
		Title:     t.title,
		Page:      page,
		Pages:     pages,
		DumpPath:  DumpThreadPath,
		LoopLinks: s.loopLinks(self, r),
		Pager:     pager(page, pages, func(p int) string { return s.pagePathLocked(t, p) }),
	}
	if s.boardModeLocked() {
		name := cmp.Or(t.board, DefaultBoard)
		for _, b := range s.boardsLocked() {
			if b.name == name {
				data.Crumbs = append(data.Crumbs, Link{Text: b.name, Href: boardPagePath(b, 1)})
			}
		}
	}
	total := 1 + t.replies()
	lo, hi := 0, total
	if ppp := s.opts.PostsPerPage; ppp > 0 {
		lo, hi = (page-1)*ppp, min(page*ppp, total)
	}
	for pos := lo; pos < hi; pos++ {
		data.Posts = append(data.Posts, s.postViewLocked(t, pos))
	}
	s.mu.Unlock()
	s.render(w, r, "forum-thread", data)
}

// postViewLocked renders the post at position pos of t: the opening post,
// an explicit reply or generated chatter.
func (s *Site) postViewLocked(t *thread, pos int) postView {
	v := postView{Number: pos + 1}
	switch i := sort.Search(len(t.posts), func(i int) bool { return t.posts[i].pos >= pos }); {
	case pos == 0:
		v.Author = OpeningAuthor
		v.Paras = paragraphs(ransomPost(t.title))
		v.Files = s.fileViewsLocked(t.files)
	case i < len(t.posts) && t.posts[i].pos == pos:
		p := t.posts[i]
		v.Author = p.author
		v.Paras = paragraphs(p.text)
		if len(p.table) > 0 {
			v.TableHead, v.TableRows = p.table[0], p.table[1:]
		}
		v.Files = s.fileViewsLocked(p.files)
	default:
		// i explicit replies come before pos, so this is chatter number
		// pos-1-i of the thread.
		author, text := filler(t.seq, pos-1-i, s.opts.FillerAuthors)
		v.Author = author
		v.Paras = paragraphs(text)
	}
	v.Signature = s.signatureLocked(v.Author)
	return v
}

func (s *Site) fileViewsLocked(files []*attachment) []fileView {
	var out []fileView
	for _, a := range files {
		if a.removed {
			continue
		}
		v := fileView{Name: a.name, Path: a.path(), Size: humanSize(int64(len(a.data)))}
		if !s.opts.DisableRedirect {
			v.Mirror = "/go/" + a.id
		}
		out = append(out, v)
	}
	return out
}

func (s *Site) handleForumDump(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data := forumDumpData{
		Chrome:    s.chromeLocked(),
		Crumbs:    []Link{{Text: s.opts.Title, Href: "/"}},
		Title:     dumpThreadTitle,
		Author:    OpeningAuthor,
		Signature: s.signatureLocked(OpeningAuthor),
		dumpLinks: s.dumpLinks(),
		LoopLinks: s.loopLinks(DumpThreadPath, r),
	}
	s.mu.Unlock()
	s.render(w, r, "forum-dump", data)
}

func (s *Site) handleRules(w http.ResponseWriter, r *http.Request) {
	if s.opts.Chrome == nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	data := forumRulesData{Chrome: s.chromeLocked(), Crumbs: []Link{{Text: s.opts.Title, Href: "/"}}, Title: "Forum rules"}
	s.mu.Unlock()
	s.render(w, r, "forum-rules", data)
}

// paragraphs splits plain text into paragraphs (blank-line separated) of
// lines.
func paragraphs(text string) [][]string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var out [][]string
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.Trim(para, "\n")
		if strings.TrimSpace(para) == "" {
			continue
		}
		out = append(out, strings.Split(para, "\n"))
	}
	return out
}

// pager lays out numbered page links: the first and last page, two either
// side of the current one, gaps between, and Prev/Next. nil for one page.
func pager(page, pages int, href func(int) string) *pagerView {
	if pages <= 1 {
		return nil
	}
	v := &pagerView{Page: page, Pages: pages}
	if page > 1 {
		v.Prev = href(page - 1)
	}
	if page < pages {
		v.Next = href(page + 1)
	}
	last := 0
	for p := 1; p <= pages; p++ {
		if p != 1 && p != pages && (p < page-2 || p > page+2) {
			continue
		}
		if last != 0 && p > last+1 {
			v.Items = append(v.Items, pagerItem{Gap: true})
		}
		v.Items = append(v.Items, pagerItem{Num: p, Href: href(p), Current: p == page})
		last = p
	}
	return v
}

// fillerPhrases are the generated chatter: no personal data, no numbers a
// matcher could take for an identifier.
var fillerPhrases = []string{
	"bump",
	"thanks for the share, downloading now",
	"link dead? can someone reupload",
	"+1 legit, checked the samples",
	"is there a mirror that is not so slow",
	"lol they still have not paid",
	"any more parts coming?",
	"mods please pin this",
	"password for the archive?",
	"nice work, waiting for the full dump",
	"this is old, already posted last month",
	"can confirm the files open fine",
	"who is the hosting provider for the portal?",
	"escrow for the full set? PM me",
	"read the first post before asking",
	"vouch, seller delivered before",
}

// filler returns the author and text of chatter reply n of the thread with
// creation number seq; the same arguments give the same post.
func filler(seq uint64, n int, authors []string) (author, text string) {
	h := splitmix(seq<<32 ^ uint64(n))
	author = authors[h%uint64(len(authors))]
	text = fillerPhrases[(h>>20)%uint64(len(fillerPhrases))]
	if (h>>40)%4 == 0 {
		text += "\n\n" + fillerPhrases[(h>>44)%uint64(len(fillerPhrases))]
	}
	return author, text
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
