package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

const (
	lawyerPW  = "correct horse battery staple"
	analystPW = "analyst password 123"
	adminPW   = "admin password 12345"
)

// TestTakedownEndToEnd drives the whole slice: index references, crawl the
// fixture forum, draft a notice, survive a crash while it waits for approval,
// approve through the API, send through an SMTP server that refuses the first
// attempt, then follow up when the content reappears, approved from the CLI.
func TestTakedownEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	runTakedown(t, harnessOptions{refuseFirst: 1})
}

// TestTakedownEndToEndPostgres is the same with the app database on a real
// PostgreSQL (the scale deployment's store); it needs LEAKWATCH_TEST_POSTGRES_DSN.
func TestTakedownEndToEndPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	runTakedown(t, harnessOptions{refuseFirst: 1, postgresDSN: storagetest.FreshPostgresDSN(t)})
}

func runTakedown(t *testing.T, o harnessOptions) {
	h := newHarness(t, o)

	out := h.mustCLI("", "refs", "add", h.refsDir)
	if !strings.Contains(out, fmt.Sprintf("indexed %d files (%d new", len(h.refs), len(h.refs))) {
		t.Fatalf("refs add: %q", out)
	}
	// Re-running adds nothing twice.
	if out := h.mustCLI("", "refs", "add", h.refsDir); !strings.Contains(out, "(0 new") {
		t.Fatalf("second refs add: %q", out)
	}
	h.checkScan()

	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	h.mustCLI(analystPW+"\n", "users", "add", "analyst", "--role", "analyst", "--password-stdin")
	h.mustCLI(adminPW+"\n", "users", "add", "boss", "--role", "admin", "--password-stdin")
	h.mustCLI("", "sources", "add", "forum", h.siteURL)

	// Without a running leakwatch, approving says so instead of hanging.
	if _, errOut, code := h.cli("", "cases", "approve", "1", "--as", "lawyer"); code == 0 || !strings.Contains(errOut, "case 1") && !strings.Contains(errOut, "not running") {
		t.Fatalf("approve with nothing running: exit %d, %q", code, errOut)
	}

	up := h.up()
	out = h.mustCLI("", "crawl", "forum")
	if n := delivered(t, out); n < len(h.leaked) {
		t.Fatalf("crawl delivered %d hits, want at least %d: %q", n, len(h.leaked), out)
	}

	analyst := h.login("analyst", analystPW)
	c := analyst.waitCase("a drafted notice", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	draft := c.Notices[0]
	// An analyst sees opaque ids only; a reference's name (which can carry
	// a patient identifier) is for legal.
	for _, hit := range c.Hits {
		if hit.RefName != "" || hit.RefOpaqueID == "" {
			t.Errorf("analyst's hit %+v: want an opaque id and no name", hit)
		}
	}
	// Each leaked file is found by its exact bytes; record dumps may also
	// match the other references that hold the same patients' records.
	named := h.login("lawyer", lawyerPW).waitCase("the case, as legal sees it", func(lc apiCase) bool { return lc.ID == c.ID })
	exact := map[string]bool{}
	for _, hit := range named.Hits {
		if hit.Method == "sha256" {
			exact[hit.RefName] = true
		}
	}
	for _, d := range h.leaked {
		if !exact[d.RelPath] {
			t.Errorf("no sha256 hit on %s; hits %+v", d.RelPath, named.Hits)
		}
	}
	// An analyst may not approve.
	if code := analyst.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": draft.Revision}, nil); code != http.StatusForbidden {
		t.Fatalf("analyst approve: HTTP %d, want 403", code)
	}
	h.checkEvidence(analyst)

	// Crash (SIGKILL, no clean shutdown) while the case waits for approval,
	// then start again on the same data directory.
	if err := up.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let the supervised Temporal server follow its parent
	h.up()
	if n := len(h.sink.Messages()); n != 0 {
		t.Fatalf("%d messages sent before approval", n)
	}

	lawyer := h.login("lawyer", lawyerPW)
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": draft.Revision + 7}, nil); code != http.StatusConflict {
		t.Fatalf("approving a revision that is not the draft: HTTP %d, want 409", code)
	}
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": draft.Revision}, nil); code != http.StatusOK {
		t.Fatalf("lawyer approve: HTTP %d", code)
	}
	c = lawyer.waitCase("the notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	if n := c.Notices[0]; n.SentAt == nil || n.ApprovedBy != "lawyer" || n.Attempts != 2 {
		t.Errorf("sent notice = %+v; want sent, approved by lawyer, 2 attempts (first refused)", n)
	}
	msgs := h.sink.Messages()
	if len(msgs) != 1 || h.sink.Attempts() != 2 {
		t.Fatalf("sink got %d messages in %d attempts; want 1 message after 1 refused attempt", len(msgs), h.sink.Attempts())
	}
	h.checkNotice(string(msgs[0].Data), h.leaked)
	if got := msgs[0].To; len(got) != 1 || got[0] != "abuse@leakforum.example" {
		t.Errorf("notice sent to %v", got)
	}

	// The content reappears: a follow-up notice lists only the new item, and
	// is approved from the CLI.
	extra := h.refs[len(h.refs)-1]
	h.site.AddFile(leaksim.File{Name: "more-" + filepath.Base(extra.RelPath), Data: h.read(extra), Thread: "portal dump part 2"})
	out = h.mustCLI("", "crawl", "forum")
	if n := delivered(t, out); n < 1 {
		t.Fatalf("second crawl delivered no hits: %q", out)
	}
	c = lawyer.waitCase("a follow-up draft", func(c apiCase) bool { return c.State == "drafted" && c.Notices[0].Revision > draft.Revision })
	out = h.mustCLI("", "cases", "approve", fmt.Sprint(c.ID), "--as", "lawyer")
	if !strings.Contains(out, "approved by lawyer") {
		t.Fatalf("cases approve: %q", out)
	}
	c = lawyer.waitCase("the follow-up to be sent", func(c apiCase) bool { return c.State == "sent" && c.Notices[0].SentAt != nil })
	msgs = h.sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("sink has %d messages, want 2", len(msgs))
	}
	h.checkNotice(string(msgs[1].Data), []synth.Doc{extra})
	for _, d := range h.leaked {
		if strings.Contains(string(msgs[1].Data), sha(h.read(d))) {
			t.Errorf("follow-up notice repeats already-notified item %s", d.RelPath)
		}
	}

	// Nothing more goes out on its own, and the audit chain holds.
	time.Sleep(3 * time.Second)
	if n := len(h.sink.Messages()); n != 2 {
		t.Fatalf("sink has %d messages after settling, want exactly 2", n)
	}
	var audit struct {
		Verified bool `json:"verified"`
		Events   []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"events"`
	}
	boss := h.login("boss", adminPW)
	if code := boss.do("GET", "/api/audit", nil, &audit); code != http.StatusOK || !audit.Verified {
		t.Fatalf("audit: HTTP %d verified=%v", code, audit.Verified)
	}
	actions := map[string]int{}
	for _, e := range audit.Events {
		actions[e.Action]++
	}
	if actions["notice.approved"] != 2 || actions["notice.sent"] != 2 {
		t.Errorf("audit actions %v; want 2 approvals and 2 sends", actions)
	}
	if code := analyst.do("GET", "/api/audit", nil, nil); code != http.StatusForbidden {
		t.Errorf("analyst GET /api/audit: HTTP %d, want 403", code)
	}

	show := h.mustCLI("", "cases", "show", fmt.Sprint(c.ID))
	if !strings.Contains(show, "state sent") || !strings.Contains(show, "notices sent: LW-1-1, LW-1-2") {
		t.Errorf("cases show:\n%s", show)
	}
}

// checkScan matches local files: a renamed leaked copy matches by SHA-256
// with its reference's relative path; an unrelated file matches nothing.
func (h *harness) checkScan() {
	t := h.t
	dir := t.TempDir()
	leaked := h.leaked[0]
	copyPath := filepath.Join(dir, "renamed.bin")
	if err := os.WriteFile(copyPath, h.read(leaked), 0o600); err != nil {
		t.Fatal(err)
	}
	otherPath := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(otherPath, []byte("not from the breach\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := h.mustCLI("", "scan", "--json", copyPath, otherPath)
	type result struct {
		Path    string `json:"path"`
		SHA256  string `json:"sha256"`
		Matches []struct {
			RefID   string  `json:"ref_id"`
			RefName string  `json:"ref_name"`
			Method  string  `json:"method"`
			Score   float64 `json:"score"`
		} `json:"matches"`
	}
	var results []result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("scan --json line %q: %v", sc.Text(), err)
		}
		results = append(results, r)
	}
	if len(results) != 2 {
		t.Fatalf("scan --json gave %d lines:\n%s", len(results), out)
	}
	// The exact copy is reported first, by SHA-256, under its reference's
	// relative path (other references may match too, e.g. the same patients'
	// records in another file).
	m := results[0].Matches
	if results[0].SHA256 != sha(h.read(leaked)) || len(m) == 0 || m[0].RefName != leaked.RelPath || m[0].Method != "sha256" || m[0].Score != 1 || !strings.HasPrefix(m[0].RefID, "ref_") {
		t.Errorf("scan of leaked copy = %+v", results[0])
	}
	if results[1].Matches == nil || len(results[1].Matches) != 0 {
		t.Errorf("scan of unrelated file = %+v, want matches: []", results[1])
	}
	if !strings.Contains(out, `"matches":[]`) {
		t.Errorf("no-match line must carry \"matches\":[]:\n%s", out)
	}
}

// checkEvidence looks at the captures of the hostile fixture features.
func (h *harness) checkEvidence(a *api) {
	t := h.t
	var caps []struct {
		URL    string `json:"url"`
		Kind   string `json:"kind"`
		Status int    `json:"status"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
		Error  string `json:"error"`
		Refs   int64  `json:"refs"`
	}
	if code := a.do("GET", "/api/captures?limit=500", nil, &caps); code != http.StatusOK {
		t.Fatalf("GET /api/captures: HTTP %d", code)
	}
	var saw404, sawHuge, sawLeaked int
	leakedSums := map[string]bool{}
	for _, d := range h.leaked {
		leakedSums[sha(h.read(d))] = true
	}
	for _, c := range caps {
		switch {
		case c.Status == 404:
			saw404++
			if c.Error == "" {
				t.Errorf("404 capture %s has no error", c.URL)
			}
		case strings.Contains(c.URL, leaksim.HugePath):
			sawHuge++
			if !strings.Contains(c.Error, "5000000000") || c.Size != 0 {
				t.Errorf("huge download capture = %+v; want refused up front, declared size named", c)
			}
		case c.Kind == "file" && leakedSums[c.SHA256]:
			sawLeaked++
			if c.Refs < 1 {
				t.Errorf("capture of a leaked file %s reports %d reference files exposed", c.URL, c.Refs)
			}
		}
	}
	if saw404 == 0 || sawHuge == 0 || sawLeaked < len(h.leaked) {
		t.Errorf("captures: %d 404s, %d huge, %d leaked files; want each (>= %d leaked)", saw404, sawHuge, sawLeaked, len(h.leaked))
	}
}

