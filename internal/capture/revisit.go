package capture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// RevisitTTL says how long a URL that did not change when last fetched is
// left alone. Listings and the last pages of live threads change between
// runs, so they are fetched every run; old thread pages and files do not,
// so they are fetched once per TTL. Zero fetches every run.
type RevisitTTL struct {
	Pages time.Duration
	Files time.Duration
}

// Revisit is what earlier runs of the source learnt of a URL.
type Revisit struct {
	// ETag and LastModified ask for a file only if it changed.
	ETag, LastModified string
	// Fresh: not worth fetching now; Links are followed in its place.
	Fresh bool
	Links []string
}

// Revisit says whether url needs fetching this run. Never fresh: a URL
// never fetched, one matched against an older reference index (it must be
// matched again), one that matched the breach (its exposure is checked
// every run, for the case), one that changed on its last fetch, and one
// last fetched longer ago than its TTL.
func (r *Run) Revisit(ctx context.Context, url string, ttl RevisitTTL, now time.Time) (Revisit, error) {
	gen, err := r.generation(ctx)
	if err != nil {
		return Revisit{}, err
	}
	st, ok, err := r.p.Store.URLState(ctx, r.run.SourceID, url)
	if err != nil || !ok || st.IndexGeneration != gen || st.SHA256 == "" {
		return Revisit{}, err
	}
	var out Revisit
	if st.Kind == storage.CaptureFile {
		out.ETag, out.LastModified = st.ETag, st.LastModified
	}
	d := ttl.Files
	if st.Kind == storage.CapturePage {
		d = ttl.Pages
	}
	if d <= 0 || st.Changed || st.Refs > 0 || now.Sub(st.FetchedAt) >= d {
		return out, nil
	}
	if st.Links != "" {
		if err := json.Unmarshal([]byte(st.Links), &out.Links); err != nil {
			// Then it is fetched, which rewrites it.
			r.p.log().WarnContext(ctx, "url state links unreadable", "source", r.run.SourceID, "err", err)
			return out, nil
		}
	}
	out.Fresh = true
	return out, nil
}

// savePage records what this fetch learnt of a page, for the next run's
// Revisit: the digest of its content and structural links (a page's raw
// bytes change with every counter and timestamp on it), whether that
// changed, and how many references it matched (hits: refs > 0), through
// st (the store or a transaction of it), as matched against index
// generation gen.
func savePage(ctx context.Context, st *storage.Store, sourceID uint64, it Item, captureID uint64, refs int, gen int64) error {
	if it.Kind != storage.CapturePage || it.Err != nil || it.Digest.Truncated || it.Digest.SHA256 == "" {
		return nil
	}
	h := sha256.New()
	if it.Body != nil {
		h.Write(it.Body)
	} else {
		h.Write([]byte(it.Digest.SHA256)) // a page whose content the source does not keep
	}
	links := slices.Clone(it.Links)
	slices.Sort(links)
	for _, l := range links {
		h.Write([]byte{0})
		h.Write([]byte(l))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	prev, known, err := st.URLState(ctx, sourceID, it.URL)
	if err != nil {
		return err
	}
	lj := ""
	if len(links) > 0 {
		b, err := json.Marshal(links)
		if err != nil {
			return fmt.Errorf("encode links of %s: %w", it.URL, err)
		}
		lj = string(b)
	}
	us := storage.URLState{SourceID: sourceID, URL: it.URL, Kind: storage.CapturePage,
		SHA256: it.Digest.SHA256, Size: it.Digest.Size, IndexGeneration: gen, CaptureID: captureID,
		FetchedAt: it.FetchedAt, ContentSHA256: sum, Links: lj, Refs: refs,
		Changed: !known || prev.Kind != storage.CapturePage || prev.ContentSHA256 != sum}
	return st.SaveURLState(ctx, &us)
}
