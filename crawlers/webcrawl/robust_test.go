package webcrawl

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/storage"
)

// gzipBomb is an HTML page that is small on the wire and inflates to n
// bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write([]byte("<!doctype html><html><body><!--"))
	chunk := bytes.Repeat([]byte{'A'}, 1<<20)
	for written := 0; written < n; written += len(chunk) {
		zw.Write(chunk)
	}
	zw.Close()
	return b.Bytes()
}

// A page whose Content-Encoding inflates far past the page cap is cut at
// the cap on decoded bytes: the crawl survives, in bounded memory, says
// why, and still fetches the rest of the site.
func TestGzipBombPage(t *testing.T) {
	bomb := gzipBomb(t, 1<<30) // 1 GiB decoded, ~1 MB on the wire
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/bomb">bomb</a> <a href="/good.txt">good</a> <a href="/gz">gz</a>`)
	})
	mux.HandleFunc("/bomb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
	})
	mux.HandleFunc("/gz", func(w http.ResponseWriter, r *http.Request) {
		// A well-behaved gzip page: decoded, parsed, its link followed.
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`<html><body><a href="/behind-gzip.txt">x</a></body></html>`))
		zw.Close()
	})
	mux.HandleFunc("/good.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("a good file\n"))
	})
	mux.HandleFunc("/behind-gzip.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte("found through a gzip page\n"))
	})

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sink := &memSink{}
	st, err := crawl(t, Options{MaxPageBytes: 8 << 20}, ts.URL+"/", sink)
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	f := sink.get(t, ts.URL+"/bomb")
	if f.Err == nil || !strings.Contains(f.Err.Error(), "decoded") || !f.Digest.Truncated || f.Body != nil {
		t.Errorf("bomb page: %+v; want a decoded-size error, truncated, no content", f)
	}
	if f.Digest.Size > int64(len(bomb)) {
		t.Errorf("bomb page: %d raw bytes hashed, more than the %d sent", f.Digest.Size, len(bomb))
	}
	if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 200<<20 {
		t.Errorf("crawl allocated %d MB for a 1 GiB bomb; the cap must bound decoding", grew>>20)
	}
	for _, p := range []string{"/good.txt", "/behind-gzip.txt"} {
		if g := sink.get(t, ts.URL+p); g.Err != nil || g.Kind != storage.CaptureFile {
			t.Errorf("%s: %+v", p, g)
		}
	}
	if st.Errors["too large"] != 1 {
		t.Errorf("errors by kind %v; want one too large", st.Errors)
	}
}

// A body that trickles (never idle, so the idle timeout never fires) is cut
// once its average rate falls below the floor after the grace period, and
// it blocks nothing else: the other fetches run beside it.
func TestDripIsCutAndBlocksNothing(t *testing.T) {
	mux := http.NewServeMux()
	ts, release := newServer(t, mux)
	var links strings.Builder
	for i := range 8 {
		fmt.Fprintf(&links, `<a href="/f/%d.txt">f%d</a> `, i, i)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/drip.zip">drip</a> <a href="/drip-page">drip page</a> `+links.String())
	})
	drip := func(ct string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			rc := http.NewResponseController(w)
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				rc.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-release:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	mux.HandleFunc("/drip.zip", drip("application/zip"))
	mux.HandleFunc("/drip-page", drip("text/html"))
	var mu sync.Mutex
	var fileTimes []time.Time
	mux.HandleFunc("/f/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fileTimes = append(fileTimes, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte("file " + r.URL.Path))
	})

	start := time.Now()
	sink := &memSink{}
	// 10 bytes/s sent against a floor of 1 KiB/s after 3 s; the idle timeout
	// (1 minute) would never fire.
	st, err := crawl(t, Options{Workers: 3, MinRate: 1 << 10, Grace: 3 * time.Second, IdleTimeout: time.Minute}, ts.URL+"/", sink)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for _, p := range []string{"/drip.zip", "/drip-page"} {
		f := sink.get(t, ts.URL+p)
		if !errors.Is(f.Err, errSlow) {
			t.Errorf("%s: err %v; want too slow", p, f.Err)
		}
	}
	if took > 20*time.Second {
		t.Errorf("crawl took %s; the drips must be cut after about a second", took)
	}
	for i := range 8 {
		if f := sink.get(t, fmt.Sprintf("%s/f/%d.txt", ts.URL, i)); f.Err != nil {
			t.Errorf("file %d: %v", i, f.Err)
		}
	}
	// With both drips in flight, the third worker fetched every file
	// before they were cut.
	mu.Lock()
	last := fileTimes[len(fileTimes)-1]
	mu.Unlock()
	if last.Sub(start) > 2500*time.Millisecond {
		t.Errorf("last file fetched %s after the start: the drips blocked the other fetches", last.Sub(start))
	}
	if st.Errors["too slow"] != 2 {
		t.Errorf("errors by kind %v; want 2 too slow", st.Errors)
	}
}

