// Package capture is the one path from "a source fetched something" to
// evidence and hits. Every kind of source (web crawls today, Telegram
// channels next) hands what it fetched to a Pipeline, which records the
// capture as evidence, matches its content against the reference index and
// records the hits and how much of the breach the item exposes. Content is
// matched in memory and dropped; only digests and fingerprint matches are
// stored. A process without the index (a crawl-only worker) seals the
// content into the database's scan spool instead, and the row is deleted
// when a scan worker has matched it (spool.go).
package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/storage"
)

// ErrNoScanner means the pipeline cannot match anything: the process was
// started without the reference index (no fingerprint key).
var ErrNoScanner = errors.New("capture: no fingerprint scanner (the process was started without a fingerprint key)")

// Pipeline records fetched items and matches them. It is safe for
// concurrent use by several runs.
//
// With a Scanner it matches each item as it is recorded (inline). Without
// one but with a Spool sealer (a crawl worker that does not load the
// reference index) it records the capture and queues its content, sealed,
// in the database's scan spool; ScanSpooled, in a process with a Scanner,
// matches it later through the same code.
type Pipeline struct {
	Store   *storage.Store
	Scanner *references.Scanner
	Spool   *SpoolSealer // seals spooled content; needed to spool and to scan the spool
	Logger  *slog.Logger // nil discards
	// Metrics, if set, is told of every item matched and every new hit
	// (internal/metrics implements it).
	Metrics Observer
}

// Observer counts the pipeline's matching: an item of kind (a
// storage.CaptureKind) matched with bytes of content in took (err: the
// matching failed), and a new hit found by method.
type Observer interface {
	ObserveScan(kind string, bytes int, took time.Duration, err error)
	ObserveHit(method string)
}

// observeHits counts the new hits of a saved result, once it is committed.
func (p *Pipeline) observeHits(res Result) {
	if p.Metrics == nil {
		return
	}
	for _, m := range res.newMethods {
		p.Metrics.ObserveHit(m)
	}
}

// Item is one thing a source fetched: a page, or a file with its bytes.
type Item struct {
	Kind        storage.CaptureKind
	URL         string // what was asked for
	FinalURL    string // where it came from after redirects
	Target      string // the host or channel a takedown about it goes to
	FetchedAt   time.Time
	Status      int    // protocol status (HTTP), 0 where there is none
	ContentType string // as declared by the source
	Digest      fingerprints.Digest
	// Body holds the content to match, when the source kept it in memory:
	// a file's bytes, or a page's content (its posts, without the site's
	// chrome). A file without it is matched by its digest alone (exact
	// copies); a page without it is evidence only.
	Body []byte
	// Err says why nothing, or only a prefix, could be fetched.
	Err error
	// Redirects lists the URLs the fetch was redirected through.
	Redirects []string
	// RedirectEvidence locates each redirect's exchange in the run's WARC
	// files (same index as Redirects), when the source kept them.
	RedirectEvidence []evidence.Record
	// Evidence locates the raw exchange in the run's WARC files.
	Evidence *evidence.Record
	// NotModified: the file was asked for with the validators Validators
	// gave and has not changed; nothing was downloaded.
	NotModified bool
	// ETag and LastModified are the file's validators, for the next visit.
	ETag, LastModified string
	// Members lists an archive that was not downloaded, from its
	// directory: matched by CRC-32 and size.
	Members []references.Member
	// Links are a page's structural links (pagination, files), kept for
	// the next run to follow while the page is fresh (see Revisit).
	Links []string
}

// Hop is one redirect a fetch went through, as a capture's Redirects
// column keeps it (a JSON list, oldest first): the URL that answered with
// the redirect, its status and where its Location led (absolute), and
// where its exchange is in the WARC files (nil when the source kept none). Rows from before redirects were
// recorded hold a list of URLs; ParseRedirects reads both.
type Hop struct {
	URL      string           `json:"url"`
	Status   int              `json:"status,omitempty"`
	Location string           `json:"location,omitempty"`
	WARC     *evidence.Record `json:"warc,omitempty"`
}

// hopsOf pairs an item's redirects with their records.
func hopsOf(it Item) []Hop {
	hops := make([]Hop, max(len(it.Redirects), len(it.RedirectEvidence)))
	for i := range hops {
		if i < len(it.Redirects) {
			hops[i].URL = it.Redirects[i]
		}
		if i < len(it.RedirectEvidence) {
			r := it.RedirectEvidence[i]
			hops[i].Status, hops[i].Location, hops[i].WARC = r.StatusCode, r.Location, &r
			if hops[i].URL == "" {
				hops[i].URL = r.TargetURI
			}
		}
	}
	return hops
}

