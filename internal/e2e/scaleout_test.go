package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// BenchmarkScaleOut measures, in one run and on the same generated
// workload, the embedded default (one `leakwatch up` on SQLite) against
// the scaled-out deployment: PostgreSQL as the application database, a
// leakwatch-temporal server of its own on loopback, `leakwatch web` and
// two `leakwatch worker` processes. The default split is one worker with
// `--queues crawl,notify` (fetching without the reference index: captures
// go through the scan spool) and one with `--queues scan` (the index,
// matching), which is the layout the queues exist for;
// LEAKWATCH_SCALEOUT_SETUPS=embedded,split,all adds two workers that each
// serve every queue (each matching inline).
//
// The workload is a breach-size reference set (synthetic letters of a few
// KB, lab PDFs, CSVs and 1600-px camera-size photos) added with `refs add`,
// and its leak mix (exact copies, archives, re-rendered PDFs, excerpts,
// re-encoded and cropped photos, re-shaped CSV rows and look-alike
// distractors that must not match) spread over leak sites on many loopback
// addresses (127.0.0.2, 127.0.0.3, …), one source and so one case per
// address. Every source's crawl is started at once through the API.
//
// Measured per setup: scan throughput (files fetched and matched per
// second and MB/s, from the crawls' start until every run finished and the
// spool is empty), case throughput (cases drafted per second from the
// first hit to the last draft, and each case's detection→draft latency,
// p50/p99, draft_delay included), and CPU seconds and peak RSS per
// process (the Temporal server, `up` or web and each worker, and the
// PostgreSQL backends of the run's database). One JSON line per setup and
// one with the ratios go to stdout.
//
// It needs PostgreSQL (LEAKWATCH_TEST_POSTGRES_DSN, see
// .ci/start-postgres.sh) and a built server (LEAKWATCH_TEMPORAL_BINARY);
// without either it skips. LEAKWATCH_SCALEOUT_HOSTS (30 sites),
// LEAKWATCH_SCALEOUT_PER_CLASS (20 files per leak-mix class) and
// LEAKWATCH_SCALEOUT_ROUNDS (1) size it; LEAKWATCH_SCALEOUT_KEEP_LOGS=DIR
// keeps each process's log. Run it once:
//
//	go test ./internal/e2e -run '^$' -bench ScaleOut -benchtime 1x -timeout 60m
func BenchmarkScaleOut(b *testing.B) {
	if os.Getenv(storagetest.PostgresEnv) == "" {
		b.Skipf("the scale-out benchmark needs PostgreSQL: set %s (eval \"$(bash .ci/start-postgres.sh)\")", storagetest.PostgresEnv)
	}
	if os.Getenv("LEAKWATCH_TEMPORAL_BINARY") == "" {
		b.Skip("the scale-out benchmark needs the server binary: go build -o bin/ ./cmd/... and set LEAKWATCH_TEMPORAL_BINARY=$PWD/bin/leakwatch-temporal")
	}
	setups := strings.Split(cmp.Or(os.Getenv("LEAKWATCH_SCALEOUT_SETUPS"), "embedded,split"), ",")
	if setups[0] != "embedded" {
		b.Fatalf("LEAKWATCH_SCALEOUT_SETUPS=%s: the first setup must be embedded (the others are compared with it)", strings.Join(setups, ","))
	}
	wl := newScaleWorkload(b, envInt(b, "LEAKWATCH_SCALEOUT_HOSTS", 30), envInt(b, "LEAKWATCH_SCALEOUT_PER_CLASS", 20))
	b.Logf("workload: %d files and %d HTML posts, %.1f MB, on %d leak sites; %d reference files, %.1f MB; load average %s",
		wl.files, wl.pages, float64(wl.bytes)/1e6, len(wl.sites), wl.refFiles, float64(wl.refBytes)/1e6, loadAvg())

	// Rounds run the setups in turn, so that each ratio compares runs
	// made minutes apart: this machine's load from other work swings.
	rounds := envInt(b, "LEAKWATCH_SCALEOUT_ROUNDS", 1)
	bySetup := map[string][]scaleResult{}
	for round := range rounds {
		var base scaleResult
		for _, s := range setups {
			r := runScaleSetup(b, wl, s)
			r.Round = round + 1
			bySetup[s] = append(bySetup[s], r)
			line, _ := json.Marshal(r)
			fmt.Printf("scaleout %s\n", line)
			if s == setups[0] {
				base = r
				continue
			}
			ratio := map[string]any{"round": round + 1, "setup": r.Setup, "vs": base.Setup,
				"files_per_sec": round3(r.FilesPerSec / base.FilesPerSec), "cases_per_sec": round3(r.CasesPerSec / base.CasesPerSec),
				"draft_p50": round3(r.DraftP50 / base.DraftP50), "draft_p99": round3(r.DraftP99 / base.DraftP99),
				"cpu_seconds": round3(r.CPUTotal / base.CPUTotal)}
			line, _ = json.Marshal(ratio)
			fmt.Printf("scaleout ratio %s\n", line)
		}
	}
	// The reported metrics are each setup's median over the rounds.
	med := func(rs []scaleResult, f func(scaleResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	base := bySetup[setups[0]]
	for _, s := range setups {
		rs := bySetup[s]
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.FilesPerSec }), s+"-files/s")
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.MBPerSec }), s+"-MB/s")
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.CasesPerSec }), s+"-cases/s")
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.DraftP50 }), s+"-draft-p50-s")
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.DraftP99 }), s+"-draft-p99-s")
		b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.CPUMsPerFile }), s+"-cpu-ms/file")
		if s != setups[0] {
			b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.FilesPerSec })/med(base, func(r scaleResult) float64 { return r.FilesPerSec }), s+"/embedded-files")
			b.ReportMetric(med(rs, func(r scaleResult) float64 { return r.CasesPerSec })/med(base, func(r scaleResult) float64 { return r.CasesPerSec }), s+"/embedded-cases")
		}
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }

// scaleWorkload is the reference set and the leak sites' files, the same
// for every setup.
type scaleWorkload struct {
	refsDir  string
	refFiles int
	refBytes int64
	sites    [][]leaksim.File // one per loopback address
	files    int              // served as files
	pages    int              // HTML posts, served as pages
	bytes    int64
}

func newScaleWorkload(b *testing.B, hosts, perClass int) *scaleWorkload {
	b.Helper()
	wl := &scaleWorkload{refsDir: filepath.Join(b.TempDir(), "refs")}
	// 1600 px photos average ~320 KB, the size class of a real breach's
	// (README "Figures": 252 KB average); the letters are kilobytes of text.
	refOpts := synth.Options{Seed: 14, Patients: 60, Docs: 240, PhotoWidth: 1600}
	docs, err := synth.Generate(wl.refsDir, refOpts)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range docs {
		wl.refFiles++
		wl.refBytes += d.Size
	}
	items, _, err := synth.LeakMix(wl.refsDir, refOpts, docs, synth.MixOptions{Seed: 14, PerClass: perClass})
	if err != nil {
		b.Fatal(err)
	}
	// Scanned pages are left out: their OCR (Tesseract) would dominate
	// both setups' CPU alike; `leakwatch eval` measures it.
	items = slices.DeleteFunc(items, func(it synth.LeakItem) bool { return it.Transform == synth.TScanned })
	letters := scaleLetters(b, filepath.Join(wl.refsDir, "letters"), 60, 20)
	for i, l := range letters.refs {
		wl.refFiles++
		wl.refBytes += int64(len(l))
		switch {
		case i%2 == 0: // half posted whole, renamed
			items = append(items, synth.LeakItem{Name: fmt.Sprintf("letter-%03d.txt", i), Data: l, Transform: synth.TExact})
		case i%3 == 1: // a third quoted in a post
			items = append(items, synth.LeakItem{Name: fmt.Sprintf("post-%03d.txt", i), Transform: synth.TExcerpt,
				Data: fmt.Appendf(nil, "anyone recognise this? from the dump:\n\n%s\n\nmore tomorrow\n", l[len(l)/3:len(l)/3+600])})
		}
	}
	for i, l := range letters.fresh { // other patients' letters: must not match
		items = append(items, synth.LeakItem{Name: fmt.Sprintf("fresh-%03d.txt", i), Data: l, Transform: synth.TDistractor})
	}
	// Interleave the classes over the sites: each site gets a bit of all.
	rng := rand.New(rand.NewPCG(14, 14))
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	wl.sites = make([][]leaksim.File, hosts)
	for i, it := range items {
		h := i % hosts
		wl.sites[h] = append(wl.sites[h], leaksim.File{Name: it.Name, Data: it.Data,
			Thread: fmt.Sprintf("dump part %d", len(wl.sites[h])/5+1)})
		wl.bytes += int64(len(it.Data))
		if ext := strings.ToLower(filepath.Ext(it.Name)); ext == ".html" || ext == ".htm" {
			wl.pages++ // served as a page, captured and matched as one
		} else {
			wl.files++
		}
	}
	return wl
}

