package e2e

import (
	"encoding/json"
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
