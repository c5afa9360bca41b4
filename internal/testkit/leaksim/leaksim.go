// Package leaksim serves a simulated extortion forum / leak blog: an index of
// threads, ransom-style posts (fictional text only) and the "leaked" samples
// as attachments. It also plants the hostile features a real leak site has,
// so crawlers are exercised against them: a missing attachment, a "full dump"
// that declares 5 GB and trickles zeros, an off-site link, a redirect and a
// query-string link loop. It backs `leakwatch demo` and integration tests and
// is meant for loopback use with synthetic data only.
//
// Opt-in forum realism (see forum.go), off in the zero Options so existing
// expectations hold: reply posts with text and tables (Options.Posts,
// AddPost), generated chatter (ThreadSpec.Filler), boards, thread pagination
// (Options.PostsPerPage, /thread/<slug>/page/<n>), site chrome and per-user
// signatures repeated on every page (Options.Chrome), and GenerateForum for
// large forums rendered on request.
//
// Moderation (see admin.go): Delete and DeleteThread take content down as a
// host acting on a takedown notice would (410 Gone, no longer linked), and
// Repost puts a file up again at a new URL, as a mirror would; the same is
// offered over HTTP under AdminPath to loopback clients.
package leaksim

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

// Fixed paths and sizes of the hostile features, exported so tests and the
// demo can assert what a crawler did with them.
const (
	// HugePath is the "full dump" that declares HugeDeclaredSize bytes.
	HugePath = "/files/huge/full_dump.zip"
	// HugeDeclaredSize is the Content-Length the huge download declares.
	HugeDeclaredSize int64 = 5_000_000_000
	// MissingPath is an attachment link that always answers 404.
	MissingPath = "/files/deleted/full_dump_part2.7z"
	// OffsiteURL is linked but never served: a crawler must not follow it.
	OffsiteURL = "http://elsewhere.invalid/mirror/full_dump.zip"
	// DumpThreadPath is the announcement thread carrying the hostile links.
	DumpThreadPath = "/thread/" + dumpThreadSlug

	dumpThreadTitle = "FULL DUMP - download links"
	dumpThreadSlug  = "full-dump"

	// DefaultThread is the thread used for files without one.
	DefaultThread = "Patient portal - free sample (proof)"
	// DefaultTitle is the forum title when Options.Title is empty.
	DefaultTitle = "KEA LEAKS (simulated)"
	// DefaultPageSize is the number of threads per index page.
	DefaultPageSize = 5
	// DefaultHugeLimit bounds what one huge download streams before the
	// handler gives up, whatever the client does.
	DefaultHugeLimit int64 = 64 << 20
	// DefaultHugeRate is the huge download's pace in bytes per second.
	DefaultHugeRate = 4 << 20
	// hugeStallTimeout ends a huge download whose client stopped reading
	// but kept the connection open.
	hugeStallTimeout = 30 * time.Second
	// hugeTick is how often the huge download writes a chunk.
	hugeTick = 10 * time.Millisecond
)

// File is one leaked sample posted as an attachment.
type File struct {
	Name   string // file name shown and used in the URL; "/" is replaced
	Data   []byte // served byte for byte; AddFile keeps its own copy
	Thread string // thread title; empty means DefaultThread
}

// Options configures a Site. The zero value gives a working site with all
// hostile features enabled and no files.
type Options struct {
	Title    string
	Files    []File
	PageSize int // threads per index page; 0 means DefaultPageSize

	// Hostile features are on unless disabled.
	DisableMissing  bool // no link to MissingPath
	DisableHuge     bool // no HugePath link, and HugePath answers 404
	DisableOffsite  bool // no link to OffsiteURL
	DisableRedirect bool // no /go/<id> links, and /go/ answers 404
	DisableLoop     bool // no ?sort= self-links on thread pages

	HugeLimit int64 // bytes streamed per huge download; 0 means DefaultHugeLimit
	HugeRate  int   // bytes per second; 0 means DefaultHugeRate

	Logger *slog.Logger // nil means slog.Default(); requests log at Debug

	// DisableAdmin turns off the loopback admin endpoints under AdminPath
	// (delete and re-post files over HTTP; see admin.go). They are never
	// linked, so crawlers do not meet them.
	DisableAdmin bool
	// OnChange, if set, is called after each change made through the
	// admin endpoints (not through the Go methods), e.g. so the demo can
	// crawl a re-post at once.
	OnChange func(Change)

	// Forum realism, all opt-in: setting any of these (or calling AddPost)
	// switches the site to forum rendering (posts with authors, chrome,
	// numbered pagination). With none set, pages are as before.

	// Threads declares threads up front, in order, before Files and Posts
	// join them by title: their board and how many generated chatter
	// replies they carry.
	Threads []ThreadSpec
	// Posts are reply posts with text, a table and/or attachments, added
	// after Files in order (see AddPost).
	Posts []Post
	// PostsPerPage splits threads with more posts (the opening post
	// included) into pages /thread/<slug>/page/<n>; 0 keeps every thread
	// on one page.
	PostsPerPage int
	// Chrome is the boilerplate repeated on every page: banner, navigation
	// bar, footer and per-author signatures. nil means none.
	Chrome *Chrome
	// FillerAuthors are the authors of generated chatter replies; nil
	// means DefaultFillerAuthors.
	FillerAuthors []string
}

