package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// fakeSources records what the UI asks of the crawl schedules. Like
// fakeActions it stands in for Temporal, which workflows/ tests for real.
type fakeSources struct {
	mu    sync.Mutex
	runs  []uint64
	syncs int
	next  time.Time
}

func (f *fakeSources) NextRun(context.Context, uint64) (time.Time, bool, error) {
	return f.next, !f.next.IsZero(), nil
}

func (f *fakeSources) RunNow(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, id)
	return nil
}

func (f *fakeSources) Sync(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	return nil
}

// queueSeed is items awaiting triage: in case "leaks.example", URL a
// matched by three hits (two references, three methods) and n-1 more
// URLs with one hit each; in case "blog.example" one URL.
type queueSeed struct {
	leaks, blog storage.Case
	multi       uint64 // item of URL a
	ids         []uint64
	src, src2   storage.Source
}

func seedQueue(t *testing.T, f *fixture, n int) queueSeed {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var q queueSeed
	q.src = storage.Source{Name: "forum", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
	must(f.store.CreateSource(ctx, &q.src))
	q.src2 = storage.Source{Name: "blog", Kind: storage.SourceLeakBlog, URL: "http://blog.example/", Enabled: true}
	must(f.store.CreateSource(ctx, &q.src2))
	run, err := f.store.StartRun(ctx, q.src.ID)
	must(err)
	run2, err := f.store.StartRun(ctx, q.src2.ID)
	must(err)
	var refs []storage.Reference
	for i, name := range []string{"Z1234567-labs.pdf", "Z7654321-note.docx"} {
		ref := storage.Reference{Name: name, OpaqueID: fmt.Sprintf("ref-%d", i), SHA256: strings.Repeat(fmt.Sprintf("%x", i+1), 64)}
		_, err := f.store.AddReference(ctx, &ref)
		must(err)
		refs = append(refs, ref)
	}
	// Captured an hour ago, but today (UTC) still: the dashboard's chart
	// counts them on today's bar even just after midnight.
	fetched := time.Now().UTC().Add(-time.Hour)
	if today := time.Now().UTC().Truncate(24 * time.Hour); fetched.Before(today) {
		fetched = today
	}
	take := func(runID, srcID uint64, target, path string, patients int, hits [][2]any) uint64 {
		c := storage.Capture{RunID: runID, SourceID: srcID, Kind: storage.CaptureFile, URL: "http://" + target + path, Host: target,
			FetchedAt: fetched, Status: 200, SHA256: strings.Repeat("c", 64), Size: 10}
		_, err := f.store.SaveCapture(ctx, &c)
		must(err)
		must(f.store.SetCaptureExposure(ctx, c.ID, len(hits), patients))
		var ids []uint64
		for _, h := range hits {
			hit := storage.Hit{CaptureID: c.ID, ReferenceID: refs[h[0].(int)].ID, Method: h[1].(string), Score: 1, Why: "why-" + h[1].(string), Target: target}
			_, err := f.store.AddHit(ctx, &hit)
			must(err)
			ids = append(ids, hit.ID)
		}
		cs, err := f.store.EnsureCase(ctx, target, workflows.CaseWorkflowID(target))
		must(err)
		res, err := f.store.TakeHits(ctx, cs.ID, ids, false)
		must(err)
		return res.New[0]
	}
	q.multi = take(run.ID, q.src.ID, "leaks.example", "/a.zip", 500,
		[][2]any{{0, "sha256"}, {1, "winnow"}, {0, "text-sha256"}})
	q.ids = append(q.ids, q.multi)
	for i := 1; i < n; i++ {
		q.ids = append(q.ids, take(run.ID, q.src.ID, "leaks.example", fmt.Sprintf("/f%03d.pdf", i), i%7, [][2]any{{1, "tlsh"}}))
	}
	q.ids = append(q.ids, take(run2.ID, q.src2.ID, "blog.example", "/post.csv", 3, [][2]any{{0, "fields"}}))
	q.leaks, err = f.store.CaseByRef(ctx, "leaks.example")
	must(err)
	q.blog, err = f.store.CaseByRef(ctx, "blog.example")
	must(err)
	return q
}

var itemRowRE = regexp.MustCompile(`<article class="triage-item[^"]*" id="item-(\d+)"`)

// itemRows lists the item ids of a triage page in order.
func itemRows(body string) []uint64 {
	var out []uint64
	for _, m := range itemRowRE.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseUint(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

// itemBlock is the HTML of one item's row.
func itemBlock(t *testing.T, body string, id uint64) string {
	t.Helper()
	start := strings.Index(body, fmt.Sprintf(`id="item-%d"`, id))
	if start < 0 {
		t.Fatalf("no row for item %d", id)
	}
	end := strings.Index(body[start:], "</article>")
	return body[start : start+end]
}

func TestTriageQueueGroupsByURL(t *testing.T) {
	f, _ := newActionsFixture(t)
	q := seedQueue(t, f, 3)
	c := f.client("192.0.2.10")
	c.mustLogin("alice")
	rec := c.getJSON("/triage")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	rows := itemRows(body)
	if len(rows) != 4 {
		t.Fatalf("%d rows for 4 URLs (5 hits); want one row per URL: %v", len(rows), rows)
	}
	if rows[0] != q.multi {
		t.Errorf("first row %d; want the item exposing the most patients (%d)", rows[0], q.multi)
	}
	row := itemBlock(t, body, q.multi)
	for _, want := range []string{"ref-0", "ref-1", "sha256", "winnow", "text-sha256", "why-winnow", "3 files / 500 patients",
		fmt.Sprintf(`href="/cases/%d#items"`, q.leaks.ID), strings.Repeat("c", 64)} {
		if !strings.Contains(row, want) {
			t.Errorf("row of the multi-hit URL lacks %q", want)
		}
	}
	if strings.Contains(body, "Z1234567") {
		t.Error("the triage page shows a reference's name (it may carry a patient's number)")
	}
	if strings.Count(body, `<section class="triage-case">`) != 2 {
		t.Error("items are not grouped into their two cases")
	}
	if !strings.Contains(body, `accesskey="c"`) || !strings.Contains(body, `accesskey="d"`) {
		t.Error("no keyboard shortcuts for confirm and dismiss")
	}
}

func TestTriageQueueFiltersAndPaging(t *testing.T) {
	f, _ := newActionsFixture(t)
	q := seedQueue(t, f, triagePageSize+5) // 55 on leaks.example, 1 on blog.example
	c := f.client("192.0.2.10")
	c.mustLogin("alice")

	for _, tc := range []struct {
		query string
		want  int
	}{
		{"method=winnow", 1},
		{"source=" + strconv.FormatUint(q.src2.ID, 10), 1},
		{"target=blog.example", 1},
		{"method=tlsh&target=leaks.example", triagePageSize + 4},
		{"state=dismissed", 0},
	} {
		rec := c.getJSON("/triage?" + tc.query)
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), fmt.Sprintf("%d item", tc.want)) {
			t.Errorf("?%s: the count does not say %d", tc.query, tc.want)
		}
	}
	if rows := itemRows(c.getJSON("/triage?target=blog.example").Body.String()); len(rows) != 1 || rows[0] != q.ids[len(q.ids)-1] {
		t.Errorf("target filter rows %v", rows)
	}
	wantStatus(t, c.getJSON("/triage?state=bogus"), http.StatusBadRequest)
	wantStatus(t, c.getJSON("/triage?after=x.y.z"), http.StatusBadRequest)

	seen := map[uint64]bool{}
	path := "/triage?sort=newest"
	pages := 0
	for path != "" {
		pages++
		body := c.getJSON(path).Body.String()
		rows := itemRows(body)
		if pages == 1 && len(rows) != triagePageSize {
			t.Fatalf("first page has %d rows; want %d", len(rows), triagePageSize)
		}
		for _, id := range rows {
			if seen[id] {
				t.Fatalf("item %d on two pages", id)
			}
			seen[id] = true
		}
		path = ""
		if m := regexp.MustCompile(`href="(/triage\?[^"]*after=[^"]*)" accesskey="n"`).FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 2 || len(seen) != len(q.ids) {
		t.Errorf("%d pages, %d items seen; want 2 pages and all %d", pages, len(seen), len(q.ids))
	}
}

func TestTriageQueueOneActionDismiss(t *testing.T) {
	f, fa := newActionsFixture(t)
	q := seedQueue(t, f, 2)
	c := f.client("192.0.2.10")
	c.mustLogin("alice")
	id := strconv.FormatUint(q.ids[1], 10)

	// Dismiss without a reason: refused, nothing asked of the case.
	rec := c.postForm("/triage", url.Values{"csrf_token": {c.csrf}, "act": {"dismiss:" + id}})
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "say why") || len(fa.recordedCalls()) != 0 {
		t.Fatalf("dismissal without a reason: %d calls, body says why: %v", len(fa.recordedCalls()), strings.Contains(rec.Body.String(), "say why"))
	}

	// One row's Dismiss with that row's reason: one action.
	rec = c.postForm("/triage?state=new", url.Values{"csrf_token": {c.csrf}, "act": {"dismiss:" + id}, "reason_" + id: {"public brochure"}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/triage?") || !strings.Contains(loc, "done=dismiss") {
		t.Errorf("redirect to %q", loc)
	}
	want := fmt.Sprintf("triage %d alice [%s] false %q", q.leaks.ID, id, "public brochure")
	if calls := fa.recordedCalls(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls %v; want [%s]", calls, want)
	}
	if ev := f.findAudit("case.triage"); ev.Actor != "alice" || !strings.Contains(ev.Detail, "decision=dismiss") {
		t.Errorf("audit %+v", ev)
	}

	// A selection across two cases: one triage per case.
	rec = c.postForm("/triage", url.Values{"csrf_token": {c.csrf}, "act": {"confirm"},
		"item": {strconv.FormatUint(q.ids[0], 10), strconv.FormatUint(q.ids[2], 10)}})
	wantStatus(t, rec, http.StatusSeeOther)
	calls := fa.recordedCalls()
	if len(calls) != 3 || !strings.HasPrefix(calls[1], fmt.Sprintf("triage %d alice [%d] true", q.leaks.ID, q.ids[0])) ||
		!strings.HasPrefix(calls[2], fmt.Sprintf("triage %d alice [%d] true", q.blog.ID, q.ids[2])) {
		t.Errorf("selection calls %v", calls)
	}
	// No CSRF token, no triage.
	wantStatus(t, c.postForm("/triage", url.Values{"act": {"confirm:" + id}}), http.StatusForbidden)
}

var statRE = regexp.MustCompile(`<a href="([^"]+)"[^>]*><strong>(\d+)</strong>`)

// dashNumbers maps each dashboard link to the number shown on it.
func dashNumbers(body string) map[string]int {
	out := map[string]int{}
	for _, m := range statRE.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[2])
		out[strings.ReplaceAll(m[1], "&amp;", "&")] = n
	}
	return out
}

