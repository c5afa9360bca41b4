package webcrawl

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// archiveCap is the download cap the archive tests crawl with: every
// archive they serve is bigger, so only its directory is read.
const archiveCap = 64 << 10

// archiveSite serves archives on loopback behind an index page linking
// them, with byte ranges (http.ServeContent, as a real server would) or,
// with noRanges, a full 200 to every request while still claiming
// "Accept-Ranges: bytes". It counts the ranged requests per path and the
// bytes they carried.
type archiveSite struct {
	mu       sync.Mutex
	files    map[string][]byte
	noRanges map[string]bool
	names    map[string]string // a Content-Disposition file name, by path
	requests map[string]int    // ranged requests
	served   map[string]int    // bytes sent to ranged requests
	inflight sync.WaitGroup    // a handler counts after its client has the bytes
}

func newArchiveSite() *archiveSite {
	return &archiveSite{files: map[string][]byte{}, noRanges: map[string]bool{}, names: map[string]string{},
		requests: map[string]int{}, served: map[string]int{}}
}

func (s *archiveSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	s.mu.Lock()
	data, ok := s.files[r.URL.Path]
	noRanges, name := s.noRanges[r.URL.Path], s.names[r.URL.Path]
	var links strings.Builder
	for p := range s.files {
		fmt.Fprintf(&links, `<a href="%s">%s</a> `, p, p)
	}
	s.mu.Unlock()
	if r.URL.Path == "/" {
		html(w, links.String())
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	if name != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Content-Type", "application/octet-stream") // the name is all there is
	}
	if noRanges {
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	} else {
		http.ServeContent(cw, r, r.URL.Path, time.Time{}, bytes.NewReader(data))
	}
	if r.Header.Get("Range") != "" {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		s.served[r.URL.Path] += cw.n
		s.mu.Unlock()
	}
}

func (s *archiveSite) add(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

func (s *archiveSite) counts(path string) (requests, served int) {
	s.inflight.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path], s.served[path]
}

