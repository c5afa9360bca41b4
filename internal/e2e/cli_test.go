package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// TestDemoOnce is the README's first command: the demo runs headless through
// the whole takedown lifecycle — hit, notice, removal verified, re-post,
// reopened case, reappearance notice — and its last line reports it. Each
// notice reached the SMTP sink exactly once, and the audit log holds every
// step and every state change of the case, in order.
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
	dataDir := filepath.Join(h.dir, "demo")
	start := time.Now()
	out, errOut, code := h.cli("", "demo", "--once", "--docs", "40", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("demo --once: exit %d\n%s\n%s", code, out, tail(errOut, 30))
	}
	t.Logf("demo --once took %s:\n%s", time.Since(start).Round(time.Second), out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		Refs, Captures, Hits, Cases int
		NoticesSent                 int               `json:"notices_sent"`
		TelegramHits                int               `json:"telegram_hits"`
		CaseID                      uint64            `json:"case_id"`
		CaseState                   storage.CaseState `json:"case_state"`
		VerifiedRemoved             bool              `json:"verified_removed"`
		ItemsRemoved                int               `json:"items_removed"`
		Reopened                    int
		SMTPMessages                int      `json:"smtp_messages"`
		MessageIDs                  []string `json:"message_ids"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	// Two cases: the forum's host and the Telegram channel. The forum's
	// had two notices out: the first, and the reappearance notice.
	if sum.Refs != 41 || sum.Hits < 4 || sum.Cases != 2 || sum.Captures == 0 || sum.TelegramHits < 2 {
		t.Errorf("demo summary %+v", sum)
	}
	if sum.NoticesSent != 2 || !sum.VerifiedRemoved || sum.ItemsRemoved == 0 || sum.Reopened != 1 || sum.CaseState != storage.CaseSent {
		t.Errorf("lifecycle in the summary: %+v", sum)
	}
	// The SMTP sink received each notice exactly once.
	distinct := map[string]bool{}
	for _, id := range sum.MessageIDs {
		distinct[id] = true
	}
	if sum.SMTPMessages != sum.NoticesSent || len(sum.MessageIDs) != sum.NoticesSent || len(distinct) != sum.NoticesSent {
		t.Errorf("SMTP sink got %d messages, Message-IDs %v, for %d notices sent", sum.SMTPMessages, sum.MessageIDs, sum.NoticesSent)
	}
	checkDemoRecords(t, dataDir, sum.CaseID, distinct)
	// The demo's evidence (forum crawls, re-checks, the channel) is
	// encrypted at rest once its writers closed.
	plain, _ := filepath.Glob(filepath.Join(dataDir, "evidence", "*", "*.warc.gz"))
	enc, _ := filepath.Glob(filepath.Join(dataDir, "evidence", "*", "*.warc.gz.age"))
	if len(plain) != 0 || len(enc) == 0 {
		t.Errorf("demo evidence at rest: plain %v, encrypted %d files", plain, len(enc))
	}
}

// checkDemoRecords reads what the demo left in its database: the case's
// sent notices are the messages the sink received, the reappearance notice
// cites the first, and the audit log (its chain intact) holds each step and
// the case's state changes in order.
func checkDemoRecords(t *testing.T, dataDir string, caseID uint64, received map[string]bool) {
	t.Helper()
	ctx := t.Context()
	store, err := storage.Open(ctx, "", dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	ns, err := store.NoticesForCase(ctx, caseID)
	if err != nil {
		t.Fatal(err)
	}
	var sent []storage.Notice
	for i := len(ns) - 1; i >= 0; i-- { // oldest first
		if ns[i].SentAt != nil {
			sent = append(sent, ns[i])
		}
	}
	if len(sent) != 2 || sent[0].Kind != storage.NoticeFirst || sent[1].Kind != storage.NoticeReappearance ||
		sent[1].Cites != strconv.FormatUint(sent[0].ID, 10) {
		t.Fatalf("sent notices of case %d: %+v", caseID, sent)
	}
	for _, n := range sent {
		if !received[n.MessageID] {
			t.Errorf("notice %s (%s) was not received by the SMTP sink (received %v)", n.Reference, n.MessageID, received)
		}
	}

	if _, err := store.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}
	events, err := store.AuditEvents(ctx, 100000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(events) // oldest first
	ours := map[string]bool{fmt.Sprintf("case:%d", caseID): true}
	for _, n := range ns {
		ours[fmt.Sprintf("notice:%d", n.ID)] = true
	}
	actions := map[string]int{}
	var steps []string // the lifecycle's milestones, in order
	var states []string
	from := string(storage.CaseDetected)
	for _, e := range events {
		if !ours[e.Object] {
			continue
		}
		actions[e.Action]++
		switch e.Action {
		case "case.detected", "case.reopened", "notice.sent":
			steps = append(steps, e.Action)
		}
		st, ok := strings.CutPrefix(e.Action, "case.")
		if !ok || !slices.Contains(storage.CaseStates(), storage.CaseState(st)) || e.Action == "case.detected" {
			continue
		}
		// A state change reads "from -> to", from the state the last one left.
		if want := from + " -> " + st; !strings.HasPrefix(e.Detail, want) {
			t.Errorf("audit event %d %s: detail %q, want %q", e.ID, e.Action, e.Detail, want)
		}
		from = st
		states = append(states, st)
		if st == string(storage.CaseVerifiedRemoved) {
			steps = append(steps, e.Action)
		}
	}
	for _, a := range []string{"case.detected", "case.drafted", "case.approved", "case.sent", "case.verified-removed", "case.reopened",
		"notice.drafted", "notice.approved", "notice.sent", "item.removed"} {
		if actions[a] == 0 {
			t.Errorf("audit log of case %d has no %s: %v", caseID, a, actions)
		}
	}
	if actions["notice.sent"] != 2 || actions["notice.approved"] != 2 || actions["case.reopened"] != 1 {
		t.Errorf("audit actions of case %d: %v; want 2 approvals, 2 sends, 1 reopening", caseID, actions)
	}
	wantStates := []string{"triaged", "drafted", "approved", "sent", "verified-removed", "drafted", "approved", "sent"}
	if !slices.Equal(states, wantStates) {
		t.Errorf("state changes of case %d: %v, want %v", caseID, states, wantStates)
	}
	wantSteps := []string{"case.detected", "notice.sent", "case.verified-removed", "case.reopened", "notice.sent"}
	if !slices.Equal(steps, wantSteps) {
		t.Errorf("lifecycle steps of case %d in the audit log: %v, want %v", caseID, steps, wantSteps)
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
	// Long enough to be evidence (a line of a few words is trivial).
	os.WriteFile(filepath.Join(dir, "good.txt"), []byte("Synthetic clinical note for patient ZAC5361: seen in clinic, bloods taken, review in two weeks.\n"), 0o600)
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