// Attachment describes a posted file as the site serves it.
type Attachment struct {
	ID         string
	Name       string
	Path       string // URL path, e.g. /files/1001/lab.pdf
	Thread     string // thread title
	ThreadPath string // URL path of the thread page
	Size       int64
	SHA256     string // lower-case hex
	// PagePath is the thread page that links the attachment: ThreadPath
	// for attachments of the opening post, /thread/<slug>/page/<n> for a
	// reply on a later page.
	PagePath string
}

type thread struct {
	title   string
	slug    string
	files   []*attachment // attachments of the opening post
	removed bool

	board  string  // board name; "" is DefaultBoard in board mode
	seq    uint64  // creation number, seeds the generated chatter
	filler int     // generated chatter replies
	posts  []*post // explicit replies, sorted by pos
	// gone: deleted with DeleteThread; its pages answer 410, not 404.
	gone bool
}

func (t *thread) path() string { return "/thread/" + t.slug }

type attachment struct {
	id      string
	name    string
	data    []byte
	sha     string
	thread  *thread
	post    *post // nil for the opening post
	removed bool
	// gone: deleted with Delete (or with its thread); its URL and its
	// /go/<id> mirror link answer 410, not 404.
	gone bool
}

// deleted reports whether a is no longer served, and whether it answers
// 410 Gone (deleted) rather than 404 (removed).
func (a *attachment) deleted() (removed, gone bool) {
	return a.removed || a.thread.removed, a.gone || a.thread.gone
}

func (a *attachment) path() string {
	return "/files/" + a.id + "/" + url.PathEscape(a.name)
}

// Site is the simulated forum. It is safe for concurrent use.
type Site struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu          sync.Mutex
	threads     []*thread // posting order, removed ones included
	slugs       map[string]*thread
	files       map[string]*attachment // by id
	nextID      int
	requests    map[string]int // by URL path
	requestURIs map[string]int // by path and query

	forum   bool               // forum rendering (see Options.Threads)
	byTitle map[string]*thread // live threads by title
	nextSeq uint64
}

