package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// otherFingerprintKey is a second valid key: not the one the index was built with.
const otherFingerprintKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// seedDoctorDir makes ./data as `up` leaves it: the application database
// at this binary's schema with its index bound to testFingerprintKey, a
// temporal.db, and the keys in the environment.
func seedDoctorDir(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := fingerprints.ParseKey(testFingerprintKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimSetting(ctx, storage.SettingFingerprintKeyID, key.ID()); err != nil {
		t.Fatal(err)
	}
	store.Close()
	// A stand-in for the embedded Temporal's store: any sound SQLite file.
	tdb, err := gorm.Open(sqlite.Open(filepath.Join("data", "temporal.db")), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tdb.Exec(`CREATE TABLE executions (id INTEGER PRIMARY KEY, data BLOB)`).Error; err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := tdb.DB(); err == nil {
		sqlDB.Close()
	}
	keyFile := filepath.Join(t.TempDir(), "evidence.key")
	if _, err := evidence.GenerateKey(keyFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fingerprints.KeyEnv, testFingerprintKey)
	t.Setenv(evidence.KeyEnv, string(b))
	if _, err := os.Stat(filepath.Join("data", "leakwatch.db-wal")); err == nil {
		t.Fatal("leakwatch.db-wal left after close: the seed is not a closed database")
	}
}

// treeHash hashes every file's name, mode and content under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00" + info.Mode().String() + "\x00"))
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// doctorJSON runs doctor --json and parses its report.
func doctorJSON(t *testing.T, args ...string) (doctorReport, cliResult) {
	t.Helper()
	res := runCLI(t, "", dd(append([]string{"doctor", "--json"}, args...)...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\nstdout: %s\nstderr: %s", err, res.stdout, res.stderr)
	}
	return rep, res
}

// findings returns the report's findings of one check.
func (r doctorReport) findings(check string) []finding {
	var out []finding
	for _, f := range r.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// wantFinding fails unless check has a finding of sev whose message (and
// action) contain the given substrings.
func wantFinding(t *testing.T, rep doctorReport, check string, sev severity, msg, action string) finding {
	t.Helper()
	for _, f := range rep.findings(check) {
		if f.Severity == sev && strings.Contains(f.Message, msg) && strings.Contains(f.Action, action) {
			return f
		}
	}
	t.Fatalf("no %s finding of %s with %q (action %q) in:\n%s", sev, check, msg, action, dumpFindings(rep))
	return finding{}
}

func dumpFindings(rep doctorReport) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(string(f.Severity) + " " + f.Check + ": " + f.Message + " | " + f.Action + "\n")
	}
	return b.String()
}

// A healthy data directory: both databases pass, the key is the index's,
// nothing is stuck, exit 0; and doctor changed no byte of the directory.
func TestDoctorHealthyDataDir(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	before := treeHash(t, "data")

	res := runCLI(t, "", dd("doctor")...)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("doctor: exit %d, stderr %q\n%s", res.code, res.stderr, res.stdout)
	}
	for _, want := range []string{"leakwatch.db passes SQLite's quick_check", "temporal.db passes SQLite's integrity check",
		"this leakwatch's", "is the one the index (0 references) was built with", "leakwatch up is not running"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, res.stdout)
		}
	}
	rep, res := doctorJSON(t, "--full")
	if res.code != 0 || rep.Status == sevFail || rep.SchemaVersion != storage.SchemaVersion() {
		t.Fatalf("doctor --json --full: exit %d, status %s, schema %d\n%s", res.code, rep.Status, rep.SchemaVersion, dumpFindings(rep))
	}
	for _, check := range []string{"up", "disk", "leakwatch.db", "schema", "fingerprint-key", "crawl-runs", "notices", "cases", "temporal.db", "evidence-key"} {
		fs := rep.findings(check)
		if len(fs) == 0 {
			t.Errorf("no finding for %s", check)
		}
		for _, f := range fs {
			// The disk depends on the machine; everything else is healthy.
			if f.Severity != sevOK && check != "disk" {
				t.Errorf("%s: %s %s", check, f.Severity, f.Message)
			}
		}
	}
	wantFinding(t, rep, "leakwatch.db", sevOK, "integrity_check", "")
	if after := treeHash(t, "data"); after != before {
		t.Fatal("doctor changed the data directory")
	}
	if ents, _ := os.ReadDir("data"); len(ents) != 2 {
		t.Errorf("data directory holds %d entries after doctor, want the 2 databases only", len(ents))
	}
}

