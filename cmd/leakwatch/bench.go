package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/crawlbench"
	"github.com/leakwatch/leakwatch/internal/references/refeval"
)

// runBench measures the fingerprint engine and the crawler: `bench refs`
// builds a synthetic index of a given size; `bench scan DIR` scans files
// against the index; `bench crawl` crawls a generated forum on loopback,
// beside wget.
func runBench(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch bench refs [--docs N] [--samples N] | bench scan DIR | " +
		"bench crawl [--pages N] [--attachments N] [--workers N] [--frontier N] [--no-wget] | " +
		"bench cases [--n N] [--items N] [--draft-delay D] [--data DIR] [--json]"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "refs":
		fset := flag.NewFlagSet("bench refs", flag.ContinueOnError)
		docs := fset.Int("docs", 10000, "synthetic documents to index (the breach had 428337)")
		samples := fset.Int("samples", 500, "documents whose match latency is measured")
		textKB := fset.Float64("text-kb", 0, "index plain-text letters of this mean size in KB, lognormal, and check recall on quoting forum posts (0: the synthetic mix of notes, PDFs, records and photos)")
		keep := fset.String("dir", "", "work directory to keep (default: a temporary one, removed)")
		profile := fset.String("cpuprofile", "", "write a CPU profile (pprof) of the warm match pass to this file")
		if _, err := e.parseFlags(fset, args[1:]); err != nil {
			return err
		}
		if *docs <= 0 || *samples < 0 || *textKB < 0 || math.IsNaN(*textKB) || math.IsInf(*textKB, 0) {
			return errors.New("bench refs: --docs must be positive, --samples and --text-kb not negative")
		}
		if _, err := e.loadConfig(false); err != nil {
			return err
		}
		dir := *keep
		if dir == "" {
			tmp, err := os.MkdirTemp("", "leakwatch-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		o := refeval.RefsOptions{Docs: *docs, Samples: *samples, TextKB: *textKB, Match: e.matchOptions(), Log: e.stderr}
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				return err
			}
			defer f.Close()
			o.Profile = f
		}
		b, err := refeval.BenchRefs(ctx, dir, o)
		if err != nil {
			return err
		}
		printRefsBench(e, b)
		return nil
	case "scan":
		pos, err := e.parseFlags(flag.NewFlagSet("bench scan", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		key, err := e.fingerprintKey()
		if err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		b, err := refeval.BenchScan(ctx, store, key, pos[0], e.matchOptions())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d files, %.1f MB\n", b.Files, float64(b.Bytes)/1e6)
		fmt.Fprintf(e.stdout, "raw SHA-256           %8.1f MB/s (one core)\n", b.RawSHA256)
		fmt.Fprintf(e.stdout, "exact-only scanning   %8.1f MB/s (one core) = %.0f%% of raw SHA-256\n", b.ExactOnly, 100*b.ExactOnly/b.RawSHA256)
		fmt.Fprintf(e.stdout, "full pipeline         %8.1f MB/s, %.0f files/s (%d workers); %d files matched\n", b.FullMBps, b.FullFilesPS, b.Workers, b.Matched)
		return nil
	case "crawl":
		return benchCrawl(ctx, e, args[1:])
	case "cases":
		return benchCases(ctx, e, args[1:])
	}
	return errors.New(use)
}

// benchCrawl serves a generated forum on loopback, crawls it and, with
// wget installed, mirrors it with wget at the same per-host concurrency.
func benchCrawl(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("bench crawl", flag.ContinueOnError)
	pages := fset.Int("pages", crawlbench.DefaultPages, "thread pages of the generated forum (board pages come on top)")
	atts := fset.Int("attachments", crawlbench.DefaultAttachments, "synthetic attachments, 20-300 KB each")
	workers := fset.Int("workers", crawlbench.DefaultWorkers, "crawler workers (concurrent fetches on the host)")
	frontier := fset.Int("frontier", 0, "also crawl a site whose frontier holds N URLs and report its peak RSS (0: skip)")
	budget := fset.Duration("frontier-budget", crawlbench.DefaultFrontierBudget, "time limit of the frontier crawl")
	noWget := fset.Bool("no-wget", false, "skip the comparison with wget --mirror")
	live := fset.Bool("live-render", false, "render every page per request with the site's templates instead of serving them pre-rendered")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("bench crawl takes no arguments (got %q)", pos[0])
	}
	if *pages <= 0 || *atts < 0 || *workers <= 0 || *frontier < 0 {
		return errors.New("bench crawl: --pages and --workers must be positive, --attachments and --frontier not negative")
	}
	n := *atts
	if n == 0 {
		n = -1 // crawlbench: none
	}
	r, err := crawlbench.Run(ctx, crawlbench.Options{
		Pages: *pages, Attachments: n, Workers: *workers, Wget: !*noWget,
		Frontier: *frontier, FrontierBudget: *budget, LiveRender: *live, Progress: e.stderr,
	})
	if err != nil {
		return err
	}
	s := r.Site
	fmt.Fprintf(e.stdout, "forum      %d pages (%d thread, %d board, %d other), %d attachments (%.1f MB), built in %s\n",
		s.Pages, s.ThreadPages, s.BoardPages, s.Pages-s.ThreadPages-s.BoardPages, s.Attachments,
		float64(s.AttachmentBytes)/1e6, s.BuildTime.Round(time.Millisecond))
	served := "pages rendered per request by the site's templates"
	if s.Prerendered {
		served = fmt.Sprintf("pages pre-rendered in %s and served as stored bytes (--live-render: per request)", s.PrerenderTime.Round(time.Millisecond))
	}
	fmt.Fprintf(e.stdout, "           served on %s, in this process: RSS %s with the site; %s\n\n", s.URL, benchMB(s.RSS), served)
	const row = "%-28s %7s %8s %6s %8s %7s %6s %9s %6s %9s %12s %10s %12s\n"
	fmt.Fprintf(e.stdout, row, "", "pages", "pages/s", "files", "files/s", "MB", "MB/s", "elapsed", "CPU", "peak RSS", "crawl's RSS", "live heap", "attachments")
	for _, c := range r.Crawls {
		name := fmt.Sprintf("leakwatch, %d workers", c.Workers)
		own, live := "+"+benchMB(c.RSSIncrease()), "+"+benchMB(c.LiveHeapIncrease)
		switch {
		case c.Tool == "wget":
			name, own, live = "wget --mirror, 1 connection", "own process", ""
		case c.Workers == 1:
			name = "leakwatch, 1 worker"
		}
		fmt.Fprintf(e.stdout, row, name, fmt.Sprint(c.Pages), fmt.Sprintf("%.0f", c.PagesPerSec()),
			fmt.Sprint(c.Files), fmt.Sprintf("%.1f", c.FilesPerSec()), fmt.Sprintf("%.1f", float64(c.Bytes)/1e6),
			fmt.Sprintf("%.1f", c.MBPerSec()), c.Elapsed.Round(10*time.Millisecond).String(),
			fmt.Sprintf("%.0f%%", 100*c.CPU.Seconds()/max(c.Elapsed.Seconds(), 1e-9)), benchMB(c.PeakRSS), own, live,
			fmt.Sprintf("%d/%d", c.AttachmentsFound, c.AttachmentsWant))
	}
	for _, l := range []string{
		fmt.Sprintf("CPU: processor time per second of the crawl, the server's included, on %d CPUs; load average %.2f before the crawls, %.2f after.", r.CPUs, r.LoadBefore, r.LoadAfter),
		"peak RSS: the whole process (leakwatch: the site's server and attachments too; wget: its own); crawl's RSS: the",
		"peak over the RSS before the crawl; live heap: the most the crawl added to the live Go heap. RSS also counts the",
		"garbage the GC lets pile up in proportion to the live heap, here mostly the site's attachments.",
	} {
		fmt.Fprintf(e.stdout, "           %s\n", l)
	}
	fmt.Fprintln(e.stdout)
	for _, c := range r.Crawls {
		switch {
		case c.Tool == "wget":
			fmt.Fprintf(e.stdout, "wget       --mirror --adjust-extension --no-parent -e robots=off: %d files written, exit status %d\n",
				c.FilesWritten, c.ExitStatus)
			if c.Failed > 0 || len(c.Missing) > 0 {
				fmt.Fprintf(e.stdout, "warning    wget: %d error answers; attachments missing, e.g. %v\n", c.Failed, c.Missing)
			}
		case c.Failed > 0 || len(c.Missing) > 0 || c.Stopped != webcrawl.StopDone:
			fmt.Fprintf(e.stdout, "warning    leakwatch at %d: %d failed fetches, stopped: %s; attachments missing, e.g. %v\n",
				c.Workers, c.Failed, c.Stopped, c.Missing)
		}
		if c.PeakIsLifetime {
			fmt.Fprintf(e.stdout, "note       %s at %d: the kernel would not reset the peak RSS; it includes building the site\n", c.Tool, c.Workers)
		}
	}
	if r.WgetSkipped != "" {
		fmt.Fprintf(e.stdout, "wget       skipped: %s\n", r.WgetSkipped)
	}
	one, ok1 := r.Leakwatch(1)
	w, okw := r.Wget()
	if ok1 && okw && w.PagesPerSec() > 0 {
		ratio := one.PagesPerSec() / w.PagesPerSec()
		fmt.Fprintf(e.stdout, "vs wget    leakwatch at 1 worker: %.2fx wget's pages/s (target >= 2x: %s); MB/s %.2fx\n",
			ratio, benchMet(ratio >= 2), one.MBPerSec()/max(w.MBPerSec(), 1e-9))
	}
	if f := r.Frontier; f != nil {
		fmt.Fprintf(e.stdout, "frontier   %d URLs linked from %d list pages, up to %d queued at once; %d pages in %s (%.0f pages/s, %d workers, CPU %.0f%%), stopped: %s\n",
			f.URLs, f.ListPages, f.PeakQueued, f.Pages, f.Elapsed.Round(10*time.Millisecond), f.PagesPerSec(), f.Workers,
			100*f.CPU.Seconds()/max(f.Elapsed.Seconds(), 1e-9), f.Stopped)
		fmt.Fprintf(e.stdout, "           peak RSS %s (%s before the crawl, +%s; live heap +%s) (target <= 200 MB: %s)\n",
			benchMB(f.PeakRSS), benchMB(f.BaselineRSS), benchMB(f.RSSIncrease()), benchMB(f.LiveHeapIncrease), benchMet(f.PeakRSS <= 200e6))
	}
	return nil
}