// The run budget ends a crawl on time, says so, and keeps what was
// captured before it.
func TestRunBudget(t *testing.T) {
	mux := http.NewServeMux()
	ts, release := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/a.txt">a</a> <a href="/stuck">stuck</a>`)
	})
	mux.HandleFunc("/a.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("a"))
	})
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	start := time.Now()
	sink := &memSink{}
	st, err := crawl(t, Options{RunBudget: 700 * time.Millisecond, HeaderTimeout: time.Minute}, ts.URL+"/", sink)
	if err != nil {
		t.Fatalf("a crawl that ran out of budget is not a failure: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("crawl took %s with a 700 ms budget", took)
	}
	if st.Stopped != StopRunBudget {
		t.Errorf("stopped %q, want %q", st.Stopped, StopRunBudget)
	}
	if !sink.has(ts.URL+"/a.txt") || sink.has(ts.URL+"/stuck") {
		t.Errorf("captures: %s; want a.txt kept and the cut fetch left for the next run", sink.dump())
	}
}

// Servers lie about types both ways: the bytes decide.
func TestContentTypeLies(t *testing.T) {
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/page-as-download">p</a> <a href="/zip-as-html">z</a>`)
	})
	mux.HandleFunc("/page-as-download", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte(`<!DOCTYPE html><html><body><a href="/behind.txt">more</a></body></html>`))
	})
	mux.HandleFunc("/zip-as-html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 600)...))
	})
	mux.HandleFunc("/behind.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("behind a mislabelled page"))
	})
	sink := &memSink{}
	if _, err := crawl(t, Options{KeepBody: 1 << 20}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	if f := sink.get(t, ts.URL+"/page-as-download"); f.Kind != storage.CapturePage || f.Err != nil {
		t.Errorf("HTML served as a download: %+v; want a page", f)
	}
	if f := sink.get(t, ts.URL+"/zip-as-html"); f.Kind != storage.CaptureFile || f.Err != nil || len(f.Body) != 604 {
		t.Errorf("zip served as HTML: kind %s err %v body %d; want the whole file", f.Kind, f.Err, len(f.Body))
	}
	if !sink.has(ts.URL + "/behind.txt") {
		t.Error("the mislabelled page's link was not followed")
	}
}

// A page's content — its posts — goes to the matcher; the site's chrome
// (navigation, header, footer, signatures) does not, however often it
// repeats what the site sells.
func TestPageContentWithoutChrome(t *testing.T) {
	const pasted = "Patient ZAC5361 presented with a persistent cough; chest X-ray clear"
	const sig = "FRESH HEALTH DUMPS ZVU27KZ every week"
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<nav><a href="/">Home</a> `+sig+`</nav><header>KEA LEAKS `+sig+`</header>
<div class="post"><div class="content"><p>proof:</p><pre>`+pasted+`</pre></div>
<div class="signature">`+sig+`</div></div>
<table><tr><td>ZAD96LT</td><td>jane@example.test</td></tr></table>
<footer>`+sig+`</footer><script>var x = "`+sig+`";</script>`)
	})
	sink := &memSink{}
	if _, err := crawl(t, Options{}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	f := sink.get(t, ts.URL+"/")
	body := string(f.Body)
	for _, want := range []string{pasted, "ZAD96LT", "jane@example.test"} {
		if !strings.Contains(body, want) {
			t.Errorf("content lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, sig) {
		t.Errorf("content carries the site's chrome:\n%s", body)
	}
	if f.Digest.Size == 0 || f.Digest.SHA256 == "" {
		t.Errorf("page digest %+v", f.Digest)
	}
}

// Every URL is requested once: no probe before the download.
func TestOneRequestPerURL(t *testing.T) {
	var cnt counter
	mux := http.NewServeMux()
	ts, _ := newServer(t, cnt.wrap(mux))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/x.pdf">x</a> <a href="/t">t</a>`)
	})
	mux.HandleFunc("/t", func(w http.ResponseWriter, r *http.Request) { html(w, `<a href="/x.pdf">x again</a>`) })
	mux.HandleFunc("/x.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write([]byte("%PDF-1.4 synthetic"))
	})
	if _, err := crawl(t, Options{}, ts.URL+"/", &memSink{}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"/", "/t", "/x.pdf"} {
		if n := cnt.get(u); n != 1 {
			t.Errorf("%s requested %d times, want 1", u, n)
		}
	}
}

