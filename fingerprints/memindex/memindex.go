// Package memindex holds the reference index in memory for the matcher.
//
// The database is the index's durable home; matching from it costs one
// query per fingerprint, which put p99 latency at tens of milliseconds and
// made exact-only scanning of small files run at a few per cent of SHA-256
// speed. An Index is a read-only snapshot built once (a few seconds for a
// breach-scale index) and then answers every lookup from sorted arrays and
// hash maps: postings by binary search, digests by map, patients from a
// compact table. At 428,000 documents it needs a few hundred megabytes.
//
// Everything it holds is already keyed (see package fingerprints): it is
// no more sensitive than the database it was loaded from.
package memindex

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/leakwatch/leakwatch/fingerprints/match"
)

// Index is an immutable in-memory reference index. It implements
// match.Index and is safe for concurrent use.
type Index struct {
	refs []match.Ref
	pos  map[uint64]int32 // reference key → position in refs

	sha256, text digests[[32]byte]
	md5          digests[[16]byte]
	sha1         digests[[20]byte]
	crc          digests[crcKey] // CRC-32 and size

	prints []printRow // keyed winnowing hashes and their references, sorted
	// postings are prints kept outside the Index (memory-mapped segment
	// files, at breach scale nearly all of the index); their references
	// not in refs (replaced, retired) are left out of answers.
	postings      []Postings
	postingsCount int64

	fieldHash []uint64 // sorted first 8 bytes of keyed field hashes ...
	fieldRef  []int32  // ... with the reference, row and field kind
	fieldRow  []int32
	fieldKind []uint8
	kinds     []string

	images    imageIndex
	flats     flatIndex
	imageRows []match.IndexedImage // while building

	patOff   []int32 // refs[i]'s patients are patIDs[patOff[i]:patOff[i+1]]
	patIDs   []int32
	patNames []string
}

var _ match.Index = (*Index)(nil)

// digests maps a digest to the references with it. Nearly every digest
// belongs to one reference, so that case costs no slice.
type digests[K comparable] struct {
	one  map[K]int32
	more map[K][]int32 // second and later references with the digest
}

func (d *digests[K]) add(k K, pos int32) {
	if d.one == nil {
		d.one = map[K]int32{}
	}
	if _, ok := d.one[k]; !ok {
		d.one[k] = pos
		return
	}
	if d.more == nil {
		d.more = map[K][]int32{}
	}
	d.more[k] = append(d.more[k], pos)
}

func (d *digests[K]) get(k K) []int32 {
	p, ok := d.one[k]
	if !ok {
		return nil
	}
	return append([]int32{p}, d.more[k]...)
}