// scaleLetters writes n reference letters of a few KB (README: the
// breach's letters average 4.7 KB; synth's notes are under 1 KB) into dir,
// each six clinical notes of one generated set run together, and returns
// them with fresh more letters of the same kind that are not references.
func scaleLetters(b *testing.B, dir string, n, fresh int) (out struct{ refs, fresh [][]byte }) {
	b.Helper()
	src := b.TempDir()
	docs, err := synth.Generate(src, synth.Options{Seed: 15, Patients: 200, Docs: (n + fresh) * 6 * 8 / 3})
	if err != nil {
		b.Fatal(err)
	}
	var notes [][]byte
	for _, d := range docs {
		if d.Kind == synth.KindClinicalNote {
			data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(d.RelPath)))
			if err != nil {
				b.Fatal(err)
			}
			notes = append(notes, data)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := 0; i+6 <= len(notes) && len(out.refs)+len(out.fresh) < n+fresh; i += 6 {
		l := bytes.Join(notes[i:i+6], []byte("\n"))
		if len(out.refs) < n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("letter-%03d.txt", len(out.refs))), l, 0o644); err != nil {
				b.Fatal(err)
			}
			out.refs = append(out.refs, l)
		} else {
			out.fresh = append(out.fresh, l)
		}
	}
	return out
}

// scaleResult is one setup's figures; times in seconds.
type scaleResult struct {
	Setup       string             `json:"setup"`
	Round       int                `json:"round"`
	Database    string             `json:"database"`
	Sites       int                `json:"sites"`
	Files       int64              `json:"files"`
	MB          float64            `json:"mb"`
	ScanSeconds float64            `json:"scan_seconds"`
	FilesPerSec float64            `json:"files_per_sec"`
	MBPerSec    float64            `json:"mb_per_sec"`
	Hits        int64              `json:"hits"`
	Cases       int                `json:"cases"`
	CaseSeconds float64            `json:"case_seconds"` // first hit → last draft
	CasesPerSec float64            `json:"cases_per_sec"`
	DraftP50    float64            `json:"draft_p50_s"`
	DraftP99    float64            `json:"draft_p99_s"`
	DraftDelay  float64            `json:"draft_delay_s"`
	TotalSecs   float64            `json:"total_seconds"` // crawl start → last draft
	CPU         map[string]float64 `json:"cpu_seconds"`   // per process, during the measurement
	CPUTotal    float64            `json:"cpu_seconds_total"`
	// CPUMsPerFile is the CPU all processes spent per file captured, from
	// the crawls' start to the last draft: the cost of the work, which the
	// load of other processes on the machine changes less than the rates.
	CPUMsPerFile float64 `json:"cpu_ms_per_file"`
	// CoresUsed is that CPU over the same wall time: near the machine's
	// core count, the setup was CPU-bound.
	CoresUsed  float64            `json:"cores_used"`
	PeakRSSMB  map[string]float64 `json:"peak_rss_mb"` // per process, since it started
	LoadBefore string             `json:"loadavg_before"`
	LoadAfter  string             `json:"loadavg_after"`
}

