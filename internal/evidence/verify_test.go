package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// problemsByRecord groups problems by record id and fails on problems that
// do not name the record's file.
func problemsByRecord(t *testing.T, probs []Problem, recs []Record) map[string][]Problem {
	t.Helper()
	files := map[string]string{}
	for _, r := range recs {
		files[r.RecordID] = r.File
		files[r.RequestRecordID] = r.File
	}
	by := map[string][]Problem{}
	for _, p := range probs {
		if p.RecordID == "" || p.File == "" || p.File != files[p.RecordID] {
			t.Errorf("problem does not name its record and file: %+v", p)
		}
		by[p.RecordID] = append(by[p.RecordID], p)
	}
	return by
}

func kinds(ps []Problem) map[ProblemKind]bool {
	m := map[ProblemKind]bool{}
	for _, p := range ps {
		m[p.Kind] = true
	}
	return m
}

func flipPayloadByte(t *testing.T) func([]byte) []byte {
	return func(rec []byte) []byte {
		rec[payloadStart(t, rec)+10] ^= 0x01
		return rec
	}
}

// TestVerifyDetectsRewrittenPayload: one payload byte is changed and the
// gzip member rewritten (valid gzip, valid CRC). The recorded locations are
// then corrected as well, so only the digests can catch it.
func TestVerifyDetectsRewrittenPayload(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)
	if probs := Verify(dir, recs); len(probs) != 0 {
		t.Fatal(probs)
	}
	path := filepath.Join(dir, filepath.FromSlash(recs[1].File))
	newLen := rewriteMember(t, path, recs[1].Offset, recs[1].Length, flipPayloadByte(t))
	delta := newLen - recs[1].Length
	recs[1].Length = newLen
	recs[2].Offset += delta
	recs[2].RequestOffset += delta

	probs := Verify(dir, recs)
	for _, p := range probs {
		t.Log(p)
	}
	by := problemsByRecord(t, probs, recs)
	if len(by) != 1 || len(by[recs[1].RecordID]) == 0 {
		t.Fatalf("want problems for exactly record %s, got %v", recs[1].RecordID, probs)
	}
	k := kinds(by[recs[1].RecordID])
	if !k[ProblemPayloadDigest] || !k[ProblemBlockDigest] {
		t.Errorf("want payload and block digest problems, got %v", probs)
	}
	for _, p := range probs {
		if !strings.Contains(p.String(), recs[1].File) || !strings.Contains(p.String(), recs[1].RecordID) {
			t.Errorf("problem text does not name file and record: %s", p)
		}
	}

	// The independent reader agrees that the file is corrupt.
	if _, _, err := readWithGowarc(t, path); err == nil {
		t.Error("gowarc accepted the tampered file")
	}
}

// TestVerifyDetectsRewrittenPayloadWithStaleIndex: the same tampering, but
// the records still carry the original offsets, as a verifier would have
// them from the manifest.
func TestVerifyDetectsRewrittenPayloadWithStaleIndex(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)
	path := filepath.Join(dir, filepath.FromSlash(recs[1].File))
	rewriteMember(t, path, recs[1].Offset, recs[1].Length, flipPayloadByte(t))

	probs := Verify(dir, recs)
	for _, p := range probs {
		t.Log(p)
	}
	by := problemsByRecord(t, probs, recs)
	if len(by[recs[1].RecordID]) == 0 {
		t.Fatalf("tampered record %s not reported: %v", recs[1].RecordID, probs)
	}
	if len(by[recs[0].RecordID]) != 0 {
		t.Errorf("untouched record reported: %v", by[recs[0].RecordID])
	}
}

// TestVerifyDetectsForgedHeaderDigests: the attacker also recomputes the
// WARC digest headers, so the file is self-consistent (gowarc accepts it);
// the recorded digests still expose the change.
func TestVerifyDetectsForgedHeaderDigests(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)
	path := filepath.Join(dir, filepath.FromSlash(recs[1].File))
	blockRe := regexp.MustCompile(`WARC-Block-Digest: sha256:[0-9a-f]{64}`)
	payRe := regexp.MustCompile(`WARC-Payload-Digest: sha256:[0-9a-f]{64}`)
	newLen := rewriteMember(t, path, recs[1].Offset, recs[1].Length, func(rec []byte) []byte {
		ps := payloadStart(t, rec)
		rec[ps+10] ^= 0x01
		warcEnd := bytes.Index(rec, []byte("\r\n\r\n")) + 4
		block := sha256.Sum256(rec[warcEnd : len(rec)-4])
		pay := sha256.Sum256(rec[ps : len(rec)-4])
		rec = blockRe.ReplaceAll(rec, []byte("WARC-Block-Digest: sha256:"+hex.EncodeToString(block[:])))
		return payRe.ReplaceAll(rec, []byte("WARC-Payload-Digest: sha256:"+hex.EncodeToString(pay[:])))
	})
	delta := newLen - recs[1].Length
	recs[1].Length = newLen
	recs[2].Offset += delta
	recs[2].RequestOffset += delta

	if _, _, err := readWithGowarc(t, path); err != nil {
		t.Fatalf("forgery should be self-consistent, gowarc says %v", err)
	}
	probs := Verify(dir, recs)
	for _, p := range probs {
		t.Log(p)
	}
	by := problemsByRecord(t, probs, recs)
	if len(by) != 1 {
		t.Fatalf("want problems for exactly one record, got %v", probs)
	}
	got := by[recs[1].RecordID]
	k := kinds(got)
	if !k[ProblemPayloadDigest] || !k[ProblemBlockDigest] {
		t.Fatalf("want digest problems for %s, got %v", recs[1].RecordID, probs)
	}
	for _, p := range got {
		if strings.HasPrefix(p.Detail, "WARC-") {
			t.Errorf("header digests were forged consistently, yet: %s", p)
		}
	}
}

