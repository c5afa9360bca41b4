package leaksim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Defaults of GenerateForum.
const (
	DefaultForumBoards          = 4
	DefaultForumThreadsPerBoard = 10
	DefaultForumPostsPerThread  = 20
	DefaultForumPostsPerPage    = 10
	DefaultForumThreadsPerPage  = 20
	// Excerpt lengths in characters, as in synth's excerpt-post class.
	MinExcerpt = 220
	MaxExcerpt = 400
)

// Document is a text that GenerateForum pastes excerpts from.
type Document struct {
	Name string // reported as the posts' Source
	Text string
}

// ForumOptions shapes a generated forum. A 10,000-page forum with 1,000
// attachments is Boards 10, ThreadsPerBoard 100, PostsPerThread 100,
// PostsPerPage 10 and 1,000 Attachments: 1,000 threads of 10 pages each,
// plus 50 board pages.
type ForumOptions struct {
	Title           string
	Boards          int // 0 means DefaultForumBoards
	ThreadsPerBoard int // 0 means DefaultForumThreadsPerBoard
	// PostsPerThread counts the opening post; a thread gets more only when
	// the explicit posts placed in it outnumber it. 0 means
	// DefaultForumPostsPerThread.
	PostsPerThread int
	PostsPerPage   int // 0 means DefaultForumPostsPerPage
	ThreadsPerPage int // threads per board page; 0 means DefaultForumThreadsPerPage

	// Attachments are spread evenly over the threads in order: even
	// numbered ones (0, 2, …) on the thread's opening post, odd ones in a
	// reply at a random place, often on a later thread page. Their Thread
	// fields are ignored.
	Attachments []File
	// Documents are pasted from: each excerpt post quotes MinExcerpt to
	// MaxExcerpt characters of one document (cut at spaces), in a random
	// thread at a random place, with Source set to the document's Name.
	Documents []Document
	Excerpts  int // excerpt posts, cycling through Documents; 0 means one per document
	// Tables are posted once each as a "proof" table (first row the
	// header) in a random thread, with Source "table-<i>".
	Tables [][][]string

	Chrome  *Chrome  // nil means DefaultChrome()
	Authors []string // chatter and excerpt authors; nil means DefaultFillerAuthors
	Seed    uint64   // same options and seed, same forum
}

var (
	forumBoardNames = []string{"Databases", "Healthcare leaks", "Combolists", "Marketplace", "Requests", "Off-topic", "Tutorials", "Logs"}
	forumOrgs       = []string{"Kea Health", "Tui Medical", "Kiwi Clinics", "Moa Labs", "Weta Imaging", "Pukeko Care"}
	forumTopics     = []string{"patient portal dump - part %d", "HR database %d", "internal docs batch %d", "fresh logs pack %d", "customer list %d", "email archive %d"}
	excerptIntros   = []string{
		"proof, straight from their portal:",
		"here is one of the notes, judge yourself",
		"sample from the clinical notes folder",
		"they say it is fake? read this:",
	}
)