// checkNotice asserts the notice cites the orders, lists each item's URL and
// SHA-256, and repeats no personal data or document text.
func (h *harness) checkNotice(raw string, items []synth.Doc) {
	t := h.t
	body := decodeQP(raw)
	for _, want := range []string{"High Court of New Zealand", "CIV-2026-404-000123", "2026-01-05", "Unknown Defendants",
		"immediately delete and take it down", "legal@claimant.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("notice lacks %q", want)
		}
	}
	for _, d := range items {
		if !strings.Contains(body, sha(h.read(d))) {
			t.Errorf("notice lacks the SHA-256 of %s", d.RelPath)
		}
		if !strings.Contains(body, h.siteURL+"files/") {
			t.Errorf("notice lacks the infringing URL")
		}
	}
	// No document content: no field of the patients CSV, no line of any text.
	// The infringing URLs are quoted verbatim: the host needs them to act, and
	// an attacker may have put an identifier in a file name. Look past them.
	body = regexp.MustCompile(regexp.QuoteMeta(strings.TrimSuffix(h.siteURL, "/"))+`\S*`).ReplaceAllString(body, "<url>")
	for _, d := range h.refs {
		data := h.read(d)
		for _, frag := range contentFragments(d, data) {
			if strings.Contains(body, frag) {
				t.Errorf("notice repeats content of %s: %q", d.RelPath, frag)
			}
		}
	}
}

func contentFragments(d synth.Doc, data []byte) []string {
	var out []string
	if d.Kind == synth.KindPatients {
		rows, _ := csv.NewReader(bytes.NewReader(data)).ReadAll()
		for i, row := range rows {
			if i == 0 {
				continue
			}
			for _, f := range row {
				if len(f) >= 6 {
					out = append(out, f)
				}
			}
		}
		return out
	}
	if d.Kind == synth.KindClinicalNote {
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); len(l) >= 24 {
				out = append(out, l)
			}
		}
	}
	if d.NHI != "" {
		out = append(out, d.NHI)
	}
	return out
}

// delivered reads "N hits delivered to cases" from crawl's output. A file is
// one hit per URL it is served at (the fixture also links files through
// redirects), so counts are at least one per leaked file.
func delivered(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) hits delivered to cases`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("crawl output has no delivery line: %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func decodeQP(raw string) string {
	// Soft line breaks and =3D are enough to search the quoted-printable text.
	s := strings.ReplaceAll(raw, "=\r\n", "")
	return strings.ReplaceAll(s, "=3D", "=")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
