package evidence

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTripConcurrent(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{RunID: "run-1", MaxFileSize: 256 << 10, SpoolMemory: 64 << 10, Info: map[string]string{"operator": "test"}})
	if err != nil {
		t.Fatal(err)
	}

	type job struct {
		ex   Exchange
		seed uint64
		size int64
	}
	certHash := sha256.Sum256([]byte("leaf certificate"))
	var jobs []job
	add := func(ex Exchange, seed uint64, size int64) {
		ex.Payload = payload(seed, size)
		jobs = append(jobs, job{ex, seed, size})
	}
	small := testExchange("https://example.test/index.html", 1, 2048)
	small.TLSCertSHA256 = certHash[:]
	small.ResponseHeader = http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	add(small, 1, 2048)

	empty := testExchange("https://example.test/empty", 2, 0)
	empty.StatusCode, empty.Status = 204, ""
	add(empty, 2, 0)

	post := testExchange("https://example.test/login?next=%2F", 3, 900)
	post.Method = "POST"
	post.RequestBody = []byte("user=a&pass=b")
	post.RequestHeader.Set("Content-Type", "application/x-www-form-urlencoded")
	add(post, 3, 900)

	trunc := testExchange("https://example.test/dump.sql", 4, 500_000)
	trunc.Truncated = TruncatedLength
	add(trunc, 4, 500_000)

	onion := testExchange("http://leakforumabcdefghijklmnopqrstuvwxyz234567abcdefghijkl.onion/thread?id=7", 5, 30_000)
	onion.RemoteIP = netip.Addr{}
	onion.Via = "socks5h://127.0.0.1:9050"
	onion.ResponseProto = "HTTP/2.0"
	onion.Status = "OK"
	add(onion, 5, 30_000)

	big := testExchange("https://example.test/big.7z", 6, 20<<20)
	add(big, 6, 20<<20)

	for i := range 8 {
		add(testExchange("https://example.test/post/"+string(rune('a'+i)), uint64(10+i), int64(10_000+i*37_000)), uint64(10+i), int64(10_000+i*37_000))
	}

	recs := make([]Record, len(jobs))
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := w.WriteExchange(context.Background(), j.ex)
			if err != nil {
				errs <- err
				return
			}
			recs[i] = rec
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteExchange(context.Background(), testExchange("https://example.test/late", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}

	// Read every capture back and compare with an independent digest of
	// the generated stream.
	for i, j := range jobs {
		rec := recs[i]
		want := payloadSHA(t, j.seed, j.size)
		if rec.PayloadSHA256 != want || rec.PayloadLength != j.size {
			t.Errorf("%s: record says %s/%d, want %s/%d", j.ex.TargetURI, rec.PayloadSHA256, rec.PayloadLength, want, j.size)
		}
		if !strings.HasPrefix(rec.File, "run-1/run-1-") || rec.Length <= 0 || rec.RequestOffset+rec.RequestLength != rec.Offset {
			t.Errorf("%s: bad location %+v", j.ex.TargetURI, rec)
		}
		s, err := ReadRecord(dir, rec)
		if err != nil {
			t.Fatalf("%s: %v", j.ex.TargetURI, err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, s); err != nil {
			t.Fatalf("%s: reading payload: %v", j.ex.TargetURI, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: payload read back hashes to %s, want %s", j.ex.TargetURI, got, want)
		}
		if s.BlockDigest() != rec.BlockDigest || s.Header.Get("WARC-Block-Digest") != rec.BlockDigest {
			t.Errorf("%s: block digest %s / header %s / record %s", j.ex.TargetURI, s.BlockDigest(), s.Header.Get("WARC-Block-Digest"), rec.BlockDigest)
		}
		if s.Header.Get("WARC-Payload-Digest") != "sha256:"+want {
			t.Errorf("%s: WARC-Payload-Digest %s", j.ex.TargetURI, s.Header.Get("WARC-Payload-Digest"))
		}
		if s.Version != "WARC/1.1" || s.Header.Get("WARC-Type") != "response" || s.Header.Get("WARC-Target-URI") != j.ex.TargetURI {
			t.Errorf("%s: header %v", j.ex.TargetURI, s.Header)
		}
		if s.StatusCode != j.ex.StatusCode {
			t.Errorf("%s: status %d", j.ex.TargetURI, s.StatusCode)
		}
		if got, want := s.Header.Get("WARC-Date"), j.ex.FetchTime.UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("%s: WARC-Date %s, want %s", j.ex.TargetURI, got, want)
		}
		if got := s.Header.Get("WARC-Concurrent-To"); got != rec.RequestRecordID {
			t.Errorf("%s: WARC-Concurrent-To %s, want %s", j.ex.TargetURI, got, rec.RequestRecordID)
		}
		wantIP := ""
		if j.ex.RemoteIP.IsValid() {
			wantIP = j.ex.RemoteIP.String()
		}
		if got := s.Header.Get("WARC-IP-Address"); got != wantIP {
			t.Errorf("%s: WARC-IP-Address %q, want %q", j.ex.TargetURI, got, wantIP)
		}
		if got := s.Header.Get("WARC-Truncated"); got != j.ex.Truncated {
			t.Errorf("%s: WARC-Truncated %q", j.ex.TargetURI, got)
		}
		s.Close()
	}
	if s, err := ReadRecord(dir, recs[0]); err != nil {
		t.Fatal(err)
	} else {
		if s.HTTPHeader.Get("Content-Type") != "text/html; charset=utf-8" || s.HTTPStartLine != "HTTP/1.1 200 OK" {
			t.Errorf("HTTP head %q %v", s.HTTPStartLine, s.HTTPHeader)
		}
		if got := s.Header.Get("Leakwatch-Peer-Certificate"); got != "sha256:"+hex.EncodeToString(certHash[:]) {
			t.Errorf("Leakwatch-Peer-Certificate %q", got)
		}
		s.Close()
	}
	if s, err := ReadRecord(dir, recs[4]); err != nil {
		t.Fatal(err)
	} else {
		if s.HTTPStartLine != "HTTP/2.0 200 OK" || s.Header.Get("Leakwatch-Via") != "socks5h://127.0.0.1:9050" {
			t.Errorf("onion record: %q %v", s.HTTPStartLine, s.Header)
		}
		s.Close()
	}

	if probs := Verify(dir, recs); len(probs) != 0 {
		t.Fatalf("Verify on untouched files: %v", probs)
	}

	// The files validate with an independent reader (gowarc, strict), and
	// its offsets and sizes agree with ours.
	files := warcFiles(t, dir)
	if len(files) < 2 {
		t.Fatalf("expected rotation into several files, got %v", files)
	}
	all := map[string]warcEntry{}
	for _, f := range files {
		entries, order, err := readWithGowarc(t, f)
		if err != nil {
			t.Fatalf("gowarc rejects %s: %v", f, err)
		}
		if len(order) == 0 || entries[order[0]].typ != "warcinfo" {
			t.Errorf("%s does not start with warcinfo", f)
		}
		for id, e := range entries {
			all[id] = e
		}
		// What `zcat file | head -1` shows.
		fh, _ := os.Open(f)
		zr, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, 10)
		io.ReadFull(zr, first)
		fh.Close()
		if string(first) != "WARC/1.1\r\n" {
			t.Errorf("%s starts with %q", f, first)
		}
	}
	for _, rec := range recs {
		e, ok := all[rec.RecordID]
		if !ok || e.typ != "response" || e.offset != rec.Offset || e.size != rec.Length || e.file != filepath.Join(dir, filepath.FromSlash(rec.File)) {
			t.Errorf("gowarc sees response %s as %+v, we recorded %s@%d+%d", rec.RecordID, e, rec.File, rec.Offset, rec.Length)
		}
		e, ok = all[rec.RequestRecordID]
		if !ok || e.typ != "request" || e.offset != rec.RequestOffset || e.size != rec.RequestLength {
			t.Errorf("gowarc sees request %s as %+v, we recorded %d+%d", rec.RequestRecordID, e, rec.RequestOffset, rec.RequestLength)
		}
	}

	// Close removed the spool; only WARC files remain.
	entries, _ := os.ReadDir(filepath.Join(dir, "run-1"))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".warc.gz") {
			t.Errorf("left behind in run dir: %s", e.Name())
		}
	}
}