// draftDelay is the harness config's notices.draft_delay.
const draftDelay = 2 * time.Second

func runScaleSetup(b *testing.B, wl *scaleWorkload, setup string) scaleResult {
	b.Helper()
	var queues [2]string
	switch setup {
	case "embedded":
	case "split":
		queues = [2]string{"crawl,notify", "scan"}
	case "all":
		queues = [2]string{"crawl,scan,notify", "crawl,scan,notify"}
	default:
		b.Fatalf("unknown setup %q (want embedded, split or all)", setup)
	}
	dsn := ""
	if setup != "embedded" {
		dsn = storagetest.FreshPostgresDSN(b)
	}
	h := newHarness(b, harnessOptions{postgresDSN: dsn})
	h.mustCLI("", "refs", "add", wl.refsDir)
	h.mustCLI(analystPW+"\n", "users", "add", "analyst", "--role", "analyst", "--password-stdin")
	var names []string
	for i, files := range wl.sites {
		// The whole of 127.0.0.0/8 is loopback on Linux: each site is a
		// host of its own, so each gets a case of its own.
		host := fmt.Sprintf("127.0.0.%d", i+2)
		site := leaksim.New(leaksim.Options{Title: "Dump board " + host, Files: files, DisableMissing: true, DisableHuge: true,
			DisableOffsite: true, DisableRedirect: true, DisableLoop: true})
		addr, err := site.Serve(b.Context(), host+":0")
		if err != nil {
			b.Fatalf("serve a leak site on %s (is 127.0.0.0/8 loopback here?): %v", host, err)
		}
		name := fmt.Sprintf("board-%02d", i)
		h.mustCLI("", "sources", "add", name, "http://"+addr.String()+"/")
		names = append(names, name)
	}

	res := scaleResult{Setup: setup, Database: "sqlite", Sites: len(wl.sites), DraftDelay: draftDelay.Seconds()}
	var store *storage.Store
	var procs func() map[string]int // process name → pid, now
	if setup == "embedded" {
		up := h.up()
		h.eventually("leakwatch up to be ready", 2*time.Minute, func() (bool, error) {
			resp, err := http.Get(h.webURL + "/readyz")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		var err error
		store, err = storage.Open(b.Context(), "", h.dataDir, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { store.Close() })
		procs = func() map[string]int {
			out := map[string]int{"up": up.Process.Pid}
			for _, pid := range childPIDs(up.Process.Pid) {
				out["temporal"] = pid // up's only child is its server
			}
			return out
		}
	} else {
		res.Database = "postgresql"
		c := newCluster(b, h, dsn)
		store = c.store
		web := c.startWeb()
		w1 := c.startWorker("worker-1", queues[0])
		w2 := c.startWorker("worker-2", queues[1])
		db := postgresDB(b, dsn)
		procs = func() map[string]int {
			out := map[string]int{"temporal": c.srv.PID(), "web": web.pid,
				"worker-1 (" + queues[0] + ")": w1.pid, "worker-2 (" + queues[1] + ")": w2.pid}
			for _, pid := range postgresBackends(db) {
				out[fmt.Sprintf("postgres-%d", pid)] = pid
			}
			return out
		}
	}
	analyst := h.login("analyst", analystPW)
	var ids []uint64
	for _, n := range names {
		src, err := store.SourceByName(b.Context(), n)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, src.ID)
	}

	before := sampleProcs(procs())
	selfBefore := selfCPU()
	res.LoadBefore = loadAvg()
	start := time.Now()
	for _, id := range ids {
		if code := analyst.do("POST", fmt.Sprintf("/api/sources/%d/run", id), nil, nil); code != http.StatusAccepted {
			b.Fatalf("start the crawl of source %d: HTTP %d", id, code)
		}
	}
	ctx := b.Context()
	db := store.DB().WithContext(ctx)
	h.eventually("every crawl finished and its captures matched", 30*time.Minute, func() (bool, error) {
		var done, spooled int64
		if err := db.Model(&storage.CrawlRun{}).Where("finished_at IS NOT NULL").Count(&done).Error; err != nil {
			return false, err
		}
		if err := db.Model(&storage.SpoolItem{}).Count(&spooled).Error; err != nil {
			return false, err
		}
		return done >= int64(len(ids)) && spooled == 0, nil
	})
	scanEnd := time.Now()
	res.ScanSeconds = scanEnd.Sub(start).Seconds()
	var files struct {
		N     int64
		Bytes int64
	}
	if err := db.Model(&storage.Capture{}).Select("COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes").
		Where("kind = ? AND status = ? AND error = ''", storage.CaptureFile, http.StatusOK).Scan(&files).Error; err != nil {
		b.Fatal(err)
	}
	if files.N != int64(wl.files) {
		b.Errorf("%s: %d files captured; want the sites' %d", setup, files.N, wl.files)
	}
	res.Files, res.MB = files.N, round3(float64(files.Bytes)/1e6)
	res.FilesPerSec, res.MBPerSec = round3(float64(files.N)/res.ScanSeconds), round3(float64(files.Bytes)/1e6/res.ScanSeconds)

	// Every host with a hit gets a case, drafted after draft_delay.
	var hits []storage.Hit
	if err := db.Select("target", "created_at").Find(&hits).Error; err != nil {
		b.Fatal(err)
	}
	res.Hits = int64(len(hits))
	detected := map[string]time.Time{}
	for _, ht := range hits {
		if t, ok := detected[ht.Target]; !ok || ht.CreatedAt.Before(t) {
			detected[ht.Target] = ht.CreatedAt
		}
	}
	if len(detected) < len(wl.sites)/2 {
		b.Errorf("%s: hits on %d of %d sites; the leak mix should match on most", setup, len(detected), len(wl.sites))
	}
	drafted := map[string]time.Time{}
	h.eventually("a drafted notice on every host with a hit", 15*time.Minute, func() (bool, error) {
		cases, err := store.ListCases(ctx)
		if err != nil {
			return false, err
		}
		for _, k := range cases {
			if _, ok := drafted[k.Target]; ok {
				continue
			}
			ns, err := store.NoticesForCase(ctx, k.ID)
			if err != nil {
				return false, err
			}
			for _, n := range ns {
				if t, ok := drafted[k.Target]; !n.DraftedAt.IsZero() && (!ok || n.DraftedAt.Before(t)) {
					drafted[k.Target] = n.DraftedAt
				}
			}
		}
		return len(drafted) >= len(detected), nil
	})
	end := time.Now()
	after := sampleProcs(procs())
	res.LoadAfter = loadAvg()

	var lat []float64
	first, last := time.Time{}, time.Time{}
	for target, det := range detected {
		dr, ok := drafted[target]
		if !ok {
			b.Errorf("%s: no draft for %s", setup, target)
			continue
		}
		lat = append(lat, dr.Sub(det).Seconds())
		if first.IsZero() || det.Before(first) {
			first = det
		}
		if dr.After(last) {
			last = dr
		}
	}
	slices.Sort(lat)
	res.Cases = len(lat)
	res.CaseSeconds = round3(last.Sub(first).Seconds())
	res.CasesPerSec = round3(float64(res.Cases) / last.Sub(first).Seconds())
	res.DraftP50, res.DraftP99 = round3(quantile(lat, 0.50)), round3(quantile(lat, 0.99))
	res.TotalSecs = round3(end.Sub(start).Seconds())
	res.ScanSeconds = round3(res.ScanSeconds)

	res.CPU, res.PeakRSSMB = map[string]float64{}, map[string]float64{}
	var pgCPU, pgRSS float64
	var pgN int
	for name, a := range after {
		cpu := a.cpu - before[name].cpu // a backend started since counts from 0
		if before[name].pid != a.pid {
			cpu = a.cpu
		}
		if strings.HasPrefix(name, "postgres-") {
			pgCPU += cpu
			pgRSS = max(pgRSS, a.hwmMB)
			pgN++
			continue
		}
		res.CPU[name] = round3(cpu)
		res.PeakRSSMB[name] = round3(a.hwmMB)
		res.CPUTotal += cpu
	}
	if pgN > 0 {
		// Backends that exited during the run are not counted.
		res.CPU[fmt.Sprintf("postgres (%d backends)", pgN)] = round3(pgCPU)
		res.PeakRSSMB["postgres (largest backend)"] = round3(pgRSS)
		res.CPUTotal += pgCPU
	}
	res.CPU["fixture (this process: leak sites, polling)"] = round3(selfCPU() - selfBefore)
	res.CPUMsPerFile = round3(res.CPUTotal * 1000 / float64(res.Files))
	res.CoresUsed = round3(res.CPUTotal / end.Sub(start).Seconds())
	res.CPUTotal = round3(res.CPUTotal)
	if keep := os.Getenv("LEAKWATCH_SCALEOUT_KEEP_LOGS"); keep != "" {
		// The processes' logs up to now, for where the time went.
		logs, _ := filepath.Glob(filepath.Join(h.dir, "*.log"))
		for _, l := range logs {
			data, err := os.ReadFile(l)
			if err == nil {
				err = os.WriteFile(filepath.Join(keep, fmt.Sprintf("%s-%s", setup, filepath.Base(l))), data, 0o600)
			}
			if err != nil {
				b.Logf("keep %s: %v", l, err)
			}
		}
	}
	b.Logf("%s: %d files (%.1f MB) in %.1f s: %.1f files/s, %.2f MB/s; %d cases drafted %.2f/s, detection→draft p50 %.2f s p99 %.2f s; CPU %v",
		setup, res.Files, res.MB, res.ScanSeconds, res.FilesPerSec, res.MBPerSec, res.Cases, res.CasesPerSec, res.DraftP50, res.DraftP99, res.CPU)
	return res
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

// procSample is one process's CPU time (user+system, s) and peak RSS.
type procSample struct {
	pid   int
	cpu   float64
	hwmMB float64
}

// clockTicks is USER_HZ, 100 on every Linux this runs on (no cgo for
// sysconf).
const clockTicks = 100

func sampleProcs(pids map[string]int) map[string]procSample {
	out := map[string]procSample{}
	for name, pid := range pids {
		s := procSample{pid: pid}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// Fields after the parenthesised command name; utime and
			// stime are the 14th and 15th of the line.
			if i := strings.LastIndexByte(string(st), ')'); i > 0 {
				f := strings.Fields(string(st)[i+1:])
				if len(f) > 12 {
					u, _ := strconv.ParseFloat(f[11], 64)
					sy, _ := strconv.ParseFloat(f[12], 64)
					s.cpu = (u + sy) / clockTicks
				}
			}
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			if m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`).FindSubmatch(st); m != nil {
				kb, _ := strconv.ParseFloat(string(m[1]), 64)
				s.hwmMB = kb / 1024
			}
		}
		out[name] = s
	}
	return out
}

// selfCPU is this process's CPU time so far (the leak sites serve from it).
func selfCPU() float64 {
	return sampleProcs(map[string]int{"self": os.Getpid()})["self"].cpu
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(st), ')'); i > 0 {
			if f := strings.Fields(string(st)[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, p)
			}
		}
	}
	return out
}

func postgresDB(b *testing.B, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// postgresBackends lists the server processes serving database db: their
// titles read "postgres: [cluster: ]user db host(port) state".
func postgresBackends(db string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if s := string(cl); strings.HasPrefix(s, "postgres:") && strings.Contains(s, " "+db+" ") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
