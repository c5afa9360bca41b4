package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/filelock"
	"github.com/leakwatch/leakwatch/storage"
)

// severity grades one finding of `leakwatch doctor`.
type severity string

const (
	sevOK   severity = "ok"
	sevWarn severity = "warn"
	sevFail severity = "fail"
)

// finding is one thing doctor checked: how it stands, a plain sentence,
// and what to do about it. None of it holds document text or personal data.
type finding struct {
	Check    string   `json:"check"`
	Severity severity `json:"severity"`
	Message  string   `json:"message"`
	Action   string   `json:"action,omitempty"`
}

// doctorReport is doctor's whole answer (its --json output).
type doctorReport struct {
	DataDir       string    `json:"data_dir"`
	SchemaVersion int       `json:"schema_version"` // this binary's
	Status        severity  `json:"status"`         // the worst finding
	Findings      []finding `json:"findings"`
}

// doctor is one run of the checks.
type doctor struct {
	cfg   *config.Config
	stale time.Duration
	full  bool
	now   time.Time
	rep   doctorReport
	// Learned on the way, for the advice of later checks.
	upRunning bool
	postgres  bool
	running   map[uint64]bool // crawl runs marked running: their evidence is still being written
	schema    int             // the database's schema version
}

// spoolSchema is the schema version that added the scan spool.
const spoolSchema = 20

func (d *doctor) add(check string, sev severity, action, format string, args ...any) {
	d.rep.Findings = append(d.rep.Findings, finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...), Action: action})
	if rank(sev) > rank(d.rep.Status) {
		d.rep.Status = sev
	}
}

func rank(s severity) int {
	switch s {
	case sevFail:
		return 2
	case sevWarn:
		return 1
	}
	return 0
}

// runDoctor checks a data directory and says what to do: both databases'
// integrity, the keys, the schema version, work that is stuck, whether
// `up` runs on it and the free disk. It only reads — databases are opened
// read-only and never migrated — so it is safe beside a running `up`.
// Exit status 1 when any check fails.
func runDoctor(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("doctor", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "print the findings as one JSON object")
	full := fset.Bool("full", false, "run SQLite's full integrity_check (reads every page and index; slower) instead of quick_check")
	stale := fset.Duration("stale", 15*time.Minute, "work waiting longer than this (a crawl without heartbeat, an approved or sending notice) counts as stuck")
	rest, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("usage: leakwatch doctor [--json] [--full] [--stale DURATION]")
	}
	d := &doctor{stale: *stale, full: *full, now: time.Now().UTC()}
	d.rep.Status = sevOK
	d.rep.SchemaVersion = storage.SchemaVersion()
	cfg, err := e.loadConfig(false)
	if err != nil {
		// Check the data directory anyway: the config's problem is one finding.
		d.add("config", sevFail, "fix the configuration: leakwatch up would refuse it too", "the configuration does not load: %v", err)
		cfg = config.Default()
		e.setConfig(cfg)
	}
	d.cfg = cfg
	d.rep.DataDir = cfg.DataDir
	d.run(ctx)

	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d.rep); err != nil {
			return err
		}
	} else {
		printDoctor(e.stdout, d.rep)
	}
	if d.rep.Status == sevFail {
		n := 0
		for _, f := range d.rep.Findings {
			if f.Severity == sevFail {
				n++
			}
		}
		return fmt.Errorf("doctor: %d check(s) failed on data directory %s", n, cfg.DataDir)
	}
	return nil
}

func printDoctor(w io.Writer, rep doctorReport) {
	fmt.Fprintf(w, "leakwatch doctor: data directory %s (this leakwatch: schema version %d)\n\n", rep.DataDir, rep.SchemaVersion)
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%-4s  %-15s %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Message)
		if f.Action != "" {
			fmt.Fprintf(w, "      %-15s do: %s\n", "", f.Action)
		}
	}
	fmt.Fprintf(w, "\nstatus: %s\n", rep.Status)
}

func (d *doctor) run(ctx context.Context) {
	dir := d.cfg.DataDir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("data-dir", sevFail, "check --data-dir (or data_dir in the config); leakwatch up creates a new one",
			"there is no data directory at %s", dir)
		return
	case err != nil:
		d.add("data-dir", sevFail, "check the path and its permissions", "the data directory cannot be read: %v", err)
		return
	case !st.IsDir():
		d.add("data-dir", sevFail, "check --data-dir (or data_dir in the config)", "%s is not a directory", dir)
		return
	}
	d.checkUp(ctx)
	d.checkDisk()
	d.checkDatabase(ctx)
	d.checkTemporalDB(ctx)
	d.checkEvidence()
}