// Result is what recording one item produced.
type Result struct {
	CaptureID uint64
	NewHits   int // hits recorded now (a re-recorded item adds none)
	Refs      int // reference files the item exposes
	Patients  int // patients those concern

	newMethods []string // the method of each new hit, for metrics
}

// Run records the items of one crawl run.
type Run struct {
	p     *Pipeline
	run   storage.CrawlRun
	watch *Watch
	hits  atomic.Int64 // sources record items from several goroutines

	// Without a scanner, the index generation read from the store once
	// per run (see generation).
	genMu  sync.Mutex
	gen    int64
	genSet bool
}

// WithWatch makes the run look for the source's watch terms in its pages;
// nil watches nothing.
func (r *Run) WithWatch(w *Watch) *Run {
	r.watch = w
	return r
}

// ForRun returns the recorder of one crawl run's items.
func (p *Pipeline) ForRun(run storage.CrawlRun) (*Run, error) {
	if p.Scanner == nil && p.Spool == nil {
		return nil, ErrNoScanner
	}
	return &Run{p: p, run: run}, nil
}

// Inline reports whether the pipeline matches items as they are recorded
// (it holds the reference index), rather than spooling them.
func (p *Pipeline) Inline() bool { return p.Scanner != nil }

// generation is the reference index generation items are checked against:
// the scanner's, or — spooling, without the index — the store's, read once
// per run. A generation read before the index changed only makes items
// look changed, and so matched again: never skipped.
func (r *Run) generation(ctx context.Context) (int64, error) {
	if r.p.Scanner != nil {
		return r.p.Scanner.Generation(), nil
	}
	r.genMu.Lock()
	defer r.genMu.Unlock()
	if !r.genSet {
		g, err := r.p.Store.IndexGeneration(ctx)
		if err != nil {
			return 0, err
		}
		r.gen, r.genSet = g, true
	}
	return r.gen, nil
}

func (p *Pipeline) log() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Hits is the number of hits this run has recorded so far.
func (r *Run) Hits() int { return int(r.hits.Load()) }

