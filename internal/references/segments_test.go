package references

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references/segment"
	"github.com/leakwatch/leakwatch/storage"
)

// letterPath is a letter of unique text added to the fixture's
// references (the generator's notes are templated: a pasted one is too
// common to be evidence on its own).
func (f *fixture) letterPath() string { return filepath.Join(f.refs, "letters", "letter-0001.txt") }

func (f *fixture) addLetter(t *testing.T) {
	t.Helper()
	words := strings.Fields(`referral review patient clinic history bloods renal hepatic tolerance dose titrate
		plan follow weeks months imaging ultrasound findings mild moderate severe consistent unremarkable advised
		physiotherapy analgesia review discharge summary medication allergy nil known family social smoker alcohol`)
	rng := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	b.WriteString("Dear Dr Ngata,\n\nRe: Aroha Test, NHI ZZZ0042\n\n")
	for b.Len() < 3000 {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(9) == 0 {
			b.WriteString(". ")
		} else {
			b.WriteByte(' ')
		}
	}
	os.MkdirAll(filepath.Dir(f.letterPath()), 0o700)
	if err := os.WriteFile(f.letterPath(), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// notePost is the letter pasted into a forum post, so only its text
// (winnow) can match it.
func (f *fixture) notePost(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(f.letterPath())
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("posted by seller, proof of the dump:\n\n"), b[200:1400]...)
}

// winnowHits counts the winnow matches of data.
func winnowHits(t *testing.T, sc *Scanner, data []byte) int {
	t.Helper()
	n := 0
	err := sc.Scan(context.Background(), "post.txt", data, func(r ItemResult) error {
		for _, m := range r.Matches {
			if m.Method == match.MethodWinnow {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// letterIndexed is a fixture with the letter, indexed (the scanner that
// indexing made closed again).
func letterIndexed(t *testing.T) (*fixture, *fingerprints.Key) {
	t.Helper()
	f := newFixture(t)
	f.addLetter(t)
	key, sc := f.indexed(t)
	sc.Close()
	return f, key
}

// letterMatches checks that a new scanner finds the pasted letter.
func (f *fixture) letterMatches(t *testing.T, key *fingerprints.Key, when string) {
	t.Helper()
	sc, err := NewScanner(context.Background(), f.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if winnowHits(t, sc, f.notePost(t)) == 0 {
		t.Errorf("a pasted note does not match %s", when)
	}
}

// The prints are in segment files, not the database, and match from there.
func TestImportWritesSegments(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.addLetter(t)
	key, sc := f.indexed(t)
	defer sc.Close()
	segs, err := f.store.ReadySegments(ctx)
	if err != nil || len(segs) != 1 || segs[0].Postings == 0 {
		t.Fatalf("ready segments %+v, %v; want one with prints", segs, err)
	}
	if legacy, err := f.store.HasLegacyPrints(ctx); err != nil || legacy {
		t.Fatalf("prints in the database: %v %v", legacy, err)
	}
	if st := sc.IndexStats(); int64(st.Prints) != segs[0].Postings {
		t.Errorf("scanner holds %d prints, the segment %d", st.Prints, segs[0].Postings)
	}
	if winnowHits(t, sc, f.notePost(t)) == 0 {
		t.Error("a pasted note does not match from the segment")
	}
	if n, err := VerifySegments(ctx, f.store, key); err != nil || n != 1 {
		t.Errorf("verify: %d, %v", n, err)
	}
}

// An import that died before its segment was complete leaves references
// whose prints are nowhere: the next import fingerprints them again rather
// than skip them as known.
func TestImportRedoesUnfinishedSegment(t *testing.T) {
	ctx := context.Background()
	f, key := letterIndexed(t)
	segs, _ := f.store.ReadySegments(ctx)
	// As if the process died before FinishSegment: the row still says
	// writing, and the file never got its name.
	if err := f.store.DB().Model(&storage.RefSegment{}).Where("id = ?", segs[0].ID).Update("state", storage.SegmentWriting).Error; err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.store.IndexDir(), segs[0].Name)); err != nil {
		t.Fatal(err)
	}
	st, err := Import(ctx, f.store, f.refs, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != len(f.docs)+1 || st.Unchanged != 0 {
		t.Fatalf("re-import after a lost segment: %+v; want every file fingerprinted again", st)
	}
	f.letterMatches(t, key, "after the re-import")
	// And a third import has nothing to do.
	if st, err := Import(ctx, f.store, f.refs, Options{Key: key}); err != nil || st.Added != 0 || st.Unchanged != len(f.docs)+1 {
		t.Fatalf("third import %+v, %v", st, err)
	}
}

// An index from before segments (prints in ref_prints) is refused with a
// clear message until `refs migrate` moves them, after which it matches.
func TestLegacyPrintsRefusedThenMigrated(t *testing.T) {
	ctx := context.Background()
	f, key := letterIndexed(t)
	// Turn the index back into the old form: the segment's postings as
	// rows, no segment.
	segs, _ := f.store.ReadySegments(ctx)
	s, err := segment.Open(filepath.Join(f.store.IndexDir(), segs[0].Name), segmentKeyID(key))
	if err != nil {
		t.Fatal(err)
	}
	db := f.store.DB()
	var rows int64
	err = s.All(func(h, ref uint64) error {
		rows++
		return db.Exec(`INSERT INTO ref_prints (hash, ref_id) VALUES (?, ?)`, int64(h), ref).Error
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE "references" SET segment = 0`).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`DELETE FROM ref_segments`).Error; err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(f.store.IndexDir())

	_, err = NewScanner(ctx, f.store, key, match.Options{}, 0)
	if !errors.Is(err, storage.ErrLegacyPrints) || !strings.Contains(err.Error(), "refs migrate") {
		t.Fatalf("scanner over an old index: %v; want it refused, naming refs migrate", err)
	}
	n, err := MigrateLegacyPrints(ctx, f.store, key, nil)
	if err != nil || n != rows {
		t.Fatalf("migrate: %d prints, %v; want %d", n, err, rows)
	}
	if n, err := MigrateLegacyPrints(ctx, f.store, key, nil); err != nil || n != 0 {
		t.Fatalf("second migrate: %d, %v; want nothing to do", n, err)
	}
	f.letterMatches(t, key, "after the migration")
	// The migrated references count as indexed: nothing to redo.
	if st, err := Import(ctx, f.store, f.refs, Options{Key: key}); err != nil || st.Added != 0 {
		t.Fatalf("import after migration %+v, %v", st, err)
	}
}

// A damaged segment file stops the scanner with an error naming it; it is
// never a silently empty index.
func TestCorruptSegmentRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"header byte flipped", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[10] ^= 0xff
			os.WriteFile(path, b, 0o600)
		}},
		{"missing", func(t *testing.T, path string) { os.Remove(path) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, key := letterIndexed(t)
			segs, _ := f.store.ReadySegments(ctx)
			tc.damage(t, filepath.Join(f.store.IndexDir(), segs[0].Name))
			_, err := NewScanner(ctx, f.store, key, match.Options{}, 0)
			if err == nil || !strings.Contains(err.Error(), segs[0].Name) {
				t.Fatalf("scanner over a %s segment: %v; want an error naming %s", tc.name, err, segs[0].Name)
			}
		})
	}
	// A flipped body byte passes the cheap checks at open but not verify.
	f, key := letterIndexed(t)
	segs, _ := f.store.ReadySegments(ctx)
	path := filepath.Join(f.store.IndexDir(), segs[0].Name)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x01
	os.WriteFile(path, b, 0o600)
	if _, err := VerifySegments(ctx, f.store, key); err == nil || !strings.Contains(err.Error(), segs[0].Name) {
		t.Fatalf("verify of a damaged segment: %v", err)
	}
	// A segment made under another key is refused too.
	other := testKey(t, 9)
	if _, err := segment.Open(path, segmentKeyID(other)); err == nil {
		t.Error("a segment opened under another key")
	}
}

// Compaction merges the segments into one and drops the prints of
// references an import replaced; matching goes on as before.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	f, key := letterIndexed(t)
	// Change one note: the next import replaces its reference, in a new
	// segment; the old prints stay in the first until compaction.
	note := f.letterPath()
	b, _ := os.ReadFile(note)
	if err := os.WriteFile(note, append(b, []byte("\nAddendum: reviewed again, no change to the plan; patient informed by phone.\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := Import(ctx, f.store, f.refs, Options{Key: key}); err != nil || st.Added != 1 {
		t.Fatalf("re-import: %+v, %v", st, err)
	}
	before, _ := f.store.ReadySegments(ctx)
	if len(before) != 2 {
		t.Fatalf("%d segments after two imports, want 2", len(before))
	}
	seg, err := Compact(ctx, f.store, key)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := f.store.ReadySegments(ctx)
	if len(after) != 1 || after[0].ID != seg.ID || seg.Postings >= before[0].Postings+before[1].Postings {
		t.Fatalf("after compaction %+v (merged %+v); want one segment with fewer prints than %d+%d",
			after, seg, before[0].Postings, before[1].Postings)
	}
	for _, rs := range before {
		if _, err := os.Stat(filepath.Join(f.store.IndexDir(), rs.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("merged segment %s still on disk (%v)", rs.Name, err)
		}
	}
	f.letterMatches(t, key, "after compaction")
	if _, err := VerifySegments(ctx, f.store, key); err != nil {
		t.Error(err)
	}
}

// An import that wrote several segments (so that it was usable as it
// went) leaves one: every print is then one lookup.
func TestImportMergesItsSegments(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.addLetter(t)
	// Enough files for several save batches (of 500 files): a segment
	// ends between batches.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1100 {
		var b strings.Builder
		for b.Len() < 400 {
			fmt.Fprintf(&b, "w%d ", rng.IntN(1_000_000))
		}
		p := filepath.Join(f.refs, "extra", fmt.Sprintf("%04d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key := testKey(t, 1)
	if _, err := Import(ctx, f.store, f.refs, Options{Key: key, SegmentPrints: 50}); err != nil {
		t.Fatal(err)
	}
	segs, err := f.store.ReadySegments(ctx)
	if err != nil || len(segs) != 1 {
		t.Fatalf("ready segments after the import: %+v, %v; want one", segs, err)
	}
	merged, err := f.store.SegmentsIn(ctx, storage.SegmentMerged)
	if err != nil || len(merged) < 2 {
		t.Fatalf("merged segments %d, %v; want the import's several", len(merged), err)
	}
	f.letterMatches(t, key, "after the merge")
	if _, err := VerifySegments(ctx, f.store, key); err != nil {
		t.Error(err)
	}
}