// decode parses a hex digest of exactly len(dst) bytes into dst; false for
// anything else (such a value cannot be in the index).
func decode(dst []byte, s string) bool {
	if hex.DecodedLen(len(s)) != len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

func d32(s string) (k [32]byte, ok bool) {
	ok = decode(k[:], s)
	return k, ok
}
func d20(s string) (k [20]byte, ok bool) {
	ok = decode(k[:], s)
	return k, ok
}
func d16(s string) (k [16]byte, ok bool) {
	ok = decode(k[:], s)
	return k, ok
}

// Stats counts what an Index holds.
type Stats struct {
	References, Prints, Fields, Images, Patients int
}

// Stats reports the index's size.
func (x *Index) Stats() Stats {
	return Stats{References: len(x.refs), Prints: len(x.prints) + int(x.postingsCount), Fields: len(x.fieldHash), Images: len(x.images.ims), Patients: len(x.patIDs)}
}

// Postings is a store of winnowing prints kept outside the Index, such as
// a memory-mapped file: Lookup calls fn for up to max+1 references holding
// hash, in reference order, and returns how many hold it in all.
type Postings interface {
	Lookup(hash uint64, max int, fn func(ref uint64)) int
	Postings() int64
}

// Prefetcher is a Postings that can start fetching what looking up a
// batch of hashes will read, so that the misses overlap (the
// memory-mapped segment does).
type Prefetcher interface {
	Prefetch(hashes []uint64) uint64
}

// crcKey is what a zip central directory says of a member.
type crcKey struct {
	crc  uint32
	size int64
}

// ByCRC returns the references whose bytes have this CRC-32 (IEEE) and
// size: candidates for an archive member known only from its directory.
// Thirty-two bits and a size are a strong hint, not proof.
func (x *Index) ByCRC(crc uint32, size int64) []match.Ref {
	return x.at(x.crc.get(crcKey{crc, size}))
}

// ByDigest implements match.Index.
func (x *Index) ByDigest(_ context.Context, column, value string) ([]match.Ref, error) {
	var ps []int32
	switch column {
	case "sha256":
		if k, ok := d32(value); ok {
			ps = x.sha256.get(k)
		}
	case "text_digest":
		if k, ok := d32(value); ok {
			ps = x.text.get(k)
		}
	case "md5":
		if k, ok := d16(value); ok {
			ps = x.md5.get(k)
		}
	case "sha1":
		if k, ok := d20(value); ok {
			ps = x.sha1.get(k)
		}
	default:
		return nil, fmt.Errorf("memindex: unknown digest column %q", column)
	}
	return x.at(ps), nil
}

func (x *Index) at(ps []int32) []match.Ref {
	if len(ps) == 0 {
		return nil
	}
	out := make([]match.Ref, len(ps))
	for i, p := range ps {
		out[i] = x.refs[p]
	}
	return out
}

// Refs implements match.Index.
func (x *Index) Refs(_ context.Context, keys []uint64) ([]match.Ref, error) {
	out := make([]match.Ref, 0, len(keys))
	for _, k := range keys {
		if p, ok := x.pos[k]; ok {
			out = append(out, x.refs[p])
		}
	}
	return out, nil
}

// PrintPostings implements match.Index. Postings come grouped by hash, in
// the order of hashes.
func (x *Index) PrintPostings(_ context.Context, hashes []int64, max int) ([]match.Posting, error) {
	// Find every hash's run first and allocate once: a templated text
	// has thousands of postings, and growing the slice was a fifth of a
	// small file's allocations.
	type span struct{ from, to int }
	spans := make([]span, len(hashes))
	total := 0
	for k, h := range hashes {
		i, _ := slices.BinarySearchFunc(x.prints, uint64(h), func(r printRow, h uint64) int { return cmp.Compare(r.hash, h) })
		j := i
		for j < len(x.prints) && x.prints[j].hash == uint64(h) && j-i <= max {
			j++
		}
		spans[k] = span{i, j}
		total += j - i
	}
	if len(x.postings) > 0 && len(hashes) > 1 {
		keys := make([]uint64, len(hashes))
		for i, h := range hashes {
			keys[i] = uint64(h)
		}
		for _, p := range x.postings {
			if pf, ok := p.(Prefetcher); ok {
				pf.Prefetch(keys)
			}
		}
	}
	out := make([]match.Posting, 0, total)
	for k, sp := range spans {
		for _, r := range x.prints[sp.from:sp.to] {
			out = append(out, match.Posting{Hash: hashes[k], Ref: x.refs[r.ref].Key})
		}
		if len(x.postings) == 0 {
			continue
		}
		// A hash is boilerplate when more than max references hold it
		// in all: counted over every store, stale references included
		// (they were real text of the breach when indexed).
		n := sp.to - sp.from
		for _, p := range x.postings {
			if n > max {
				break
			}
			n += p.Lookup(uint64(hashes[k]), max-n, func(ref uint64) {
				if _, ok := x.pos[ref]; ok {
					out = append(out, match.Posting{Hash: hashes[k], Ref: ref})
				}
			})
		}
		if n > max {
			// Boilerplate: tell the matcher so (max+1 postings), even when
			// the live references among them are fewer.
			have := 0
			for i := len(out) - 1; i >= 0 && out[i].Hash == hashes[k]; i-- {
				have++
			}
			for ; have <= max; have++ {
				out = append(out, match.Posting{Hash: hashes[k], Ref: 0})
			}
		}
	}
	return out, nil
}

// FieldPostings implements match.Index.
func (x *Index) FieldPostings(_ context.Context, hashes []string, max int) ([]match.FieldPosting, error) {
	var out []match.FieldPosting
	for _, h := range hashes {
		k, ok := fieldKey(h)
		if !ok {
			continue
		}
		i, _ := slices.BinarySearch(x.fieldHash, k)
		for n := 0; i < len(x.fieldHash) && x.fieldHash[i] == k && n <= max; i, n = i+1, n+1 {
			out = append(out, match.FieldPosting{Field: x.kinds[x.fieldKind[i]], Hash: h, Ref: x.refs[x.fieldRef[i]].Key, Row: int64(x.fieldRow[i])})
		}
	}
	return out, nil
}

// fieldKey is the first 64 bits of a hex field hash (HMAC-SHA256 output):
// two distinct values agreeing there is a 2^-64 event per pair.
func fieldKey(h string) (uint64, bool) {
	if len(h) < 16 {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(h[:16])); err != nil {
		return 0, false
	}
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]), true
}