// checkUp: is a leakwatch up (or demo) running on the directory?
func (d *doctor) checkUp(ctx context.Context) {
	dir := d.cfg.DataDir
	held, pid, err := filelock.Held(filepath.Join(runtimeDir(dir), "up.lock"))
	if err != nil {
		d.add("up", sevWarn, "", "cannot tell whether leakwatch up runs here: %v", err)
		return
	}
	addr, _ := os.ReadFile(addrFile(dir))
	a := strings.TrimSpace(string(addr))
	who := "leakwatch up (or demo)"
	if pid != "" {
		who += " pid " + pid
	}
	switch {
	case held && a == "":
		d.upRunning = true
		d.add("up", sevOK, "", "%s is running on this data directory (its embedded Temporal is not up yet)", who)
	case held:
		d.upRunning = true
		var dl net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := dl.DialContext(dctx, "tcp", a)
		cancel()
		if err != nil {
			d.add("up", sevWarn, "look at up's log; it restarts its Temporal by itself (and stops after six deaths in ten minutes)",
				"%s holds the data directory but its Temporal at %s does not answer", who, a)
			return
		}
		c.Close()
		d.add("up", sevOK, "", "%s is running on this data directory; its Temporal answers at %s", who, a)
	case a != "" && d.cfg.Temporal.Address == "":
		d.add("up", sevWarn, "start leakwatch up (it writes the file anew), or delete "+addrFile(dir),
			"leakwatch up is not running, but %s is left from one that died: CLI commands would try its Temporal at %s", addrFile(dir), a)
	default:
		d.add("up", sevOK, "", "leakwatch up is not running on this data directory")
	}
}

// checkDisk: SQLite and the evidence need room to grow.
func (d *doctor) checkDisk() {
	free, total, err := diskSpace(d.cfg.DataDir)
	if err != nil {
		d.add("disk", sevWarn, "", "cannot tell the free disk space: %v", err)
		return
	}
	const gib = 1 << 30
	msg := fmt.Sprintf("%s free of %s under %s", humanBytes(free), humanBytes(total), d.cfg.DataDir)
	switch {
	case free < 256<<20:
		d.add("disk", sevFail, "free disk space now: with a full disk SQLite refuses writes and crawls lose evidence", "%s", msg)
	case free < 2*gib || total > 0 && free*20 < total:
		d.add("disk", sevWarn, "free disk space (leakwatch gc removes expired scraped content), or move the data directory", "only %s", msg)
	default:
		d.add("disk", sevOK, "", "%s", msg)
	}
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (d *doctor) backupAction() string {
	if d.postgres {
		return "back the database up first (pg_dump -Fc, see README \"Backup and restore\")"
	}
	return "back up first: leakwatch --data-dir " + d.cfg.DataDir + " backup NEW-DIR"
}

// checkDatabase: the application database's integrity (SQLite) or
// reachability (PostgreSQL), then its schema version, keys and stuck work.
func (d *doctor) checkDatabase(ctx context.Context) {
	const check = "leakwatch.db"
	path, err := storage.SQLitePath(d.cfg.Database.DSN, d.cfg.DataDir)
	if err != nil {
		d.add("database", sevFail, "fix database.dsn", "%v", err)
		return
	}
	d.postgres = path == ""
	restore := "stop leakwatch and restore the newest backup into an empty data directory (README \"Backup and restore\"); keep the damaged copy for analysis"
	if !d.postgres {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.add(check, sevWarn, "leakwatch up creates it; if it should be there, restore the newest backup", "there is no application database at %s", path)
			return
		}
		problems, err := storage.CheckSQLiteFile(ctx, path, d.full)
		if err != nil {
			d.add(check, sevFail, restore, "%s %s", path, unreadable(err))
			return
		}
		if len(problems) > 0 {
			d.add(check, sevFail, restore, "%s is damaged: the integrity check found %d problem(s), first %q", path, len(problems), problems[0])
			return
		}
		what := "quick_check"
		if d.full {
			what = "integrity_check"
		}
		d.add(check, sevOK, "", "%s passes SQLite's %s", path, what)
	}
	st, err := storage.OpenReadOnly(ctx, d.cfg.Database.DSN, d.cfg.DataDir, quiet())
	if err != nil {
		if d.postgres {
			d.add("database", sevFail, "check database.dsn, that PostgreSQL runs and that this host may connect", "cannot reach the PostgreSQL database: %v", err)
		} else {
			d.add(check, sevFail, restore, "cannot open %s read-only: %v", path, err)
		}
		return
	}
	defer st.Close()
	if d.postgres {
		d.add("database", sevOK, "", "the PostgreSQL database answers (integrity is PostgreSQL's own business: check its logs and amcheck)")
	}
	if !d.checkSchema(ctx, st) {
		return
	}
	d.running, _ = st.RunningRunIDs(ctx)
	d.checkFingerprintKey(ctx, st)
	d.checkStuck(ctx, st)
}

