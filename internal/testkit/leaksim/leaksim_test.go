package leaksim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

func links(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	for _, m := range hrefRE.FindAllSubmatch(body, -1) {
		out = append(out, strings.ReplaceAll(string(m[1]), "&amp;", "&"))
	}
	return out
}

// noRedirect returns a client that reports redirects instead of following.
func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func sampleFiles() []File {
	return []File{
		{Name: "lab-00002.pdf", Data: []byte("%PDF-1.4 synthetic lab\n%%EOF\n"), Thread: "Portal sample part 1"},
		{Name: "note-00001.txt", Data: []byte("synthetic clinical note"), Thread: "Portal sample part 1"},
		{Name: "photo-00003.png", Data: []byte("\x89PNG fake"), Thread: "Portal sample part 2"},
		{Name: "patients.csv", Data: []byte("nhi,name\nZAC5361,Test\n"), Thread: "Portal sample part 2"},
		{Name: "photo-00007.jpg", Data: []byte("\xff\xd8\xff fake jpeg")},
		{Name: "dump.bin", Data: []byte{0, 1, 2, 3}},
	}
}

func TestIndexThreadAttachment(t *testing.T) {
	files := sampleFiles()
	site := New(Options{Files: files})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := srv.Client()

	resp, index := testkit.Get(t, c, srv.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("index: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var threads []string
	hasNext := false
	for _, l := range links(t, index) {
		if strings.HasPrefix(l, "/thread/") {
			threads = append(threads, l)
		}
		hasNext = hasNext || l == "/?page=2"
	}
	if len(threads) != 3 || !hasNext {
		t.Fatalf("index links: threads %v, next page %v\n%s", threads, hasNext, index)
	}
	if bytes.Contains(index, []byte(DumpThreadPath)) {
		t.Error("announcement thread must only be listed on the last page")
	}

	want := map[string]File{}
	for _, f := range files {
		want[f.Name] = f
	}
	wantTypes := map[string]string{
		"lab-00002.pdf": "application/pdf", "note-00001.txt": "text/plain; charset=utf-8",
		"photo-00003.png": "image/png", "patients.csv": "text/csv; charset=utf-8",
		"photo-00007.jpg": "image/jpeg", "dump.bin": "application/octet-stream",
	}
	got := 0
	for _, th := range threads {
		_, page := testkit.Get(t, c, srv.URL+th)
		if !bytes.Contains(page, []byte("US$60,000")) {
			t.Errorf("%s: post text missing", th)
		}
		for _, l := range links(t, page) {
			if !strings.HasPrefix(l, "/files/") {
				continue
			}
			resp, data := testkit.Get(t, c, srv.URL+l)
			name := l[strings.LastIndex(l, "/")+1:]
			f, ok := want[name]
			if !ok {
				t.Fatalf("unexpected attachment link %s", l)
			}
			if resp.StatusCode != http.StatusOK || !bytes.Equal(data, f.Data) {
				t.Errorf("%s: status %d, bytes equal %v", l, resp.StatusCode, bytes.Equal(data, f.Data))
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantTypes[name] {
				t.Errorf("%s: Content-Type %q, want %q", l, ct, wantTypes[name])
			}
			got++
		}
	}
	if got != len(files) {
		t.Errorf("fetched %d attachments via thread pages, want %d", got, len(files))
	}
	if n := len(site.Attachments()); n != len(files) {
		t.Errorf("Attachments() = %d, want %d", n, len(files))
	}
}

func TestPaginationAndDumpThread(t *testing.T) {
	var files []File
	for i := range 12 {
		files = append(files, File{Name: fmt.Sprintf("f%d.txt", i), Data: []byte{byte(i)}, Thread: fmt.Sprintf("Thread %02d", i)})
	}
	site := New(Options{Files: files, PageSize: 5})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := srv.Client()

	seen := map[string]bool{}
	for p := 1; p <= 3; p++ {
		resp, body := testkit.Get(t, c, fmt.Sprintf("%s/?page=%d", srv.URL, p))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %s", p, resp.Status)
		}
		for _, l := range links(t, body) {
			if strings.HasPrefix(l, "/thread/") {
				seen[l] = true
			}
		}
		hasNext := bytes.Contains(body, []byte(fmt.Sprintf(`href="/?page=%d"`, p+1)))
		if hasNext != (p < 3) {
			t.Errorf("page %d: next link present = %v", p, hasNext)
		}
	}
	if len(seen) != 13 || !seen[DumpThreadPath] {
		t.Errorf("threads over all pages: %d (dump listed %v), want 13", len(seen), seen[DumpThreadPath])
	}
	if resp, _ := testkit.Get(t, c, srv.URL+"/?page=4"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("page 4: %s, want 404", resp.Status)
	}

	_, dump := testkit.Get(t, c, srv.URL+DumpThreadPath)
	for _, want := range []string{HugePath, MissingPath, OffsiteURL, DumpThreadPath + "?sort=new"} {
		if !bytes.Contains(dump, []byte(`href="`+want+`"`)) {
			t.Errorf("dump thread lacks link %s", want)
		}
	}
	if resp, _ := testkit.Get(t, c, srv.URL+MissingPath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing attachment: %s, want 404", resp.Status)
	}
}

func TestHostileFeaturesDisabled(t *testing.T) {
	site := New(Options{Files: sampleFiles(), DisableHuge: true, DisableMissing: true,
		DisableOffsite: true, DisableRedirect: true, DisableLoop: true})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := srv.Client()
	_, dump := testkit.Get(t, c, srv.URL+DumpThreadPath)
	for _, l := range links(t, dump) {
		if l == HugePath || l == MissingPath || l == OffsiteURL || strings.Contains(l, "?sort=") {
			t.Errorf("disabled feature still linked: %s", l)
		}
	}
	a := site.Attachments()[0]
	_, page := testkit.Get(t, c, srv.URL+a.ThreadPath)
	if bytes.Contains(page, []byte("/go/")) || bytes.Contains(page, []byte("?sort=")) {
		t.Error("thread page links disabled redirect or loop")
	}
	for _, p := range []string{HugePath, "/go/" + a.ID} {
		if resp, _ := testkit.Get(t, noRedirect(c), srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404 when disabled", p, resp.Status)
		}
	}
}

func TestRedirectAndLoop(t *testing.T) {
	site := New(Options{Files: sampleFiles()})
	srv := httptest.NewServer(site)
	defer srv.Close()
	a := site.Attachments()[0]

	resp, _ := testkit.Get(t, noRedirect(srv.Client()), srv.URL+"/go/"+a.ID)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != a.Path {
		t.Fatalf("/go/%s: %s Location %q, want 302 to %s", a.ID, resp.Status, resp.Header.Get("Location"), a.Path)
	}
	resp, body := testkit.Get(t, srv.Client(), srv.URL+"/go/"+a.ID)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, sampleFiles()[0].Data) {
		t.Errorf("following /go/%s: %s", a.ID, resp.Status)
	}

	_, page := testkit.Get(t, srv.Client(), srv.URL+a.ThreadPath)
	if !bytes.Contains(page, []byte(`href="`+a.ThreadPath+`?sort=new"`)) ||
		!bytes.Contains(page, []byte(`href="/go/`+a.ID+`"`)) ||
		!bytes.Contains(page, []byte(`href="`+DumpThreadPath+`"`)) {
		t.Errorf("thread page lacks loop, mirror or dump links:\n%s", page)
	}
	_, page = testkit.Get(t, srv.Client(), srv.URL+a.ThreadPath+"?sort=new")
	if !bytes.Contains(page, []byte(`href="`+a.ThreadPath+`?sort=old"`)) {
		t.Error("?sort=new variant does not link to ?sort=old")
	}

	uris := site.RequestURIs()
	if uris[a.ThreadPath+"?sort=new"] != 1 || uris[a.ThreadPath] != 1 {
		t.Errorf("RequestURIs = %v", uris)
	}
	if reqs := site.Requests(); reqs[a.ThreadPath] != 2 || reqs["/go/"+a.ID] != 2 || reqs[a.Path] != 1 {
		t.Errorf("Requests = %v", reqs)
	}
}

// hugeServer wraps site so the test learns when the huge handler returns.
func hugeServer(site *Site) (*httptest.Server, <-chan struct{}) {
	done := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site.ServeHTTP(w, r)
		if r.URL.Path == HugePath {
			done <- struct{}{}
		}
	}))
	return srv, done
}