// GenerateForum returns Options for a big synthetic forum: boards of
// threads with PostsPerThread posts each (generated chatter, rendered on
// request), attachments, excerpt posts and proof tables, the chrome, and
// the usual hostile features (change the returned Options to disable them).
// Pass the result to New. The site's PagePaths, Attachments and Posts
// report what was placed where.
func GenerateForum(fo ForumOptions) Options {
	boards := cmp.Or(max(fo.Boards, 0), DefaultForumBoards)
	perBoard := cmp.Or(max(fo.ThreadsPerBoard, 0), DefaultForumThreadsPerBoard)
	perThread := cmp.Or(max(fo.PostsPerThread, 0), DefaultForumPostsPerThread)
	authors := fo.Authors
	if len(authors) == 0 {
		authors = DefaultFillerAuthors
	}
	chrome := fo.Chrome
	if chrome == nil {
		chrome = DefaultChrome()
	}
	rng := rand.New(rand.NewPCG(fo.Seed, 0x1ea451))
	opts := Options{
		Title:         cmp.Or(fo.Title, DefaultTitle),
		PageSize:      cmp.Or(max(fo.ThreadsPerPage, 0), DefaultForumThreadsPerPage),
		PostsPerPage:  cmp.Or(max(fo.PostsPerPage, 0), DefaultForumPostsPerPage),
		Chrome:        chrome,
		FillerAuthors: authors,
	}

	nThreads := boards * perBoard
	titles := make([]string, nThreads)
	for b := range boards {
		name := forumBoardNames[b%len(forumBoardNames)]
		if b >= len(forumBoardNames) {
			name += fmt.Sprintf(" %d", b/len(forumBoardNames)+1)
		}
		for i := range perBoard {
			n := b*perBoard + i
			org := forumOrgs[rng.IntN(len(forumOrgs))]
			topic := fmt.Sprintf(forumTopics[rng.IntN(len(forumTopics))], i+1)
			titles[n] = fmt.Sprintf("%s %s [#%d]", org, topic, n+1)
			opts.Threads = append(opts.Threads, ThreadSpec{Title: titles[n], Board: name})
		}
	}
	explicit := make([]int, nThreads) // explicit replies per thread
	place := func(ti int) int {       // a random reply number in thread ti
		explicit[ti]++
		if perThread <= 1 {
			return 0
		}
		return 1 + rng.IntN(perThread-1)
	}

	for j, f := range fo.Attachments {
		ti := j * nThreads / len(fo.Attachments)
		if j%2 == 0 {
			f.Thread = titles[ti]
			opts.Files = append(opts.Files, f)
			continue
		}
		opts.Posts = append(opts.Posts, Post{
			Thread: titles[ti],
			Author: authors[rng.IntN(len(authors))],
			Text:   fmt.Sprintf("mirror of part %d, same password as before", j),
			Files:  []File{f},
			At:     place(ti),
		})
	}
	if len(fo.Documents) > 0 {
		for e := range cmp.Or(max(fo.Excerpts, 0), len(fo.Documents)) {
			d := fo.Documents[e%len(fo.Documents)]
			ti := rng.IntN(nThreads)
			opts.Posts = append(opts.Posts, Post{
				Thread: titles[ti],
				Author: authors[rng.IntN(len(authors))],
				Text:   excerptIntros[rng.IntN(len(excerptIntros))] + "\n\n" + excerpt(d.Text, rng),
				Source: d.Name,
				At:     place(ti),
			})
		}
	}
	for i, tab := range fo.Tables {
		ti := rng.IntN(nThreads)
		opts.Posts = append(opts.Posts, Post{
			Thread: titles[ti],
			Author: authors[rng.IntN(len(authors))],
			Text:   "first rows of their patients table as proof, full set on request",
			Table:  tab,
			Source: fmt.Sprintf("table-%d", i),
			At:     place(ti),
		})
	}
	for i := range opts.Threads {
		opts.Threads[i].Filler = max(0, perThread-1-explicit[i])
	}
	return opts
}

// excerpt returns MinExcerpt to MaxExcerpt characters of text, starting
// after and ending before a space where there is one nearby, or all of a
// text too short to cut.
func excerpt(text string, rng *rand.Rand) string {
	const slack = 40 // how far a cut moves to reach a space
	text = strings.TrimSpace(text)
	runes := []rune(text)
	n := MinExcerpt + slack + rng.IntN(MaxExcerpt-MinExcerpt-slack+1)
	if n >= len(runes) {
		return text
	}
	start := rng.IntN(len(runes) - n + 1)
	s := start
	if start > 0 {
		for i := start; i < start+slack; i++ {
			if runes[i-1] == ' ' {
				s = i
				break
			}
		}
	}
	e := min(s+n, len(runes))
	if e < len(runes) {
		for i := e; i > e-slack; i-- {
			if runes[i] == ' ' {
				e = i
				break
			}
		}
	}
	return strings.TrimSpace(string(runes[s:e]))
}