// unreadable says why a SQLite file could not be checked: SQLITE_CORRUPT
// and SQLITE_NOTADB mean damage, anything else (permissions, locks) may not.
func unreadable(err error) string {
	if msg := err.Error(); strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") {
		return "is damaged: " + msg
	}
	return "cannot be read as a SQLite database: " + err.Error()
}

// checkSchema compares the database's schema version with this binary's;
// false when the rest of the database checks would not make sense.
func (d *doctor) checkSchema(ctx context.Context, st *storage.Store) bool {
	have, err := st.AppliedSchemaVersion(ctx)
	if err != nil {
		d.add("schema", sevFail, "", "cannot read the schema version: %v", err)
		return false
	}
	want := storage.SchemaVersion()
	d.schema = have
	switch {
	case have == 0:
		d.add("schema", sevWarn, "leakwatch up creates the schema at its first start",
			"the database holds no leakwatch schema yet")
		return false
	case have > want:
		d.add("schema", sevFail, "upgrade leakwatch to the release that wrote this database before running it here",
			"the database is at schema version %d, newer than this leakwatch (%d): it will refuse to start on it", have, want)
		return false
	case have < want:
		d.add("schema", sevWarn, d.backupAction(),
			"the database is at schema version %d; this leakwatch will migrate it to %d on its next start", have, want)
	default:
		d.add("schema", sevOK, "", "the database is at schema version %d, this leakwatch's", have)
	}
	return true
}

// checkFingerprintKey: the key the index was built with (recorded by id in
// the settings) must be the configured one, else nothing ever matches.
func (d *doctor) checkFingerprintKey(ctx context.Context, st *storage.Store) {
	recorded, err := st.Setting(ctx, storage.SettingFingerprintKeyID)
	if err != nil {
		d.add("fingerprint-key", sevWarn, "", "cannot read the index's key id: %v", err)
		return
	}
	refs, err := st.CountReferences(ctx)
	if err != nil {
		d.add("fingerprint-key", sevWarn, "", "cannot count the references: %v", err)
		return
	}
	key, kerr := fingerprints.LoadKey(os.Getenv, d.cfg.Fingerprints.KeyFile)
	switch {
	case kerr != nil && recorded != "":
		d.add("fingerprint-key", sevFail, "set "+fingerprints.KeyEnv+" or fingerprints.key_file to the key with id "+recorded,
			"the index (%d references) was built with key %s, and no key is configured: %v", refs, recorded, kerr)
	case kerr != nil:
		d.add("fingerprint-key", sevFail, "make one (openssl rand -hex 32 > FILE), keep it outside the data directory, and set fingerprints.key_file",
			"no fingerprint key is configured: %v", kerr)
	case recorded == "":
		d.add("fingerprint-key", sevOK, "", "no reference index yet: key %s will be bound to it by the first leakwatch refs add", key.ID())
	case recorded != key.ID():
		d.add("fingerprint-key", sevFail, "configure the original key (id "+recorded+"), or index the references again into a new database with this one",
			"the index (%d references) was built with key %s but the configured key is %s: nothing would ever match", refs, recorded, key.ID())
	default:
		d.add("fingerprint-key", sevOK, "", "the configured key %s is the one the index (%d references) was built with", key.ID(), refs)
	}
	scheme, err := st.Setting(ctx, storage.SettingFingerprintScheme)
	if err == nil && scheme != "" && scheme != match.Scheme {
		d.add("fingerprint-key", sevFail, "index the references again into a new database with this leakwatch",
			"the index holds fingerprint scheme %s and this leakwatch makes scheme %s: they would never match", scheme, match.Scheme)
	}
}

