// Package capture is the one path from "a source fetched something" to
// evidence and hits. Every kind of source (web crawls today, Telegram
// channels next) hands what it fetched to a Pipeline, which records the
// capture as evidence, matches its content against the reference index and
// records the hits and how much of the breach the item exposes. Content is
// matched in memory and dropped; only digests and fingerprint matches are
// stored.
package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
type Pipeline struct {
	Store   *storage.Store
	Scanner *references.Scanner
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

// addHit records a hit, counting it when it is new.
func (p *Pipeline) addHit(ctx context.Context, h *storage.Hit) (bool, error) {
	created, err := p.Store.AddHit(ctx, h)
	if created && p.Metrics != nil {
		p.Metrics.ObserveHit(h.Method)
	}
	return created, err
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
}

// Run records the items of one crawl run.
type Run struct {
	p     *Pipeline
	run   storage.CrawlRun
	watch *Watch
	hits  atomic.Int64 // sources record items from several goroutines
}

// WithWatch makes the run look for the source's watch terms in its pages;
// nil watches nothing.
func (r *Run) WithWatch(w *Watch) *Run {
	r.watch = w
	return r
}

// ForRun returns the recorder of one crawl run's items.
func (p *Pipeline) ForRun(run storage.CrawlRun) (*Run, error) {
	if p.Scanner == nil {
		return nil, ErrNoScanner
	}
	return &Run{p: p, run: run}, nil
}

func (p *Pipeline) log() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Hits is the number of hits this run has recorded so far.
func (r *Run) Hits() int { return int(r.hits.Load()) }

// members records the hits of an archive known from its directory only:
// each member whose CRC-32 and size are a reference's, and how many of the
// archive's members match the breach.
func (r *Run) members(ctx context.Context, c storage.Capture, it Item, res Result) (Result, error) {
	found := r.p.Scanner.MatchMembers(it.Members)
	refs := map[uint64]bool{}
	for _, mm := range found {
		for _, m := range mm.Matches {
			refs[m.RefKey] = true
			h := storage.Hit{CaptureID: c.ID, ReferenceID: m.RefKey, Method: m.Method, Score: m.Score, Target: c.Host,
				Why: fmt.Sprintf("%d of %d members match the breach; %s", len(found), len(it.Members), m.Why)}
			created, err := r.p.addHit(ctx, &h)
			if err != nil {
				return res, err
			}
			if created {
				res.NewHits++
			}
		}
	}
	r.hits.Add(int64(res.NewHits))
	res.Refs = len(refs)
	if len(found) > 0 {
		if err := r.p.Store.SetCaptureExposure(ctx, c.ID, res.Refs, 0); err != nil {
			return res, err
		}
		r.p.log().InfoContext(ctx, "archive directory matches the breach", "capture", c.ID, "host", c.Host,
			"members", len(it.Members), "matching", len(found), "reference_files", res.Refs)
	}
	return res, nil
}

// keywords records one keyword hit for a page whose text holds watch terms.
func (r *Run) keywords(ctx context.Context, c storage.Capture, body []byte) (newHits int, found bool, err error) {
	text, err := pageText(ctx, body)
	if err != nil {
		// A page the extractor cannot read is still matched by the
		// fingerprint layers; it just has no keyword hit.
		r.p.log().DebugContext(ctx, "page text not extracted for watch terms", "capture", c.ID, "err", err)
		return 0, false, nil
	}
	terms := r.watch.Find(text)
	if len(terms) == 0 {
		return 0, false, nil
	}
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = strconv.Quote(t)
	}
	h := storage.Hit{CaptureID: c.ID, Method: MethodKeyword, Score: 1, Target: c.Host,
		Why: "watch terms in the page's text: " + strings.Join(quoted, ", ")}
	created, err := r.p.addHit(ctx, &h)
	if err != nil || !created {
		return 0, err == nil, err
	}
	return 1, true, nil
}

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
	gen := r.p.Scanner.Generation()
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
	if len(it.Members) > 0 {
		return r.members(ctx, c, it, res)
	}
	// An item that failed has nothing to match, and neither has a page
	// whose content the source did not keep.
	if it.Err != nil || (it.Kind != storage.CaptureFile && it.Body == nil) {
		return res, r.savePage(ctx, it, c.ID, 0)
	}
	keyword := 0 // a watch-term hit: the page is checked every run, like a match
	if (it.Kind == storage.CapturePage || it.Kind == storage.CaptureMessage) && r.watch != nil {
		n, found, err := r.keywords(ctx, c, it.Body)
		if err != nil {
			return res, err
		}
		res.NewHits += n
		if found {
			keyword = 1
		}
	}
	var tot references.Totals
	record := func(ir references.ItemResult) error {
		tot.Add(ir)
		for _, m := range ir.Matches {
			why := m.Why
			if ir.Path != it.URL {
				// A member of an archive or e-mail: say where inside.
				why = strings.TrimPrefix(ir.Path, it.URL) + ": " + why
			}
			h := storage.Hit{CaptureID: c.ID, ReferenceID: m.RefKey, Method: m.Method, Score: m.Score, Why: why, Target: c.Host}
			created, err := r.p.addHit(ctx, &h)
			if err != nil {
				return err
			}
			if created {
				res.NewHits++
			}
		}
		return nil
	}
	var err error
	start := time.Now()
	switch {
	case it.Kind == storage.CapturePage:
		// A page's content is derived from its bytes; the bytes themselves
		// are matched by digest.
		err = r.p.Scanner.Scan(ctx, it.URL, it.Body, record)
		if err == nil && it.Digest.SHA256 != "" && !it.Digest.Truncated {
			err = r.p.Scanner.ScanDigest(ctx, it.URL, it.Digest, record)
		}
	case it.Body != nil:
		// A file's bytes, or a message's text (its digest is of the
		// evidence record, which no reference can be).
		err = r.p.Scanner.Scan(ctx, it.URL, it.Body, record)
	default:
		err = r.p.Scanner.ScanDigest(ctx, it.URL, it.Digest, record)
	}
	if r.p.Metrics != nil {
		r.p.Metrics.ObserveScan(string(it.Kind), len(it.Body), time.Since(start), err)
	}
	r.hits.Add(int64(res.NewHits))
	if err != nil {
		return res, fmt.Errorf("match capture %d: %w", c.ID, err)
	}
	res.Refs, res.Patients = tot.Refs(), tot.Patients()
	if it.Kind == storage.CaptureFile && it.Digest.SHA256 != "" && !it.Digest.Truncated {
		st := storage.URLState{SourceID: r.run.SourceID, URL: it.URL, Kind: storage.CaptureFile,
			SHA256: it.Digest.SHA256, Size: it.Digest.Size, ETag: it.ETag, LastModified: it.LastModified,
			IndexGeneration: gen, CaptureID: c.ID, FetchedAt: it.FetchedAt, Refs: res.Refs,
			Changed: !known || prev.SHA256 != it.Digest.SHA256}
		if err := r.p.Store.SaveURLState(ctx, &st); err != nil {
			return res, err
		}
	}
	if err := r.savePage(ctx, it, c.ID, res.Refs+keyword); err != nil {
		return res, err
	}
	if tot.Matched > 0 {
		if err := r.p.Store.SetCaptureExposure(ctx, c.ID, res.Refs, res.Patients); err != nil {
			return res, err
		}
		// Ids and counts only: never names that may carry personal data.
		r.p.log().InfoContext(ctx, "capture matches the breach", "capture", c.ID, "host", c.Host,
			"items", tot.Items, "reference_files", res.Refs, "patients", res.Patients)
	}
	return res, nil
}
