package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crawlLine is one line of `leakwatch crawl --url URL --json`, the contract
// scripts rely on (README "Crawling a URL ad hoc").
type crawlLine struct {
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Type     string `json:"type"`
	Status   int    `json:"status"`
	Kind     string `json:"kind"`
	Error    string `json:"error"`
	Refs     int    `json:"refs"`
	Patients int    `json:"patients"`
	Matches  []struct {
		RefID   string  `json:"ref_id"`
		RefName string  `json:"ref_name"`
		Method  string  `json:"method"`
		Score   float64 `json:"score"`
		Why     string  `json:"why"`
	} `json:"matches"`
}

// TestCrawlURLJSON crawls the leak forum ad hoc with the built binary and
// checks the JSON lines: every leaked sample matched with its evidence,
// pages and failed fetches reported, the unrelated file matching nothing,
// and nothing stored.
func TestCrawlURLJSON(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustCLI("", "refs", "add", h.refsDir)
	out := h.mustCLI("", "crawl", "--url", h.siteURL, "--json")

	lines := map[string]crawlLine{}
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		var l crawlLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", raw, err)
		}
		if l.Matches == nil {
			t.Errorf("%s: matches must be [] when empty, not absent: %s", l.Path, raw)
		}
		if l.Kind != "page" && l.Kind != "file" {
			t.Errorf("%s: kind %q", l.Path, l.Kind)
		}
		lines[l.Path] = l
	}
	for _, a := range h.site.Attachments() {
		l, ok := lines[strings.TrimSuffix(h.siteURL, "/")+a.Path]
		if !ok {
			t.Errorf("attachment %s not in the output:\n%s", a.Path, out)
			continue
		}
		leaked := !strings.HasPrefix(a.Name, "unrelated")
		switch {
		case l.Kind != "file" || l.Status != 200 || l.Error != "" || l.SHA256 != a.SHA256:
			t.Errorf("%s: %+v; want a file fetched whole", a.Path, l)
		case leaked && (len(l.Matches) == 0 || l.Refs == 0):
			t.Errorf("leaked sample %s matched nothing: %+v", a.Name, l)
		case !leaked && len(l.Matches) != 0:
			t.Errorf("unrelated file %s matched: %+v", a.Name, l.Matches)
		}
	}
	if l := lines[h.siteURL]; l.Kind != "page" || l.Status != 200 || l.SHA256 == "" {
		t.Errorf("the forum's index page: %+v", l)
	}
	var failed int
	for _, l := range lines {
		if l.Error != "" {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("the forum's missing and oversized downloads were not reported as errors:\n%s", out)
	}
	// Ad hoc crawls store nothing.
	if out := h.mustCLI("", "sources", "list"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("crawl --url saved a source:\n%s", out)
	}
}

// TestEvidenceVerify crawls a source with the built binary, verifies the
// run's WARC evidence and seal, then tampers with one byte of a WARC file
// and expects verification to fail, naming the problem.
func TestEvidenceVerify(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI("", "sources", "add", "forum", h.siteURL)
	out := h.mustCLI("", "crawl", "forum")
	if !strings.Contains(out, "(run 1)") {
		t.Fatalf("crawl output: %s", out)
	}
	out = h.mustCLI("", "evidence", "verify", "1")
	if !strings.Contains(out, "WARC records verified; Merkle root ") {
		t.Fatalf("evidence verify: %s", out)
	}
	files, err := filepath.Glob(filepath.Join(h.dataDir, "evidence", "run-1", "*.warc.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no WARC files for run 1: %v", err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*2/3] ^= 0x40
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := h.cli("", "evidence", "verify", "1")
	if code == 0 || !strings.Contains(stderr, "does not verify") || !strings.Contains(stdout, "FAIL") {
		t.Fatalf("tampered WARC: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