// Patients implements match.Index.
func (x *Index) Patients(_ context.Context, keys []uint64) (map[uint64][]string, error) {
	out := map[uint64][]string{}
	for _, k := range keys {
		p, ok := x.pos[k]
		if !ok {
			continue
		}
		ids := x.patIDs[x.patOff[p]:x.patOff[p+1]]
		if len(ids) == 0 {
			continue
		}
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = x.patNames[id]
		}
		out[k] = names
	}
	return out, nil
}

// Count implements match.Index.
func (x *Index) Count(context.Context) (int64, error) { return int64(len(x.refs)), nil }

// Builder collects an index's rows, in any order, for Build.
type Builder struct {
	x         Index
	printHint int // prints the added references declare (match.Ref.Prints)
	prints    []printRow
	fields    []fieldRow
	patients  []patientRow
	flatRows  []match.IndexedImage
	kindIDs   map[string]uint8
	errs      int
}

type printRow struct {
	hash uint64
	ref  int32
}

type fieldRow struct {
	hash uint64
	ref  int32
	row  int32
	kind uint8
}

type patientRow struct {
	ref  int32
	name string
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{x: Index{pos: map[uint64]int32{}}, kindIDs: map[string]uint8{}}
}

// Digests are a reference's hex digests; empty ones are not indexed.
type Digests struct {
	SHA256, MD5, SHA1, Text string
	// CRC32 and Size, as an archive's directory records a member; a zero
	// CRC32 (not recorded) is not indexed.
	CRC32 uint32
	Size  int64
}

// AddRef adds a reference. References must be added before their rows.
func (b *Builder) AddRef(r match.Ref, d Digests) {
	p := int32(len(b.x.refs))
	b.x.refs = append(b.x.refs, r)
	b.printHint += max(0, r.Prints)
	b.x.pos[r.Key] = p
	if k, ok := d32(d.SHA256); ok {
		b.x.sha256.add(k, p)
	}
	if d.CRC32 != 0 && d.Size > 0 {
		b.x.crc.add(crcKey{d.CRC32, d.Size}, p)
	}
	if k, ok := d32(d.Text); ok {
		b.x.text.add(k, p)
	}
	if k, ok := d16(d.MD5); ok {
		b.x.md5.add(k, p)
	}
	if k, ok := d20(d.SHA1); ok {
		b.x.sha1.add(k, p)
	}
}

// SetTrivial marks an added reference as no evidence (fingerprints.Trivial),
// once its images and fields have shown it carries nothing else: it stays
// in the index, so its rows still resolve, but the matcher never reports it.
func (b *Builder) SetTrivial(key uint64) {
	if p, ok := b.x.pos[key]; ok {
		b.x.refs[p].Trivial = true
	}
}

// ref resolves a reference key, counting rows that name none (a row
// written after the snapshot's reference list was read).
func (b *Builder) ref(key uint64) (int32, bool) {
	p, ok := b.x.pos[key]
	if !ok {
		b.errs++
	}
	return p, ok
}

// AddPostings adds a store of prints kept outside the index.
func (b *Builder) AddPostings(p Postings) {
	b.x.postings = append(b.x.postings, p)
	b.x.postingsCount += p.Postings()
}