// New returns a Site serving opts.Files.
func New(opts Options) *Site {
	opts.Title = cmp.Or(opts.Title, DefaultTitle)
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.HugeLimit <= 0 {
		opts.HugeLimit = DefaultHugeLimit
	}
	if opts.HugeRate <= 0 {
		opts.HugeRate = DefaultHugeRate
	}
	s := &Site{
		opts:        opts,
		log:         cmp.Or(opts.Logger, slog.Default()),
		slugs:       make(map[string]*thread),
		files:       make(map[string]*attachment),
		nextID:      1001,
		requests:    make(map[string]int),
		requestURIs: make(map[string]int),
		byTitle:     make(map[string]*thread),
		forum: opts.Chrome != nil || opts.PostsPerPage > 0 ||
			len(opts.Threads) > 0 || len(opts.Posts) > 0,
	}
	if opts.PostsPerPage < 0 {
		s.opts.PostsPerPage = 0
	}
	if len(s.opts.FillerAuthors) == 0 {
		s.opts.FillerAuthors = DefaultFillerAuthors
	}
	s.opts.FillerAuthors = slices.Clone(s.opts.FillerAuthors)
	if c := opts.Chrome; c != nil { // callers may change theirs later
		s.opts.Chrome = &Chrome{Banner: c.Banner, Footer: c.Footer, Nav: slices.Clone(c.Nav), Signatures: maps.Clone(c.Signatures)}
	}
	// The announcement thread is reserved first so no data thread takes
	// its slug.
	s.slugs[dumpThreadSlug] = &thread{title: dumpThreadTitle, slug: dumpThreadSlug}
	for _, ts := range opts.Threads {
		s.AddThread(ts)
	}
	for _, f := range opts.Files {
		s.AddFile(f)
	}
	for _, p := range opts.Posts {
		s.AddPost(p)
	}
	// The Add calls hold what is needed; do not pin the slices twice.
	s.opts.Files, s.opts.Posts, s.opts.Threads = nil, nil, nil

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("GET "+DumpThreadPath, s.handleDumpThread)
	s.mux.HandleFunc("GET /thread/{slug}", s.handleThread)
	s.mux.HandleFunc("GET /thread/{slug}/page/{n}", s.handleThreadPage)
	s.mux.HandleFunc("GET /board/{slug}", s.handleBoard)
	s.mux.HandleFunc("GET /rules", s.handleRules)
	s.mux.HandleFunc("GET /files/{id}/{name}", s.handleFile)
	s.mux.HandleFunc("GET "+HugePath, s.handleHuge)
	s.mux.HandleFunc("GET /go/{id}", s.handleRedirect)
	if !opts.DisableAdmin {
		s.mux.HandleFunc("GET "+AdminPath+"files", s.admin(s.handleAdminFiles))
		s.mux.HandleFunc("POST "+AdminPath+"delete", s.admin(s.handleAdminDelete))
		s.mux.HandleFunc("POST "+AdminPath+"repost", s.admin(s.handleAdminRepost))
	}
	return s
}

// AddFile posts f as a new attachment and returns its URL path. A file with
// the same thread title as a live thread joins it; otherwise a new thread is
// created (so re-posting after Remove appears under a new thread URL).
func (s *Site) AddFile(f File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.threadLocked(f.Thread, "")
	a := s.newAttachmentLocked(f, t, nil)
	t.files = append(t.files, a)
	return a.path()
}

// newAttachmentLocked registers f as an attachment of t (of post p, or of
// the opening post when p is nil); the caller links it into t or p.
func (s *Site) newAttachmentLocked(f File, t *thread, p *post) *attachment {
	name := strings.NewReplacer("/", "_", "\\", "_").Replace(f.Name)
	if name == "" || name == "." || name == ".." {
		name = "file.bin"
	}
	sum := sha256.Sum256(f.Data)
	a := &attachment{
		id:     strconv.Itoa(s.nextID),
		name:   name,
		data:   bytes.Clone(f.Data), // callers may reuse their buffer
		sha:    hex.EncodeToString(sum[:]),
		thread: t,
		post:   p,
	}
	s.nextID++
	s.files[a.id] = a
	return a
}

// threadLocked returns the live thread titled title (DefaultThread when
// empty), creating it on board if there is none.
func (s *Site) threadLocked(title, board string) *thread {
	title = cmp.Or(strings.TrimSpace(title), DefaultThread)
	if t := s.liveThreadLocked(title); t != nil {
		return t
	}
	t := &thread{title: title, slug: s.uniqueSlugLocked(title), board: strings.TrimSpace(board), seq: s.nextSeq}
	s.nextSeq++
	s.slugs[t.slug] = t
	s.threads = append(s.threads, t)
	s.byTitle[title] = t
	if t.board != "" {
		s.forum = true
	}
	return t
}

func (s *Site) liveThreadLocked(title string) *thread {
	if t := s.byTitle[title]; t != nil && !t.removed {
		return t
	}
	return nil
}

func (s *Site) uniqueSlugLocked(title string) string {
	base := slugify(title)
	slug := base
	for n := 2; s.slugs[slug] != nil; n++ {
		slug = base + "-" + strconv.Itoa(n)
	}
	return slug
}

func slugify(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if len(s) > 60 {
		s = strings.TrimSuffix(s[:60], "-")
	}
	return cmp.Or(s, "thread")
}

