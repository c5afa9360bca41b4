package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoOnce is the README's first command: the demo runs headless and its
// last line reports a delivered notice.
func TestDemoOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Temporal server")
	}
	lw, temporalBin := binaries(t)
	h := &harness{t: t, leakwatch: lw, dir: t.TempDir()}
	// demo looks for leakwatch-temporal next to itself, as after `go build -o bin/ ./cmd/...`.
	binDir := t.TempDir()
	for src, name := range map[string]string{lw: "leakwatch", temporalBin: "leakwatch-temporal"} {
		linkOrCopy(t, src, filepath.Join(binDir, name))
	}
	h.leakwatch = filepath.Join(binDir, "leakwatch")
	h.cfgPath = filepath.Join(h.dir, "none.yaml") // demo builds its own config
	os.WriteFile(h.cfgPath, nil, 0o600)
	out, errOut, code := h.cli("", "demo", "--once", "--docs", "40", "--data-dir", filepath.Join(h.dir, "demo"))
	if code != 0 {
		t.Fatalf("demo --once: exit %d\n%s\n%s", code, out, tail(errOut, 30))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		Refs, Captures, Hits, Cases int
		NoticesSent                 int `json:"notices_sent"`
		TelegramHits                int `json:"telegram_hits"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	// Two cases: the forum's host and the Telegram channel.
	if sum.Refs != 41 || sum.Hits < 4 || sum.Cases != 2 || sum.NoticesSent < 1 || sum.Captures == 0 || sum.TelegramHits < 2 {
		t.Errorf("demo summary %+v", sum)
	}
}

// linkOrCopy places an executable (os.Executable resolves symlinks, so a
// symlink would not put it "next to" the other).
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if os.Link(src, dst) == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestBadConfig: every broken field is named with its file line, on one line.
func TestBadConfig(t *testing.T) {
	lw, _ := binaries(t)
	h := &harness{t: t, leakwatch: lw, dir: t.TempDir()}
	h.cfgPath = filepath.Join(h.dir, "bad.yaml")
	os.WriteFile(h.cfgPath, []byte("data_dir: "+h.dir+"\nsmtp:\n  port: 70000\ninjunction:\n  date_of_orders: 5 January\n  colour: blue\n"), 0o600)
	_, errOut, code := h.cli("", "up")
	if code == 0 {
		t.Fatal("up with a broken config exited 0")
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		t.Errorf("error is %d lines, want one:\n%s", n+1, errOut)
	}
	for _, want := range []string{"bad.yaml:3: smtp.port", "bad.yaml:5: injunction.date_of_orders", "bad.yaml:6", "colour",
		"injunction.court", "injunction.file_number"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q:\n%s", want, errOut)
		}
	}
	// A config that names a missing file is an error, not the defaults.
	h.cfgPath = filepath.Join(h.dir, "missing.yaml")
	if _, errOut, code := h.cli("", "sources", "list"); code == 0 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing config: exit %d %q", code, errOut)
	}
}

// TestRefsBadInput: unreadable reference inputs give a clear error and add nothing.
func TestRefsBadInput(t *testing.T) {
	lw, _ := binaries(t)
	h := &harness{t: t, leakwatch: lw, dir: t.TempDir()}
	h.cfgPath = filepath.Join(h.dir, "leakwatch.yaml")
	os.WriteFile(h.cfgPath, []byte("data_dir: "+filepath.Join(h.dir, "data")+"\nfingerprints:\n  key_file: "+writeKey(t, h.dir)+"\n"), 0o600)

	if _, errOut, code := h.cli("", "refs", "add", filepath.Join(h.dir, "nope")); code == 0 || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("refs add of a missing dir: exit %d %q", code, errOut)
	}
	file := filepath.Join(h.dir, "file.txt")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, errOut, code := h.cli("", "refs", "add", file); code == 0 || !strings.Contains(errOut, "not a directory") {
		t.Errorf("refs add of a file: exit %d %q", code, errOut)
	}
	// A dangling symlink inside is skipped (not a regular file); a FIFO too:
	// neither blocks nor fails the import of the good files.
	dir := filepath.Join(h.dir, "refs")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "good.txt"), []byte("synthetic note for ZAC5361\n"), 0o600)
	os.Symlink(filepath.Join(h.dir, "gone"), filepath.Join(dir, "dangling"))
	out := h.mustCLI("", "refs", "add", dir)
	if !strings.Contains(out, "indexed 1 files (1 new") {
		t.Errorf("refs add: %q", out)
	}
	if _, errOut, code := h.cli("", "scan", filepath.Join(h.dir, "nope")); code == 0 || !strings.Contains(errOut, "could not be read") {
		t.Errorf("scan of a missing path: exit %d %q", code, errOut)
	}
	if _, errOut, code := h.cli("", "frobnicate"); code == 0 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
}
