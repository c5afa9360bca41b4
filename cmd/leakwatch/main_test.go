package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/fingerprints"
)

// testFingerprintKey is a 32-byte fingerprint key in hex, for the commands that need one.
const testFingerprintKey = "5f0c9a4e71d2b3866a0e4f1c2d3b4a5968778695a4b3c2d1e0f1e2d3c4b5a697"

// isolate gives the test a fresh working directory (so ./leakwatch.yaml and
// ./data are the test's own) and hides any LEAKWATCH_* variables of the
// developer's shell: the config treats an empty variable as unset.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, "")
		}
	}
	return dir
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI does what main does, with buffers for the standard streams.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	// Nothing here should block; the timeout turns a command that unexpectedly
	// starts serving into a failure instead of a hung test.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: exitCode(err, &stderr), stdout: stdout.String(), stderr: stderr.String()}
}

// dd prefixes args with the data directory every database command uses.
func dd(args ...string) []string { return append([]string{"--data-dir", "data"}, args...) }

// cliStep is a command run before a case, which must succeed.
type cliStep struct {
	stdin string
	args  []string
}

type cliCase struct {
	name  string
	files map[string]string // written in the working directory first
	env   map[string]string
	setup []cliStep
	stdin string
	args  []string

	code int
	// errLine is a substring of the "leakwatch: <reason>" line, which must be
	// the last line of stderr when code is 1.
	errLine string
	// extraStderr allows output (usage, flag errors) before that line; by
	// default stderr must be exactly the one line (or empty when code is 0).
	extraStderr bool
	stderr      []string // substrings of stderr
	stdout      []string // substrings of stdout; none means stdout must be empty
}