// AddPrint adds a winnowing fingerprint of reference ref.
func (b *Builder) AddPrint(hash int64, ref uint64) {
	if p, ok := b.ref(ref); ok {
		if b.prints == nil {
			// Breach scale is tens of millions of prints: grow once.
			b.prints = make([]printRow, 0, b.printHint)
		}
		b.prints = append(b.prints, printRow{uint64(hash), p})
	}
}

// AddField adds a keyed record field of reference ref.
func (b *Builder) AddField(kind, hash string, ref uint64, row int64) {
	p, ok := b.ref(ref)
	if !ok {
		return
	}
	k, ok := fieldKey(hash)
	if !ok {
		b.errs++
		return
	}
	id, ok := b.kindIDs[kind]
	if !ok {
		id = uint8(len(b.x.kinds))
		b.kindIDs[kind] = id
		b.x.kinds = append(b.x.kinds, kind)
	}
	b.fields = append(b.fields, fieldRow{k, p, int32(row), id})
}

// AddImage adds an image fingerprint.
func (b *Builder) AddImage(im match.IndexedImage) {
	if _, ok := b.ref(im.Ref); ok {
		if im.Variant == match.FlatVariant {
			b.flatRows = append(b.flatRows, im)
			return
		}
		b.x.imageRows = append(b.x.imageRows, im)
	}
}

// AddPatient records that reference ref mentions a (keyed) patient.
func (b *Builder) AddPatient(ref uint64, patient string) {
	if p, ok := b.ref(ref); ok {
		b.patients = append(b.patients, patientRow{p, patient})
	}
}

// Skipped is how many rows named no added reference or were malformed.
func (b *Builder) Skipped() int { return b.errs }

// Build sorts the rows into an Index. The builder must not be used after.
func (b *Builder) Build() *Index {
	x := &b.x
	// Sorted in place and kept as is: a second, column-wise copy would
	// double the peak memory of a load for 4 bytes a print.
	slices.SortFunc(b.prints, func(a, c printRow) int { return cmp.Or(cmp.Compare(a.hash, c.hash), cmp.Compare(a.ref, c.ref)) })
	x.prints, b.prints = b.prints, nil

	slices.SortFunc(b.fields, func(a, c fieldRow) int {
		return cmp.Or(cmp.Compare(a.hash, c.hash), cmp.Compare(a.ref, c.ref), cmp.Compare(a.row, c.row))
	})
	n := len(b.fields)
	x.fieldHash, x.fieldRef, x.fieldRow, x.fieldKind = make([]uint64, n), make([]int32, n), make([]int32, n), make([]uint8, n)
	for i, r := range b.fields {
		x.fieldHash[i], x.fieldRef[i], x.fieldRow[i], x.fieldKind[i] = r.hash, r.ref, r.row, r.kind
	}
	b.fields = nil

	// Patients: intern the keyed identifiers, then lay them out by reference.
	slices.SortFunc(b.patients, func(a, c patientRow) int { return cmp.Or(cmp.Compare(a.ref, c.ref), cmp.Compare(a.name, c.name)) })
	b.patients = slices.CompactFunc(b.patients, func(a, c patientRow) bool { return a == c })
	ids := map[string]int32{}
	x.patOff = make([]int32, len(x.refs)+1)
	x.patIDs = make([]int32, 0, len(b.patients))
	next := 0
	for p := range x.refs {
		x.patOff[p] = int32(len(x.patIDs))
		for ; next < len(b.patients) && b.patients[next].ref == int32(p); next++ {
			name := b.patients[next].name
			id, ok := ids[name]
			if !ok {
				id = int32(len(x.patNames))
				ids[name] = id
				x.patNames = append(x.patNames, name)
			}
			x.patIDs = append(x.patIDs, id)
		}
	}
	x.patOff[len(x.refs)] = int32(len(x.patIDs))
	b.patients = nil

	x.images = buildImageIndex(x.imageRows)
	x.imageRows = nil
	x.flats = buildFlatIndex(b.flatRows)
	b.flatRows = nil
	return x
}
