package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/fingerprints/extract"
	"github.com/leakwatch/leakwatch/storage"
)

const examplePath = "../leakwatch.example.yaml"

// envMap turns a map into a getenv function.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeConfig writes body to leakwatch.yaml in a fresh directory and makes it
// the working directory, so error origins read "leakwatch.yaml:N".
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(config.DefaultFileName, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.DefaultFileName
}

// errorLines returns the lines of a Load/Validate error, failing if it is not ValidationErrors.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	var verrs config.ValidationErrors
	if !errors.As(err, &verrs) {
		t.Fatalf("error is %T, not ValidationErrors: %v", err, err)
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(verrs) {
		t.Fatalf("Error() has %d lines for %d errors:\n%v", len(got), len(verrs), err)
	}
	lines := make([]string, len(verrs))
	for i, e := range verrs {
		lines[i] = e.Error()
	}
	return lines
}

func TestDefaultValidates(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("defaults do not validate:\n%v", err)
	}
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatalf("Load with no file and no env: %v", err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Fatalf("Load(\"\", nil) differs from Default()")
	}
}

func TestDefaultsRequireInjunction(t *testing.T) {
	lines := errorLines(t, config.Default().Validate(config.RequireInjunction(true)))
	want := []string{
		"injunction.court: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_COURT)",
		"injunction.file_number: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_FILE_NUMBER)",
		"injunction.date_of_orders: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_DATE_OF_ORDERS)",
		"injunction.claimant: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_CLAIMANT)",
		"injunction.terms: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_TERMS)",
		"injunction.contact.email: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_CONTACT_EMAIL)",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if err := config.Default().Validate(config.RequireInjunction(false)); err != nil {
		t.Fatalf("RequireInjunction(false) still required it: %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	c := config.Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./data"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"database.dsn", c.Database.DSN, ""},
		{"temporal.address", c.Temporal.Address, ""},
		{"temporal.namespace", c.Temporal.Namespace, "leakwatch"},
		{"temporal.task_queue", c.Temporal.TaskQueue, "leakwatch"},
		{"temporal.retention", c.Temporal.Retention, 720 * time.Hour},
		{"web.listen", c.Web.Listen, "127.0.0.1:8080"},
		{"web.base_url", c.Web.BaseURL, "http://127.0.0.1:8080"},
		{"web.session_ttl", c.Web.SessionTTL, 12 * time.Hour},
		{"web.max_login_failures", c.Web.MaxLoginFailures, 5},
		{"web.lockout_duration", c.Web.LockoutDuration, 15 * time.Minute},
		{"web.session_idle_timeout", c.Web.SessionIdleTimeout, 30 * time.Minute},
		{"web.account_login_failures", c.Web.AccountLoginFailures, 20},
		{"crawler.user_agent", c.Crawler.UserAgent, "leakwatch/0.1 (+takedown monitoring)"},
		{"crawler.max_depth", c.Crawler.MaxDepth, 3},
		{"crawler.max_pages", c.Crawler.MaxPages, 500},
		{"crawler.max_page_bytes", c.Crawler.MaxPageBytes, int64(10 << 20)},
		{"crawler.max_download_bytes", c.Crawler.MaxDownloadBytes, int64(512 << 20)},
		{"crawler.max_redirects", c.Crawler.MaxRedirects, 5},
		{"crawler.dial_timeout", c.Crawler.DialTimeout, 15 * time.Second},
		{"crawler.header_timeout", c.Crawler.HeaderTimeout, 30 * time.Second},
		{"crawler.idle_timeout", c.Crawler.IdleTimeout, 60 * time.Second},
		{"crawler.workers", c.Crawler.Workers, 4},
		{"evidence.tsa_url", c.Evidence.TSAURL, ""},
		{"retention.content_days", c.Retention.ContentDays, 90},
		{"retention.closed_case_days", c.Retention.ClosedCaseDays, 180},
		{"crawler.min_rate", c.Crawler.MinRate, int64(4096)},
		{"crawler.slow_grace", c.Crawler.SlowGrace, 30 * time.Second},
		{"crawler.run_budget", c.Crawler.RunBudget, 6 * time.Hour},
		{"smtp.host", c.SMTP.Host, "127.0.0.1"},
		{"smtp.port", c.SMTP.Port, 25},
		{"smtp.tls", c.SMTP.TLS, "starttls"},
		{"smtp.timeout", c.SMTP.Timeout, 30 * time.Second},
		{"smtp.from", c.SMTP.From, "takedowns@localhost"},
		{"notices.removal_deadline", c.Notices.RemovalDeadline, 48 * time.Hour},
		{"notices.follow_up_after", c.Notices.FollowUpAfter, 72 * time.Hour},
		{"notices.two_person_rule", c.Notices.TwoPersonRule, false},
		{"injunction.defendants", c.Injunction.Defendants, "Unknown Defendants"},
		{"fingerprints.pdftotext", c.Fingerprints.PDFToText, "auto"},
		{"fingerprints.ocr", c.Fingerprints.OCR, "auto"},
		{"fingerprints.ocr_page_timeout", c.Fingerprints.OCRPageTimeout, 20 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// Default must hand out independent values: callers mutate them.
	a, b := config.Default(), config.Default()
	a.Crawler.Workers = 99
	if b.Crawler.Workers == 99 {
		t.Fatal("Default() shares state between calls")
	}
}

func TestExampleFileValidatesWithInjunction(t *testing.T) {
	cfg, err := config.Load(examplePath, nil, config.RequireInjunction(true))
	if err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
	if m := cfg.Injunction.Missing(); m != nil {
		t.Fatalf("example injunction incomplete: %v", m)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"injunction.court", cfg.Injunction.Court, "High Court of New Zealand"},
		{"injunction.file_number", cfg.Injunction.FileNumber, "CIV-2026-404-000123"},
		{"injunction.date_of_orders", cfg.Injunction.DateOfOrders, "2026-01-05"},
		{"injunction.defendants", cfg.Injunction.Defendants, "Unknown Defendants"},
		{"injunction.contact.email", cfg.Injunction.Contact.Email, "legal@example.org"},
		{"recipients", cfg.Notices.Recipients["leakforum.example"], "abuse@leakforum.example"},
		{"sources", len(cfg.Sources), 2},
		{"sources[1].kind", cfg.Sources[1].Kind, "telegram"},
		{"sources[1].telegram.account", cfg.Sources[1].Telegram.Account, "monitor1"},
		{"telegram.accounts[0].phone", cfg.Telegram.Accounts[0].Phone, "+447700900123"},
		{"telegram.max_flood_wait", cfg.Telegram.MaxFloodWait, 5 * time.Minute},
		{"sources[0].kind", cfg.Sources[0].Kind, "forum"},
		{"sources[0].deny", strings.Join(cfg.Sources[0].Deny, " "), `/logout /search\?`},
		{"sources[0].watch_terms", strings.Join(cfg.Sources[0].WatchTerms, "|"), `Example Health Portal|/portal\.claimant\.example/`},
		{"temporal.retention", cfg.Temporal.Retention, 720 * time.Hour},
		{"fingerprints.pdftotext", cfg.Fingerprints.PDFToText, "auto"},
		{"fingerprints.ocr", cfg.Fingerprints.OCR, "auto"},
		{"fingerprints.ocr_page_timeout", cfg.Fingerprints.OCRPageTimeout, 20 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if !strings.Contains(cfg.Injunction.Terms, "immediately") || !strings.Contains(cfg.Injunction.Terms, "delete and take down") {
		t.Errorf("terms do not quote the orders: %q", cfg.Injunction.Terms)
	}
}

// exampleKeys collects the key paths present in a YAML document, with list
// elements as "[]", and the key nodes so their comments can be checked.
func exampleKeys(n *yaml.Node, path string, out map[string]*yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			exampleKeys(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			if _, seen := out[p]; !seen {
				out[p] = n.Content[i]
			}
			exampleKeys(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			exampleKeys(c, path+"[]", out)
		}
	}
}

func TestExampleDocumentsEveryField(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*yaml.Node{}
	exampleKeys(&doc, "", keys)

	// Walk the Config type independently of config.Fields, so a bug there
	// cannot hide an undocumented key.
	var paths []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				t.Fatalf("field %s.%s has no yaml tag", typ.Name(), f.Name)
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			paths = append(paths, p)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]():
				walk(ft, p)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]")
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	if len(paths) < 50 {
		t.Fatalf("walked only %d paths; the walk is broken", len(paths))
	}

	for _, p := range paths {
		k, ok := keys[p]
		if !ok {
			t.Errorf("leakwatch.example.yaml does not set %s", p)
			continue
		}
		// Keys inside a list entry (the example source, an account) share
		// the comment above the list entry.
		if strings.Contains(p, "[]") {
			continue
		}
		if strings.TrimSpace(k.HeadComment+k.LineComment) == "" {
			t.Errorf("leakwatch.example.yaml:%d: %s has no comment", k.Line, p)
		}
	}
	if keys["sources"] == nil || strings.TrimSpace(keys["sources"].HeadComment) == "" {
		t.Errorf("sources has no comment")
	}

	// Fields (the public list) must agree with the independent walk.
	var leafs []string
	for _, f := range config.Fields() {
		leafs = append(leafs, f.Path)
		if !slices.Contains(paths, f.Path) {
			t.Errorf("Fields() lists %s, which is not a key path", f.Path)
		}
	}
	for _, p := range paths {
		if !slices.Contains(leafs, p) && !slices.ContainsFunc(leafs, func(l string) bool { return strings.HasPrefix(l, p+".") || strings.HasPrefix(l, p+"[]") }) {
			t.Errorf("Fields() misses %s", p)
		}
	}
}

func TestFieldsEnvNames(t *testing.T) {
	seen := map[string]string{}
	for _, f := range config.Fields() {
		yamlOnly := strings.Contains(f.Path, "[]") || slices.Contains([]string{"notices.recipients", "notices.escalation", "notices.recipient_types", "notices.verify_schedule"}, f.Path) || f.Path == "fingerprints.passwords" || f.Path == "telegram.abuse_addresses" || f.Path == "evidence.recipients" || f.Path == "crawler.allow_networks"
		if yamlOnly != (f.Env == "") {
			t.Errorf("%s: env %q, want yaml-only=%v", f.Path, f.Env, yamlOnly)
		}
		if f.Env == "" {
			continue
		}
		if want := "LEAKWATCH_" + strings.ToUpper(strings.ReplaceAll(f.Path, ".", "_")); f.Env != want {
			t.Errorf("%s: env %q, want %q", f.Path, f.Env, want)
		}
		if other, dup := seen[f.Env]; dup {
			t.Errorf("%s and %s share %s", other, f.Path, f.Env)
		}
		seen[f.Env] = f.Path
	}
	for _, name := range []string{"LEAKWATCH_DATA_DIR", "LEAKWATCH_DATABASE_DSN", "LEAKWATCH_TEMPORAL_ADDRESS",
		"LEAKWATCH_SMTP_PORT", "LEAKWATCH_INJUNCTION_CONTACT_EMAIL", "LEAKWATCH_WEB_BASE_URL"} {
		if _, ok := seen[name]; !ok {
			t.Errorf("no field is overridden by %s", name)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		body string
		opts []config.Option
		want []string // exact error lines, in order
	}{
		{
			name: "port out of range",
			body: "log:\n  level: info\nsmtp:\n  host: mail.example.org\n  port: 70000\n",
			want: []string{"leakwatch.yaml:5: smtp.port: must be between 1 and 65535 (got 70000)"},
		},
		{
			name: "metrics listener not host:port",
			body: "metrics:\n  listen: 9464\n",
			want: []string{`leakwatch.yaml:2: metrics.listen: must be host:port (got "9464")`},
		},
		{
			name: "match thresholds out of range",
			body: "fingerprints:\n  thresholds:\n    pdq_max: 90\n    edm_min_fields: 1\n    tlsh_auto: 120\n    winnow_min_run: 20\n",
			want: []string{
				"leakwatch.yaml:6: fingerprints.thresholds.winnow_min_run: must be between 50 and 100000 (got 20)",
				"leakwatch.yaml:2: fingerprints.thresholds.tlsh_review: must be between 120 and 300 (got 100)", // unset: the section's line,
				"leakwatch.yaml:3: fingerprints.thresholds.pdq_max: must be between 1 and 63 (got 90)",
				"leakwatch.yaml:4: fingerprints.thresholds.edm_min_fields: must be between 2 and 4 (got 1)",
			},
		},
		{
			name: "unknown worker queue",
			body: "worker:\n  queues: crawl, fetch\n  crawl_slots: 0\n",
			want: []string{
				"leakwatch.yaml:2: worker.queues: unknown queue \"fetch\" (want a comma-separated list of crawl, scan, notify)",
				"leakwatch.yaml:3: worker.crawl_slots: must be at least 1 (got 0)",
			},
		},
		{
			name: "crawler network not a CIDR",
			body: "crawler:\n  allow_networks:\n    - 10.0.0.0/8\n    - intranet\n",
			want: []string{"leakwatch.yaml:4: crawler.allow_networks[1]: must be a network in CIDR form (e.g. 10.1.0.0/16) or an address (got \"intranet\")"},
		},
		{
			name: "evidence recipient not an age key",
			body: "evidence:\n  recipients:\n    - age1nope\n",
			want: []string{"leakwatch.yaml:3: evidence.recipients[0]: must be an age public key (age1…; got \"age1nope\")"},
		},
		{
			name: "pdftotext not found",
			body: "fingerprints:\n  pdftotext: /nonexistent/pdftotext\n",
			want: []string{"leakwatch.yaml:2: fingerprints.pdftotext: must be auto, off or the path of the pdftotext program (/nonexistent/pdftotext: not found)"},
		},
		{
			name: "pdftotext empty",
			body: "fingerprints:\n  workers: 2\n  pdftotext: \"\"\n",
			want: []string{`leakwatch.yaml:3: fingerprints.pdftotext: must be auto, off or the path of the pdftotext program (got "")`},
		},
		{
			name: "tesseract not found",
			body: "fingerprints:\n  ocr: /nonexistent/tesseract\n",
			want: []string{"leakwatch.yaml:2: fingerprints.ocr: must be auto, off or the path of the tesseract program (/nonexistent/tesseract: not found)"},
		},
		{
			name: "ocr page timeout not positive",
			body: "fingerprints:\n  ocr_page_timeout: 0s\n",
			want: []string{"leakwatch.yaml:2: fingerprints.ocr_page_timeout: must be a positive duration such as 30s or 12h (got 0s)"},
		},
		{
			name: "unknown key",
			body: "log:\n  level: info\n  colour: red\n",
			want: []string{"leakwatch.yaml:3: log.colour: unknown key (valid keys here: level, format)"},
		},
		{
			name: "unknown top-level key",
			body: "data_dir: /srv\nsmpt:\n  port: 25\n",
			want: []string{"leakwatch.yaml:2: smpt: unknown key (valid keys here: data_dir, log, database, temporal, worker, web, crawler, smtp, notices, injunction, fingerprints, evidence, retention, telegram, sources, webhooks, metrics)"},
		},
		{
			name: "duplicate key",
			body: "web:\n  listen: 127.0.0.1:8080\n  listen: 127.0.0.1:9090\n",
			want: []string{"leakwatch.yaml:3: web.listen: duplicate key (first set at line 2)"},
		},
		{
			name: "bad types",
			body: "crawler:\n  workers: many\n  dial_timeout: 3d\n  max_page_bytes: 99999999999999999999\nnotices:\n  two_person_rule: maybe\nsmtp: 5\n",
			want: []string{
				`leakwatch.yaml:2: crawler.workers: cannot parse "many" as an integer`,
				`leakwatch.yaml:3: crawler.dial_timeout: cannot parse "3d" as a duration (use Go syntax with h, m, s: 90s, 15m, 72h)`,
				`leakwatch.yaml:4: crawler.max_page_bytes: "99999999999999999999" is out of range for an integer`,
				`leakwatch.yaml:6: notices.two_person_rule: cannot parse "maybe" as a boolean (use true or false)`,
				`leakwatch.yaml:7: smtp: must be a mapping of keys to values, not the value "5"`,
			},
		},
		{
			name: "list where value expected",
			body: "web:\n  listen:\n    - a\n",
			want: []string{"leakwatch.yaml:3: web.listen: must be a single value, not a list"},
		},
		{
			name: "enums and forms",
			body: `log:
  level: verbose
  format: xml
database:
  dsn: mysql://root:secret@db/leakwatch
temporal:
  address: temporal
  retention: 30m
web:
  listen: localhost
  base_url: /leakwatch
crawler:
  proxy: ftp://user:pw@proxy.example:21
  max_pages: 0
  max_redirects: -1
smtp:
  from: not an address
  tls: ssl
  password: a
  password_file: /run/secrets/x
`,
			want: []string{
				`leakwatch.yaml:2: log.level: must be one of debug, info, warn, error (got "verbose")`,
				`leakwatch.yaml:3: log.format: must be one of text, json (got "xml")`,
				`leakwatch.yaml:5: database.dsn: must be empty (SQLite in data_dir), postgres://…, postgresql://… or sqlite:PATH`,
				`leakwatch.yaml:7: temporal.address: must be host:port (got "temporal")`,
				`leakwatch.yaml:8: temporal.retention: must be at least 1h0m0s, Temporal's minimum (got 30m0s)`,
				`leakwatch.yaml:10: web.listen: must be host:port (got "localhost")`,
				`leakwatch.yaml:11: web.base_url: must be an absolute http:// or https:// URL (got "/leakwatch")`,
				`leakwatch.yaml:13: crawler.proxy: must be empty or a socks5://, socks5h://, http:// or https:// URL with a host (got scheme "ftp")`,
				`leakwatch.yaml:14: crawler.max_pages: must be at least 1 (got 0)`,
				`leakwatch.yaml:15: crawler.max_redirects: must be at least 0 (got -1)`,
				`leakwatch.yaml:20: smtp.password_file: set either smtp.password or smtp.password_file, not both`,
				`leakwatch.yaml:17: smtp.from: must be an e-mail address (got "not an address")`,
				`leakwatch.yaml:18: smtp.tls: must be one of starttls, implicit, none (got "ssl")`,
			},
		},
		{
			name: "notices and injunction forms",
			body: `notices:
  default_recipient: nobody
  recipients:
    leakforum.example: abuse@leakforum.example
    paste.example: "abuse at paste"
  removal_deadline: 0s
injunction:
  date_of_orders: 05/01/2026
  contact:
    email: legal(at)example.org
`,
			want: []string{
				`leakwatch.yaml:2: notices.default_recipient: must be an e-mail address (got "nobody")`,
				`leakwatch.yaml:5: notices.recipients["paste.example"]: must be an e-mail address (got "abuse at paste")`,
				`leakwatch.yaml:6: notices.removal_deadline: must be a positive duration such as 30s or 12h (got 0s)`,
				`leakwatch.yaml:8: injunction.date_of_orders: must be a date as YYYY-MM-DD (got "05/01/2026")`,
				`leakwatch.yaml:10: injunction.contact.email: must be an e-mail address (got "legal(at)example.org")`,
			},
		},
		{
			name: "injunction required and missing",
			body: "data_dir: ./data\ninjunction:\n  court: High Court of New Zealand\n  file_number: CIV-2026-404-000123\n  date_of_orders: \"2026-01-05\"\n  claimant: Example Health Portal Limited\n  contact:\n    name: Legal\n",
			opts: []config.Option{config.RequireInjunction(true)},
			want: []string{
				"leakwatch.yaml:2: injunction.terms: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_TERMS)",
				"leakwatch.yaml:7: injunction.contact.email: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_CONTACT_EMAIL)",
			},
		},
		{
			name: "sources",
			body: `sources:
  - name: a
    kind: web
    url: https://a.example/
    every: 6h
  - name: a
    kind: irc
    url: a.example
    every: 30s
  - kind: web
  - name: tg
    kind: telegram
    url: https://example.org/channel
    telegram: {account: nobody, media: [video], backfill_since: "last week"}
`,
			want: []string{
				`leakwatch.yaml:6: sources[1].name: duplicate source name "a" (also sources[0])`,
				`leakwatch.yaml:7: sources[1].kind: must be one of forum, leakblog, paste, opendir, filehost, generic, telegram, web (got "irc")`,
				`leakwatch.yaml:8: sources[1].url: must be an absolute http:// or https:// URL (got "a.example")`,
				`leakwatch.yaml:9: sources[1].every: must be 0 (manual only) or at least 1m0s (got 30s)`,
				`leakwatch.yaml:10: sources[2].name: must not be empty`,
				`leakwatch.yaml:10: sources[2].url: must be an absolute http:// or https:// URL (got "")`,
				`leakwatch.yaml:13: sources[3].url: must be a Telegram channel: @username, https://t.me/username or an invite link https://t.me/+HASH (got "https://example.org/channel")`,
				`leakwatch.yaml:11: sources[3]: telegram sources need an account under telegram.accounts`,
				`leakwatch.yaml:14: sources[3].telegram.account: no account "nobody" under telegram.accounts`,
				`leakwatch.yaml:14: sources[3].telegram.backfill_since: must be a date YYYY-MM-DD (got "last week")`,
				`leakwatch.yaml:14: sources[3].telegram.media[0]: must be one of document, photo (got "video")`,
			},
		},
		{
			name: "webhooks",
			body: `webhooks:
  - name: siem
    url: https://siem.example/hook
    secret_env: SIEM_SECRET
    events: [item.new, case.state]
  - name: local
    url: http://127.0.0.1:9000/hook
    secret_env: LOCAL_SECRET
    events: [case.state]
  - name: siem
    url: http://chat.example/hook
    secret_env: "hunter2 is the secret"
    events: [item.deleted]
  - url: https://user:pw@siem.example/
    secret_env: S
`,
			want: []string{
				`leakwatch.yaml:10: webhooks[2].name: duplicate webhook name "siem" (also webhooks[0])`,
				`leakwatch.yaml:11: webhooks[2].url: must use https:// (plain http:// only to a loopback address)`,
				`leakwatch.yaml:12: webhooks[2].secret_env: must name the environment variable holding the signing secret, like SIEM_WEBHOOK_SECRET (the value is not shown: it may be the secret, which never goes in this file)`,
				`leakwatch.yaml:13: webhooks[2].events[0]: must be one of item.new, case.state (got "item.deleted")`,
				`leakwatch.yaml:14: webhooks[3].name: must not be empty`,
				`leakwatch.yaml:14: webhooks[3].url: must not hold a user or password`,
				`leakwatch.yaml:14: webhooks[3].events: must list at least one of item.new, case.state`,
			},
		},
		{
			name: "top level not a mapping",
			body: "- a\n- b\n",
			want: []string{"leakwatch.yaml:1: the top level must be a mapping of keys to values, not a list"},
		},
		{
			name: "sources not a list",
			body: "sources:\n  name: a\n",
			want: []string{"leakwatch.yaml:2: sources: must be a list, not a mapping"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			cfg, err := config.Load(path, nil, tt.opts...)
			if cfg != nil {
				t.Errorf("Load returned a config alongside an error")
			}
			got := errorLines(t, err)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestSecretsNotEchoed(t *testing.T) {
	path := writeConfig(t, "database:\n  dsn: mysql://root:hunter2@db/x\ncrawler:\n  proxy: ftp://u:hunter2@p.example\n")
	_, err := config.Load(path, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error missing or leaks a secret: %v", err)
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	path := writeConfig(t, "log:\n  level: info\n  format: text: json\n")
	_, err := config.Load(path, nil)
	if err == nil || err.Error() != "leakwatch.yaml:3: invalid YAML: mapping values are not allowed in this context" {
		t.Fatalf("got %v, want leakwatch.yaml:3: invalid YAML: …", err)
	}
	path = writeConfig(t, "log:\n  level: info\n---\nlog:\n  level: debug\n")
	_, err = config.Load(path, nil)
	if err == nil || err.Error() != "leakwatch.yaml:4: only one YAML document is allowed" {
		t.Fatalf("got %v, want the second-document error", err)
	}
}

func TestPartialFilesKeepDefaults(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n", "log:\n", "smtp:\n  port: 587\n"} {
		path := writeConfig(t, body)
		cfg, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		want := config.Default()
		if strings.Contains(body, "587") {
			want.SMTP.Port = 587
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%q: got %+v", body, cfg)
		}
	}
}

func TestYAMLSpellings(t *testing.T) {
	path := writeConfig(t, `defaults: &d
  every: 6h
`)
	// Anchors are fine inside known keys; an unknown top-level key is not.
	if _, err := config.Load(path, nil); err == nil {
		t.Fatal("unknown key with anchor accepted")
	}
	path = writeConfig(t, `crawler:
  max_page_bytes: 10_485_760
  max_download_bytes: "1024"
smtp:
  port: &p 2525
web:
  max_login_failures: *p
injunction:
  file_number: 123
  terms: |
    line one
    line two
`)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Crawler.MaxPageBytes != 10485760 || cfg.Crawler.MaxDownloadBytes != 1024 || cfg.SMTP.Port != 2525 ||
		cfg.Web.MaxLoginFailures != 2525 || cfg.Injunction.FileNumber != "123" || cfg.Injunction.Terms != "line one\nline two\n" {
		t.Fatalf("unexpected values: %+v %+v %+v %+v", cfg.Crawler, cfg.SMTP, cfg.Web, cfg.Injunction)
	}
}

func TestEnvOverrides(t *testing.T) {
	path := writeConfig(t, "smtp:\n  port: 2525\n  host: file.example\nnotices:\n  recipients:\n    a.example: abuse@a.example\n")
	env := map[string]string{
		"LEAKWATCH_DATA_DIR":                 "/var/lib/leakwatch",
		"LEAKWATCH_DATABASE_DSN":             "postgres://lw:pw@db:5432/leakwatch?sslmode=disable",
		"LEAKWATCH_TEMPORAL_ADDRESS":         "temporal:7233",
		"LEAKWATCH_SMTP_PORT":                "587",
		"LEAKWATCH_INJUNCTION_CONTACT_EMAIL": "legal@example.org",
		"LEAKWATCH_NOTICES_TWO_PERSON_RULE":  "true",
		"LEAKWATCH_NOTICES_FOLLOW_UP_AFTER":  "96h",
		"LEAKWATCH_CRAWLER_MAX_PAGE_BYTES":   "2048",
		"LEAKWATCH_WEB_LISTEN":               "0.0.0.0:8080",
		"LEAKWATCH_METRICS_LISTEN":           "0.0.0.0:9464",
		"LEAKWATCH_SMTP_HOST":                "", // empty = unset: the file value stays
	}
	cfg, err := config.Load(path, envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "/var/lib/leakwatch"},
		{"database.dsn", cfg.Database.DSN, env["LEAKWATCH_DATABASE_DSN"]},
		{"temporal.address", cfg.Temporal.Address, "temporal:7233"},
		{"smtp.port (env beats file)", cfg.SMTP.Port, 587},
		{"smtp.host (file kept)", cfg.SMTP.Host, "file.example"},
		{"injunction.contact.email", cfg.Injunction.Contact.Email, "legal@example.org"},
		{"notices.two_person_rule", cfg.Notices.TwoPersonRule, true},
		{"notices.follow_up_after", cfg.Notices.FollowUpAfter, 96 * time.Hour},
		{"crawler.max_page_bytes", cfg.Crawler.MaxPageBytes, int64(2048)},
		{"web.listen", cfg.Web.Listen, "0.0.0.0:8080"},
		{"metrics.listen", cfg.Metrics.Listen, "0.0.0.0:9464"},
		{"notices.recipients", cfg.Notices.Recipients["a.example"], "abuse@a.example"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if driver, dsn := cfg.ResolveDatabase(); driver != config.DriverPostgres || dsn != env["LEAKWATCH_DATABASE_DSN"] {
		t.Errorf("ResolveDatabase = %s %s", driver, dsn)
	}
	if cfg.Temporal.Embedded() {
		t.Error("Embedded() with an address")
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	path := writeConfig(t, "smtp:\n  port: 25\n")
	env := map[string]string{
		"LEAKWATCH_SMTP_PORT":                "70000",
		"LEAKWATCH_CRAWLER_WORKERS":          "four",
		"LEAKWATCH_WEB_SESSION_TTL":          "1 day",
		"LEAKWATCH_INJUNCTION_CONTACT_EMAIL": "nobody",
	}
	_, err := config.Load(path, envMap(env), config.RequireInjunction(true))
	got := errorLines(t, err)
	want := []string{
		`env LEAKWATCH_WEB_SESSION_TTL: web.session_ttl: cannot parse "1 day" as a duration (use Go syntax with h, m, s: 90s, 15m, 72h)`,
		`env LEAKWATCH_CRAWLER_WORKERS: crawler.workers: cannot parse "four" as an integer`,
		`env LEAKWATCH_SMTP_PORT: smtp.port: must be between 1 and 65535 (got 70000)`,
		`injunction.court: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_COURT)`,
		`injunction.file_number: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_FILE_NUMBER)`,
		`injunction.date_of_orders: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_DATE_OF_ORDERS)`,
		`injunction.claimant: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_CLAIMANT)`,
		`injunction.terms: required to draft takedown notices (set it in the config file or LEAKWATCH_INJUNCTION_TERMS)`,
		`env LEAKWATCH_INJUNCTION_CONTACT_EMAIL: injunction.contact.email: must be an e-mail address (got "nobody")`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAllErrorsCollected(t *testing.T) {
	path := writeConfig(t, `log:
  level: loud
  bogus: 1
smtp:
  port: 0
crawler:
  workers: x
sources:
  - name: s
    kind: web
    url: ftp://x.example/
`)
	_, err := config.Load(path, envMap(map[string]string{"LEAKWATCH_WEB_MAX_LOGIN_FAILURES": "0"}))
	got := errorLines(t, err)
	for _, want := range []string{
		"leakwatch.yaml:3: log.bogus: unknown key",
		"leakwatch.yaml:7: crawler.workers: cannot parse",
		"leakwatch.yaml:2: log.level: must be one of",
		"env LEAKWATCH_WEB_MAX_LOGIN_FAILURES: web.max_login_failures: must be at least 1 (got 0)",
		"leakwatch.yaml:5: smtp.port: must be between 1 and 65535 (got 0)",
		"leakwatch.yaml:11: sources[0].url: must be an absolute",
	} {
		if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("missing error %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 6 {
		t.Errorf("got %d errors, want 6:\n%s", len(got), strings.Join(got, "\n"))
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "log.bogus" || fe.Origin != "leakwatch.yaml:3" {
		t.Errorf("errors.As FieldError = %+v", fe)
	}
}

func TestMissingExplicitFile(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := config.Load("nope.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("got %v, want a not-exist error naming the file", err)
	}
}

func TestFindDefault(t *testing.T) {
	dir := t.TempDir()
	if got := config.FindDefault(dir); got != "" {
		t.Fatalf("empty dir: got %q", got)
	}
	if err := os.Mkdir(filepath.Join(dir, config.DefaultFileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := config.FindDefault(dir); got != "" {
		t.Fatalf("directory named like the file: got %q", got)
	}
	other := t.TempDir()
	want := filepath.Join(other, config.DefaultFileName)
	if err := os.WriteFile(want, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := config.FindDefault(other); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	t.Chdir(other)
	if got := config.FindDefault("."); got != config.DefaultFileName {
		t.Fatalf("FindDefault(\".\") = %q", got)
	}
}

func TestOrderPDF(t *testing.T) {
	dir := t.TempDir()
	pdf := filepath.Join(dir, "orders.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.7\n..."), 0o600); err != nil {
		t.Fatal(err)
	}
	txt := filepath.Join(dir, "orders.txt")
	if err := os.WriteFile(txt, []byte("not a pdf"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want string // "" = valid
	}{
		{pdf, ""},
		{txt, "is not a PDF"},
		{filepath.Join(dir, "missing.pdf"), "must exist and be readable"},
		{dir, "must be a regular file"},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Injunction.OrderPDF = tt.file
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.file, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) ||
			!strings.HasPrefix(err.Error(), "injunction.order_pdf: ")):
			t.Errorf("%s: got %v, want %q", tt.file, err, tt.want)
		}
	}
}

func TestPDFToText(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pdftotext")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value string
		want  string // "" = valid
	}{
		{"auto", ""},
		{"off", ""},
		{exe, ""},
		{plain, "(" + plain + ": not an executable file)"},
		{dir, "(" + dir + ": not an executable file)"},
		{filepath.Join(dir, "missing"), "(" + filepath.Join(dir, "missing") + ": not found)"},
		{"", `(got "")`},
		{"OFF", "(OFF: not found)"}, // the keywords are lower case; anything else is a program
	}
	for _, tt := range tests {
		c := config.Default()
		c.Fingerprints.PDFToText = tt.value
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.value, err)
		case tt.want != "" && (err == nil || !strings.HasSuffix(err.Error(), tt.want) ||
			!strings.HasPrefix(err.Error(), "fingerprints.pdftotext: must be auto, off or the path of the pdftotext program ")):
			t.Errorf("%q: got %v, want an error ending %q", tt.value, err, tt.want)
		}
	}

	// The environment overrides it like any scalar key, and names itself in errors.
	path := writeConfig(t, "fingerprints:\n  pdftotext: "+exe+"\n")
	cfg, err := config.Load(path, envMap(map[string]string{"LEAKWATCH_FINGERPRINTS_PDFTOTEXT": "off"}))
	if err != nil || cfg.Fingerprints.PDFToText != "off" {
		t.Fatalf("env override: %v, %+v", err, cfg)
	}
	_, err = config.Load(path, envMap(map[string]string{"LEAKWATCH_FINGERPRINTS_PDFTOTEXT": plain}))
	if err == nil || !strings.HasPrefix(err.Error(), "env LEAKWATCH_FINGERPRINTS_PDFTOTEXT: fingerprints.pdftotext: ") {
		t.Fatalf("bad env value: got %v", err)
	}

	// cmd/leakwatch hands the value to extract.ResolvePDFToText as is.
	if config.PDFToTextAuto != extract.PDFToTextAuto || config.PDFToTextOff != extract.PDFToTextOff {
		t.Errorf("config and extract spell the pdftotext settings differently")
	}
}

func TestMissing(t *testing.T) {
	var in config.InjunctionConfig
	if got := in.Missing(); len(got) != 6 {
		t.Fatalf("empty injunction: %v", got)
	}
	in = config.InjunctionConfig{Court: "C", FileNumber: "F", DateOfOrders: "2026-01-05", Claimant: "X",
		Terms: "   ", Contact: config.ContactConfig{Email: "legal@example.org"}}
	if got := in.Missing(); !slices.Equal(got, []string{"injunction.terms"}) {
		t.Fatalf("blank terms: %v", got)
	}
	in.Terms = "t"
	if got := in.Missing(); got != nil {
		t.Fatalf("complete: %v", got)
	}
}

func TestValidForms(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
	}{
		{"postgresql dsn", func(c *config.Config) { c.Database.DSN = "postgresql://u:p@h/db" }},
		{"sqlite dsn", func(c *config.Config) { c.Database.DSN = "sqlite:/var/lib/lw.db" }},
		{"bare .db path", func(c *config.Config) { c.Database.DSN = "other.db" }},
		{"ipv6 listen, any port", func(c *config.Config) { c.Web.Listen = "[::1]:0" }},
		{"all interfaces", func(c *config.Config) { c.Web.Listen = ":8080" }},
		{"tor proxy", func(c *config.Config) { c.Crawler.Proxy = "socks5h://127.0.0.1:9050" }},
		{"named from", func(c *config.Config) { c.SMTP.From = "Takedowns <t@example.org>" }},
		{"upper-case level", func(c *config.Config) { c.Log.Level = "DEBUG" }},
		{"onion source", func(c *config.Config) {
			c.Sources = []config.SourceConfig{{Name: "o", Kind: "web", URL: "http://abc.onion/", Every: time.Minute}}
		}},
	}
	for _, tt := range tests {
		c := config.Default()
		tt.mutate(c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestResolveDatabase(t *testing.T) {
	tests := []struct{ dsn, driver, target string }{
		{"", config.DriverSQLite, filepath.Join("data", "leakwatch.db")},
		{"sqlite:/abs/x.db", config.DriverSQLite, "/abs/x.db"},
		{"sqlite:///abs/x.db", config.DriverSQLite, "/abs/x.db"},
		{"sqlite:rel/x.db", config.DriverSQLite, "rel/x.db"},
		{"x.db", config.DriverSQLite, "x.db"},
		{"postgres://u@h/db", config.DriverPostgres, "postgres://u@h/db"},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Database.DSN = tt.dsn
		if d, target := c.ResolveDatabase(); d != tt.driver || target != tt.target {
			t.Errorf("%q: got %s %s, want %s %s", tt.dsn, d, target, tt.driver, tt.target)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := config.Default()
	c.SMTP.Password = "hunter2"
	c.Database.DSN = "postgres://lw:s3cret@db:5432/leakwatch"
	c.Notices.Recipients = map[string]string{"a.example": "abuse@a.example"}
	c.Sources = []config.SourceConfig{{Name: "s", Kind: "web", URL: "https://s.example/", Every: time.Hour}}

	for name, s := range map[string]string{
		"String":        c.String(),
		"%v of pointer": fmt.Sprintf("%v %+v", c, *c),
		"SMTP.String":   c.SMTP.String(),
		"DB.String":     c.Database.String(),
	} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
			t.Errorf("%s leaks a secret:\n%s", name, s)
		}
	}
	r := c.Redacted()
	if r.SMTP.Password != "REDACTED" || r.Database.DSN != "postgres://lw:xxxxx@db:5432/leakwatch" {
		t.Errorf("Redacted: password %q dsn %q", r.SMTP.Password, r.Database.DSN)
	}
	r.Notices.Recipients["b.example"] = "x@b.example"
	r.Sources[0].Name = "changed"
	if c.SMTP.Password != "hunter2" || len(c.Notices.Recipients) != 1 || c.Sources[0].Name != "s" {
		t.Error("Redacted modified or shares state with the original")
	}

	// String() is YAML that Load reads back to the redacted config.
	path := writeConfig(t, c.String())
	back, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("String() output does not load:\n%v\n%s", err, c.String())
	}
	if !reflect.DeepEqual(back, c.Redacted()) {
		t.Errorf("round trip differs:\n%s\nvs\n%s", back, c.Redacted())
	}
}

func TestResolvePassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		smtp    config.SMTPConfig
		want    string
		wantErr string
	}{
		{"none", config.SMTPConfig{}, "", ""},
		{"inline", config.SMTPConfig{Password: "inline"}, "inline", ""},
		{"file, newline trimmed", config.SMTPConfig{PasswordFile: file}, "s3cret", ""},
		{"both", config.SMTPConfig{Password: "x", PasswordFile: file}, "", "not both"},
		{"missing file", config.SMTPConfig{PasswordFile: filepath.Join(dir, "nope")}, "", "smtp.password_file: open "},
	}
	for _, tt := range tests {
		got, err := tt.smtp.ResolvePassword()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want error containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for in, want := range map[string]string{"debug": "DEBUG", "WARN": "WARN", "error": "ERROR", "bogus": "INFO"} {
		if got := (config.LogConfig{Level: in}).SlogLevel().String(); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}

// The file's source kinds are the domain's (storage.SourceKind).
func TestSourceKindsMatchStorage(t *testing.T) {
	var want []string
	for _, k := range storage.SourceKinds() {
		want = append(want, string(k))
	}
	want = append(want, string(storage.SourceWeb))
	if strings.Join(config.SourceKinds, ",") != strings.Join(want, ",") {
		t.Errorf("config.SourceKinds = %v, storage has %v", config.SourceKinds, want)
	}
}

func TestSourceOptionsValidated(t *testing.T) {
	cfg := config.Default()
	cfg.Sources = []config.SourceConfig{{Name: "a", Kind: "forum", URL: "http://a.example/",
		Allow: []string{"(ok"}, Deny: []string{"fine", "[bad"}, WatchTerms: []string{"Kea", "/(x/"},
		MaxFileBytes: -1, Workers: -2, Proxy: "ftp://x"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("bad source options accepted")
	}
	for _, want := range []string{"sources[0].allow[0]", "sources[0].deny[1]", "sources[0].watch_terms[1]",
		"sources[0].max_file_bytes", "sources[0].workers", "sources[0].proxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "deny[0]") || strings.Contains(err.Error(), "watch_terms[0]") {
		t.Errorf("good values reported: %v", err)
	}
}

func TestSourceLoginValidated(t *testing.T) {
	cfg := config.Default()
	cfg.Sources = []config.SourceConfig{{Name: "a", Kind: "forum", URL: "http://a.example/",
		Login: config.LoginConfig{URL: "http://a.example/login", PasswordEnv: "X", PasswordFile: "/x"}}}
	err := cfg.Validate()
	for _, want := range []string{"sources[0].login.user", "sources[0].login: needs exactly one of password_env and password_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	cfg.Sources[0].Login = config.LoginConfig{URL: "http://a.example/login", User: "u", PasswordEnv: "X"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a good login refused: %v", err)
	}
}

// worker.queues comes from the file or LEAKWATCH_WORKER_QUEUES, is
// normalised by QueueList, and defaults to every queue.
func TestWorkerQueues(t *testing.T) {
	if got := config.Default().Worker.QueueList(); strings.Join(got, ",") != "crawl,scan,notify" {
		t.Errorf("default queues %v, want crawl,scan,notify", got)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "leakwatch.yaml")
	if err := os.WriteFile(path, []byte("worker:\n  queues: notify\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Worker.QueueList(); strings.Join(got, ",") != "notify" {
		t.Errorf("file queues %v, want notify", got)
	}
	env := func(k string) string {
		if k == "LEAKWATCH_WORKER_QUEUES" {
			return " Scan ,crawl,scan"
		}
		return ""
	}
	if cfg, err = config.Load(path, env); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Worker.QueueList(); strings.Join(got, ",") != "crawl,scan" {
		t.Errorf("env queues %v, want crawl,scan (known names, each once, in order)", got)
	}
	bad := func(k string) string {
		if k == "LEAKWATCH_WORKER_QUEUES" {
			return "crawl,mail"
		}
		return ""
	}
	_, err = config.Load(path, bad)
	if err == nil || !strings.Contains(err.Error(), "env LEAKWATCH_WORKER_QUEUES: worker.queues: unknown queue \"mail\"") {
		t.Errorf("unknown queue from env: %v", err)
	}
	for _, in := range []string{"", " , "} {
		if _, err := config.ParseQueues(in); err == nil {
			t.Errorf("ParseQueues(%q) accepted no queue", in)
		}
	}
}
