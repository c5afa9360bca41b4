package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// previousRelease is the last release a data directory is upgraded from:
// the last commit that passed CI before the scale work (schema version 19).
// Move it forward at each release.
const previousRelease = "af3289ff9098c49a83fb8ed1d527c8ebd483b690"

// requireUpgradeEnv makes a missing previous release a failure instead of a
// skip (CI sets it; a shallow clone lacks the commit).
const requireUpgradeEnv = "LEAKWATCH_REQUIRE_UPGRADE"

var oldBin struct {
	once    sync.Once
	path    string
	version int // the schema version its migrations end at
	skip    string
	err     error
}

// previousBinary builds the previous release's leakwatch from this
// repository's history (once per test run), sharing the module and build
// caches, and returns it with the schema version its migrations end at.
func previousBinary(t *testing.T) (string, int) {
	t.Helper()
	oldBin.once.Do(func() {
		start := time.Now()
		oldBin.path, oldBin.version, oldBin.skip, oldBin.err = buildRelease(previousRelease)
		if oldBin.err == nil && oldBin.skip == "" {
			t.Logf("the previous release (%.7s, schema version %d) built or reused in %s: %s", previousRelease, oldBin.version, time.Since(start).Round(100*time.Millisecond), oldBin.path)
		}
	})
	switch {
	case oldBin.err != nil:
		t.Fatal(oldBin.err)
	case oldBin.skip != "" && os.Getenv(requireUpgradeEnv) == "1":
		t.Fatalf("%s (%s=1)", oldBin.skip, requireUpgradeEnv)
	case oldBin.skip != "":
		t.Skipf("%s; set %s=1 to fail instead", oldBin.skip, requireUpgradeEnv)
	}
	return oldBin.path, oldBin.version
}

// buildRelease extracts commit with git archive into a temporary directory
// and builds cmd/leakwatch there. skip says why it cannot be done here (no
// git, no repository, a shallow clone without the commit).
func buildRelease(commit string) (bin string, version int, skip string, err error) {
	git, lerr := exec.LookPath("git")
	if lerr != nil {
		return "", 0, "no git on PATH to build the previous release", nil
	}
	wd, _ := os.Getwd()
	top, gerr := exec.Command(git, "-C", wd, "rev-parse", "--show-toplevel").Output()
	if gerr != nil {
		return "", 0, "not in a git repository: cannot build the previous release " + commit[:7], nil
	}
	repo := strings.TrimSpace(string(top))
	if exec.Command(git, "-C", repo, "cat-file", "-e", commit+"^{commit}").Run() != nil {
		return "", 0, fmt.Sprintf("commit %.7s (the previous release) is not in %s (a shallow clone? git fetch --unshallow)", commit, repo), nil
	}
	// One directory per release and Go version, kept between runs: the
	// built binary is reused, and a rebuild hits the build cache (whose
	// keys include the source directory).
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("leakwatch-release-%.12s-%s", commit, runtime.Version()))
	bin = filepath.Join(dir, "leakwatch")
	if _, err := os.Stat(bin); err == nil {
		version, err = lastMigration(filepath.Join(dir, "src", "storage", "migrations.go"))
		return bin, version, "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", 0, "", err
	}
	src := filepath.Join(dir, "src")
	archive := exec.Command(git, "-C", repo, "archive", "--format=tar", commit)
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	out, err := archive.StdoutPipe()
	if err != nil {
		return "", 0, "", err
	}
	if err := archive.Start(); err != nil {
		return "", 0, "", fmt.Errorf("git archive %.7s: %w", commit, err)
	}
	xerr := untar(out, src)
	if err := archive.Wait(); err != nil || xerr != nil {
		return "", 0, "", fmt.Errorf("git archive %.7s: %v %v\n%s", commit, err, xerr, stderr.String())
	}
	version, err = lastMigration(filepath.Join(src, "storage", "migrations.go"))
	if err != nil {
		return "", 0, "", err
	}
	// Built beside and renamed into place: a binary at bin is complete.
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin+".tmp", "./cmd/leakwatch")
	build.Dir = src
	// The extracted tree has no VCS data and must not join a workspace.
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		return "", 0, "", fmt.Errorf("build the previous release %.7s: %v\n%s", commit, err, b)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", 0, "", err
	}
	return bin, version, "", nil
}