// crawlArchives crawls the site with the archive cap and returns the
// fetch of each archive, by path.
func (s *archiveSite) crawl(t *testing.T) map[string]Fetch {
	t.Helper()
	ts, _ := newServer(t, s)
	sink := &memSink{}
	if _, err := crawl(t, Options{MaxDownloadBytes: archiveCap, MaxPages: 100}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	out := map[string]Fetch{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.files {
		out[p] = sink.get(t, ts.URL+p)
	}
	return out
}

// checkMembers asserts that f listed exactly want (name → content) with
// the CRC-32 and size of each content, and says so in its error text.
func checkMembers(t *testing.T, f Fetch, want map[string][]byte) {
	t.Helper()
	if f.Err == nil || !strings.Contains(f.Err.Error(), fmt.Sprintf("its directory lists %d members", len(want))) {
		t.Errorf("err %v; want it to say the directory lists %d members", f.Err, len(want))
	}
	got := map[string]Member{}
	for _, m := range f.Members {
		got[m.Name] = m
	}
	if len(got) != len(f.Members) {
		t.Errorf("%d members under %d names", len(f.Members), len(got))
	}
	for name, data := range want {
		m, ok := got[name]
		switch {
		case !ok:
			t.Errorf("member %q missing; got %v", name, sortedNames(f.Members))
		case m.CRC32 != crc32.ChecksumIEEE(data) || m.Size != int64(len(data)):
			t.Errorf("member %q: CRC %08x size %d, want %08x %d", name, m.CRC32, m.Size, crc32.ChecksumIEEE(data), len(data))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected member %q", name)
		}
	}
}

func sortedNames(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// noise is n bytes no compressor shrinks, the same for the same seed.
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func need7z(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("7z")
	if err != nil {
		t.Skip("7z not installed (CI installs p7zip-full)")
	}
	return bin
}

func TestArchiveKindOf(t *testing.T) {
	for _, c := range []struct {
		ct    string
		names []string
		want  archiveKind
	}{
		{"", []string{"http://x/full_dump.zip"}, kindZip},
		{"", []string{"http://x/a/dump.7z?token=1#frag"}, kind7z},
		{"", []string{"http://x/dump.RAR"}, kindRAR},
		{"", []string{"http://x/dump.part1.rar"}, kindRAR},
		{"", []string{"http://x/dump.r07"}, kindRAR},
		{"", []string{"http://x/get?id=3", "http://x/get?id=3", "patients.7z"}, kind7z},
		{"application/x-7z-compressed", []string{"http://x/get?id=3"}, kind7z},
		{"application/vnd.rar", []string{"http://x/get"}, kindRAR},
		{"application/x-rar-compressed; charset=binary", nil, kindRAR},
		{"application/x-zip-compressed", nil, kindZip},
		{"application/zip", []string{"http://x/dump.7z"}, kind7z}, // the name says more
		// Not archives with a directory: "zip" in the type is not enough.
		{"application/gzip", []string{"http://x/dump.tar.gz"}, ""},
		{"application/x-bzip2", nil, ""},
		{"application/octet-stream", []string{"http://x/dump.bin", "dump.7z.001"}, ""},
		{"", []string{"http://x/rar/"}, ""},
	} {
		if got := archiveKindOf(c.ct, c.names...); got != c.want {
			t.Errorf("archiveKindOf(%q, %q) = %q, want %q", c.ct, c.names, got, c.want)
		}
	}
	h := http.Header{}
	h.Set("Content-Disposition", `attachment; filename="C:\\leaks\\dump.rar"`)
	if got := attachmentName(h); got != "dump.rar" {
		t.Errorf("attachmentName = %q", got)
	}
}

// A server that says it serves ranges but answers a range request with
// the whole archive: the directory is not read, and one request shows it.
func TestArchiveDirectoryNoRanges(t *testing.T) {
	site := newArchiveSite()
	rar := writeRAR5(t, rarOptions{}, rarTestEntries(4, 100_000))
	site.add("/dump.rar", rar)
	site.noRanges["/dump.rar"] = true
	site.add("/dump.7z", fake7z(t, []byte{szHeader, szEnd}, 200_000))
	site.noRanges["/dump.7z"] = true
	for p, f := range site.crawl(t) {
		if !errors.Is(f.Err, errNoRanges) || f.Members != nil || !strings.Contains(f.Err.Error(), "its directory could not be read") {
			t.Errorf("%s: err %v members %d; want errNoRanges", p, f.Err, len(f.Members))
		}
		if n, _ := site.counts(p); n != 1 {
			t.Errorf("%s: %d range requests, want 1", p, n)
		}
	}
}

// The archive's first bytes decide its format, whatever its name says;
// a name that is no archive at all says so clearly. A download without an
// extension is known by its Content-Disposition name.
func TestArchiveDirectoryMislabelled(t *testing.T) {
	entries := rarTestEntries(3, 100_000)
	site := newArchiveSite()
	site.add("/dump.zip", writeRAR5(t, rarOptions{}, entries)) // a RAR named zip
	site.add("/dump.7z", writeRAR4(t, rarOptions{}, entries))  // a RAR named 7z
	site.add("/download", writeRAR5(t, rarOptions{}, entries))
	site.names["/download"] = "patients.rar"
	site.add("/noise.rar", noise(9, 300_000))
	site.add("/noise.zip", noise(10, 300_000))
	got := site.crawl(t)
	for _, p := range []string{"/dump.zip", "/dump.7z", "/download"} {
		checkMembers(t, got[p], rarWant(entries))
	}
	for p, want := range map[string]string{"/noise.rar": "not a RAR archive", "/noise.zip": "zip: not a valid zip file"} {
		if f := got[p]; f.Err == nil || !strings.Contains(f.Err.Error(), want) || f.Members != nil {
			t.Errorf("%s: err %v; want %q", p, f.Err, want)
		}
		if n, _ := site.counts(p); n > 3 {
			t.Errorf("%s: %d range requests for a non-archive", p, n)
		}
	}
}