func TestHugeDownloadClientCloses(t *testing.T) {
	site := New(Options{})
	srv, done := hugeServer(site)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + HugePath)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != HugeDeclaredSize || resp.Header.Get("Content-Length") != "5000000000" {
		t.Fatalf("declared length %d (%q), want %d", resp.ContentLength, resp.Header.Get("Content-Length"), HugeDeclaredSize)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err != nil || n != 1<<20 {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	resp.Body.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("huge handler still running 5s after the client closed")
	}
	if site.Requests()[HugePath] != 1 {
		t.Errorf("Requests()[HugePath] = %d", site.Requests()[HugePath])
	}
}

func TestHugeDownloadBounded(t *testing.T) {
	const limit = 300 << 10
	site := New(Options{HugeLimit: limit, HugeRate: 16 << 20})
	srv, done := hugeServer(site)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + HugePath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if n != limit || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %d bytes, err %v; want %d then unexpected EOF", n, err, limit)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("huge handler did not return after its bound")
	}

	req, _ := http.NewRequest(http.MethodHead, srv.URL+HugePath, nil)
	head, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.ContentLength != HugeDeclaredSize {
		t.Errorf("HEAD Content-Length %d", head.ContentLength)
	}
}

func TestNotFoundAndRemove(t *testing.T) {
	site := New(Options{Files: sampleFiles()})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := noRedirect(srv.Client())
	atts := site.Attachments()
	first := atts[0]

	for _, p := range []string{"/files/9999/x.pdf", "/thread/nope", "/files/" + first.ID + "/wrong-name.pdf", "/nothing"} {
		if resp, _ := testkit.Get(t, c, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", p, resp.Status)
		}
	}

	if !site.Remove(first.ThreadPath) || site.Remove(first.ThreadPath) {
		t.Fatal("Remove(thread) should succeed once")
	}
	for _, p := range []string{first.ThreadPath, first.Path, "/go/" + first.ID} {
		if resp, _ := testkit.Get(t, c, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("after removal %s: %s, want 404", p, resp.Status)
		}
	}
	if _, index := testkit.Get(t, c, srv.URL+"/"); bytes.Contains(index, []byte(first.ThreadPath)) {
		t.Error("removed thread still listed")
	}
	other := atts[len(atts)-1]
	if !site.Remove(other.Path) {
		t.Fatal("Remove(attachment) failed")
	}
	if resp, _ := testkit.Get(t, c, srv.URL+other.Path); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed attachment: %s", resp.Status)
	}
	if site.Remove(DumpThreadPath) {
		t.Error("announcement thread must not be removable")
	}

	// Reappearance: the same bytes posted again under the same thread title
	// come back at a new thread URL and a new attachment URL.
	p := site.AddFile(File{Name: first.Name, Data: sampleFiles()[0].Data, Thread: first.Thread})
	resp, data := testkit.Get(t, c, srv.URL+p)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(data, sampleFiles()[0].Data) || p == first.Path {
		t.Errorf("re-posted file at %s: %s", p, resp.Status)
	}
	var again Attachment
	for _, a := range site.Attachments() {
		if a.Path == p {
			again = a
		}
	}
	if again.ThreadPath == first.ThreadPath || again.SHA256 != first.SHA256 {
		t.Errorf("re-posted thread %s (old %s), sha equal %v", again.ThreadPath, first.ThreadPath, again.SHA256 == first.SHA256)
	}
	if site.Requests()["/files/9999/x.pdf"] != 1 {
		t.Errorf("404 requests not counted: %v", site.Requests())
	}
}

