package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// holdLockEnv tells the test binary, run as a child, to hold the data
// directory lock named by its value until killed.
const holdLockEnv = "DEMO_TEST_HOLD_DATA_DIR_LOCK"

// seedDemoDir makes ./data look like a demo's directory from an earlier
// run: its key, its database, a file of its references.
func seedDemoDir(t *testing.T, withKey bool) {
	t.Helper()
	st, err := storage.Open(context.Background(), "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if withKey {
		if _, err := demoKey("data"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join("data", "demo-references"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("data", "demo-references", "note.txt"), []byte("synthetic"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// demo --once on a data directory another process owns fails at once,
// names the owner's pid, and leaves every byte of the directory as it was.
func TestDemoRefusesLockedDataDir(t *testing.T) {
	if dir := os.Getenv(holdLockEnv); dir != "" {
		if _, err := lockDataDir(dir); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	isolate(t)
	seedDemoDir(t, true)
	abs, err := filepath.Abs("data")
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestDemoRefusesLockedDataDir$")
	child.Env = append(os.Environ(), holdLockEnv+"="+abs)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("child did not take the lock: %q %v", line, err)
	}
	before := treeHash(t, "data")

	start := time.Now()
	res := runCLI(t, "", "demo", "--once", "--docs", "10", "--data-dir", "data")
	took := time.Since(start)
	want := "demo: data directory data is in use by another leakwatch up/demo (pid " + strconv.Itoa(child.Process.Pid) + ")"
	if res.code != 1 || !strings.Contains(res.stderr, want) || res.stdout != "" {
		t.Fatalf("demo on a locked data dir: exit %d\nstdout %q\nstderr %q\nwant %q", res.code, res.stdout, res.stderr, want)
	}
	if took > 5*time.Second {
		t.Errorf("demo took %s to refuse", took)
	}
	if treeHash(t, "data") != before {
		t.Fatal("demo wrote into a data directory another process owns")
	}
}

// demo refuses a data directory of a real installation (databases, no
// demo key) without creating anything in it, lock included.
func TestDemoRefusesForeignDataDir(t *testing.T) {
	isolate(t)
	seedDemoDir(t, false)
	before := treeHash(t, "data")
	res := runCLI(t, "", "demo", "--once", "--docs", "10", "--data-dir", "data")
	if res.code != 1 || !strings.Contains(res.stderr, "demo: data holds a leakwatch data directory that is not a demo's (it has leakwatch.db)") {
		t.Fatalf("demo on a foreign data dir: exit %d\nstderr %q", res.code, res.stderr)
	}
	if treeHash(t, "data") != before {
		t.Fatal("demo wrote into a data directory that is not a demo's")
	}
	if _, err := os.Stat(filepath.Join("data", "run")); err == nil {
		t.Error("demo created run/ in a foreign data directory")
	}
}

// The lock records its holder, so `up` and `demo` name it when refused.
func TestLockDataDirNamesHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = lockDataDir(dir)
	if want := "is in use by another leakwatch up/demo (pid " + strconv.Itoa(os.Getpid()) + ")"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v; want %q", err, want)
	}
}

// up refused a data directory another up owns leaves it as it was: the
// lock is taken before migrations and sources are written.
func TestUpRefusesLockedDataDir(t *testing.T) {
	isolate(t)
	seedDemoDir(t, false)
	cfg := `injunction:
  court: High Court of New Zealand (fictional test)
  file_number: CIV-2026-404-000123
  date_of_orders: "2026-01-05"
  claimant: Example Health Portal Limited
  terms: "1. No person may publish the data."
  contact: {email: legal@claimant.example}
sources:
  - {name: blog, kind: leakblog, url: "http://127.0.0.1:1/", every: 1h}
`
	if err := os.WriteFile("leakwatch.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEAKWATCH_FINGERPRINT_KEY", testFingerprintKey)
	unlock, err := lockDataDir("data")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := treeHash(t, "data")
	res := runCLI(t, "", dd("up")...)
	want := "data directory data is in use by another leakwatch up/demo (pid " + strconv.Itoa(os.Getpid()) + ")"
	if res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Fatalf("up on a locked data dir: exit %d\nstderr %q\nwant %q", res.code, res.stderr, want)
	}
	if treeHash(t, "data") != before {
		t.Fatal("up wrote into a data directory another process owns")
	}
}