// TestLargePayloadBoundedMemory checks that a 20 MB payload is streamed:
// the bytes allocated while writing it are no more than for a 2 MB payload
// (plus slack) and far below the payload size, and the same holds for
// verifying it.
func TestLargePayloadBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{RunID: "big"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Warm up pools so that one-off setup is not counted.
	if _, err := w.WriteExchange(context.Background(), testExchange("https://example.test/warm", 1, 4<<20)); err != nil {
		t.Fatal(err)
	}
	measure := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	write := func(seed uint64, size int64) (rec Record) {
		alloc := measure(func() {
			rec, err = w.WriteExchange(context.Background(), testExchange("https://example.test/file", seed, size))
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("writing a %d MiB payload allocated %.1f MiB", size>>20, float64(alloc)/(1<<20))
		if rec.PayloadSHA256 != payloadSHA(t, seed, size) {
			t.Fatal("digest mismatch")
		}
		return rec
	}
	const small, large = 2 << 20, 20 << 20
	var smallAlloc, largeAlloc uint64
	smallAlloc = measure(func() { write(76, small) })
	var rec Record
	largeAlloc = measure(func() { rec = write(77, large) })
	if largeAlloc > smallAlloc+2<<20 || largeAlloc > large*3/4 {
		t.Errorf("allocations grow with the payload: %d bytes for %d MiB, %d bytes for %d MiB", smallAlloc, small>>20, largeAlloc, large>>20)
	}

	var probs []Problem
	alloc := measure(func() { probs = Verify(dir, []Record{rec}) })
	if len(probs) != 0 {
		t.Fatal(probs)
	}
	t.Logf("verifying it allocated %.1f MiB", float64(alloc)/(1<<20))
	if alloc > 4<<20 {
		t.Errorf("verifying a %d MiB payload allocated %d bytes", large>>20, alloc)
	}
}

type cancelAfterFirstRead struct {
	r      io.Reader
	cancel func()
}

func (c *cancelAfterFirstRead) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.cancel()
	return n, err
}

func TestWriteExchangeCancelledWritesNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{RunID: "cancel"})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := w.WriteExchange(context.Background(), testExchange("https://example.test/a", 1, 1000))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ex := testExchange("https://example.test/b", 2, 1<<20)
	ex.Payload = &cancelAfterFirstRead{r: ex.Payload, cancel: cancel}
	if _, err := w.WriteExchange(ctx, ex); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ok.File)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != ok.Offset+ok.Length {
		t.Errorf("file is %d bytes, want %d: cancelled exchange was written", st.Size(), ok.Offset+ok.Length)
	}
}

