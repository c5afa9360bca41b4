package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

const crawlUsage = "usage: leakwatch crawl SOURCE | crawl --url URL [--kind K] [--json]"

// runCrawl crawls one source now, in this process, and hands any hits to
// their cases if leakwatch is running; otherwise `up` delivers them later.
// With --url it crawls a URL ad hoc: nothing is stored, and what matched is
// printed.
func runCrawl(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("crawl", flag.ContinueOnError)
	adhoc := fset.String("url", "", "crawl this URL without saving a source; print what matched")
	asJSON := fset.Bool("json", false, "with --url: one JSON object per captured item and line")
	kind := fset.String("kind", string(storage.SourceGeneric), "with --url: the site's layout (forum, leakblog, paste, opendir, filehost, generic)")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	switch {
	case *adhoc != "" && len(pos) == 0:
		return crawlURL(ctx, e, *adhoc, storage.SourceKind(*kind), *asJSON)
	case *adhoc != "" || len(pos) != 1 || *asJSON:
		return errors.New(crawlUsage)
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	src, err := store.SourceByName(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("crawl: %w", err)
	}
	acts, err := e.crawlActivities(ctx)
	if err != nil {
		return err
	}
	acts.Force = true // asked for now: crawl even a source backed off as unreachable
	runID, err := acts.StartCrawlRun(ctx, src.ID)
	if err != nil {
		return err
	}
	res, err := acts.CrawlRun(ctx, workflows.CrawlRunRequest{SourceID: src.ID, RunID: runID})
	fmt.Fprintf(e.stdout, "crawl %s (run %d): %d pages, %d files, %d failed fetches, %d hits (%s)\n",
		src.Name, res.RunID, res.Pages, res.Files, res.Failed, res.Hits, res.Stopped)
	if err != nil {
		return err
	}
	c, err := dialTemporal(ctx, e, "")
	if err != nil {
		fmt.Fprintf(e.stdout, "hits are queued; they open cases when leakwatch up runs (%v)\n", err)
		return nil
	}
	defer c.Close()
	n, err := e.dispatcher(c).DispatchHits(ctx)
	if err != nil {
		return fmt.Errorf("crawl: deliver hits to cases: %w (they stay queued)", err)
	}
	fmt.Fprintf(e.stdout, "%d hits delivered to cases\n", n)
	return nil
}

// crawlURL crawls rawURL with the configured limits and matches every
// capture against the reference index, storing nothing.
func crawlURL(ctx context.Context, e *env, rawURL string, kind storage.SourceKind, asJSON bool) error {
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	sc, err := e.scanner(ctx)
	if err != nil {
		return err
	}
	opts := e.crawlerOptions()
	opts.Logger, opts.Kind = e.log, kind
	cr, err := webcrawl.New(opts)
	if err != nil {
		return err
	}
	defer cr.Close()
	sink := &printSink{sc: sc, w: e.stdout, json: asJSON}
	st, err := cr.Crawl(ctx, rawURL, sink)
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(e.stdout, "%d pages, %d files, %d failed fetches (%s): %d items matched, %d reference files / %d patients exposed\n",
			st.Pages, st.Files, st.Failed, st.Stopped, sink.tot.Matched, sink.tot.Refs(), sink.tot.Patients())
	}
	return nil
}

// crawlLine is one line of `crawl --url --json`: the `scan --json` object of
// a captured item (path is the URL; an archive's members are URL!/member),
// with the fetch's status and kind.
type crawlLine struct {
	references.ItemResult
	Status int                 `json:"status"`
	Kind   storage.CaptureKind `json:"kind"`
}

// printSink matches each capture and prints it; the crawler calls it from
// several goroutines.
type printSink struct {
	sc   *references.Scanner
	w    io.Writer
	json bool

	mu  sync.Mutex
	tot references.Totals
}

func (s *printSink) Captured(context.Context, string) (bool, error) { return false, nil }

func (s *printSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	var items []references.ItemResult
	collect := func(r references.ItemResult) error {
		items = append(items, r)
		return nil
	}
	var err error
	switch {
	case len(f.Members) > 0:
		// An archive too big to download, known from its directory.
		r := references.ItemResult{Path: f.URL, Error: f.Err.Error()}
		refs := map[string]bool{}
		for _, mm := range s.sc.MatchMembers(capture.Members(f.Members)) {
			for _, m := range mm.Matches {
				r.Matches = append(r.Matches, m)
				refs[m.RefID] = true
			}
		}
		r.Refs = len(refs)
		items = append(items, r)
	case f.Err != nil:
		items = append(items, references.ItemResult{Path: f.URL, SHA256: f.Digest.SHA256, Error: f.Err.Error()})
	case f.Kind == storage.CapturePage:
		// The page's content is matched; its raw bytes by digest.
		if f.Body != nil {
			err = s.sc.Scan(ctx, f.URL, f.Body, collect)
		}
		var byDigest []references.ItemResult
		if err == nil && !f.Digest.Truncated {
			err = s.sc.ScanDigest(ctx, f.URL, f.Digest, func(r references.ItemResult) error {
				byDigest = append(byDigest, r)
				return nil
			})
		}
		items = mergePage(items, byDigest, f)
	case f.Body != nil:
		err = s.sc.Scan(ctx, f.URL, f.Body, collect)
	default:
		err = s.sc.ScanDigest(ctx, f.URL, f.Digest, collect)
	}
	if err != nil {
		return fmt.Errorf("match %s: %w", f.URL, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range items {
		if r.Matches == nil {
			r.Matches = []fingerprints.Match{}
		}
		s.tot.Add(r)
		if s.json {
			b, err := json.Marshal(crawlLine{ItemResult: r, Status: f.Status, Kind: f.Kind})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(s.w, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		switch {
		case r.Error != "":
			fmt.Fprintf(s.w, "%s (%s %d): error: %s\n", r.Path, f.Kind, f.Status, r.Error)
		case len(r.Matches) > 0:
			fmt.Fprintf(s.w, "%s (%s %d): %d reference files / %d patients\n", r.Path, f.Kind, f.Status, r.Refs, r.Patients)
			for _, m := range r.Matches {
				fmt.Fprintf(s.w, "    %s %-11s score %.2f  %s  (%s)\n", m.RefID, m.Method, m.Score, m.RefName, m.Why)
			}
		}
	}
	return nil
}

// mergePage makes one line of a page: its content's matches and its raw
// bytes' digest matches, under the raw bytes' SHA-256 (the evidence).
func mergePage(content, byDigest []references.ItemResult, f webcrawl.Fetch) []references.ItemResult {
	top := references.ItemResult{Path: f.URL, Type: "html"}
	if len(content) > 0 {
		top, content = content[0], content[1:]
	}
	top.SHA256 = f.Digest.SHA256
	for _, d := range byDigest {
		for _, m := range d.Matches {
			if !slices.ContainsFunc(top.Matches, func(x fingerprints.Match) bool { return x.RefID == m.RefID && x.Method == m.Method }) {
				top.Matches = append(top.Matches, m)
			}
		}
		top.Refs, top.Patients = max(top.Refs, d.Refs), max(top.Patients, d.Patients)
	}
	return append([]references.ItemResult{top}, content...)
}