func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(p, filepath.Clean(dst)+string(filepath.Separator)) {
			return fmt.Errorf("archive member %q escapes the directory", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// lastMigration reads the highest "version: N," of a migrations.go.
func lastMigration(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("the previous release's migrations: %w", err)
	}
	v := 0
	for _, m := range regexp.MustCompile(`(?m)^\s*version:\s*(\d+),`).FindAllSubmatch(b, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		v = max(v, n)
	}
	if v == 0 {
		return 0, fmt.Errorf("no migrations found in %s", path)
	}
	return v, nil
}

// TestUpgradeFromPreviousRelease runs the previous release's `leakwatch up`
// on a data directory until one case has sent its notice (and waits on its
// re-check timer) and a second waits for approval, stops it, and starts this
// build's `up` on the same directory: the schema migrates to this version
// with every old row intact and the audit chain whole; the old run's
// evidence verifies; the workflows the old worker started continue here
// (the approval sends the notice once, the re-check timer fires) and the old
// schedule still crawls. The Temporal server is the current one throughout:
// what is upgraded is leakwatch.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	old, oldVersion := previousBinary(t)
	if oldVersion > storage.SchemaVersion() {
		t.Fatalf("the previous release's schema (%d) is newer than this build's (%d)", oldVersion, storage.SchemaVersion())
	}
	t.Run("sqlite", func(t *testing.T) {
		runUpgrade(t, old, oldVersion, harnessOptions{}, syscall.SIGTERM)
	})
	t.Run("sqlite-killed", func(t *testing.T) {
		runUpgrade(t, old, oldVersion, harnessOptions{}, syscall.SIGKILL)
	})
	t.Run("postgres", func(t *testing.T) {
		runUpgrade(t, old, oldVersion, harnessOptions{postgresDSN: storagetest.FreshPostgresDSN(t)}, syscall.SIGTERM)
	})
}