// printRefsBench prints `bench refs` figures.
func printRefsBench(e *env, b refeval.RefsBench) {
	w := e.stdout
	docs := fmt.Sprintf("%d", b.Docs)
	if b.TextKB > 0 {
		docs = fmt.Sprintf("%d plain-text letters, %.1f MB (%.2f KB mean, lognormal around --text-kb %g)",
			b.Docs, float64(b.TextBytes)/1e6, float64(b.TextBytes)/1e3/float64(max(1, b.Docs)), b.TextKB)
	}
	fmt.Fprintf(w, "documents      %s (generated in %s)\n", docs, b.GenerateTime.Round(time.Millisecond))
	secs := b.BuildTime.Seconds()
	fmt.Fprintf(w, "index build    %s = %.0f docs/s, %.0f µs per doc (refs add; CPU user %s, system %s = %.0f%% of %d CPUs; load average %.2f before, %.2f after)\n",
		b.BuildTime.Round(time.Millisecond), float64(b.Docs)/max(secs, 1e-9), 1e6*secs/float64(max(1, b.Docs)),
		b.BuildUser.Round(time.Millisecond), b.BuildSys.Round(time.Millisecond),
		100*(b.BuildUser+b.BuildSys).Seconds()/max(secs, 1e-9)/float64(runtime.NumCPU()), runtime.NumCPU(), b.LoadAvg[0], b.LoadAvg[1])
	peak := "during the build"
	if b.PeakLifetime {
		peak = "whole process: the kernel would not reset the peak, it includes generating"
	}
	fmt.Fprintf(w, "peak RSS       %.0f MB (%s)\n", float64(b.PeakRSS)/1e6, peak)
	fmt.Fprintf(w, "index on disk  %.1f MB: database %.1f MB, %d segment files %.1f MB (%d references, %d text prints, %d image, %d field fingerprints)\n",
		float64(b.IndexBytes+b.SegmentBytes)/1e6, float64(b.IndexBytes)/1e6, b.Index.Segments, float64(b.SegmentBytes)/1e6,
		b.Index.References, b.Index.Prints, b.Index.Images, b.Index.Fields)
	fmt.Fprintf(w, "index load     %s (into memory, as a scanner does at start; matching starts then); segments' mapping populated %s later, in the background\n",
		b.LoadTime.Round(time.Millisecond), b.PopulateTime.Round(time.Millisecond))
	fmt.Fprintf(w, "process RSS    anonymous %s before load, %s after, %s after the first matches, %s once a GC returned the garbage;\n",
		benchMB(b.BaseAnon), benchMB(b.LoadAnon), benchMB(b.WarmAnon), benchMB(b.SettledAnon))
	fmt.Fprintf(w, "               file-backed %s, %s, %s, %s; peak RSS during the load %s; live Go heap %s before load, %s after\n",
		benchMB(b.BaseFile), benchMB(b.LoadFile), benchMB(b.WarmFile), benchMB(b.SettledFile), benchMB(b.LoadPeakRSS),
		benchMB(b.BaseHeap), benchMB(b.LoadHeap))
	fmt.Fprintf(w, "               (file-backed pages of the mapped segments are the shared page cache, one copy per host; anonymous is\n")
	fmt.Fprintf(w, "               this process's own, and before load it holds what generating and building left behind)\n")
	fmt.Fprintf(w, "match latency  p50 %s  p99 %s (matcher only, %d samples, warm)\n", b.MatchP50, b.MatchP99, b.Samples)
	if b.Busy > 0 {
		fmt.Fprintf(w, "steady         p50 %s  p99 %s (matcher only, %d other samples after %d other matches; %d found their reference)\n",
			b.SteadyMatchP50, b.SteadyMatchP99, b.Samples, b.Busy, b.SteadyMatched)
	}
	fmt.Fprintf(w, "scan latency   p50 %s  p99 %s (extract + fingerprint + match, warm)\n", b.ScanP50, b.ScanP99)
	fmt.Fprintf(w, "self-matches   %d of %d samples found their own reference\n", b.MatchedSample, b.Samples)
	fmt.Fprintf(w, "cold           segment files %.1f MB in the page cache after the warm pass, %.1f MB after eviction; load %s\n",
		float64(b.WarmResident)/1e6, float64(b.ColdResident)/1e6, b.ColdLoadTime.Round(time.Millisecond))
	fmt.Fprintf(w, "cold latency   match p50 %s  p99 %s, scan p50 %s  p99 %s (segments evicted before every sample; %d of %d self-matches)\n",
		b.ColdMatchP50, b.ColdMatchP99, b.ColdScanP50, b.ColdScanP99, b.ColdMatched, b.Samples)
	if b.TextKB > 0 {
		fmt.Fprintf(w, "recall         %d of %d forum posts quoting a 300-character passage of a random reference matched it by winnowing",
			b.QuotesFound, b.Quotes)
		if b.QuotesOther > 0 {
			fmt.Fprintf(w, " (%d more by another method only)", b.QuotesOther)
		}
		fmt.Fprintf(w, "; %d matched another reference; match latency p50 %s p99 %s\n", b.QuotesWrong, b.QuoteMatchP50, b.QuoteMatchP99)
		fmt.Fprintf(w, "precision      %d of %d fresh letters matched something\n", b.FreshMatched, b.Fresh)
		for _, ex := range b.WrongExamples {
			fmt.Fprintf(w, "  e.g.         %s\n", ex)
		}
	}
}

func benchMB(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

func benchMet(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