// TestVerifyDetectsFlippedCompressedByte: a byte flipped in place in the
// compressed data (no rewrite).
func TestVerifyDetectsFlippedCompressedByte(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)
	path := filepath.Join(dir, filepath.FromSlash(recs[1].File))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[recs[1].Offset+recs[1].Length/2] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	probs := Verify(dir, recs)
	for _, p := range probs {
		t.Log(p)
	}
	by := problemsByRecord(t, probs, recs)
	if len(by) != 1 || len(by[recs[1].RecordID]) == 0 {
		t.Fatalf("want problems for exactly %s, got %v", recs[1].RecordID, probs)
	}
}

func TestVerifyDetectsTruncation(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)
	path := filepath.Join(dir, filepath.FromSlash(recs[2].File))

	// Cut inside the last response record.
	if err := os.Truncate(path, recs[2].Offset+recs[2].Length/2); err != nil {
		t.Fatal(err)
	}
	by := problemsByRecord(t, Verify(dir, recs), recs)
	if len(by) != 1 || !kinds(by[recs[2].RecordID])[ProblemUnreadable] {
		t.Fatalf("want an unreadable problem for exactly the last record, got %v", by)
	}

	// Cut inside the middle exchange's request record.
	if err := os.Truncate(path, recs[1].RequestOffset+10); err != nil {
		t.Fatal(err)
	}
	by = problemsByRecord(t, Verify(dir, recs), recs)
	if len(by) != 2 || len(by[recs[1].RecordID]) == 0 || len(by[recs[2].RecordID]) == 0 {
		t.Fatalf("want problems for the last two records, got %v", by)
	}

	// File gone.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	by = problemsByRecord(t, Verify(dir, recs), recs)
	if len(by) != 3 {
		t.Fatalf("want all three records reported, got %v", by)
	}
}

func TestVerifyDetectsMismatchedIndex(t *testing.T) {
	dir := t.TempDir()
	recs := writeSequential(t, dir, 3)

	// Swap the locations of two records.
	swapped := append([]Record(nil), recs...)
	swapped[0].Offset, swapped[1].Offset = recs[1].Offset, recs[0].Offset
	swapped[0].Length, swapped[1].Length = recs[1].Length, recs[0].Length
	by := problemsByRecord(t, Verify(dir, swapped), swapped)
	if !kinds(by[recs[0].RecordID])[ProblemHeader] || !kinds(by[recs[1].RecordID])[ProblemHeader] {
		t.Errorf("swapped records not reported as header mismatches: %v", by)
	}
	if _, err := ReadRecord(dir, swapped[0]); err == nil {
		t.Error("ReadRecord accepted a record with the wrong id")
	}

	// A wrong recorded payload digest or length.
	bad := append([]Record(nil), recs...)
	bad[2].PayloadSHA256 = strings.Repeat("0", 64)
	bad[0].PayloadLength++
	by = problemsByRecord(t, Verify(dir, bad), bad)
	if !kinds(by[recs[2].RecordID])[ProblemPayloadDigest] || !kinds(by[recs[0].RecordID])[ProblemLength] || len(by) != 2 {
		t.Errorf("got %v", by)
	}

	// A path escaping the evidence directory is refused.
	esc := recs[0]
	esc.File = "../" + esc.File
	if probs := Verify(dir, []Record{esc}); len(probs) != 1 || probs[0].Kind != ProblemUnreadable {
		t.Errorf("got %v", probs)
	}
}

func TestParseDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	hexForm := "sha256:" + hex.EncodeToString(sum[:])
	for _, s := range []string{hexForm, strings.ToUpper(hexForm[:7]) + hexForm[7:]} {
		if b, err := parseDigest(s); err != nil || !bytes.Equal(b, sum[:]) {
			t.Errorf("%s: %x %v", s, b, err)
		}
	}
	for _, s := range []string{"", "sha256", "sha1:" + hex.EncodeToString(sum[:20]), "sha256:zz", "sha256:" + hex.EncodeToString(sum[:31])} {
		if _, err := parseDigest(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