func TestRun(t *testing.T) {
	const (
		casesUse   = "usage: leakwatch cases list | cases show CASE | cases approve CASE --as USER [--revision N]"
		refsUse    = "usage: leakwatch refs add [--no-names] DIR | refs import-hashes FILE | refs migrate | refs compact | refs verify"
		sourcesUse = "usage: leakwatch sources add NAME URL [--kind K] [options] | list | show NAME | edit NAME [options] | pause NAME | resume NAME | remove NAME"
		usersUse   = "usage: leakwatch users add NAME --role analyst|legal|admin [--password-stdin] | users list | users unlock NAME"
		evidUse    = "usage: leakwatch evidence verify RUN|capture-ID | evidence export CASE FILE"
		usageHead  = "usage: leakwatch [--data-dir DIR] [--config FILE] COMMAND [ARGS]"
		noKey      = "no fingerprint key: set " + fingerprints.KeyEnv
		addWeb1    = "http://127.0.0.1:1/" // loopback; never fetched by these tests
		injunction = "injunction.court: required to draft takedown notices"
		goodPW     = "correct horse battery staple\n"
		tgCfg      = "telegram:\n  api_id: 12345\n  api_hash: abc\n  accounts:\n    - {name: mon1, phone: \"+15550100\"}\n"
	)
	cases := []cliCase{
		// The command line itself.
		{name: "no arguments", code: 1, errLine: "no command given", extraStderr: true,
			stderr: []string{usageHead, "\ncommands:\n", "  sources  manage monitored sources"}},
		{name: "only global flags", args: dd(), code: 1, errLine: "no command given", extraStderr: true,
			stderr: []string{usageHead}},
		{name: "help", args: []string{"help"}, code: 0,
			stdout: []string{usageHead, "\ncommands:\n", "  crawl    crawl one source now: crawl SOURCE | crawl --url URL [--json]\n"}},
		{name: "unknown command", args: []string{"frob"}, code: 1,
			errLine: `unknown command "frob" (see leakwatch help)`},
		{name: "unknown command after global flags", args: dd("frob", "x"), code: 1,
			errLine: `unknown command "frob"`},
		{name: "-h", args: []string{"-h"}, code: 2, extraStderr: true, stderr: []string{usageHead, "\ncommands:\n"}},
		{name: "--help", args: []string{"--help"}, code: 2, extraStderr: true, stderr: []string{usageHead}},
		{name: "--help after global flags", args: dd("--help"), code: 2, extraStderr: true, stderr: []string{usageHead}},
		{name: "-h of a command", args: []string{"sources", "add", "-h"}, code: 2, extraStderr: true,
			stderr: []string{"Usage of sources add:", "-every duration", "-data-dir string"}},
		// Undefined flags are plain errors (exit 1), not help: the flag package
		// prints the problem and the usage, then main the one-line reason.
		{name: "undefined global flag", args: []string{"--bogus", "help"}, code: 1, extraStderr: true,
			errLine: "flag provided but not defined: -bogus",
			stderr:  []string{"flag provided but not defined: -bogus\n" + usageHead}},
		{name: "undefined command flag", args: []string{"sources", "list", "--bogus"}, code: 1, extraStderr: true,
			errLine: "flag provided but not defined: -bogus",
			stderr:  []string{"Usage of sources list:"}},
		{name: "global flag without value", args: []string{"--data-dir"}, code: 1, extraStderr: true,
			errLine: "flag needs an argument: -data-dir"},
		{name: "bad flag value", args: []string{"sources", "add", "n", addWeb1, "--every", "often"}, code: 1,
			extraStderr: true, errLine: `invalid value "often" for flag -every`},

		// Positional arguments.
		{name: "crawl without source", args: []string{"crawl"}, code: 1, errLine: "usage: leakwatch crawl SOURCE"},
		{name: "crawl with two sources", args: []string{"crawl", "a", "b"}, code: 1, errLine: "usage: leakwatch crawl SOURCE"},
		{name: "crawl with a source and --url", args: []string{"crawl", "a", "--url", "http://127.0.0.1:1/"}, code: 1, errLine: "usage: leakwatch crawl SOURCE | crawl --url URL [--kind K] [--json]"},
		{name: "crawl --json without --url", args: []string{"crawl", "a", "--json"}, code: 1, errLine: "usage: leakwatch crawl SOURCE | crawl --url URL [--kind K] [--json]"},
		{name: "scan without path", args: []string{"scan", "--json"}, code: 1,
			errLine: "usage: leakwatch scan [--json] PATH... (- for stdin)"},
		{name: "cases without verb", args: []string{"cases"}, code: 1, errLine: casesUse},
		{name: "cases unknown verb", args: []string{"cases", "close", "1"}, code: 1, errLine: casesUse},
		{name: "cases show without case", args: []string{"cases", "show"}, code: 1, errLine: casesUse},
		{name: "cases approve without --as", args: []string{"cases", "approve", "3"}, code: 1, errLine: casesUse},
		{name: "cases approve without case", args: []string{"cases", "approve", "--as", "ana"}, code: 1, errLine: casesUse},
		{name: "cases approve with two cases", args: []string{"cases", "approve", "3", "4", "--as", "ana"}, code: 1, errLine: casesUse},
		{name: "refs without verb", args: []string{"refs"}, code: 1, errLine: refsUse},
		{name: "refs unknown verb", args: []string{"refs", "remove", "dir"}, code: 1, errLine: refsUse},
		{name: "refs add without dir", args: []string{"refs", "add", "--no-names"}, code: 1,
			errLine: "usage: leakwatch refs add [--no-names] DIR"},
		{name: "refs import-hashes with two files", args: []string{"refs", "import-hashes", "a", "b"}, code: 1,
			errLine: "usage: leakwatch refs import-hashes FILE"},
		{name: "sources without verb", args: []string{"sources"}, code: 1, errLine: sourcesUse},
		{name: "sources add without URL", args: []string{"sources", "add", "web1"}, code: 1, errLine: sourcesUse},
		{name: "sources add non-http URL", args: []string{"sources", "add", "web1", "ftp://127.0.0.1/"}, code: 1,
			errLine: `sources add: "ftp://127.0.0.1/" is not an absolute http(s) URL`},
		{name: "sources add too frequent", args: []string{"sources", "add", "web1", addWeb1, "--every", "30s"}, code: 1,
			errLine: "sources add: --every must be 0 or at least 1m (got 30s)"},
		{name: "users without verb", args: []string{"users"}, code: 1, errLine: usersUse},
		{name: "users add without name", args: []string{"users", "add", "--role", "legal"}, code: 1, errLine: usersUse},
		{name: "users add bad role", args: dd("users", "add", "bob", "--role", "root"), code: 1,
			errLine: `users add: role "root": want analyst, legal or admin`},
		{name: "users add short password", args: dd("users", "add", "bob", "--password-stdin"), stdin: "short\n", code: 1,
			errLine: "users add: password is too short"},
		{name: "evidence without verb", args: []string{"evidence"}, code: 1, errLine: evidUse},
		{name: "evidence unknown verb", args: []string{"evidence", "seal", "1"}, code: 1, errLine: evidUse},
		{name: "evidence verify without run", args: []string{"evidence", "verify"}, code: 1, errLine: evidUse},
		{name: "evidence verify with two runs", args: []string{"evidence", "verify", "1", "2"}, code: 1, errLine: evidUse},
		{name: "evidence verify non-numeric run", args: []string{"evidence", "verify", "latest"}, code: 1,
			errLine: `evidence verify: "latest" is not a run number`},
		{name: "evidence verify run 0", args: []string{"evidence", "verify", "run-0"}, code: 1,
			errLine: `evidence verify: "run-0" is not a run number`},
		{name: "evidence verify bad capture", args: []string{"evidence", "verify", "capture-x"}, code: 1,
			errLine: `evidence verify: "capture-x" is not a capture number`},
		{name: "evidence export without file", args: []string{"evidence", "export", "3"}, code: 1, errLine: evidUse},
		{name: "evidence export without case", args: []string{"evidence", "export"}, code: 1, errLine: evidUse},
		{name: "evidence export with extra args", args: []string{"evidence", "export", "3", "a.tar.gz", "b"}, code: 1, errLine: evidUse},

		// Configuration.
		{name: "broken config file", files: map[string]string{
			"bad.yaml": "# a broken config\nsmtp:\n  port: 70000\ninjunction:\n  date_of_orders: nope\n",
		}, args: dd("--config", "bad.yaml", "sources", "list"), code: 1,
			errLine: `bad.yaml:3: smtp.port: must be between 1 and 65535 (got 70000); bad.yaml:5: injunction.date_of_orders: must be a date as YYYY-MM-DD (got "nope")`},
		{name: "broken default config file", files: map[string]string{
			config.DefaultFileName: "smtp:\n  port: 70000\n",
		}, args: dd("users", "list"), code: 1,
			errLine: config.DefaultFileName + ":2: smtp.port: must be between 1 and 65535 (got 70000)"},
		{name: "config flag after the command", files: map[string]string{
			"bad.yaml": "smtp:\n  port: 0\n",
		}, args: []string{"sources", "list", "--config", "bad.yaml"}, code: 1,
			errLine: "bad.yaml:2: smtp.port: must be between 1 and 65535 (got 0)"},
		{name: "missing config file", args: []string{"--config", "nope.yaml", "sources", "list"}, code: 1,
			errLine: "config: open nope.yaml: no such file or directory"},
		{name: "bad environment override", env: map[string]string{"LEAKWATCH_SMTP_PORT": "70000"},
			args: dd("sources", "list"), code: 1,
			errLine: "env LEAKWATCH_SMTP_PORT: smtp.port: must be between 1 and 65535 (got 70000)"},
		// up and worker validate the config, injunction included, before they
		// start anything: no Temporal, no listener.
		{name: "up without injunction", args: dd("up"), code: 1, errLine: injunction},
		{name: "worker without injunction", args: dd("worker"), code: 1,
			errLine: "(set it in the config file or LEAKWATCH_INJUNCTION_COURT); injunction.file_number: required"},
		// Queue names are checked before anything else.
		{name: "worker with an unknown queue", args: dd("worker", "--queues", "crawl,fetch"), code: 1,
			errLine: `worker --queues: unknown queue "fetch" (want a comma-separated list of crawl, scan, notify)`},
		{name: "worker with no queue", args: dd("worker", "--queues", ","), code: 1,
			errLine: "worker --queues: no queue given (want a comma-separated list of crawl, scan, notify)"},
		{name: "worker with an unknown queue from the environment", env: map[string]string{"LEAKWATCH_WORKER_QUEUES": "mail"},
			args: dd("worker"), code: 1,
			errLine: `env LEAKWATCH_WORKER_QUEUES: worker.queues: unknown queue "mail"`},

		// web checks the webhooks' secrets before it starts anything.
		{name: "web with a webhook secret unset", files: map[string]string{
			config.DefaultFileName: "webhooks:\n  - {name: siem, url: \"https://siem.example/hook\", secret_env: LW_TEST_UNSET_SECRET, events: [case.state]}\n",
		}, args: dd("web"), code: 1,
			errLine: "webhooks[0] (siem): environment variable LW_TEST_UNSET_SECRET must hold the signing secret, at least 16 characters"},

		// Commands that work on a fresh data directory.
		{name: "sources add", args: dd("sources", "add", "web1", addWeb1, "--every", "0"), code: 0,
			stdout: []string{"added source 1 web1\n"}},
		{name: "sources list", args: []string{"sources", "list", "--data-dir", "data"},
			setup: []cliStep{
				{args: dd("sources", "add", "web1", addWeb1, "--every", "0")},
				{args: []string{"sources", "add", "web2", "https://127.0.0.1:2/list", "--data-dir", "data", "--every", "6h"}},
			}, code: 0,
			stdout: []string{"ID  NAME  KIND     EVERY   URL", "\n1   web1  generic  manual  " + addWeb1 + "\n", "\n2   web2  generic  6h0m0s  https://127.0.0.1:2/list\n"}},
		{name: "sources add with options, edit, pause, show", args: dd("sources", "show", "f"),
			setup: []cliStep{
				{args: dd("sources", "add", "f", addWeb1, "--kind", "forum", "--watch", "Kea Health", "--watch", "/kea\\.example/",
					"--deny", "/logout", "--workers", "2")},
				{args: dd("sources", "edit", "f", "--content", ".post-body", "--deny", "", "--proxy", "socks5h://127.0.0.1:9050")},
				{args: dd("sources", "pause", "f")},
			}, code: 0,
			stdout: []string{"kind              forum\n", "enabled           false\n", "content selector  .post-body\n",
				"links selector    (kind's default)\n", "deny              \n", "watch terms       Kea Health  /kea\\.example/\n",
				"proxy             socks5h://127.0.0.1:9050\n", "workers           2\n"}},
		{name: "sources list shows paused", args: dd("sources", "list"),
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1, "--every", "1h")}, {args: dd("sources", "pause", "f")}},
			code:  0, stdout: []string{"1h0m0s (paused)"}},
		{name: "sources resume", args: dd("sources", "resume", "f"),
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1)}, {args: dd("sources", "pause", "f")}},
			code:  0, stdout: []string{"resumed source f\n"}},
		{name: "sources remove", args: dd("sources", "show", "f"),
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1)}, {args: dd("sources", "remove", "f")}},
			code:  1, errLine: `sources show: source "f": not found`},
		{name: "sources add with a login", args: dd("sources", "show", "f"),
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1, "--login-url", addWeb1+"login", "--login-user", "crawler",
				"--login-password-env", "FORUM_PW", "--cookies-file", "/etc/leakwatch/forum.cookies")}},
			code: 0, stdout: []string{"login             " + addWeb1 + "login as crawler (password from $FORUM_PW)\n",
				"cookies file      /etc/leakwatch/forum.cookies\n"}},
		{name: "sources add login without password", args: dd("sources", "add", "f", addWeb1, "--login-url", addWeb1+"login", "--login-user", "u"),
			code: 1, errLine: "sources add: a login needs --login-user and exactly one of --login-password-env and --login-password-file"},
		{name: "telegram watch add and list", args: dd("telegram", "watch", "list"), files: map[string]string{"leakwatch.yaml": tgCfg},
			setup: []cliStep{{args: dd("telegram", "watch", "add", "dumps", "@leak_dump", "--account", "mon1", "--backfill", "200",
				"--media", "document", "--watch", "Kea Health", "--since", "2026-01-01")}},
			code: 0, stdout: []string{"dumps", "https://t.me/leak_dump", "mon1", "15m0s", "200 since 2026-01-01", "document"}},
		{name: "telegram watch add a web link", args: dd("telegram", "watch", "add", "x", "https://example.org/a"),
			files: map[string]string{"leakwatch.yaml": tgCfg}, code: 1, errLine: "not a t.me link"},
		{name: "telegram watch add unknown account", args: dd("telegram", "watch", "add", "x", "@leak_dump", "--account", "nobody"),
			files: map[string]string{"leakwatch.yaml": tgCfg}, code: 1, errLine: `--account "nobody" is not under telegram.accounts`},
		{name: "telegram status", args: dd("telegram", "status"), files: map[string]string{"leakwatch.yaml": tgCfg},
			setup: []cliStep{{args: dd("telegram", "watch", "add", "dumps", "https://t.me/+AbCdEf12xy", "--join")},
				{args: dd("telegram", "watch", "pause", "dumps")}},
			code: 0, stdout: []string{"mon1", "•••••0100", "logged-out", "dumps", "https://t.me/+AbCdEf12xy", "paused", "not started", "never"}},
		{name: "telegram watch pause a web source", args: dd("telegram", "watch", "pause", "f"), files: map[string]string{"leakwatch.yaml": tgCfg},
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1)}}, code: 1,
			errLine: "telegram watch pause: f is a generic source, not a Telegram channel"},
		{name: "telegram login without accounts", args: dd("telegram", "login"), code: 1,
			errLine: "telegram login: no accounts under telegram.accounts in the config"},
		{name: "sources add bad kind", args: dd("sources", "add", "f", addWeb1, "--kind", "irc"), code: 1,
			errLine: `sources add: --kind "irc": want one of`},
		{name: "sources add bad pattern", args: dd("sources", "add", "f", addWeb1, "--allow", "(x"), code: 1,
			errLine: `sources add: URL pattern "(x":`},
		{name: "sources add bad watch term", args: dd("sources", "add", "f", addWeb1, "--watch", "/[x/"), code: 1,
			errLine: `sources add: watch term "/[x/":`},
		{name: "sources edit unknown", args: dd("sources", "edit", "nope", "--kind", "paste"), code: 1,
			errLine: `sources edit: source "nope": not found`},
		{name: "sources edit bad every", args: dd("sources", "edit", "f", "--every", "10s"),
			setup: []cliStep{{args: dd("sources", "add", "f", addWeb1)}}, code: 1,
			errLine: "sources edit: --every must be 0 or at least 1m (got 10s)"},
		{name: "sources add duplicate name", args: dd("sources", "add", "web1", "http://127.0.0.1:3/"),
			setup: []cliStep{{args: dd("sources", "add", "web1", addWeb1)}}, code: 1, errLine: `sources add: source "web1": already exists`},
		{name: "users add with password on stdin", args: dd("users", "add", "ana", "--role", "legal", "--password-stdin"),
			stdin: goodPW, code: 0, stdout: []string{"added user ana (legal)\n"}},
		{name: "users add with generated password", args: dd("users", "add", "bob"), code: 0,
			stdout: []string{"added user bob (analyst) with password "}},
		{name: "users list", args: dd("users", "list"),
			setup: []cliStep{{stdin: goodPW, args: dd("users", "add", "--password-stdin", "ana", "--role", "legal")}}, code: 0,
			stdout: []string{"ID  USERNAME  ROLE   MFA             DISABLED  FAILED LOGINS  DELAYED UNTIL  LAST LOGIN\n" +
				"1   ana       legal  off (required)  false     0              -              -\n"}},
		{name: "users unlock unknown", args: dd("users", "unlock", "nobody"), code: 1, errLine: `users unlock: user "nobody": not found`},
		{name: "users unlock not locked", args: dd("users", "unlock", "ana"),
			setup: []cliStep{{stdin: goodPW, args: dd("users", "add", "--password-stdin", "ana", "--role", "legal")}}, code: 0,
			stdout: []string{"ana is not locked and has no failed logins\n"}},
		{name: "crawl unknown source", args: dd("crawl", "nosuch"), code: 1, errLine: `crawl: source "nosuch": not found`},
		{name: "cases list empty", args: dd("cases", "list"), code: 0, stdout: []string{"ID  TARGET  STATE  RECIPIENT  UPDATED\n"}},
		{name: "evidence verify unknown run", args: dd("evidence", "verify", "7"), code: 1,
			errLine: "evidence verify: crawl run 7: not found"},
		{name: "evidence verify unknown capture", args: dd("evidence", "verify", "capture-7"), code: 1,
			errLine: "evidence verify: capture 7: not found"},
		{name: "evidence export unknown case", args: dd("evidence", "export", "leaks.example", "case.tar.gz"), code: 1,
			errLine: `evidence export: case "leaks.example": not found`},
		{name: "evidence export over an existing file", files: map[string]string{"case.tar.gz": "keep me"},
			args: dd("evidence", "export", "1", "case.tar.gz"), code: 1,
			errLine: "evidence export: case.tar.gz already exists; not overwriting it"},
		{name: "scan without key", args: dd("scan", "-"), stdin: "hello", code: 1, errLine: noKey},
		{name: "scan with a bad key", env: map[string]string{fingerprints.KeyEnv: "not-a-key!"},
			args: dd("scan", "-"), stdin: "hello", code: 1, errLine: fingerprints.KeyEnv + ": fingerprint key: not hex or base64"},
		{name: "scan stdin", env: map[string]string{fingerprints.KeyEnv: testFingerprintKey},
			args: dd("scan", "-"), stdin: "Patient notes, nothing from the reference set.\n", code: 0,
			stdout: []string{"-: no match\n", "1 items, 0 matched: 0 reference files / 0 patients exposed\n"}},
		{name: "scan --json after the path", env: map[string]string{fingerprints.KeyEnv: testFingerprintKey},
			files: map[string]string{"docs/a.txt": "hello\n"},
			args:  dd("scan", "docs", "--json"), code: 0,
			stdout: []string{`"path":"docs/a.txt"`, `"matches":[]`}},
		{name: "scan missing path", env: map[string]string{fingerprints.KeyEnv: testFingerprintKey},
			args: dd("scan", "nope"), code: 1, errLine: "scan: 1 items could not be read",
			stdout: []string{"nope: error: lstat nope: no such file or directory\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := isolate(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			for name, body := range c.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range c.setup {
				if r := runCLI(t, s.stdin, s.args...); r.code != 0 {
					t.Fatalf("setup %q: exit %d\nstdout:\n%s\nstderr:\n%s", s.args, r.code, r.stdout, r.stderr)
				}
			}
			r := runCLI(t, c.stdin, c.args...)
			checkResult(t, c, r)
		})
	}
}

