package capture

import (
	"context"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/storage"
)

// WebSink hands the web crawler's fetches to a run of the pipeline. It is
// the crawler's Sink, and remembers what the crawler asks it to
// (webcrawl.Revisits, webcrawl.Frontier) in the run's database.
type WebSink struct {
	Run *Run
	// TTL is how long an unchanged URL is left alone (zero: fetched
	// every run).
	TTL RevisitTTL
}

var (
	_ webcrawl.Sink      = WebSink{}
	_ webcrawl.Revisits  = WebSink{}
	_ webcrawl.Frontier  = WebSink{}
	_ webcrawl.HostSpend = WebSink{}
)

// Captured implements webcrawl.Sink.
func (s WebSink) Captured(ctx context.Context, url string) (bool, error) { return s.Run.Seen(ctx, url) }

// Capture implements webcrawl.Sink.
func (s WebSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	_, err := s.Run.Record(ctx, Item{
		Kind: f.Kind, URL: f.URL, FinalURL: f.FinalURL, Target: f.Host, FetchedAt: f.FetchedAt,
		Status: f.Status, ContentType: f.ContentType, Digest: f.Digest, Body: f.Body, Err: f.Err,
		Redirects: f.Redirects, RedirectEvidence: f.RedirectEvidence, Evidence: f.Evidence, NotModified: f.NotModified,
		ETag: f.Validators.ETag, LastModified: f.Validators.LastModified, Members: Members(f.Members), Links: f.Links,
	})
	return err
}

// Revisit implements webcrawl.Revisits.
func (s WebSink) Revisit(ctx context.Context, url string) (webcrawl.Revisit, error) {
	r, err := s.Run.Revisit(ctx, url, s.TTL, time.Now())
	return webcrawl.Revisit{Validators: webcrawl.Validators{ETag: r.ETag, LastModified: r.LastModified},
		Fresh: r.Fresh, Links: r.Links}, err
}

// HostFetches implements webcrawl.HostSpend: every source's fetches count.
func (s WebSink) HostFetches(ctx context.Context, host string, since time.Time) (int, error) {
	return s.Run.p.Store.HostFetches(ctx, host, since)
}

// Restore implements webcrawl.Frontier.
func (s WebSink) Restore(ctx context.Context) ([]webcrawl.FrontierURL, []string, error) {
	todo, seen, err := s.Run.RestoreFrontier(ctx)
	out := make([]webcrawl.FrontierURL, len(todo))
	for i, t := range todo {
		out[i] = webcrawl.FrontierURL{URL: t.URL, Depth: t.Depth}
	}
	return out, seen, err
}

// Queue implements webcrawl.Frontier.
func (s WebSink) Queue(ctx context.Context, urls []webcrawl.FrontierURL) error {
	rows := make([]storage.FrontierURL, len(urls))
	for i, u := range urls {
		rows[i] = storage.FrontierURL{URL: u.URL, Depth: u.Depth}
	}
	return s.Run.QueueFrontier(ctx, rows)
}

// Fetched implements webcrawl.Frontier.
func (s WebSink) Fetched(ctx context.Context, url string) error {
	return s.Run.FrontierFetched(ctx, url)
}

// Members converts an archive's directory as the crawler read it.
func Members(ms []webcrawl.Member) []references.Member {
	if len(ms) == 0 {
		return nil
	}
	out := make([]references.Member, len(ms))
	for i, m := range ms {
		out[i] = references.Member{Name: m.Name, CRC32: m.CRC32, Size: m.Size}
	}
	return out
}