// checkStuck: crawls without a heartbeat, notices that do not move, and
// cases that wait for a person.
func (d *doctor) checkStuck(ctx context.Context, st *storage.Store) {
	cutoff := d.now.Add(-d.stale)
	age := func(t time.Time) string { return d.now.Sub(t).Round(time.Minute).String() }

	runs, err := st.StaleRuns(ctx, cutoff)
	if err != nil {
		d.add("crawl-runs", sevWarn, "", "cannot check the crawl runs: %v", err)
	} else {
		action := "start leakwatch up: it marks them interrupted within minutes, and the next crawl of each source resumes"
		if d.upRunning {
			action = "look at the worker's log: up marks runs without a heartbeat interrupted after 2 minutes, so its housekeeping is not running"
		}
		for _, r := range runs {
			d.add("crawl-runs", sevWarn, action, "crawl run %d (source %d) is marked running but its crawler has not reported for %s", r.ID, r.SourceID, age(r.LastSign))
		}
		if len(runs) == 0 {
			d.add("crawl-runs", sevOK, "", "no crawl run is stuck")
		}
	}

	ns, err := st.PendingNotices(ctx)
	if err != nil {
		d.add("notices", sevWarn, "", "cannot check the notices: %v", err)
	} else {
		stuck := 0
		for _, n := range ns {
			ref := n.Reference
			if ref == "" {
				ref = "#" + strconv.FormatUint(n.ID, 10)
			}
			switch {
			case n.State == storage.NoticeUncertain:
				d.add("notices", sevWarn, fmt.Sprintf("ask the recipient whether it arrived, then: leakwatch cases resolve %d --as USER --delivered|--not-delivered", n.CaseID),
					"notice %s of case %d may have been delivered (the relay went silent during sending, %s ago); it is never re-sent until a person decides", ref, n.CaseID, age(n.Since))
			case n.Since.After(cutoff):
				continue // moving
			case n.State == storage.NoticeSending:
				d.add("notices", sevWarn, d.workerAction("a send resumes on its own; look at the worker's log for the SMTP relay's answers"),
					"notice %s of case %d has been sending for %s", ref, n.CaseID, age(n.Since))
			default:
				d.add("notices", sevWarn, d.workerAction("look at the worker's log for why the send did not start"),
					"notice %s of case %d was approved %s ago and not sent", ref, n.CaseID, age(n.Since))
			}
			stuck++
		}
		if stuck == 0 {
			d.add("notices", sevOK, "", "no notice is stuck between approval and sending")
		}
	}

	cs, err := st.CasesInStates(ctx, storage.CaseNeedsRecipient, storage.CaseSendFailed)
	if err != nil {
		d.add("cases", sevWarn, "", "cannot check the cases: %v", err)
	} else {
		for _, c := range cs {
			if c.State == storage.CaseNeedsRecipient {
				d.add("cases", sevWarn, fmt.Sprintf("leakwatch cases recipient %d --as USER --to ADDRESS (or set notices.recipients / default_recipient)", c.ID),
					"case %d waits at needs-recipient: no takedown address was found for its host (for %s)", c.ID, age(c.UpdatedAt))
			} else {
				d.add("cases", sevWarn, fmt.Sprintf("fix the recipient or relay (leakwatch cases show %d), then approve again: leakwatch cases approve %d --as USER", c.ID, c.ID),
					"case %d: the relay refused its notice permanently (for %s)", c.ID, age(c.UpdatedAt))
			}
		}
		if len(cs) == 0 {
			d.add("cases", sevOK, "", "no case waits for a recipient or a new approval")
		}
	}

	if d.schema >= spoolSchema {
		// Crawl workers without the index leave captures here for scan
		// workers; a backlog that does not move means none is running.
		n, oldest, err := st.SpoolBacklog(ctx)
		switch {
		case err != nil:
			d.add("scan-spool", sevWarn, "", "cannot check the scan spool: %v", err)
		case n > 0 && oldest.Before(cutoff):
			d.add("scan-spool", sevWarn, "start a scan worker (leakwatch worker --queues scan, or up): it matches them",
				"%d captures wait in the scan spool to be matched, the oldest for %s", n, age(oldest))
		default:
			d.add("scan-spool", sevOK, "", "the scan spool holds %d captures, none waiting long", n)
		}
	}

	dead, err := st.DeadTelegramAccounts(ctx)
	if err != nil {
		d.add("telegram", sevWarn, "", "cannot check the Telegram accounts: %v", err)
	} else {
		for _, name := range dead {
			d.add("telegram", sevWarn, "leakwatch telegram login --account "+name,
				"Telegram account %s is dead (its session was revoked or the account deactivated): its channels are not read", name)
		}
	}
}

// workerAction is the advice for work a worker should be doing.
func (d *doctor) workerAction(running string) string {
	if d.upRunning || d.cfg.Temporal.Address != "" {
		return "is a worker running? " + running
	}
	return "start leakwatch up (or leakwatch worker): only a worker sends"
}