func TestWriterResumesWithNewFile(t *testing.T) {
	dir := t.TempDir()
	var recs []Record
	for i := range 2 {
		w, err := NewWriter(dir, WriterOptions{RunID: "resume"})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := w.WriteExchange(context.Background(), testExchange("https://example.test/x", uint64(i), 100))
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		recs = append(recs, rec)
	}
	if recs[0].File != "resume/resume-00001.warc.gz" || recs[1].File != "resume/resume-00002.warc.gz" {
		t.Errorf("files %s, %s", recs[0].File, recs[1].File)
	}
	if probs := Verify(dir, recs); len(probs) != 0 {
		t.Error(probs)
	}
}

func TestGeneratedRunID(t *testing.T) {
	w, err := NewWriter(t.TempDir(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !runIDPattern.MatchString(w.RunID()) || len(w.RunID()) != len("20060102T150405Z-0123abcd") {
		t.Errorf("generated run id %q", w.RunID())
	}
}

func TestWriterRejectsBadInput(t *testing.T) {
	for _, id := range []string{"../x", ".hidden", "a/b", strings.Repeat("x", 200)} {
		if _, err := NewWriter(t.TempDir(), WriterOptions{RunID: id}); err == nil {
			t.Errorf("run id %q accepted", id)
		}
	}
	w, err := NewWriter(t.TempDir(), WriterOptions{RunID: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cases := map[string]func(*Exchange){
		"relative URI":   func(e *Exchange) { e.TargetURI = "/x" },
		"bad method":     func(e *Exchange) { e.Method = "GET /evil" },
		"bad status":     func(e *Exchange) { e.StatusCode = 0 },
		"bad proto":      func(e *Exchange) { e.ResponseProto = "SPDY" },
		"bad truncation": func(e *Exchange) { e.Truncated = "yes" },
		"bad cert hash":  func(e *Exchange) { e.TLSCertSHA256 = []byte{1, 2} },
	}
	for name, mutate := range cases {
		ex := testExchange("https://example.test/", 1, 10)
		mutate(&ex)
		if _, err := w.WriteExchange(context.Background(), ex); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestResponseHeadStatusForms(t *testing.T) {
	for _, c := range []struct {
		code   int
		status string
		want   string
	}{
		{200, "200 OK", "HTTP/1.1 200 OK\r\n"},
		{200, "OK", "HTTP/1.1 200 OK\r\n"},
		{404, "", "HTTP/1.1 404 Not Found\r\n"},
		{599, "", "HTTP/1.1 599\r\n"},
		{200, "OK\r\nX-Injected: 1", "HTTP/1.1 200 OK  X-Injected: 1\r\n"},
	} {
		got := responseHead("HTTP/1.1", c.code, c.status, nil)
		if !bytes.HasPrefix(got, []byte(c.want)) {
			t.Errorf("%d %q: got %q", c.code, c.status, got)
		}
	}
}

type failingReader struct {
	r     io.Reader
	after int64
	n     int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= f.after {
		return 0, errors.New("connection reset by peer")
	}
	if int64(len(p)) > f.after-f.n {
		p = p[:f.after-f.n]
	}
	n, err := f.r.Read(p)
	f.n += int64(n)
	return n, err
}

func TestPayloadReadErrorKeepsReceivedBytes(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{RunID: "reset"})
	if err != nil {
		t.Fatal(err)
	}
	ex := testExchange("https://example.test/reset", 9, 1<<20)
	ex.Payload = &failingReader{r: ex.Payload, after: 300_000}
	rec, err := w.WriteExchange(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if rec.Truncated != TruncatedDisconnect || rec.PayloadLength != 300_000 || rec.PayloadSHA256 != payloadSHA(t, 9, 300_000) {
		t.Errorf("got %+v", rec)
	}
	s, err := ReadRecord(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Header.Get("WARC-Truncated") != "disconnect" {
		t.Errorf("WARC-Truncated %q", s.Header.Get("WARC-Truncated"))
	}
	if probs := Verify(dir, []Record{rec}); len(probs) != 0 {
		t.Error(probs)
	}
}

// slowReader delivers its payload in small steps.
type slowReader struct {
	r io.Reader
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.r.Read(p[:min(len(p), 4096)])
}

func TestCloseWaitsForInFlightWrites(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{RunID: "inflight"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var wg sync.WaitGroup
	recs := make([]Record, 4)
	errs := make([]error, 4)
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex := testExchange("https://example.test/slow", uint64(i), 200_000)
			first := true
			ex.Payload = io.MultiReader(readerFunc(func(p []byte) (int, error) {
				if first {
					first = false
					started <- struct{}{}
				}
				return 0, io.EOF
			}), slowReader{ex.Payload})
			recs[i], errs[i] = w.WriteExchange(context.Background(), ex)
		}()
	}
	for range recs {
		<-started
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if probs := Verify(dir, recs); len(probs) != 0 {
		t.Error(probs)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