func checkResult(t *testing.T, c cliCase, r cliResult) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("leakwatch %q: exit %d\nstdout:\n%s\nstderr:\n%s", c.args, r.code, r.stdout, r.stderr)
		}
	}()
	if r.code != c.code {
		t.Errorf("exit code %d, want %d", r.code, c.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	switch {
	case c.code == 1:
		if !strings.HasPrefix(last, "leakwatch: ") || !strings.Contains(last, c.errLine) || !strings.HasSuffix(r.stderr, "\n") {
			t.Errorf("last stderr line %q, want \"leakwatch: …%s…\" and a newline", last, c.errLine)
		}
		if !c.extraStderr && len(lines) != 1 {
			t.Errorf("stderr has %d lines, want only the error line", len(lines))
		}
	case c.errLine != "":
		t.Fatalf("bad case: errLine with exit code %d", c.code)
	default:
		for _, l := range lines {
			if strings.HasPrefix(l, "leakwatch: ") {
				t.Errorf("stderr has an error line %q with exit code %d", l, c.code)
			}
		}
		if !c.extraStderr && r.stderr != "" {
			t.Errorf("stderr not empty")
		}
	}
	for _, s := range c.stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q", s)
		}
	}
	if len(c.stdout) == 0 && r.stdout != "" {
		t.Errorf("stdout not empty")
	}
	for _, s := range c.stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q", s)
		}
	}
}