// With Options.Evidence every response is written as WARC while it is
// read: the records verify, their payload digests are the captures'
// digests, and a cut fetch is marked truncated.
func TestEvidenceRecorded(t *testing.T) {
	site := sampleSite(leaksim.Options{DisableRedirect: true})
	ts, _ := newServer(t, site)
	dir := t.TempDir()
	w, err := evidence.NewWriter(dir, evidence.WriterOptions{RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if _, err := crawl(t, Options{Evidence: w, MaxDownloadBytes: 1 << 20}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var recs []evidence.Record
	for _, f := range sink.all() {
		if f.Status == 0 {
			continue // no response, nothing to record
		}
		if f.Evidence == nil {
			t.Errorf("%s: no evidence record", f.URL)
			continue
		}
		recs = append(recs, *f.Evidence)
		if !f.Digest.Truncated && f.Err == nil && f.Evidence.PayloadSHA256 != f.Digest.SHA256 {
			t.Errorf("%s: WARC payload %s, capture digest %s", f.URL, f.Evidence.PayloadSHA256, f.Digest.SHA256)
		}
		if f.Evidence.Truncated == "" {
			sr, err := evidence.ReadRecord(dir, *f.Evidence)
			if err != nil {
				t.Fatalf("%s: %v", f.URL, err)
			}
			if ip := sr.Header.Get("WARC-IP-Address"); ip != "127.0.0.1" {
				t.Errorf("%s: WARC-IP-Address %q, want the server's 127.0.0.1", f.URL, ip)
			}
			sr.Close()
		}
		if f.URL == ts.URL+leaksim.HugePath && f.Evidence.Truncated == "" {
			t.Errorf("refused download recorded as complete: %+v", f.Evidence)
		}
	}
	if len(recs) < 10 {
		t.Fatalf("%d records", len(recs))
	}
	if probs := evidence.Verify(dir, recs); len(probs) != 0 {
		t.Fatalf("evidence does not verify: %+v", probs)
	}
}

// Source kinds read their kind of site: a forum's posts are its content, a
// directory listing is navigation whose every entry is followed (but not
// its parent or sort links), and the source's selectors and URL filters
// override the kind.
func TestSourceKinds(t *testing.T) {
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/forum", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<div class="intro">Welcome to the board</div>
<div class="post"><div class="post-body">first post ZAC5361</div></div>
<div class="post"><div class="post-body">second post</div></div>
<a href="/logout">log out</a> <a href="/t/1">thread</a> <a class="nx" href="/forum/more">more</a>`)
	})
	mux.HandleFunc("/dir/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dir/" && r.URL.Path != "/dir/a/" && r.URL.Path != "/dir/a/b/" && r.URL.Path != "/dir/a/b/c/" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("file " + r.URL.Path))
			return
		}
		sub := map[string]string{"/dir/": "a/", "/dir/a/": "b/", "/dir/a/b/": "c/", "/dir/a/b/c/": ""}[r.URL.Path]
		html(w, `<h1>Index of `+r.URL.Path+`</h1><a href="?C=N;O=D">Name</a> <a href="../">Parent Directory</a>
<a href="`+sub+`">`+sub+`</a> <a href="x.csv">x.csv</a>`)
	})
	for _, p := range []string{"/t/1", "/forum/more", "/logout"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { html(w, "page") })
	}

	sink := &memSink{}
	if _, err := crawl(t, Options{Kind: storage.SourceForum, Deny: []string{"/logout$"}}, ts.URL+"/forum", sink); err != nil {
		t.Fatal(err)
	}
	body := string(sink.get(t, ts.URL+"/forum").Body)
	if !strings.Contains(body, "first post ZAC5361") || !strings.Contains(body, "second post") || strings.Contains(body, "Welcome") {
		t.Errorf("forum content is not the posts:\n%s", body)
	}
	if sink.has(ts.URL+"/logout") || !sink.has(ts.URL+"/t/1") {
		t.Errorf("deny/follow wrong:\n%s", sink.dump())
	}

	// Selectors: follow only what they name; "next" costs no depth.
	sink = &memSink{}
	if _, err := crawl(t, Options{MaxDepth: -1, Selectors: storage.Selectors{Links: "a.none", Next: "a.nx", Content: ".intro"}},
		ts.URL+"/forum", sink); err != nil {
		t.Fatal(err)
	}
	if !sink.has(ts.URL+"/forum/more") || sink.has(ts.URL+"/t/1") {
		t.Errorf("selectors not followed as given:\n%s", sink.dump())
	}
	if body := string(sink.get(t, ts.URL+"/forum").Body); !strings.Contains(body, "Welcome") || strings.Contains(body, "first post") {
		t.Errorf("content selector ignored:\n%s", body)
	}

	// A directory listing, three levels deep with the default depth of 3
	// hops: every level and file, no parent or sort links, no content.
	sink = &memSink{}
	if _, err := crawl(t, Options{Kind: storage.SourceOpenDir, MaxDepth: -1}, ts.URL+"/dir/", sink); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dir/x.csv", "/dir/a/x.csv", "/dir/a/b/c/x.csv"} {
		if f := sink.get(t, ts.URL+p); f.Kind != storage.CaptureFile {
			t.Errorf("%s: %+v", p, f)
		}
	}
	for _, f := range sink.all() {
		if strings.Contains(f.URL, "?C=") || f.URL == ts.URL+"/" {
			t.Errorf("listing's own link followed: %s", f.URL)
		}
		if f.Kind == storage.CapturePage && f.Body != nil {
			t.Errorf("a listing was given content to match: %s", f.URL)
		}
	}

	for _, o := range []Options{{Kind: "telegram"}, {Allow: []string{"(x"}}, {Selectors: storage.Selectors{Content: "p["}}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted bad rules", o)
		}
	}
}

func TestParseCookiesAndUseThem(t *testing.T) {
	const txt = "# Netscape HTTP Cookie File\n" +
		"127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc123\n" +
		"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t4102444800\tother\tx\n\n"
	cs, err := ParseCookies(strings.NewReader(txt))
	if err != nil || len(cs) != 2 || cs[0].Name != "sid" || cs[0].Value != "abc123" || !cs[1].HttpOnly || cs[1].Expires.Year() != 2100 {
		t.Fatalf("ParseCookies = %+v, %v", cs, err)
	}
	if _, err := ParseCookies(strings.NewReader("a\tb\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: %v", err)
	}
	// The session cookie opens the members' page.
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "abc123" {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		html(w, "members only")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { html(w, `<form><input type="password"></form>`) })
	sink := &memSink{}
	if _, err := crawl(t, Options{Cookies: cs}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	if f := sink.get(t, ts.URL+"/"); f.Err != nil || !strings.Contains(string(f.Body), "members only") {
		t.Errorf("with the session: %+v", f)
	}
	sink = &memSink{}
	if _, err := crawl(t, Options{}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	if f := sink.get(t, ts.URL+"/"); !errors.Is(f.Err, errLoginWall) {
		t.Errorf("without the session: err %v; want the login wall", f.Err)
	}
}

// A blog's articles and a paste's text are their content; a source that
// wants only some file types records the others from their headers alone;
// a rate cap spaces the requests.
func TestKindsFileTypesAndRate(t *testing.T) {
	var cnt counter
	mux := http.NewServeMux()
	ts, _ := newServer(t, cnt.wrap(mux))
	mux.HandleFunc("/blog", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<div class="side">Subscribe</div><article><h2>Kea Health</h2><p>files below</p>
<a href="/d/a.pdf">a</a> <a href="/d/b.zip">b</a></article>`)
	})
	mux.HandleFunc("/paste/1", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<div class="ads">buy now</div><pre>ZAC5361,Jane,Doe</pre>`)
	})
	mux.HandleFunc("/d/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if strings.HasSuffix(r.URL.Path, ".pdf") {
			w.Write([]byte("%PDF-1.4 synthetic"))
			return
		}
		w.Write(append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 4096)...))
	})

	sink := &memSink{}
	start := time.Now()
	if _, err := crawl(t, Options{Kind: storage.SourceLeakBlog, FileTypes: []string{"pdf"}, Rate: 5, Workers: 3}, ts.URL+"/blog", sink); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Errorf("3 requests at 5/s took %s; want the rate cap to space them", took)
	}
	if b := string(sink.get(t, ts.URL+"/blog").Body); !strings.Contains(b, "files below") || strings.Contains(b, "Subscribe") {
		t.Errorf("blog content:\n%s", b)
	}
	if f := sink.get(t, ts.URL+"/d/a.pdf"); f.Err != nil || f.Digest.Size == 0 {
		t.Errorf("wanted pdf: %+v", f)
	}
	if f := sink.get(t, ts.URL+"/d/b.zip"); !errors.Is(f.Err, errUnwanted) || f.Digest.SHA256 != "" || f.Body != nil {
		t.Errorf("unwanted zip: err %v digest %+v", f.Err, f.Digest)
	}

	sink = &memSink{}
	if _, err := crawl(t, Options{Kind: storage.SourcePaste}, ts.URL+"/paste/1", sink); err != nil {
		t.Fatal(err)
	}
	if b := string(sink.get(t, ts.URL+"/paste/1").Body); !strings.Contains(b, "ZAC5361,Jane,Doe") || strings.Contains(b, "buy now") {
		t.Errorf("paste content:\n%s", b)
	}
}

// A zip over the download cap on a server that serves ranges is not
// downloaded, but its directory is read from its end: the members, with
// their CRC-32 and size, in a few requests and a small part of its bytes.
func TestZipDirectoryOverCap(t *testing.T) {
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	want := map[string]uint32{}
	for i := range 40 {
		name := fmt.Sprintf("dump/patient-%03d.bin", i)
		data := bytes.Repeat([]byte{byte(i), byte(i * 7), 3}, 20_000)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(data)
		want[name] = crc32.ChecksumIEEE(data)
	}
	zw.Close()
	archive := zb.Bytes()
	var mu sync.Mutex
	served := 0
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { html(w, `<a href="/full_dump.zip">dump</a>`) })
	mux.HandleFunc("/full_dump.zip", func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		http.ServeContent(cw, r, "full_dump.zip", time.Time{}, bytes.NewReader(archive))
		if r.Header.Get("Range") != "" {
			mu.Lock()
			served += cw.n
			mu.Unlock()
		}
	})
	sink := &memSink{}
	if _, err := crawl(t, Options{MaxDownloadBytes: 256 << 10}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	f := sink.get(t, ts.URL+"/full_dump.zip")
	if len(f.Members) != 40 || !strings.Contains(f.Err.Error(), "directory lists 40 members") {
		t.Fatalf("members %d, err %v", len(f.Members), f.Err)
	}
	for _, m := range f.Members {
		if want[m.Name] != m.CRC32 || m.Size != 60_000 {
			t.Errorf("member %+v, want CRC %08x size 60000", m, want[m.Name])
		}
	}
	ts.Close() // waits for the handlers, which count after the client has read
	mu.Lock()
	defer mu.Unlock()
	if served >= len(archive)/2 {
		t.Errorf("ranged requests read %d of the archive's %d bytes to list its directory", served, len(archive))
	}
}

type countingWriter struct {
	http.ResponseWriter
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += n
	return n, err
}