// checkTemporalDB: the embedded Temporal server's SQLite file.
func (d *doctor) checkTemporalDB(ctx context.Context) {
	const check = "temporal.db"
	if d.cfg.Temporal.Address != "" {
		d.add(check, sevOK, "", "Temporal is the cluster at %s: its store is checked where it runs", d.cfg.Temporal.Address)
		return
	}
	path := filepath.Join(d.cfg.DataDir, "temporal.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		d.add(check, sevWarn, "none needed: leakwatch up creates it, and restarts open cases' workflows from leakwatch.db",
			"there is no %s (a new data directory, or the Temporal store was lost)", path)
		return
	}
	action := "stop leakwatch; restore temporal.db from the newest backup, or move it aside: up starts a new one and restarts open cases from leakwatch.db (running crawls start over)"
	problems, err := storage.CheckSQLiteFile(ctx, path, d.full)
	switch {
	case err != nil:
		d.add(check, sevFail, action, "%s %s", path, unreadable(err))
	case len(problems) > 0:
		d.add(check, sevFail, action, "%s is damaged: the integrity check found %d problem(s), first %q", path, len(problems), problems[0])
	default:
		d.add(check, sevOK, "", "%s passes SQLite's integrity check", path)
	}
}

// checkEvidence: is evidence encrypted at rest, does the configured key
// open it, and is any left plain?
func (d *doctor) checkEvidence() {
	const check = "evidence-key"
	keys, err := evidence.LoadKeys(os.Getenv, d.cfg.Evidence.KeyFile, d.cfg.Evidence.Recipients)
	if err != nil {
		d.add(check, sevFail, "fix evidence.key_file / "+evidence.KeyEnv+" (make a key with leakwatch evidence keygen FILE)", "the evidence key does not load: %v", err)
		return
	}
	dir := capture.EvidenceDir(d.cfg.DataDir)
	var plain, sealed []string // relative to dir
	runs, _ := os.ReadDir(dir)
	for _, r := range runs {
		n, ok := capture.ParseEvidenceRunID(r.Name())
		if !r.IsDir() || !ok {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, r.Name()))
		for _, f := range files {
			name := filepath.Join(r.Name(), f.Name())
			switch {
			case !f.Type().IsRegular():
			case strings.HasSuffix(f.Name(), ".warc.gz"+evidence.EncryptedSuffix):
				sealed = append(sealed, name)
			case strings.HasSuffix(f.Name(), ".warc.gz") && !d.running[n]:
				plain = append(plain, name)
			}
		}
	}
	switch {
	case !keys.Encrypts():
		msg := fmt.Sprintf("no evidence key is configured: new evidence is kept unencrypted at rest (%d plain WARC file(s) now)", len(plain))
		if len(sealed) > 0 {
			msg += fmt.Sprintf("; %d encrypted WARC file(s) cannot be verified or exported without their key", len(sealed))
		}
		d.add(check, sevWarn, "leakwatch evidence keygen FILE (outside the data directory), then set evidence.key_file; up encrypts what is kept plain", "%s", msg)
	case len(keys.Identities) == 0:
		d.add(check, sevOK, "", "evidence is encrypted to %d recipient(s); this host holds no identity, so it cannot read it back (verify and export run elsewhere)", len(keys.Recipients))
	default:
		d.add(check, sevOK, "", "evidence is encrypted at rest to %d recipient(s)", len(keys.Recipients))
	}
	if len(sealed) > 0 && len(keys.Identities) > 0 {
		// The header alone says whether the identity opens the file.
		p := filepath.Join(dir, sealed[len(sealed)-1])
		if f, err := os.Open(p); err == nil {
			_, derr := age.Decrypt(f, keys.Identities...)
			f.Close()
			var nm *age.NoIdentityMatchError
			if errors.As(derr, &nm) {
				d.add(check, sevFail, "configure the evidence identity the evidence was encrypted to (evidence.key_file / "+evidence.KeyEnv+")",
					"the configured evidence key does not open %s: evidence could not be verified or exported", sealed[len(sealed)-1])
			}
		}
	}
	if len(plain) > 0 && keys.Encrypts() {
		action := "start leakwatch up: it encrypts evidence left plain every ten minutes"
		if d.upRunning {
			action = "none: up encrypts them within ten minutes of their run ending; if they stay, look at its log"
		}
		d.add("evidence", sevWarn, action, "%d WARC file(s) of finished crawl runs are not encrypted at rest yet", len(plain))
	}
}