// TestUsageListsEveryCommand checks help (stdout) and the no-command usage
// (stderr) name every command with its summary, in order.
func TestUsageListsEveryCommand(t *testing.T) {
	isolate(t)
	help := runCLI(t, "", "help")
	none := runCLI(t, "")
	if help.code != 0 || none.code != 1 {
		t.Fatalf("exit codes: help %d, no command %d; want 0 and 1", help.code, none.code)
	}
	if help.stderr != "" {
		t.Errorf("help wrote to stderr: %q", help.stderr)
	}
	if want := help.stdout + "leakwatch: no command given\n"; none.stderr != want {
		t.Errorf("no-command stderr:\n%s\nwant the help text then the error:\n%s", none.stderr, want)
	}
	var names []string
	for name := range commands() {
		names = append(names, name)
	}
	slices.Sort(names)
	pos := 0
	for _, name := range names {
		line := fmt.Sprintf("\n  %-8s %s\n", name, commands()[name].summary)
		i := strings.Index(help.stdout[pos:], line)
		if i < 0 {
			t.Errorf("help lacks (in order) %q\n%s", line, help.stdout)
			continue
		}
		pos += i + 1
	}
	if got := strings.Count(help.stdout, "\n  "); got != len(names) {
		t.Errorf("help lists %d commands, want %d", got, len(names))
	}
}

