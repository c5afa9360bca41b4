package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/sealbox"
	"github.com/leakwatch/leakwatch/storage"
)

// spoolLabel derives the key that seals spooled content from the
// fingerprint key, which crawl and scan workers both hold: like it, the
// seal key never enters the database, so a copy of the database does not
// give away what was fetched.
const spoolLabel = "scan-spool"

// SpoolSealer seals and opens spooled captures (sealbox, the capture id
// and part as associated data so a sealed body cannot be moved to another
// row).
type SpoolSealer struct {
	box *sealbox.Box
}

// NewSpoolSealer derives the spool key from the fingerprint key.
func NewSpoolSealer(k *fingerprints.Key) *SpoolSealer {
	return &SpoolSealer{box: sealbox.New(k.Derive(spoolLabel))}
}

// ErrSpoolKey means spooled content does not open with this key: the
// fingerprint key differs from the crawl worker's, or the row was altered.
var ErrSpoolKey = errors.New("spooled capture does not open with this fingerprint key (the crawl worker's key differs?)")

func spoolAD(captureID uint64, part string) []byte {
	return fmt.Appendf(nil, "leakwatch/spool/%d/%s", captureID, part)
}

func (s *SpoolSealer) seal(captureID uint64, part string, plain []byte) ([]byte, error) {
	return s.box.Seal(plain, spoolAD(captureID, part))
}

func (s *SpoolSealer) open(captureID uint64, part string, sealed []byte) ([]byte, error) {
	plain, err := s.box.Open(sealed, spoolAD(captureID, part))
	if errors.Is(err, sealbox.ErrOpen) {
		return nil, ErrSpoolKey
	}
	return plain, err
}

// spoolMeta is what matching a spooled capture needs besides its body:
// the item's fields Record and save read, and what Record knew of the URL.
type spoolMeta struct {
	Pending      pending             `json:"pending"`
	Target       string              `json:"target"`
	FetchedAt    time.Time           `json:"fetched_at"`
	Digest       fingerprints.Digest `json:"digest"`
	HasBody      bool                `json:"has_body,omitempty"` // an empty body is not no body
	ETag         string              `json:"etag,omitempty"`
	LastModified string              `json:"last_modified,omitempty"`
	Members      []references.Member `json:"members,omitempty"`
	Links        []string            `json:"links,omitempty"`
	Watch        bool                `json:"watch,omitempty"` // the source's watch terms apply
}

// spool queues a recorded capture for a scan worker.
func (p *Pipeline) spool(ctx context.Context, pd pending, it Item, watch bool) error {
	if p.Spool == nil {
		return ErrNoScanner
	}
	meta, err := json.Marshal(spoolMeta{Pending: pd, Target: it.Target, FetchedAt: it.FetchedAt, Digest: it.Digest,
		HasBody: it.Body != nil, ETag: it.ETag, LastModified: it.LastModified, Members: it.Members, Links: it.Links, Watch: watch})
	if err != nil {
		return fmt.Errorf("encode spooled capture %d: %w", pd.CaptureID, err)
	}
	row := storage.SpoolItem{RunID: pd.RunID, SourceID: pd.SourceID, CaptureID: pd.CaptureID, Kind: it.Kind, URL: it.URL}
	if row.Meta, err = p.Spool.seal(pd.CaptureID, "meta", meta); err != nil {
		return fmt.Errorf("seal spooled capture %d: %w", pd.CaptureID, err)
	}
	if it.Body != nil {
		if row.Body, err = p.Spool.seal(pd.CaptureID, "body", it.Body); err != nil {
			return fmt.Errorf("seal spooled capture %d: %w", pd.CaptureID, err)
		}
	}
	_, err = p.Store.SpoolCapture(ctx, &row)
	return err
}