// RestoreFrontier returns an interrupted run's URLs still to fetch and
// every URL it had seen; a new run has none.
func (r *Run) RestoreFrontier(ctx context.Context) (todo []storage.FrontierURL, seen []string, err error) {
	all, err := r.p.Store.Frontier(ctx, r.run.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range all {
		seen = append(seen, u.URL)
		if !u.Fetched {
			todo = append(todo, u)
		}
	}
	return todo, seen, nil
}

// QueueFrontier records URLs the run queued.
func (r *Run) QueueFrontier(ctx context.Context, urls []storage.FrontierURL) error {
	return r.p.Store.QueueFrontier(ctx, r.run.ID, urls)
}

// FrontierFetched records that the run's fetch of url was recorded.
func (r *Run) FrontierFetched(ctx context.Context, url string) error {
	return r.p.Store.FrontierFetched(ctx, r.run.ID, url)
}

// Seen reports whether the run already recorded url as a file, so a
// resumed crawl does not download it again.
func (r *Run) Seen(ctx context.Context, url string) (bool, error) {
	return r.p.Store.HasCapture(ctx, r.run.ID, url, storage.CaptureFile)
}

// Record stores the evidence of it and matches what was fetched against the
// reference index — a file's bytes or digest, a page's content and the
// digest of its raw bytes (a reference may itself be an HTML page) — and
// records every hit. Recording the same item twice (a retried crawl) stores
// nothing new. It is safe for concurrent use.
func (r *Run) Record(ctx context.Context, it Item) (Result, error) {
	c := storage.Capture{
		RunID: r.run.ID, SourceID: r.run.SourceID, Kind: it.Kind, URL: it.URL, FinalURL: it.FinalURL,
		Host: it.Target, FetchedAt: it.FetchedAt, Status: it.Status, ContentType: it.ContentType,
		SniffedType: it.Digest.Sniffed, SHA256: it.Digest.SHA256, Size: it.Digest.Size, Truncated: it.Digest.Truncated,
	}
	if it.Err != nil {
		c.Error = it.Err.Error()
	}
	if it.Evidence != nil {
		b, err := json.Marshal(it.Evidence)
		if err != nil {
			return Result{}, fmt.Errorf("encode evidence of %s: %w", it.URL, err)
		}
		c.Evidence = string(b)
	}
	if hops := hopsOf(it); len(hops) > 0 {
		b, err := json.Marshal(hops)
		if err != nil {
			return Result{}, fmt.Errorf("encode redirects of %s: %w", it.URL, err)
		}
		c.Redirects = string(b)
	}
	var prev storage.URLState
	var known bool
	if it.Kind == storage.CaptureFile && it.Err == nil {
		var err error
		if prev, known, err = r.p.Store.URLState(ctx, r.run.SourceID, it.URL); err != nil {
			return Result{}, err
		}
	}
	if it.NotModified && known {
		// The server says the file is as it was: the capture is evidence
		// that it is still there, with the digest it had.
		c.SHA256, c.Size = prev.SHA256, prev.Size
	}
	if _, err := r.p.Store.SaveCapture(ctx, &c); err != nil {
		return Result{}, err
	}
	res := Result{CaptureID: c.ID}
	gen, err := r.generation(ctx)
	if err != nil {
		return res, err
	}
	if it.NotModified || (known && prev.SHA256 == it.Digest.SHA256 && prev.IndexGeneration == gen && !it.Digest.Truncated) {
		// Unchanged since it was matched against this same index: its
		// hits exist already, and matching again would only repeat them.
		// The new capture shows the exposure the earlier one found.
		if prev.CaptureID != 0 && prev.CaptureID != c.ID {
			if old, err := r.p.Store.CaptureByID(ctx, prev.CaptureID); err == nil && old.Refs > 0 {
				res.Refs, res.Patients = int(old.Refs), int(old.Patients)
				if err := r.p.Store.SetCaptureExposure(ctx, c.ID, res.Refs, res.Patients); err != nil {
					return res, err
				}
			}
		}
		// Checked now and found as it was: its TTL starts again.
		if known {
			if err := r.p.Store.TouchURLState(ctx, r.run.SourceID, it.URL, it.FetchedAt, res.Refs); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	// An item that failed has nothing to match, and neither has a page
	// whose content the source did not keep (an archive's directory is
	// matched even when its download was cut short).
	if len(it.Members) == 0 && (it.Err != nil || (it.Kind != storage.CaptureFile && it.Body == nil)) {
		return res, savePage(ctx, r.p.Store, r.run.SourceID, it, c.ID, 0, gen)
	}
	pd := pending{CaptureID: c.ID, RunID: r.run.ID, SourceID: r.run.SourceID, Host: c.Host, Known: known, PrevSHA256: prev.SHA256}
	if r.p.Scanner == nil {
		// No index in this process: a scan worker matches it (ScanSpooled).
		return res, r.p.spool(ctx, pd, it, r.watch != nil)
	}
	v, err := r.p.match(ctx, pd, it, r.watch)
	if err != nil {
		return res, err
	}
	out, err := r.p.save(ctx, r.p.Store, pd, it, v)
	r.p.observeHits(out)
	r.hits.Add(int64(out.NewHits))
	out.CaptureID = c.ID
	return out, err
}

// pending is a recorded capture still to be matched, and what Record knew
// of its URL before recording it.
type pending struct {
	CaptureID  uint64 `json:"capture_id"`
	RunID      uint64 `json:"run_id"`
	SourceID   uint64 `json:"source_id"`
	Host       string `json:"host"`
	Known      bool   `json:"known,omitempty"`       // the URL had a state before
	PrevSHA256 string `json:"prev_sha256,omitempty"` // the digest it had then
}

// verdict is what matching one capture found, before anything of it is
// written: matching may take long, and writing it must be quick (on
// SQLite the write holds the database's one write lock).
type verdict struct {
	gen     int64 // index generation matched against
	hits    []storage.Hit
	members int // an archive known from its directory: members matching (-1: not such an archive)
	keyword bool
	tot     references.Totals
}

// match matches one capture against the index: an archive's directory, a
// page's watch terms, and a file's bytes or digest, a page's content and
// the digest of its raw bytes (a reference may itself be an HTML page).
func (p *Pipeline) match(ctx context.Context, pd pending, it Item, watch *Watch) (verdict, error) {
	v := verdict{gen: p.Scanner.Generation(), members: -1}
	if len(it.Members) > 0 {
		found := p.Scanner.MatchMembers(it.Members)
		v.members = len(found)
		for _, mm := range found {
			for _, m := range mm.Matches {
				v.hits = append(v.hits, storage.Hit{CaptureID: pd.CaptureID, ReferenceID: m.RefKey, Method: m.Method, Score: m.Score, Target: pd.Host,
					Why: fmt.Sprintf("%d of %d members match the breach; %s", len(found), len(it.Members), m.Why)})
			}
		}
		return v, nil
	}
	if (it.Kind == storage.CapturePage || it.Kind == storage.CaptureMessage) && watch != nil {
		if text, err := pageText(ctx, it.Body); err != nil {
			// A page the extractor cannot read is still matched by the
			// fingerprint layers; it just has no keyword hit.
			p.log().DebugContext(ctx, "page text not extracted for watch terms", "capture", pd.CaptureID, "err", err)
		} else if terms := watch.Find(text); len(terms) > 0 {
			quoted := make([]string, len(terms))
			for i, t := range terms {
				quoted[i] = strconv.Quote(t)
			}
			v.keyword = true
			v.hits = append(v.hits, storage.Hit{CaptureID: pd.CaptureID, Method: MethodKeyword, Score: 1, Target: pd.Host,
				Why: "watch terms in the page's text: " + strings.Join(quoted, ", ")})
		}
	}
	record := func(ir references.ItemResult) error {
		v.tot.Add(ir)
		for _, m := range ir.Matches {
			why := m.Why
			if ir.Path != it.URL {
				// A member of an archive or e-mail: say where inside.
				why = strings.TrimPrefix(ir.Path, it.URL) + ": " + why
			}
			v.hits = append(v.hits, storage.Hit{CaptureID: pd.CaptureID, ReferenceID: m.RefKey, Method: m.Method, Score: m.Score, Why: why, Target: pd.Host})
		}
		return nil
	}
	var err error
	start := time.Now()
	switch {
	case it.Kind == storage.CapturePage:
		// A page's content is derived from its bytes; the bytes themselves
		// are matched by digest.
		err = p.Scanner.Scan(ctx, it.URL, it.Body, record)
		if err == nil && it.Digest.SHA256 != "" && !it.Digest.Truncated {
			err = p.Scanner.ScanDigest(ctx, it.URL, it.Digest, record)
		}
	case it.Body != nil:
		// A file's bytes, or a message's text (its digest is of the
		// evidence record, which no reference can be).
		err = p.Scanner.Scan(ctx, it.URL, it.Body, record)
	default:
		err = p.Scanner.ScanDigest(ctx, it.URL, it.Digest, record)
	}
	if p.Metrics != nil {
		p.Metrics.ObserveScan(string(it.Kind), len(it.Body), time.Since(start), err)
	}
	if err != nil {
		return v, fmt.Errorf("match capture %d: %w", pd.CaptureID, err)
	}
	return v, nil
}

// save records what matching found through st (the store, or a
// transaction of it): the hits (each once, however often saved), the
// capture's exposure, and the URL's state for the next runs.
func (p *Pipeline) save(ctx context.Context, st *storage.Store, pd pending, it Item, v verdict) (Result, error) {
	res := Result{CaptureID: pd.CaptureID}
	refs := map[uint64]bool{}
	for i := range v.hits {
		h := v.hits[i]
		refs[h.ReferenceID] = true
		created, err := st.AddHit(ctx, &h)
		if err != nil {
			return res, err
		}
		if created {
			res.NewHits++
			res.newMethods = append(res.newMethods, h.Method)
		}
	}
	if v.members >= 0 {
		res.Refs = len(refs)
		if v.members > 0 {
			if err := st.SetCaptureExposure(ctx, pd.CaptureID, res.Refs, 0); err != nil {
				return res, err
			}
			p.log().InfoContext(ctx, "archive directory matches the breach", "capture", pd.CaptureID, "host", pd.Host,
				"members", len(it.Members), "matching", v.members, "reference_files", res.Refs)
		}
		return res, nil
	}
	keyword := 0 // a watch-term hit: the page is checked every run, like a match
	if v.keyword {
		keyword = 1
	}
	res.Refs, res.Patients = v.tot.Refs(), v.tot.Patients()
	if it.Kind == storage.CaptureFile && it.Digest.SHA256 != "" && !it.Digest.Truncated {
		us := storage.URLState{SourceID: pd.SourceID, URL: it.URL, Kind: storage.CaptureFile,
			SHA256: it.Digest.SHA256, Size: it.Digest.Size, ETag: it.ETag, LastModified: it.LastModified,
			IndexGeneration: v.gen, CaptureID: pd.CaptureID, FetchedAt: it.FetchedAt, Refs: res.Refs,
			Changed: !pd.Known || pd.PrevSHA256 != it.Digest.SHA256}
		if err := st.SaveURLState(ctx, &us); err != nil {
			return res, err
		}
	}
	if err := savePage(ctx, st, pd.SourceID, it, pd.CaptureID, res.Refs+keyword, v.gen); err != nil {
		return res, err
	}
	if v.tot.Matched > 0 {
		if err := st.SetCaptureExposure(ctx, pd.CaptureID, res.Refs, res.Patients); err != nil {
			return res, err
		}
		// Ids and counts only: never names that may carry personal data.
		p.log().InfoContext(ctx, "capture matches the breach", "capture", pd.CaptureID, "host", pd.Host,
			"items", v.tot.Items, "reference_files", res.Refs, "patients", res.Patients)
	}
	return res, nil
}