// TestExitCode pins main's mapping of errors to exit codes and stderr.
func TestExitCode(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"success", nil, 0, ""},
		{"help", flag.ErrHelp, 2, ""},
		{"wrapped help", fmt.Errorf("sources add: %w", flag.ErrHelp), 2, ""},
		{"error", errors.New("boom"), 1, "leakwatch: boom\n"},
		{"multi-line error", errors.New("a.yaml:1: x: bad\na.yaml:2: y: bad\n"), 1, "leakwatch: a.yaml:1: x: bad; a.yaml:2: y: bad\n"},
		{"joined errors", errors.Join(errors.New("first"), errors.New("second")), 1, "leakwatch: first; second\n"},
		{"validation errors", config.ValidationErrors{
			{Path: "smtp.port", Origin: "bad.yaml:3", Msg: "must be between 1 and 65535 (got 70000)"},
			{Path: "log.level", Origin: "env LEAKWATCH_LOG_LEVEL", Msg: "bad"},
		}, 1, "leakwatch: bad.yaml:3: smtp.port: must be between 1 and 65535 (got 70000); env LEAKWATCH_LOG_LEVEL: log.level: bad\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(c.err, &stderr); got != c.code {
				t.Errorf("exitCode = %d, want %d", got, c.code)
			}
			if stderr.String() != c.stderr {
				t.Errorf("stderr %q, want %q", stderr.String(), c.stderr)
			}
		})
	}
}

