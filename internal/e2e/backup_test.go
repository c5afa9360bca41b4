package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreResumesCase: `leakwatch backup` copies a running data
// directory (a case waits for approval in a running workflow); the
// directory is lost, the backup is put in its place, and after `up` the
// lawyer approves and the notice is sent, exactly once.
func TestBackupRestoreResumesCase(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	h := newHarness(t, harnessOptions{})
	up, _, c := prepareCase(t, h)
	backup := filepath.Join(h.dir, "backup")
	out := h.mustCLI("", "backup", backup)
	if !strings.Contains(out, "temporal.db and leakwatch.db") {
		t.Errorf("backup output %q does not name both databases", out)
	}
	sums, err := os.ReadFile(filepath.Join(backup, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  leakwatch.db\n", "  temporal.db\n", "  evidence/"} {
		if !strings.Contains(string(sums), want) {
			t.Errorf("SHA256SUMS lacks %q:\n%s", want, sums)
		}
	}
	if _, _, code := h.cli("", "backup", backup); code == 0 {
		t.Error("a second backup into the same directory succeeded")
	}

	h.killUp(up.Process)
	if err := os.Rename(h.dataDir, h.dataDir+".lost"); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(backup, h.dataDir); err != nil {
		t.Fatal(err)
	}
	h.up()
	lawyer := h.login("lawyer", lawyerPW)
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": c.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve after restore: HTTP %d", code)
	}
	c = lawyer.waitCase("the notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	if n := len(h.sink.Messages()); n != 1 {
		t.Errorf("sink has %d messages; want 1", n)
	}
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
}