// Remove takes down what urlPath names, as a forum moderator would: a
// thread page (/thread/<slug>, with all its attachments) or one attachment
// (/files/<id>/<name>). Removed content answers 404 (Delete's answers 410).
// It reports whether anything live was removed.
func (s *Site) Remove(urlPath string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slug, ok := strings.CutPrefix(urlPath, "/thread/"); ok {
		return s.removeThreadLocked(slug, false)
	}
	if rest, ok := strings.CutPrefix(urlPath, "/files/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		a := s.files[id]
		if a == nil || a.removed || a.thread.removed {
			return false
		}
		a.removed = true
		return true
	}
	return false
}

// Attachments lists the live attachments in posting order.
func (s *Site) Attachments() []Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Attachment
	for _, t := range s.threads {
		if t.removed {
			continue
		}
		t.eachAttachment(func(a *attachment) { out = append(out, s.attachmentInfoLocked(a)) })
	}
	return out
}

// Requests returns how often each URL path was requested (query ignored).
func (s *Site) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// RequestURIs is like Requests but keyed by path and query, which shows
// whether a crawler followed pagination or fell into the ?sort= loop.
func (s *Site) RequestURIs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requestURIs)
}

// ServeHTTP implements http.Handler.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests[r.URL.Path]++
	s.requestURIs[r.URL.RequestURI()]++
	s.mu.Unlock()
	s.log.DebugContext(r.Context(), "leaksim request", "method", r.Method, "uri", r.URL.RequestURI(), "remote", r.RemoteAddr)
	s.mux.ServeHTTP(w, r)
}

// Serve listens on addr (default "127.0.0.1:0", i.e. loopback on a free
// port) and serves the site until ctx ends. It returns the bound address.
// Request contexts derive from ctx, so ending ctx also stops huge downloads
// in flight.
func (s *Site) Serve(ctx context.Context, addr string) (net.Addr, error) {
	return testkit.Serve(ctx, "leaksim", addr, s, s.log, "title", s.opts.Title)
}

// threadView is what the templates see of a thread.
type threadView struct {
	Title string
	Path  string
	Count int
}

// indexPage lays out the live data threads over at least two pages and puts
// the announcement thread last, so a crawler that ignores pagination never
// meets the hostile links from the index.
func (s *Site) indexPage(page int) (views []threadView, pages int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []threadView
	for _, t := range s.threads {
		if t.removed {
			continue
		}
		n := 0
		t.eachAttachment(func(*attachment) { n++ })
		live = append(live, threadView{Title: t.title, Path: t.path(), Count: n})
	}
	size := s.opts.PageSize
	pages = max(2, (len(live)+size-1)/size)
	lo := min((page-1)*size, len(live))
	hi := min(page*size, len(live))
	views = slices.Clone(live[lo:hi])
	if page == pages {
		views = append(views, threadView{Title: dumpThreadTitle, Path: DumpThreadPath})
	}
	return views, pages
}

func (s *Site) handleIndex(w http.ResponseWriter, r *http.Request) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			http.NotFound(w, r)
			return
		}
		page = n
	}
	if s.isForum() {
		s.handleForumIndex(w, r, page)
		return
	}
	views, pages := s.indexPage(page)
	if page > pages {
		http.NotFound(w, r)
		return
	}
	data := indexData{Title: s.opts.Title, Threads: views, Page: page, Pages: pages}
	if page > 1 {
		data.Prev = "/?page=" + strconv.Itoa(page-1)
	}
	if page < pages {
		data.Next = "/?page=" + strconv.Itoa(page+1)
	}
	s.render(w, r, "index", data)
}

