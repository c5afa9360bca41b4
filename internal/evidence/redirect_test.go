package evidence

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"testing"
	"time"
)

// writeRedirects writes two empty-bodied redirects and the page they lead
// to, as the crawler does.
func writeRedirects(t *testing.T, dir string) []Record {
	t.Helper()
	w, err := NewWriter(dir, WriterOptions{RunID: "hops"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, ex := range []Exchange{
		{TargetURI: "https://leaks.example/go/1", StatusCode: 301, ResponseHeader: http.Header{"Location": {"/mirror/1"}}},
		// A value with a line break is written on one line.
		{TargetURI: "https://leaks.example/mirror/1", StatusCode: 302, ResponseHeader: http.Header{"Location": {"/files/\n1.pdf"}}},
		testExchange("https://leaks.example/files/%201.pdf", 7, 5000),
	} {
		ex.FetchTime = time.Date(2025, 3, 1, 12, 0, len(recs), 0, time.UTC)
		rec, err := w.WriteExchange(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// A record repeats its response's status and where its Location leads
// (resolved, on one line), and Verify holds them to the stored record;
// records from before they were kept are not held to them.
func TestRecordStatusAndLocation(t *testing.T) {
	dir := t.TempDir()
	recs := writeRedirects(t, dir)
	for i, want := range []struct {
		status   int
		location string
	}{{301, "https://leaks.example/mirror/1"}, {302, "https://leaks.example/files/%201.pdf"}, {200, ""}} {
		if recs[i].StatusCode != want.status || recs[i].Location != want.location {
			t.Errorf("record %d: status %d, Location %q; want %d, %q", i, recs[i].StatusCode, recs[i].Location, want.status, want.location)
		}
	}
	if probs := Verify(dir, recs); len(probs) != 0 {
		t.Fatalf("fresh records: %v", probs)
	}
	for name, change := range map[string]func(*Record){
		"status":   func(r *Record) { r.StatusCode = 307 },
		"location": func(r *Record) { r.Location = "https://elsewhere.example/" },
	} {
		r := recs[0]
		change(&r)
		probs := Verify(dir, []Record{r})
		if len(probs) != 1 || probs[0].Kind != ProblemHeader || probs[0].RecordID != r.RecordID {
			t.Errorf("%s changed in the record: %v; want one header problem naming it", name, probs)
		}
	}
	old := recs[1]
	old.StatusCode, old.Location = 0, ""
	if probs := Verify(dir, []Record{old}); len(probs) != 0 {
		t.Errorf("record without status and Location: %v", probs)
	}
}

// A redirect's leaf is its block digest: two empty-bodied redirects have
// the same payload digest but different leaves, and the manifest's root
// covers what they said.
func TestManifestRedirectLeaves(t *testing.T) {
	dir := t.TempDir()
	recs := writeRedirects(t, dir)
	m := Manifest{Format: ManifestFormat, RunID: "hops"}
	for i, r := range recs {
		m.Captures = append(m.Captures, Capture{URL: recs[0].TargetURI, Status: r.StatusCode, Redirect: i < 2, Record: r})
	}
	if recs[0].PayloadSHA256 != recs[1].PayloadSHA256 {
		t.Fatal("empty redirect bodies hash differently")
	}
	ds, err := m.Digests()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		want := r.PayloadSHA256
		if i < 2 {
			want = r.BlockDigest[len("sha256:"):]
		}
		if hex.EncodeToString(ds[i]) != want {
			t.Errorf("leaf %d is %x, want %s", i, ds[i], want)
		}
	}
	if bytes.Equal(ds[0], ds[1]) {
		t.Error("two different redirects have the same leaf")
	}
	if _, err := m.ComputeRoot(); err != nil {
		t.Fatal(err)
	}
	if probs := VerifyManifest(dir, m); len(probs) != 0 {
		t.Fatalf("manifest with redirects: %v", probs)
	}
	// Listed as a final exchange instead, a redirect is another leaf.
	m.Captures[1].Redirect = false
	if probs := VerifyManifest(dir, m); len(probs) != 1 || probs[0].Kind != ProblemManifest {
		t.Errorf("redirect relabelled: %v; want a Merkle root problem", probs)
	}
	m.Captures[1].Redirect = true
	m.Captures[1].BlockDigest = "sha256:zz"
	if _, err := m.Digests(); err == nil {
		t.Error("malformed redirect block digest accepted")
	}
}