// TestParseFlags checks that command flags (and the global ones) parse
// before, between and after positional arguments.
func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		pos     []string
		as      string
		rev     int
		dataDir string
		err     string
	}{
		{name: "flags after", args: []string{"3", "--as", "ana"}, pos: []string{"3"}, as: "ana"},
		{name: "flags before", args: []string{"--as", "ana", "--revision", "2", "3"}, pos: []string{"3"}, as: "ana", rev: 2},
		{name: "flags between", args: []string{"a", "-as=ana", "b", "--revision=4", "c"}, pos: []string{"a", "b", "c"}, as: "ana", rev: 4},
		{name: "global flag after", args: []string{"3", "--data-dir", "D", "--as", "ana"}, pos: []string{"3"}, as: "ana", dataDir: "D"},
		{name: "double dash first", args: []string{"--", "-x"}, pos: []string{"-x"}},
		{name: "double dash after flags", args: []string{"--as", "ana", "--", "-x"}, pos: []string{"-x"}, as: "ana"},
		{name: "double dash after an operand", args: []string{"a", "--", "--as", "-x"}, pos: []string{"a", "--as", "-x"}},
		{name: "double dash then flag-like names", args: []string{"--", "--as", "-x", "b"}, pos: []string{"--as", "-x", "b"}},
		{name: "none", args: nil, pos: nil},
		{name: "missing value", args: []string{"3", "--as"}, err: "flag needs an argument: -as"},
		{name: "undefined flag after positional", args: []string{"3", "--nope"}, err: "flag provided but not defined: -nope"},
		{name: "help after positional", args: []string{"3", "-h"}, err: flag.ErrHelp.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			e := &env{stderr: &stderr}
			fs := flag.NewFlagSet("cases approve", flag.ContinueOnError)
			as := fs.String("as", "", "")
			rev := fs.Int("revision", 0, "")
			pos, err := e.parseFlags(fs, c.args)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if c.err == flag.ErrHelp.Error() && !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, not flag.ErrHelp", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, c.pos) || *as != c.as || *rev != c.rev || e.dataDir != c.dataDir {
				t.Errorf("got pos %q as %q revision %d data-dir %q; want %q %q %d %q",
					pos, *as, *rev, e.dataDir, c.pos, c.as, c.rev, c.dataDir)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: %q", stderr.String())
			}
		})
	}
}
