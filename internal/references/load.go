package references

import (
	"context"
	"fmt"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/extract"
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
	// An index made before the trivial rule (or by hand) may hold empty or
	// trivial references; they are judged again here by the same rule, from
	// what the index recorded of them, and marked so they never match.
	// Only references with neither text nor enough bytes are candidates,
	// and they are settled once their images and fields are seen.
	maybe := map[uint64]*trivialCandidate{}
	err = store.WalkIndex(ctx, storage.IndexVisitor{
		Reference: func(r storage.Reference) {
			b.AddRef(match.Ref{Key: r.ID, ID: r.OpaqueID, Name: r.Name, Prints: int(r.Prints), TLSH: r.TLSH},
				memindex.Digests{SHA256: r.SHA256, MD5: r.MD5, SHA1: r.SHA1, Text: r.TextDigest, CRC32: uint32(r.CRC32), Size: r.Size})
			if c := storedContent(r); fingerprints.Trivial(c) != "" {
				maybe[r.ID] = &trivialCandidate{c: c}
			}
		},
		Field: func(kind, hash string, ref uint64, row int64) {
			b.AddField(kind, hash, ref, row)
			if c := maybe[ref]; c != nil {
				if c.rows == nil {
					c.rows = map[int64]int{}
				}
				if c.rows[row]++; c.rows[row] == 2 {
					c.c.Records++
				}
			}
		},
		Image: func(im storage.RefImage) {
			h, err := pdq.Parse(im.Hash)
			if err != nil {
				if bad == nil {
					bad = fmt.Errorf("image fingerprint of reference %d: %w", im.RefID, err)
				}
				return
			}
			b.AddImage(match.IndexedImage{Ref: im.RefID, Variant: im.Variant, Hash: h, Quality: im.Quality})
			if c := maybe[im.RefID]; c != nil {
				// Sizes are not stored: an old index's icons still count.
				contrast := 0 // not stored; a layout row exists only for an image with enough
				if im.Variant == match.FlatVariant {
					contrast = fingerprints.BlankContrast
				}
				if fingerprints.ImageCounts(fingerprints.MinImageSide, fingerprints.MinImageSide, im.Quality, contrast) {
					c.c.Images++
				} else {
					c.c.TrivialImages++
				}
			}
		},
		Patient: b.AddPatient,
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load reference index: %w", err)
	}
	for key, c := range maybe {
		if fingerprints.Trivial(c.c) != "" {
			b.SetTrivial(key)
		}
	}
	idx := b.Build()
	segs.populate()
	return idx, gen, nil
}

type trivialCandidate struct {
	c    fingerprints.Content
	rows map[int64]int // fields per record row
}

// storedContent is what the index recorded of a reference, as the trivial
// rule reads it (images and records are added as they are read).
func storedContent(r storage.Reference) fingerprints.Content {
	c := fingerprints.Content{Size: r.Size, SHA256: r.SHA256, MD5: r.MD5, SHA1: r.SHA1, Text: r.TextDigest != ""}
	switch t := extract.Type(r.Kind); {
	case r.Kind == "hash-list":
		// Known by digest only: a size of 0 means none was listed.
		c.Opaque = true
		if c.Size == 0 {
			c.Size = -1
		}
	case r.Error != "", r.Kind == "", r.Kind == "large", t == extract.TypeUnknown, t == extract.TypeOLE,
		t == extract.TypeEML, t.IsArchive():
		// Its content was not read (or, for mail, its attachments are
		// references of their own): judged by size.
		c.Opaque = true
	}
	return c
}
