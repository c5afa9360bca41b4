package references

import (
	"context"
	"fmt"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/storage"
)

// StoreIndex is the reference index kept in the database, as the matcher
// reads it.
type StoreIndex struct{ Store *storage.Store }

var _ match.Index = StoreIndex{}

func toRefs(rs []storage.Reference) []match.Ref {
	out := make([]match.Ref, len(rs))
	for i, r := range rs {
		out[i] = match.Ref{Key: r.ID, ID: r.OpaqueID, Name: r.Name, Prints: int(r.Prints), TLSH: r.TLSH}
	}
	return out
}

// ByDigest implements match.Index.
func (x StoreIndex) ByDigest(ctx context.Context, column, value string) ([]match.Ref, error) {
	rs, err := x.Store.ReferencesByDigest(ctx, column, value)
	return toRefs(rs), err
}

// Refs implements match.Index.
func (x StoreIndex) Refs(ctx context.Context, keys []uint64) ([]match.Ref, error) {
	rs, err := x.Store.ReferencesByIDs(ctx, keys)
	return toRefs(rs), err
}

// PrintPostings implements match.Index.
func (x StoreIndex) PrintPostings(ctx context.Context, hashes []int64, maxRefs int) ([]match.Posting, error) {
	ps, err := x.Store.PrintPostings(ctx, hashes, maxRefs)
	out := make([]match.Posting, len(ps))
	for i, p := range ps {
		out[i] = match.Posting{Hash: p.Hash, Ref: p.RefID}
	}
	return out, err
}

// FieldPostings implements match.Index.
func (x StoreIndex) FieldPostings(ctx context.Context, hashes []string, maxRows int) ([]match.FieldPosting, error) {
	fs, err := x.Store.FieldPostings(ctx, hashes, maxRows)
	out := make([]match.FieldPosting, len(fs))
	for i, f := range fs {
		out[i] = match.FieldPosting{Field: f.Field, Hash: f.Hash, Ref: f.RefID, Row: f.RowNo}
	}
	return out, err
}

// Images implements match.Index.
func (x StoreIndex) Images(ctx context.Context) ([]match.IndexedImage, error) {
	ims, err := x.Store.AllImages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]match.IndexedImage, 0, len(ims))
	for _, im := range ims {
		h, err := pdq.Parse(im.Hash)
		if err != nil {
			return nil, fmt.Errorf("image fingerprint of reference %d: %w", im.RefID, err)
		}
		out = append(out, match.IndexedImage{Ref: im.RefID, Variant: im.Variant, Hash: h, Quality: im.Quality})
	}
	return out, nil
}

// Patients implements match.Index.
func (x StoreIndex) Patients(ctx context.Context, keys []uint64) (map[uint64][]string, error) {
	return x.Store.PatientsOf(ctx, keys)
}

// Count implements match.Index.
func (x StoreIndex) Count(ctx context.Context) (int64, error) {
	return x.Store.CountReferences(ctx)
}