func TestDashboardNumbersMatchTheirLists(t *testing.T) {
	f, _ := newActionsFixture(t)
	q := seedQueue(t, f, 4)
	lc := seedLifecycle(t, f, "drafts.example") // a drafted case
	_ = lc
	ctx := context.Background()
	failing := storage.Source{Name: "down", Kind: storage.SourceForum, URL: "http://down.example/", Enabled: true, EverySecs: 60}
	if err := f.store.CreateSource(ctx, &failing); err != nil {
		t.Fatal(err)
	}
	failRun(t, f, failing.ID, "dial tcp 10.1.2.3:80: connect: connection refused")

	ana := f.client("192.0.2.10")
	ana.mustLogin("alice")
	nums := dashNumbers(ana.getJSON("/").Body.String())
	triage := ana.getJSON("/triage?state=new").Body.String()
	if n, ok := nums["/triage?state=new"]; !ok || !strings.Contains(triage, fmt.Sprintf("%d items match", n)) || n != len(q.ids) {
		t.Errorf("analyst's items to triage %d (shown: %v); the queue says otherwise (want %d)", n, ok, len(q.ids))
	}
	if n := nums["/sources?status=failing"]; n != 1 {
		t.Errorf("failing sources %d; want 1", n)
	}
	if body := ana.getJSON("/sources?status=failing").Body.String(); strings.Count(body, `<article class="source `) != 1 {
		t.Error("the failing link does not list exactly the failing source")
	}

	lee := f.client("192.0.2.11")
	lee.mustLogin("lee")
	body := lee.getJSON("/").Body.String()
	nums = dashNumbers(body)
	if _, ok := nums["/triage?state=new"]; ok {
		t.Error("a lawyer's dashboard asks them to triage")
	}
	for _, href := range []string{"/cases?state=drafted", "/cases?state=send-uncertain", "/cases?state=sent", "/cases?open=1", "/cases?state=detected"} {
		st := href
		n, ok := nums[href]
		if !ok {
			t.Errorf("no %s number for legal", st)
			continue
		}
		list := lee.getJSON(href).Body.String()
		rows := strings.Count(list, `<td><a href="/cases/`) / 2 // the id and the target link
		if rows != n {
			t.Errorf("%s: dashboard says %d, the list has %d", st, n, rows)
		}
	}
	if nums["/cases?state=drafted"] != 1 {
		t.Errorf("drafts to approve %d; want 1", nums["/cases?state=drafted"])
	}

	// The chart is well-formed SVG: 30 days × 2 series of bars.
	i, j := strings.Index(body, "<svg"), strings.Index(body, "</svg>")
	if i < 0 || j < i {
		t.Fatal("no SVG chart on the dashboard")
	}
	var svg struct {
		XMLName xml.Name
		Title   string `xml:"title"`
		Groups  []struct {
			Rects []struct {
				Class  string  `xml:"class,attr"`
				Height float64 `xml:"height,attr"`
			} `xml:"rect"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(body[i:j+len("</svg>")]), &svg); err != nil {
		t.Fatalf("chart is not well-formed XML: %v", err)
	}
	if svg.XMLName.Local != "svg" || len(svg.Groups) != 2 || len(svg.Groups[0].Rects) != exposureDays || len(svg.Groups[1].Rects) != exposureDays {
		t.Fatalf("chart %s with %d groups", svg.XMLName.Local, len(svg.Groups))
	}
	if last := svg.Groups[0].Rects[exposureDays-1]; last.Class != "bar-patients" || last.Height <= 0 {
		t.Errorf("today's patients bar %+v; the seeded items were found today", last)
	}
	if strings.Contains(body[i:j], "style=") {
		t.Error("the chart uses inline style, which the CSP forbids")
	}
}

// failRun records a finished, failed crawl run of a source.
func failRun(t *testing.T, f *fixture, sourceID uint64, msg string) {
	t.Helper()
	ctx := context.Background()
	for range 3 {
		run, err := f.store.StartRun(ctx, sourceID)
		if err != nil {
			t.Fatal(err)
		}
		done := time.Now().UTC()
		run.Status, run.FinishedAt, run.Error, run.Failed, run.Errors = storage.RunFailed, &done, msg, 1, `{"connection-refused": 1}`
		if err := f.store.FinishRun(ctx, &run); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSourcesHealthAndRunNow(t *testing.T) {
	fs := &fakeSources{next: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := newFixture(t, func(o *Options) { o.Sources = fs })
	f.addUser("alice", storage.RoleAnalyst, false)
	ctx := context.Background()
	down := storage.Source{Name: "down", Kind: storage.SourceForum, URL: "http://down.example/", Enabled: true, EverySecs: 60}
	up := storage.Source{Name: "fine", Kind: storage.SourceForum, URL: "http://fine.example/", Enabled: true, EverySecs: 3600}
	for _, s := range []*storage.Source{&down, &up} {
		if err := f.store.CreateSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	failRun(t, f, down.ID, "dial tcp 10.1.2.3:80: connect: connection refused")
	c := f.client("192.0.2.10")
	c.mustLogin("alice")
	body := c.getJSON("/sources").Body.String()
	i := strings.Index(body, `id="source-`+strconv.FormatUint(down.ID, 10)+`"`)
	if i < 0 {
		t.Fatal("no card for the failing source")
	}
	card := body[strings.LastIndex(body[:i], "<article"):][:strings.Index(body[i:], "</article>")+i-strings.LastIndex(body[:i], "<article")]
	for _, want := range []string{"source-failing", "connection refused", "3 of the last 3 runs failed", "connection-refused × 3", "2030-01-02 03:04:05"} {
		if !strings.Contains(card, want) {
			t.Errorf("failing source's card lacks %q", want)
		}
	}
	if strings.Contains(body, "10.1.2.3") {
		t.Error("the sources page shows an internal address from a fetch error")
	}
	if !strings.Contains(body, "never run") {
		t.Error("a source without runs is not shown as never run")
	}

	rec := c.postForm("/sources/"+strconv.FormatUint(down.ID, 10)+"/run", url.Values{"csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	if len(fs.runs) != 1 || fs.runs[0] != down.ID {
		t.Fatalf("run now asked the service for %v", fs.runs)
	}
	f.findAudit("source.run")
	rec = c.postJSON("/api/sources/"+strconv.FormatUint(up.ID, 10)+"/run", map[string]any{})
	wantStatus(t, rec, http.StatusAccepted)
	if len(fs.runs) != 2 || fs.runs[1] != up.ID {
		t.Fatalf("API run now asked for %v", fs.runs)
	}

	// Pause: stored, audited, schedules synced; analysts may not remove.
	wantStatus(t, c.postForm("/sources/"+strconv.FormatUint(up.ID, 10)+"/pause", url.Values{"csrf_token": {c.csrf}}), http.StatusSeeOther)
	if got, _ := f.store.SourceByID(ctx, up.ID); got.Enabled || fs.syncs == 0 {
		t.Errorf("paused source enabled=%v, syncs %d", got.Enabled, fs.syncs)
	}
	wantStatus(t, c.postForm("/sources/"+strconv.FormatUint(up.ID, 10)+"/remove", url.Values{"csrf_token": {c.csrf}, "confirm": {"fine"}}), http.StatusForbidden)
	rec = c.postForm("/sources/"+strconv.FormatUint(up.ID, 10)+"/edit", url.Values{"csrf_token": {c.csrf}, "url": {"http://fine.example/v2"}, "every": {"2h"}})
	wantStatus(t, rec, http.StatusSeeOther)
	if got, _ := f.store.SourceByID(ctx, up.ID); got.URL != "http://fine.example/v2" || got.Every() != 2*time.Hour {
		t.Errorf("edited source %+v", got)
	}
}

// pngBytes encodes a w×h image with a sharp pattern (a recognisable
// detail the blur must destroy).
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(0)
			if (x/4+y/4)%2 == 0 {
				v = 255
			}
			img.Set(x, y, color.RGBA{v, v, 255 - v, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bombPNG is a PNG header claiming 60000×60000 pixels (14 GB decoded).
func bombPNG() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestCaptureThumbnailsBlurredAndRevealAudited(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, func(o *Options) { o.EvidenceDir = dir })
	f.addUser("alice", storage.RoleAnalyst, false)
	ctx := context.Background()
	src := storage.Source{Name: "chan", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
	if err := f.store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	run, err := f.store.StartRun(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	w, err := evidence.NewWriter(dir, evidence.WriterOptions{RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	capture := func(name string, payload []byte) storage.Capture {
		rec, err := w.WriteExchange(ctx, evidence.Exchange{TargetURI: "http://leaks.example/" + name, StatusCode: 200,
			ResponseHeader: http.Header{"Content-Type": {"image/png"}}, Payload: bytes.NewReader(payload)})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := json.Marshal(rec)
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://leaks.example/" + name,
			Host: "leaks.example", FetchedAt: time.Now().UTC(), Status: 200, SniffedType: "image/png", Evidence: string(ev)}
		if _, err := f.store.SaveCapture(ctx, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	photo := capture("photo.png", pngBytes(t, 64, 48))
	bomb := capture("bomb.png", bombPNG())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	c := f.client("192.0.2.10")
	c.mustLogin("alice")
	thumb := "/captures/" + strconv.FormatUint(photo.ID, 10) + "/thumb"
	rec := c.getJSON(thumb)
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("thumbnail headers %v", rec.Header())
	}
	img, err := png.Decode(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			colours[img.At(x, y)] = true
		}
	}
	if b.Dx() != blurThumbSide || len(colours) > blurGrid*blurGrid {
		t.Errorf("blurred thumbnail %v with %d colours; want %d wide and at most %d cells", b, len(colours), blurThumbSide, blurGrid*blurGrid)
	}

	wantStatus(t, c.getJSON(thumb+"?clear=1"), http.StatusForbidden)
	if n := f.countAudit("capture.reveal"); n != 0 {
		t.Fatalf("%d reveals audited before any", n)
	}
	reveal := "/captures/" + strconv.FormatUint(photo.ID, 10) + "/reveal"
	wantStatus(t, c.getJSON(reveal), http.StatusOK)
	wantStatus(t, c.postForm(reveal, url.Values{}), http.StatusForbidden) // no CSRF token
	rec = c.postForm(reveal, url.Values{"csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusOK)
	if ev := f.findAudit("capture.reveal"); ev.Actor != "alice" || ev.Object != "capture/"+strconv.FormatUint(photo.ID, 10) {
		t.Errorf("reveal audit %+v", ev)
	}
	rec = c.getJSON(thumb + "?clear=1")
	wantStatus(t, rec, http.StatusOK)
	if clear, err := png.Decode(rec.Body); err != nil || clear.Bounds().Dx() != 64 {
		t.Errorf("clear thumbnail: %v, %v", err, clear)
	}
	other := f.client("192.0.2.11")
	other.mustLogin("alice")
	wantStatus(t, other.getJSON(thumb+"?clear=1"), http.StatusForbidden) // the reveal was this session's

	wantStatus(t, c.getJSON("/captures/"+strconv.FormatUint(bomb.ID, 10)+"/thumb"), http.StatusNotFound)
	if _, err := decodeLimited(bombPNG()); err == nil {
		t.Error("a 60000×60000 PNG was decoded")
	}
}

func TestCaseTimelineOrder(t *testing.T) {
	f, _ := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	c := f.client("192.0.2.10")
	c.mustLogin("lee")
	wantStatus(t, c.postForm(fmt.Sprintf("/cases/%d/acknowledge", lc.cs.ID), url.Values{"csrf_token": {c.csrf}, "note": {"we removed it"}}), http.StatusSeeOther)
	body := c.getJSON(fmt.Sprintf("/cases/%d", lc.cs.ID)).Body.String()
	i := strings.Index(body, `<ol class="timeline">`)
	if i < 0 {
		t.Fatal("no timeline on the case page")
	}
	tl := body[i : i+strings.Index(body[i:], "</ol>")]
	var last int
	for _, want := range []string{"Found http://leaks.example/dump/part1.zip", "Case opened", "Dismissed item", "Drafted notice", "Done: recording of a reply"} {
		j := strings.Index(tl, want)
		if j < 0 {
			t.Fatalf("timeline lacks %q", want)
		}
		if j < last {
			t.Errorf("%q is out of order", want)
		}
		last = j
	}
	times := regexp.MustCompile(`<time>([^<]+)</time>`).FindAllStringSubmatch(tl, -1)
	for k := 1; k < len(times); k++ {
		if times[k][1] < times[k-1][1] {
			t.Errorf("timeline not chronological: %s after %s", times[k][1], times[k-1][1])
		}
	}
}

func TestLoggedInNotFoundKeepsLayout(t *testing.T) {
	f, _ := newActionsFixture(t)
	c := f.client("192.0.2.10")
	c.mustLogin("alice")
	rec := c.getJSON("/no/such/page")
	wantStatus(t, rec, http.StatusNotFound)
	body := rec.Body.String()
	if !strings.Contains(body, `href="/triage"`) || !strings.Contains(body, "alice") || !strings.Contains(body, "Log out") {
		t.Error("a logged-in 404 lost the nav or the user")
	}
	anon := f.client("192.0.2.11")
	if body := anon.getJSON("/no/such/page").Body.String(); strings.Contains(body, "Log out") {
		t.Error("an anonymous 404 shows the logged-in layout")
	}
}

// Right after an approval the case shows the state its notice is in, and
// an approval that fails for an internal reason shows a plain sentence,
// not the error's text.
func TestApprovalStateAndPlainErrors(t *testing.T) {
	f, fa := newActionsFixture(t)
	lc := seedLifecycle(t, f, "leaks.example")
	c := f.client("192.0.2.11")
	c.mustLogin("lee")
	page := fmt.Sprintf("/cases/%d", lc.cs.ID)

	fa.fakeCases.err = fmt.Errorf("update workflow case-leaks: rpc error: code = Internal desc = sql: database is locked at 10.9.8.7:5432")
	rec := c.postForm(page+"/approve", url.Values{"csrf_token": {c.csrf}, "revision": {"1"}})
	body := rec.Body.String()
	if rec.Code == http.StatusOK || strings.Contains(body, "database is locked") || strings.Contains(body, "10.9.8.7") || !strings.Contains(body, "Not approved") {
		t.Errorf("failed approval: %d, shows internal text %v", rec.Code, strings.Contains(body, "database is locked"))
	}

	if err := f.store.ApproveNotice(context.Background(), lc.draft.ID, "lee"); err != nil {
		t.Fatal(err)
	}
	body = c.getJSON(page).Body.String()
	if !strings.Contains(body, `<dd><span class="state state-approved">approved</span>`) {
		t.Error("the case does not say approved beside its approved notice")
	}
}
