package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	gowarc "github.com/nlnwa/gowarc/v3"
)

// payload returns a deterministic pseudo-random stream of n bytes. It is
// generated on the fly, so a 20 MB payload is never held in memory.
func payload(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// payloadSHA computes the expected digest by regenerating the stream.
func payloadSHA(t testing.TB, seed uint64, n int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, payload(seed, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func testExchange(uri string, seed uint64, n int64) Exchange {
	return Exchange{
		TargetURI:      uri,
		RequestHeader:  http.Header{"User-Agent": {"leakwatch-test/1"}, "Accept": {"*/*"}},
		StatusCode:     200,
		Status:         "200 OK",
		ResponseHeader: http.Header{"Content-Type": {"application/octet-stream"}, "Server": {"test"}},
		Payload:        payload(seed, n),
		FetchTime:      time.Date(2025, 3, 1, 12, 0, 0, int(seed)*1000, time.UTC),
		RemoteIP:       netip.MustParseAddr("127.0.0.1"),
	}
}

// writeSequential writes n small exchanges one after the other into one
// file and returns their records.
func writeSequential(t *testing.T, dir string, n int) []Record {
	t.Helper()
	w, err := NewWriter(dir, WriterOptions{RunID: "seq"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range n {
		rec, err := w.WriteExchange(context.Background(), testExchange("https://example.test/page/"+string(rune('a'+i)), uint64(100+i), 40_000+int64(i)*1000))
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

type warcEntry struct {
	file         string
	typ          string
	offset, size int64
}

// readWithGowarc reads a WARC file with gowarc's strict reader (which
// recomputes block and payload digests) and returns its records by id.
func readWithGowarc(t *testing.T, path string) (map[string]warcEntry, []string, error) {
	t.Helper()
	r, err := gowarc.NewWarcFileReader(path, 0, gowarc.WithStrictValidation())
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	entries := map[string]warcEntry{}
	var order []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return entries, order, nil
		}
		if err != nil {
			return entries, order, err
		}
		if len(rec.Validation) > 0 {
			rec.Close()
			return entries, order, errors.Join(rec.Validation...)
		}
		id := rec.WarcRecord.WarcHeader().Get(gowarc.WarcRecordID)
		entries[id] = warcEntry{file: path, typ: rec.WarcRecord.Type().String(), offset: rec.Offset, size: rec.Size}
		order = append(order, id)
		rec.Close()
	}
}

// rewriteMember replaces the gzip member at [off, off+length) of path with
// a recompressed, mutated copy and returns the new member's length.
func rewriteMember(t *testing.T, path string, off, length int64, mutate func([]byte) []byte) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data[off : off+length]))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var member bytes.Buffer
	zw := gzip.NewWriter(&member)
	zw.Write(mutate(plain))
	zw.Close()
	out := append(append(append([]byte{}, data[:off]...), member.Bytes()...), data[off+length:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return int64(member.Len())
}

// payloadStart returns the index of the HTTP payload in a decompressed
// response record.
func payloadStart(t *testing.T, rec []byte) int {
	t.Helper()
	warcEnd := bytes.Index(rec, []byte("\r\n\r\n"))
	httpEnd := bytes.Index(rec[warcEnd+4:], []byte("\r\n\r\n"))
	if warcEnd < 0 || httpEnd < 0 {
		t.Fatal("record has no header ends")
	}
	return warcEnd + 4 + httpEnd + 4
}

func warcFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.warc.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// unpackBundle extracts a bundle (tar.gz) into out and returns its member
// names in order, and their contents.
func unpackBundle(t *testing.T, r io.Reader, out string) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	contents := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names, contents
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		contents[hdr.Name] = b
		p := filepath.Join(out, filepath.FromSlash(hdr.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