func TestConcurrentAddAndCrawl(t *testing.T) {
	site := New(Options{})
	srv := httptest.NewServer(site)
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				p := site.AddFile(File{Name: fmt.Sprintf("g%d-%d.txt", g, i), Data: []byte(fmt.Sprint(g, i)), Thread: fmt.Sprint("T", g)})
				resp, err := srv.Client().Get(srv.URL + p)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %s", p, resp.Status)
				}
			}
		})
		wg.Go(func() {
			for range 25 {
				resp, err := srv.Client().Get(srv.URL + "/?page=2")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := len(site.Attachments()); n != 100 {
		t.Errorf("Attachments() = %d, want 100", n)
	}
	if n := site.Requests()["/"]; n != 100 {
		t.Errorf("index requests = %d, want 100", n)
	}
}

func TestServeLoopbackAndShutdown(t *testing.T) {
	site := New(Options{Files: sampleFiles()})
	ctx, cancel := context.WithCancel(t.Context())
	addr, err := site.Serve(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Errorf("default address %s is not loopback", addr)
	}
	base := "http://" + addr.String()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, _ := testkit.Get(t, client, base+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("index: %s", resp.Status)
	}

	// A huge download in flight must end when ctx ends.
	hresp, err := client.Get(base + HugePath)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	cancel()
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, hresp.Body)
		readDone <- err
	}()
	select {
	case err := <-readDone:
		if err == nil {
			t.Error("huge body ended cleanly after shutdown, want truncation")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("huge download still streaming 5s after ctx ended")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(base + "/")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answering 5s after ctx ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Portal sample part 1":           "portal-sample-part-1",
		"  ***  ":                        "thread",
		"FULL DUMP - download links!!":   "full-dump-download-links",
		"<script>alert(1)</script> leak": "script-alert-1-script-leak",
	} {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
	}
	site := New(Options{Files: []File{{Name: "a", Thread: "full dump"}}})
	if p := site.Attachments()[0].ThreadPath; p == DumpThreadPath {
		t.Errorf("data thread took the reserved slug: %s", p)
	}
}