// unspool opens a spooled row into the item and what Record knew of it.
func (p *Pipeline) unspool(row storage.SpoolItem) (pending, Item, bool, error) {
	b, err := p.Spool.open(row.CaptureID, "meta", row.Meta)
	if err != nil {
		return pending{}, Item{}, false, fmt.Errorf("spooled capture %d: %w", row.CaptureID, err)
	}
	var m spoolMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return pending{}, Item{}, false, fmt.Errorf("decode spooled capture %d: %w", row.CaptureID, err)
	}
	it := Item{Kind: row.Kind, URL: row.URL, FinalURL: row.URL, Target: m.Target, FetchedAt: m.FetchedAt, Digest: m.Digest,
		ETag: m.ETag, LastModified: m.LastModified, Members: m.Members, Links: m.Links}
	if m.HasBody {
		if it.Body, err = p.Spool.open(row.CaptureID, "body", row.Body); err != nil {
			return pending{}, Item{}, false, fmt.Errorf("spooled capture %d: %w", row.CaptureID, err)
		}
		if it.Body == nil {
			it.Body = []byte{}
		}
	}
	return m.Pending, it, m.Watch, nil
}

// SpoolScan says which spooled captures ScanSpooled matches.
type SpoolScan struct {
	// SourceID and RunID: the captures of the source's runs up to RunID
	// (the run's own and any an earlier run left behind).
	SourceID, RunID uint64
	// Watch are the source's watch terms (nil: none).
	Watch *Watch
	// Parallel captures are matched at once (0: one).
	Parallel int
	// Progress, if set, is called after each capture (heartbeats).
	Progress func(done int)
}

// ScanStats is what ScanSpooled did.
type ScanStats struct {
	Items int // captures matched
	Hits  int // hits recorded
}

// ScanSpooled matches spooled captures with the pipeline's scanner, as
// Record matches inline, and records the results and deletes each row in
// one transaction: a scan cut short resumes with the rows left, and a row
// matched twice (two scans at once) is recorded once.
func (p *Pipeline) ScanSpooled(ctx context.Context, sc SpoolScan) (ScanStats, error) {
	if p.Scanner == nil {
		return ScanStats{}, ErrNoScanner
	}
	if p.Spool == nil {
		return ScanStats{}, errors.New("capture: scanning the spool needs the spool sealer (the fingerprint key)")
	}
	ids, err := p.Store.SpooledIDs(ctx, sc.SourceID, sc.RunID)
	if err != nil {
		return ScanStats{}, err
	}
	var items, hits atomic.Int64
	var mu sync.Mutex // Progress is called from one goroutine at a time
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(sc.Parallel, 1))
	for _, id := range ids {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, done, err := p.scanOne(gctx, id, sc.Watch)
			if err != nil {
				return err
			}
			if done {
				items.Add(1)
				hits.Add(int64(n))
			}
			if sc.Progress != nil {
				mu.Lock()
				sc.Progress(int(items.Load()))
				mu.Unlock()
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return ScanStats{Items: int(items.Load()), Hits: int(hits.Load())}, err
}

// scanOne matches one spooled capture; done is false when another scanner
// took it first.
func (p *Pipeline) scanOne(ctx context.Context, id uint64, watch *Watch) (newHits int, done bool, err error) {
	row, err := p.Store.SpooledItem(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	pd, it, watched, err := p.unspool(row)
	if err != nil {
		return 0, false, err
	}
	if !watched {
		watch = nil
	}
	v, err := p.match(ctx, pd, it, watch)
	if err != nil {
		return 0, false, err
	}
	var res Result
	err = p.Store.InTx(ctx, func(tx *storage.Store) error {
		if err := tx.TakeSpooled(ctx, id); err != nil {
			return err
		}
		var err error
		if res, err = p.save(ctx, tx, pd, it, v); err != nil {
			return err
		}
		return tx.AddRunHits(ctx, pd.RunID, res.NewHits)
	})
	if errors.Is(err, storage.ErrTaken) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("record matches of spooled capture %d: %w", row.CaptureID, err)
	}
	p.observeHits(res)
	return res.NewHits, true, nil
}