// A corrupted page in a copy of leakwatch.db fails the integrity check.
func TestDoctorCorruptedDatabase(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	if err := os.CopyFS("broken", os.DirFS("data")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("broken", "leakwatch.db")
	// The root page of the notices table: a b-tree page the check walks
	// whatever the schema's layout.
	db, err := gorm.Open(sqlite.Open(p), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var root int
	if err := db.Raw(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'notices'`).Scan(&root).Error; err != nil || root < 2 {
		t.Fatalf("root page of notices: %d, %v", root, err)
	}
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096 // SQLite's default page size, which leakwatch keeps
	if len(b) < root*page {
		t.Fatalf("leakwatch.db has %d bytes; notices' root is page %d", len(b), root)
	}
	// Garbage over the page's header.
	for i := range 64 {
		b[(root-1)*page+i] = 0xA5
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "", "--data-dir", "broken", "doctor", "--json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v: %s", err, res.stdout)
	}
	if res.code != 1 || rep.Status != sevFail || !strings.Contains(res.stderr, "leakwatch: doctor: 1 check(s) failed on data directory broken") {
		t.Fatalf("doctor on a corrupted database: exit %d, status %s, stderr %q\n%s", res.code, rep.Status, res.stderr, dumpFindings(rep))
	}
	f := wantFinding(t, rep, "leakwatch.db", sevFail, "", "restore the newest backup")
	if !strings.Contains(f.Message, "leakwatch.db is damaged") {
		t.Errorf("integrity finding: %s", f.Message)
	}
	t.Logf("finding: %s", f.Message)
	// The original is untouched and still healthy.
	if res := runCLI(t, "", dd("doctor")...); res.code != 0 {
		t.Fatalf("doctor on the original: exit %d\n%s", res.code, res.stdout)
	}
}

// A key other than the index's fails, naming both key ids.
func TestDoctorWrongFingerprintKey(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	t.Setenv(fingerprints.KeyEnv, otherFingerprintKey)
	good, _ := fingerprints.ParseKey(testFingerprintKey)
	other, _ := fingerprints.ParseKey(otherFingerprintKey)
	rep, res := doctorJSON(t)
	if res.code != 1 || rep.Status != sevFail {
		t.Fatalf("exit %d, status %s\n%s", res.code, rep.Status, dumpFindings(rep))
	}
	wantFinding(t, rep, "fingerprint-key", sevFail, "built with key "+good.ID()+" but the configured key is "+other.ID(), "configure the original key (id "+good.ID()+")")
	// And with no key at all.
	t.Setenv(fingerprints.KeyEnv, "")
	rep, res = doctorJSON(t)
	if res.code != 1 {
		t.Fatalf("no key: exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "fingerprint-key", sevFail, "no key is configured", fingerprints.KeyEnv)
}

// A database newer than the binary fails with "upgrade leakwatch"; an older
// one warns that it will migrate and says to back up first.
func TestDoctorSchemaVersion(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	db, err := gorm.Open(sqlite.Open(filepath.Join("data", "leakwatch.db")), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	next := storage.SchemaVersion() + 1
	if err := db.Exec(`INSERT INTO schema_migrations (version, name) VALUES (?, 'from the future')`, next).Error; err != nil {
		t.Fatal(err)
	}
	rep, res := doctorJSON(t)
	if res.code != 1 || rep.Status != sevFail {
		t.Fatalf("newer schema: exit %d, status %s\n%s", res.code, rep.Status, dumpFindings(rep))
	}
	wantFinding(t, rep, "schema", sevFail, "schema version "+strconv.Itoa(next)+", newer than this leakwatch", "upgrade leakwatch")
	if len(rep.findings("fingerprint-key")) != 0 {
		t.Error("checks that read the newer schema ran anyway")
	}

	if err := db.Exec(`DELETE FROM schema_migrations WHERE version >= ?`, storage.SchemaVersion()).Error; err != nil {
		t.Fatal(err)
	}
	rep, res = doctorJSON(t)
	if res.code != 0 {
		t.Fatalf("older schema: exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "schema", sevWarn, "will migrate it to "+strconv.Itoa(storage.SchemaVersion()), "leakwatch --data-dir data backup NEW-DIR")
}

// Work that does not move: an uncertain notice (warn, with the resolve
// command), a notice approved long ago, a crawl without heartbeat, a case
// without recipient, a dead Telegram account. None of it fails, and no
// recipient, subject or phone number is printed.
func TestDoctorStuckWork(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	ctx := context.Background()
	store, err := storage.Open(ctx, "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	src := storage.Source{Name: "blog", Kind: storage.SourceLeakBlog, URL: "http://leaks.example/", Enabled: true}
	must(store.CreateSource(ctx, &src))
	run, err := store.StartRun(ctx, src.ID)
	must(err)
	long := time.Now().UTC().Add(-3 * time.Hour)
	must(store.DB().Exec(`UPDATE crawl_runs SET started_at = ?, heartbeat_at = ? WHERE id = ?`, long, long, run.ID).Error)

	notice := func(target string, rev int) (storage.Case, storage.Notice) {
		cs, err := store.EnsureCase(ctx, target, "case-"+target)
		must(err)
		n := storage.Notice{CaseID: cs.ID, Revision: rev, Recipient: "abuse@" + target, Subject: "Takedown notice for " + target,
			BodyText: "text", BodyHTML: "<p>text</p>", DraftedBy: "workflow", MessageID: "<" + target + "@leakwatch>",
			Kind: storage.NoticeFirst, Reference: "LW-" + target, Number: 1, RecipientType: "hosting"}
		_, err = store.CreateNoticeDraft(ctx, &n)
		must(err)
		must(store.ApproveNotice(ctx, n.ID, "lee"))
		return cs, n
	}
	uncertainCase, un := notice("uncertain.example", 1)
	_, err = store.BeginSend(ctx, un.ID)
	must(err)
	must(store.MarkDataStarted(ctx, un.ID, time.Now()))
	must(store.MarkUncertain(ctx, un.ID, "timeout after DATA"))
	must(store.SetCaseState(ctx, uncertainCase.ID, storage.CaseSendUncertain, ""))
	approvedCase, ap := notice("approved.example", 1)
	must(store.DB().Exec(`UPDATE notices SET approved_at = ? WHERE id = ?`, long, ap.ID).Error)
	// Approved a minute ago: still moving, not reported.
	_, fresh := notice("fresh.example", 1)
	waiting, err := store.EnsureCase(ctx, "norecipient.example", "case-norecipient")
	must(err)
	must(store.SetCaseState(ctx, waiting.ID, storage.CaseNeedsRecipient, ""))
	must(store.DB().Create(&storage.TelegramAccount{Name: "mon1", Phone: "+15550100", Status: storage.TelegramDead, Detail: "AUTH_KEY_UNREGISTERED"}).Error)
	// A capture a crawl worker spooled hours ago that no scan worker took.
	capt := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://leaks.example/a.pdf", Host: "leaks.example", FetchedAt: long}
	_, err = store.SaveCapture(ctx, &capt)
	must(err)
	_, err = store.SpoolCapture(ctx, &storage.SpoolItem{RunID: run.ID, SourceID: src.ID, CaptureID: capt.ID, Kind: storage.CaptureFile, URL: capt.URL, Meta: []byte("sealed")})
	must(err)
	must(store.DB().Exec(`UPDATE scan_spool SET created_at = ?`, long).Error)
	store.Close()

	rep, res := doctorJSON(t)
	if res.code != 0 || rep.Status != sevWarn {
		t.Fatalf("stuck work: exit %d, status %s\n%s", res.code, rep.Status, dumpFindings(rep))
	}
	wantFinding(t, rep, "notices", sevWarn, "notice LW-uncertain.example of case "+strconv.FormatUint(uncertainCase.ID, 10)+" may have been delivered",
		"leakwatch cases resolve "+strconv.FormatUint(uncertainCase.ID, 10)+" --as USER --delivered|--not-delivered")
	wantFinding(t, rep, "notices", sevWarn, "notice LW-approved.example of case "+strconv.FormatUint(approvedCase.ID, 10)+" was approved 3h0m0s ago and not sent",
		"start leakwatch up")
	wantFinding(t, rep, "crawl-runs", sevWarn, "crawl run "+strconv.FormatUint(run.ID, 10)+" (source "+strconv.FormatUint(src.ID, 10)+") is marked running", "")
	wantFinding(t, rep, "cases", sevWarn, "case "+strconv.FormatUint(waiting.ID, 10)+" waits at needs-recipient",
		"leakwatch cases recipient "+strconv.FormatUint(waiting.ID, 10)+" --as USER --to ADDRESS")
	wantFinding(t, rep, "telegram", sevWarn, "Telegram account mon1 is dead", "leakwatch telegram login --account mon1")
	wantFinding(t, rep, "scan-spool", sevWarn, "1 captures wait in the scan spool to be matched, the oldest for 3h0m0s", "leakwatch worker --queues scan")
	for _, f := range rep.Findings {
		if strings.Contains(f.Message, fresh.Reference) {
			t.Errorf("a notice approved a moment ago is reported: %s", f.Message)
		}
	}
	if len(rep.findings("notices")) != 2 {
		t.Errorf("want 2 notice findings:\n%s", dumpFindings(rep))
	}
	for _, secret := range []string{"abuse@", "Takedown notice for", "+15550100", "AUTH_KEY"} {
		if strings.Contains(res.stdout, secret) {
			t.Errorf("doctor printed %q", secret)
		}
	}
	// The text form carries the same advice.
	text := runCLI(t, "", dd("doctor")...)
	if text.code != 0 || !strings.Contains(text.stdout, "do: ask the recipient whether it arrived, then: leakwatch cases resolve") ||
		!strings.Contains(text.stdout, "status: warn") {
		t.Errorf("doctor text: exit %d\n%s", text.code, text.stdout)
	}
}

// doctor sees a running up by its lock (and pid) and its Temporal address,
// and a temporal.addr left by one that died.
func TestDoctorSeesUp(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	unlock, err := lockDataDir("data")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.WriteFile(addrFile("data"), []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, "data")
	rep, res := doctorJSON(t)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "up", sevOK, "pid "+strconv.Itoa(os.Getpid())+" is running on this data directory; its Temporal answers at "+ln.Addr().String(), "")
	if treeHash(t, "data") != before {
		t.Fatal("doctor changed the data directory (or its lock file) of a running up")
	}
	// The same with the workflow advice: a worker is running.
	if fs := rep.findings("notices"); len(fs) != 1 || fs[0].Severity != sevOK {
		t.Errorf("notices: %+v", fs)
	}

	unlock()
	rep, _ = doctorJSON(t)
	wantFinding(t, rep, "up", sevWarn, "is left from one that died", "delete "+addrFile("data"))
	if slices.ContainsFunc(rep.Findings, func(f finding) bool { return f.Severity == sevFail }) {
		t.Errorf("a stale address fails:\n%s", dumpFindings(rep))
	}
}

// With PostgreSQL, doctor checks connectivity and the schema instead of a
// file's integrity; an unreachable server fails without printing the DSN's
// password.
func TestDoctorPostgres(t *testing.T) {
	dsn := storagetest.FreshPostgresDSN(t) // before isolate hides the variable
	isolate(t)
	seedDoctorDir(t) // keys and a temporal.db
	st, err := storage.Open(t.Context(), dsn, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fingerprints.ParseKey(testFingerprintKey)
	if _, err := st.ClaimSetting(t.Context(), storage.SettingFingerprintKeyID, key.ID()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	t.Setenv("LEAKWATCH_DATABASE_DSN", dsn)
	rep, res := doctorJSON(t)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "database", sevOK, "the PostgreSQL database answers", "")
	wantFinding(t, rep, "schema", sevOK, "this leakwatch's", "")
	wantFinding(t, rep, "fingerprint-key", sevOK, "is the one the index", "")
	if len(rep.findings("leakwatch.db")) != 0 {
		t.Errorf("a SQLite check ran against PostgreSQL:\n%s", dumpFindings(rep))
	}

	t.Setenv("LEAKWATCH_DATABASE_DSN", "postgres://leakwatch:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	rep, res = doctorJSON(t)
	if res.code != 1 {
		t.Fatalf("unreachable: exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "database", sevFail, "cannot reach the PostgreSQL database", "check database.dsn")
	if strings.Contains(res.stdout+res.stderr, "s3cret-pw") {
		t.Error("doctor printed the database password")
	}
}

// Evidence left plain warns; evidence the configured key cannot open
// fails; no key at all warns that evidence is kept unencrypted.
func TestDoctorEvidence(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	write := func(rel string) string {
		p := filepath.Join("data", "evidence", filepath.FromSlash(rel))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.MkdirAll(filepath.Dir(p), 0o700))
		must(os.WriteFile(p, []byte("WARC/1.1\r\n"), 0o600))
		return p
	}
	write("run-1/run-1-00001.warc.gz")
	rep, res := doctorJSON(t)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "evidence", sevWarn, "1 WARC file(s) of finished crawl runs are not encrypted at rest yet", "start leakwatch up")

	// A file encrypted to someone else's key.
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.EncryptFile(write("run-2/run-2-00001.warc.gz"), other.Recipient()); err != nil {
		t.Fatal(err)
	}
	rep, res = doctorJSON(t)
	if res.code != 1 {
		t.Fatalf("foreign key: exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "evidence-key", sevFail, "the configured evidence key does not open "+filepath.Join("run-2", "run-2-00001.warc.gz.age"), evidence.KeyEnv)

	t.Setenv(evidence.KeyEnv, "")
	rep, _ = doctorJSON(t)
	wantFinding(t, rep, "evidence-key", sevWarn, "new evidence is kept unencrypted at rest (1 plain WARC file(s) now); 1 encrypted WARC file(s) cannot be verified", "leakwatch evidence keygen FILE")
}

// A configuration that does not load is one failed finding; the data
// directory is checked all the same.
func TestDoctorBadConfig(t *testing.T) {
	isolate(t)
	seedDoctorDir(t)
	if err := os.WriteFile("leakwatch.yaml", []byte("smtp:\n  port: 70000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, res := doctorJSON(t)
	if res.code != 1 {
		t.Fatalf("exit %d\n%s", res.code, dumpFindings(rep))
	}
	wantFinding(t, rep, "config", sevFail, "smtp.port", "fix the configuration")
	wantFinding(t, rep, "leakwatch.db", sevOK, "passes SQLite's quick_check", "")
}
