package references

import (
	"context"
	"fmt"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/memindex"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/storage"
)

// LoadIndex reads the reference index — the database's tables
// (storage/refindex.go) and segs, its memory-mapped print segments — into
// a fingerprints/memindex.Index, and returns it with the generation it
// reflects (see storage.IndexGeneration). The prints are not read: the
// index answers from the mapped files.
func LoadIndex(ctx context.Context, store *storage.Store, segs *Segments) (*memindex.Index, int64, error) {
	gen, err := store.IndexGeneration(ctx)
	if err != nil {
		return nil, 0, err
	}
	b := memindex.NewBuilder()
	open, err := segs.sync(ctx, store)
	if err != nil {
		return nil, 0, fmt.Errorf("load reference index: %w", err)
	}
	for _, s := range open {
		b.AddPostings(s)
	}
	var bad error
	err = store.WalkIndex(ctx, storage.IndexVisitor{
		Reference: func(r storage.Reference) {
			b.AddRef(match.Ref{Key: r.ID, ID: r.OpaqueID, Name: r.Name, Prints: int(r.Prints), TLSH: r.TLSH},
				memindex.Digests{SHA256: r.SHA256, MD5: r.MD5, SHA1: r.SHA1, Text: r.TextDigest, CRC32: uint32(r.CRC32), Size: r.Size})
		},
		Field: b.AddField,
		Image: func(im storage.RefImage) {
			h, err := pdq.Parse(im.Hash)
			if err != nil {
				if bad == nil {
					bad = fmt.Errorf("image fingerprint of reference %d: %w", im.RefID, err)
				}
				return
			}
			b.AddImage(match.IndexedImage{Ref: im.RefID, Variant: im.Variant, Hash: h, Quality: im.Quality})
		},
		Patient: b.AddPatient,
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load reference index: %w", err)
	}
	idx := b.Build()
	segs.populate()
	return idx, gen, nil
}