func (s *Site) handleThread(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	if s.isForum() {
		s.handleForumThread(w, r, slug, 1)
		return
	}
	s.mu.Lock()
	t := s.slugs[slug]
	var data threadData
	found := t != nil && !t.removed
	gone := t != nil && t.removed && t.gone
	if found {
		data = threadData{
			Site:      s.opts.Title,
			Title:     t.title,
			Post:      ransomPost(t.title),
			DumpPath:  DumpThreadPath,
			LoopLinks: s.loopLinks(t.path(), r),
		}
		for _, a := range t.files {
			if a.removed {
				continue
			}
			v := fileView{Name: a.name, Path: a.path(), Size: humanSize(int64(len(a.data)))}
			if !s.opts.DisableRedirect {
				v.Mirror = "/go/" + a.id
			}
			data.Files = append(data.Files, v)
		}
	}
	s.mu.Unlock()
	if gone {
		goneResponse(w, r)
		return
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	s.render(w, r, "thread", data)
}

func (s *Site) handleDumpThread(w http.ResponseWriter, r *http.Request) {
	if s.isForum() {
		s.handleForumDump(w, r)
		return
	}
	data := dumpData{
		Site:      s.opts.Title,
		Title:     dumpThreadTitle,
		dumpLinks: s.dumpLinks(),
		LoopLinks: s.loopLinks(DumpThreadPath, r),
	}
	s.render(w, r, "dump", data)
}

// dumpLinks are the hostile links the options leave on.
func (s *Site) dumpLinks() dumpLinks {
	var l dumpLinks
	if !s.opts.DisableHuge {
		l.HugePath = HugePath
		l.HugeSize = humanSize(HugeDeclaredSize)
	}
	if !s.opts.DisableOffsite {
		l.Offsite = OffsiteURL
	}
	if !s.opts.DisableMissing {
		l.Missing = MissingPath
	}
	return l
}

// loopLinks returns self-links that differ only in the query, alternating
// between two variants: a crawler without URL normalisation or a visited
// set goes round forever, one with them fetches the page at most three times.
func (s *Site) loopLinks(p string, r *http.Request) []string {
	if s.opts.DisableLoop {
		return nil
	}
	if r.URL.Query().Get("sort") == "new" {
		return []string{p + "?sort=old"}
	}
	return []string{p + "?sort=new"}
}

func (s *Site) handleFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.files[r.PathValue("id")]
	var removed, gone bool
	if a != nil {
		removed, gone = a.deleted()
	}
	s.mu.Unlock()
	switch {
	case a == nil || a.name != r.PathValue("name"):
		http.NotFound(w, r)
		return
	case removed && gone:
		goneResponse(w, r)
		return
	case removed:
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", testkit.ContentType(a.name))
	h.Set("Content-Disposition", contentDisposition(a.name))
	h.Set("ETag", `"`+a.sha[:32]+`"`)
	// ServeContent adds Range, HEAD and conditional requests, which
	// resuming downloaders use. a.data is never modified after posting.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}

func (s *Site) handleRedirect(w http.ResponseWriter, r *http.Request) {
	if s.opts.DisableRedirect {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	a := s.files[r.PathValue("id")]
	target, gone := "", false
	if a != nil {
		removed, g := a.deleted()
		if !removed {
			target = a.path()
		}
		gone = removed && g
	}
	s.mu.Unlock()
	if gone {
		goneResponse(w, r)
		return
	}
	if target == "" {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// handleHuge declares HugeDeclaredSize bytes and trickles zeros until the
// client goes away, the request context ends, the client stops reading for
// hugeStallTimeout, or HugeLimit bytes have gone out. Memory use is one
// chunk, whatever the declared size.
func (s *Site) handleHuge(w http.ResponseWriter, r *http.Request) {
	if s.opts.DisableHuge {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", contentDisposition(path.Base(HugePath)))
	h.Set("Content-Length", strconv.FormatInt(HugeDeclaredSize, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	rc := http.NewResponseController(w)
	chunk := make([]byte, max(1, s.opts.HugeRate/int(time.Second/hugeTick)))
	ticker := time.NewTicker(hugeTick)
	defer ticker.Stop()
	ctx := r.Context()
	var sent int64
	for sent < s.opts.HugeLimit {
		select {
		case <-ctx.Done():
			s.log.DebugContext(ctx, "leaksim: huge download ended by client", "sent", sent)
			return
		case <-ticker.C:
		}
		n := int(min(int64(len(chunk)), s.opts.HugeLimit-sent))
		// A deadline per write ends the handler when the client stops
		// reading; without it Write would block forever on a full socket.
		// Recorders without deadlines report ErrNotSupported: ignore that.
		if err := rc.SetWriteDeadline(time.Now().Add(hugeStallTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			s.log.DebugContext(ctx, "leaksim: huge download write failed", "sent", sent, "err", err)
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		sent += int64(n)
	}
	// Returning short of Content-Length makes net/http close the
	// connection, so the client sees a truncated body, as with a real
	// site that gives up.
	s.log.DebugContext(ctx, "leaksim: huge download hit its bound", "sent", sent)
}

func (s *Site) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.ErrorContext(r.Context(), "leaksim: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

func contentDisposition(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
