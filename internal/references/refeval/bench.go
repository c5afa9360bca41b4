package refeval

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// RefsBench is the outcome of BenchRefs.
type RefsBench struct {
	Docs          int
	GenerateTime  time.Duration
	BuildTime     time.Duration
	PeakRSS       int64 // bytes, whole process (VmHWM)
	IndexBytes    int64 // database files on disk
	Index         storage.IndexStats
	LoadTime      time.Duration // reading the index into memory, as a scanner does at start
	Samples       int
	MatchP50      time.Duration // matcher only, features computed beforehand
	MatchP99      time.Duration
	ScanP50       time.Duration // whole pipeline: extract, fingerprint, match
	ScanP99       time.Duration
	MatchedSample int // samples that found their own reference (sanity check)
}

// BenchRefs generates docs synthetic documents, indexes them into a fresh
// SQLite database under dir and measures build time, peak memory, index size
// and per-document match latency over samples documents.
func BenchRefs(ctx context.Context, dir string, docs, samples int, opts match.Options) (RefsBench, error) {
	b := RefsBench{Docs: docs}
	refsDir := filepath.Join(dir, "refs")
	t0 := time.Now()
	gen, err := synth.Generate(refsDir, synth.Options{Seed: 7, Patients: min(synth.MaxPatients, max(25, docs/4)), Docs: docs})
	if err != nil {
		return b, fmt.Errorf("bench: generate: %w", err)
	}
	b.GenerateTime = time.Since(t0)
	secret := make([]byte, 32)
	rand.Read(secret)
	key, _ := fingerprints.NewKey(secret)
	dbDir := filepath.Join(dir, "db")
	store, err := storage.Open(ctx, "", dbDir, nil)
	if err != nil {
		return b, err
	}
	defer store.Close()
	t0 = time.Now()
	if _, err := references.Import(ctx, store, refsDir, references.Options{Key: key, Match: opts}); err != nil {
		return b, fmt.Errorf("bench: index: %w", err)
	}
	b.BuildTime = time.Since(t0)
	b.PeakRSS = peakRSS()
	b.IndexBytes = dirSize(dbDir)
	if b.Index, err = store.IndexStats(ctx); err != nil {
		return b, err
	}

	an := match.NewAnalyzer(key, opts)
	t0 = time.Now()
	idx, _, err := references.LoadIndex(ctx, store)
	if err != nil {
		return b, err
	}
	b.LoadTime = time.Since(t0)
	m := match.NewMatcher(idx, opts)
	step := max(1, len(gen)/max(1, samples))
	var scanLat, matchLat []time.Duration
	for i := 0; i < len(gen) && len(scanLat) < samples; i += step {
		d := gen[i]
		data, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return b, err
		}
		start := time.Now()
		var feats []match.Features
		if err := an.Analyze(ctx, d.RelPath, data, match.Query, func(f match.Features) error {
			feats = append(feats, f)
			return nil
		}); err != nil {
			return b, err
		}
		mstart := time.Now()
		found := false
		for _, f := range feats {
			res, err := m.Match(ctx, f)
			if err != nil {
				return b, err
			}
			for _, mt := range res.Matches {
				found = found || mt.RefName == d.RelPath
			}
		}
		now := time.Now()
		matchLat = append(matchLat, now.Sub(mstart))
		scanLat = append(scanLat, now.Sub(start))
		if found {
			b.MatchedSample++
		}
	}
	b.Samples = len(scanLat)
	b.MatchP50, b.MatchP99 = percentile(matchLat, 50), percentile(matchLat, 99)
	b.ScanP50, b.ScanP99 = percentile(scanLat, 50), percentile(scanLat, 99)
	return b, nil
}

// ScanBench is the outcome of BenchScan.
type ScanBench struct {
	Files       int
	Bytes       int64
	RawSHA256   float64 // MB/s of crypto/sha256 alone over the same bytes, one core
	ExactOnly   float64 // MB/s of SHA-256 + index lookup, one core
	FullMBps    float64 // MB/s of the whole pipeline on all cores
	FullFilesPS float64
	Workers     int
	Matched     int
}

// BenchScan measures scanning the files under dir against the index in
// store: raw SHA-256 speed, exact-only matching and the full pipeline, over
// the same bytes held in memory (so disk speed does not count).
func BenchScan(ctx context.Context, store *storage.Store, key *fingerprints.Key, dir string, opts match.Options) (ScanBench, error) {
	var b ScanBench
	var files [][]byte
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files, names = append(files, data), append(names, p)
		b.Bytes += int64(len(data))
		return nil
	})
	if err != nil {
		return b, err
	}
	b.Files = len(files)
	if b.Bytes == 0 {
		return b, fmt.Errorf("bench scan: no files under %s", dir)
	}
	mb := float64(b.Bytes) / 1e6

	t0 := time.Now()
	for _, f := range files {
		sha256.Sum256(f)
	}
	b.RawSHA256 = mb / time.Since(t0).Seconds()

	sc, err := references.NewScanner(ctx, store, key, opts, 0)
	if err != nil {
		return b, err
	}
	t0 = time.Now()
	for i, f := range files {
		d := fingerprints.Digest{SHA256: hexSum(f), Size: int64(len(f))}
		if err := sc.ScanDigest(ctx, names[i], d, func(references.ItemResult) error { return nil }); err != nil {
			return b, err
		}
	}
	b.ExactOnly = mb / time.Since(t0).Seconds()

	b.Workers = runtime.GOMAXPROCS(0)
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		firstEr error
	)
	jobs := make(chan int)
	t0 = time.Now()
	for range b.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				matched := false
				err := sc.Scan(ctx, names[i], files[i], func(r references.ItemResult) error {
					matched = matched || len(r.Matches) > 0
					return nil
				})
				mu.Lock()
				if err != nil && firstEr == nil {
					firstEr = err
				}
				if matched {
					b.Matched++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	el := time.Since(t0).Seconds()
	b.FullMBps, b.FullFilesPS = mb/el, float64(b.Files)/el
	return b, firstEr
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(len(s)-1, max(0, i-1))]
}

// peakRSS reads the process's peak resident set size (Linux).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