func runUpgrade(t *testing.T, old string, oldVersion int, o harnessOptions, stop syscall.Signal) {
	start := time.Now()
	h := newHarness(t, o)
	current := h.leakwatch
	// The first re-check of a sent notice comes 40 s after sending: after
	// the old release has stopped, so the new worker fires a timer the old
	// one started.
	h.editConfig("  draft_delay: 2s\n", "  draft_delay: 2s\n  verify_schedule: [40s]\n  verify_every: 1h\n  verify_for: 2h\n")

	// The previous release, populated as a user would.
	h.leakwatch = old
	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	h.mustCLI(adminPW+"\n", "users", "add", "boss", "--role", "admin", "--password-stdin")
	h.mustCLI("", "sources", "add", "forum", h.siteURL)
	// The same forum by another name is another target, so another case;
	// its schedule (crawled at once when created) outlives the upgrade.
	mirrorURL := strings.Replace(h.siteURL, "127.0.0.1", "localhost", 1)
	h.mustCLI("", "sources", "add", "mirror", mirrorURL, "--every", "1m")
	up := h.up()
	out := h.mustCLI("", "crawl", "forum")
	m := regexp.MustCompile(`\(run (\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("crawl forum: no run id in %q", out)
	}
	forumRun := m[1]
	lawyer := h.login("lawyer", lawyerPW)
	sent := lawyer.caseOf(h.siteHost, "the forum's drafted notice", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", sent.ID), map[string]int{"revision": sent.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve on the previous release: HTTP %d", code)
	}
	sent = lawyer.caseOf(h.siteHost, "the forum's notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	sentAt := time.Now()
	waiting := lawyer.caseOf("localhost", "the mirror's drafted notice (scheduled crawl)", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	if n := len(h.sink.Messages()); n != 1 {
		t.Fatalf("sink has %d messages before the upgrade; want 1", n)
	}

	h.stopUp(up.Process, stop)
	oldPhase := time.Since(start)
	before := snapshotDB(t, h, o.postgresDSN, nil)
	if before.version != oldVersion {
		t.Fatalf("the previous release left schema version %d; its migrations end at %d", before.version, oldVersion)
	}
	// Checked before the upgrade: a removal check later is the new worker's.
	early := before.rows["removal_checks"].count > 0
	if early {
		t.Logf("the re-check fired before the previous release stopped (%s after sending); the new worker is asked for one instead", time.Since(sentAt).Round(time.Second))
	}
	// The host takes everything down while leakwatch is being upgraded.
	if !h.site.DeleteThread("portal-dump-samples") {
		t.Fatal("no thread portal-dump-samples on the fixture forum")
	}

	// This build on the same directory.
	h.leakwatch = current
	upgradeAt := time.Now()
	h.up()
	after := snapshotDB(t, h, o.postgresDSN, &before)
	if after.version != storage.SchemaVersion() {
		t.Errorf("schema version after the upgrade is %d; want %d", after.version, storage.SchemaVersion())
	}
	for table, b := range before.rows {
		a := after.rows[table]
		if a.count != b.count || a.digest != b.digest {
			t.Errorf("%s: the previous release's %d rows (digest %.12s) are %d (digest %.12s) after the upgrade", table, b.count, b.digest, a.count, a.digest)
		}
	}
	boss := h.login("boss", adminPW)
	var verify struct {
		Verified bool   `json:"verified"`
		Events   int    `json:"verified_events"`
		Error    string `json:"verify_error"`
	}
	if code := boss.do("GET", "/api/audit/verify", nil, &verify); code != http.StatusOK || !verify.Verified || verify.Events < before.rows["audit_events"].count {
		t.Errorf("audit verify after the upgrade: HTTP %d %+v; want verified, at least %d events", code, verify, before.rows["audit_events"].count)
	}
	if v := h.mustCLI("", "evidence", "verify", forumRun); !strings.Contains(v, "WARC records verified; Merkle root ") {
		t.Errorf("evidence verify %s (the previous release's run):\n%s", forumRun, v)
	}

	// The waiting case, started by the old worker, is approved on the new one.
	lawyer = h.login("lawyer", lawyerPW)
	waiting = lawyer.caseOf("localhost", "the mirror's case after the upgrade", func(c apiCase) bool { return c.ID == waiting.ID && len(c.Notices) > 0 })
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", waiting.ID), map[string]int{"revision": waiting.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve after the upgrade: HTTP %d", code)
	}
	lawyer.caseOf("localhost", "the mirror's notice to be sent", func(c apiCase) bool { return c.State == "sent" || c.State == "verified-removed" })
	// The sent case's re-check timer, started by the old worker, fires.
	if early {
		if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/recheck", sent.ID), nil, nil); code != http.StatusOK {
			t.Fatalf("recheck after the upgrade: HTTP %d", code)
		}
	}
	lawyer.caseOf(h.siteHost, "the forum's case to be verified removed by its re-check", func(c apiCase) bool { return c.State == "verified-removed" })
	// The old schedule crawls on the new worker (every minute).
	h.eventually("a scheduled crawl of the mirror on the new worker", 100*time.Second, func() (bool, error) {
		return runsSince(t, h, o.postgresDSN, before, "mirror") > 0, nil
	})
	// Continued, not restarted: up restarts a case only when its workflow
	// is missing (a lost Temporal store), which would prove nothing here.
	if n := h.audited("case.restarted"); n != 0 {
		t.Errorf("%d cases were restarted after the upgrade; want their workflows continued", n)
	}
	time.Sleep(2 * time.Second)
	msgs := h.sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("sink has %d messages; want 2 (one per case)", len(msgs))
	}
	ids := []string{}
	for _, msg := range msgs {
		mid := regexp.MustCompile(`(?mi)^Message-ID:\s*(\S+)`).FindSubmatch(msg.Data)
		if mid == nil {
			t.Fatalf("a notice without a Message-ID:\n%.400s", msg.Data)
		}
		ids = append(ids, string(mid[1]))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 2 {
		t.Errorf("notices sent: %v; want two different ones", ids)
	}
	t.Logf("%s: previous release populated and stopped (%s) in %s; upgraded and checked in %s",
		t.Name(), stop, oldPhase.Round(time.Second), time.Since(upgradeAt).Round(time.Second))
}

// caseOf polls the case about target until cond holds.
func (a *api) caseOf(target, what string, cond func(apiCase) bool) apiCase {
	a.h.t.Helper()
	var got apiCase
	a.h.eventually(what, 2*time.Minute, func() (bool, error) {
		var list []apiCase
		if code := a.do("GET", "/api/cases", nil, &list); code != http.StatusOK {
			return false, fmt.Errorf("GET /api/cases: HTTP %d", code)
		}
		for _, c := range list {
			if c.Target != target {
				continue
			}
			if code := a.do("GET", fmt.Sprintf("/api/cases/%d", c.ID), nil, &got); code != http.StatusOK {
				return false, fmt.Errorf("GET case: HTTP %d", code)
			}
			return cond(got), nil
		}
		return false, nil
	})
	return got
}

// editConfig replaces old with new in the config file (for the next command).
func (h *harness) editConfig(old, new string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		h.t.Fatalf("editConfig: %q not in the config", old)
	}
	if err := os.WriteFile(h.cfgPath, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// stopUp stops `up` with sig and waits until it is gone (and, for SIGKILL,
// until its Temporal server has followed it).
func (h *harness) stopUp(p *os.Process, sig syscall.Signal) {
	h.t.Helper()
	if sig == syscall.SIGKILL {
		h.killUp(p)
		return
	}
	if err := p.Signal(sig); err != nil {
		h.t.Fatal(err)
	}
	// up's own goroutine reaps it; then the pid is gone.
	h.eventually("leakwatch up to exit on "+sig.String(), time.Minute, func() (bool, error) {
		return errors.Is(syscall.Kill(p.Pid, 0), syscall.ESRCH), nil
	})
}

// tableRows is what an upgrade must keep of a table: how many rows, and a
// digest of the columns no upgrade may change.
type tableRows struct {
	count  int
	digest string
	maxID  int64
}

type dbSnapshot struct {
	version int
	rows    map[string]tableRows
	sources map[string]int64 // name → id
}

// keptColumns are, per table, the columns an upgrade must leave as they are.
var keptColumns = map[string]string{
	"sources":        "id, name, url",
	"crawl_runs":     "id, source_id",
	"captures":       "id, run_id, url, sha256, size",
	`"references"`:   "id, opaque_id, sha256",
	"hits":           "id, capture_id, reference_id, method",
	"cases":          "id, target, workflow_id",
	"notices":        "id, case_id, revision, message_id, subject, body_text",
	"users":          "id, username, role",
	"audit_events":   "id, actor, action, object, prev_hash, hash",
	"removal_checks": "id, case_id, item_id",
}

// openAppDB opens the application database directly, not through
// storage.Open, which would migrate it.
func openAppDB(t *testing.T, h *harness, dsn string) *sql.DB {
	t.Helper()
	var dial gorm.Dialector
	if dsn != "" {
		dial = postgres.Open(dsn)
	} else {
		dial = sqlite.Open(filepath.Join(h.dataDir, "leakwatch.db"))
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open the application database: %v", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return sqlDB
}

// snapshotDB reads the schema version and digests the kept columns of each
// table; with a base, only the rows base saw (ids up to its maxima), so rows
// added since do not count.
func snapshotDB(t *testing.T, h *harness, dsn string, base *dbSnapshot) dbSnapshot {
	t.Helper()
	db := openAppDB(t, h, dsn)
	defer db.Close()
	snap := dbSnapshot{rows: map[string]tableRows{}, sources: map[string]int64{}}
	if err := db.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&snap.version); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	for table, cols := range keptColumns {
		upTo := int64(-1)
		if base != nil {
			upTo = base.rows[table].maxID
		}
		snap.rows[table] = digestTable(t, db, table, cols, upTo)
	}
	rows, err := db.Query(`SELECT id, name FROM sources`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		snap.sources[name] = id
	}
	return snap
}

// runsSince counts the source's finished crawl runs newer than base's.
func runsSince(t *testing.T, h *harness, dsn string, base dbSnapshot, source string) int {
	t.Helper()
	db := openAppDB(t, h, dsn)
	defer db.Close()
	var n int
	// Numbers and a constant inlined: the two drivers' placeholders differ.
	err := db.QueryRow(fmt.Sprintf(`SELECT COUNT(*) FROM crawl_runs WHERE source_id = %d AND id > %d AND status = '%s'`,
		base.sources[source], base.rows["crawl_runs"].maxID, storage.RunOK)).Scan(&n)
	if err != nil {
		t.Fatalf("crawl runs of %s: %v", source, err)
	}
	return n
}

func digestTable(t *testing.T, db *sql.DB, table, cols string, upTo int64) tableRows {
	t.Helper()
	q := `SELECT ` + cols + ` FROM ` + table
	if upTo >= 0 {
		q += ` WHERE id <= ` + strconv.FormatInt(upTo, 10)
	}
	rows, err := db.Query(q + ` ORDER BY id`)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	n := len(strings.Split(cols, ","))
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	sum := sha256.New()
	var out tableRows
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, v := range vals {
			fmt.Fprintf(sum, "%d:%s|", len(v.String), v.String)
		}
		sum.Write([]byte("\n"))
		out.count++
		id, _ := strconv.ParseInt(vals[0].String, 10, 64)
		out.maxID = max(out.maxID, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out.digest = hex.EncodeToString(sum.Sum(nil))
	return out
}
