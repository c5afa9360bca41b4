// Package e2e tests leakwatch as its users run it: the built binaries as real
// processes, the real leakwatch-temporal server, SQLite, a loopback leak-site
// fixture and a real SMTP server.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

var bins struct {
	once      sync.Once
	leakwatch string
	err       error
}

// binaries builds leakwatch once per test run and finds the cached
// leakwatch-temporal build, the same binary `leakwatch up` supervises.
func binaries(t testing.TB) (leakwatch, temporal string) {
	t.Helper()
	temporal = temporaltest.Binary(t)
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "leakwatch-e2e-bin-")
		if err != nil {
			bins.err = err
			return
		}
		bins.leakwatch = filepath.Join(dir, "leakwatch")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(gotool, "build", "-o", bins.leakwatch, "github.com/leakwatch/leakwatch/cmd/leakwatch").CombinedOutput()
		if err != nil {
			bins.err = fmt.Errorf("build leakwatch: %v\n%s", err, out)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.leakwatch, temporal
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.leakwatch != "" {
		os.RemoveAll(filepath.Dir(bins.leakwatch))
	}
	os.Exit(code)
}

// harness is one leakwatch installation: a config file, a data directory, a
// synthetic reference set, a leak forum posting some of it and an SMTP server.
type harness struct {
	t         testing.TB
	leakwatch string
	dir       string
	cfgPath   string
	dataDir   string
	webURL    string
	refsDir   string
	refs      []synth.Doc
	leaked    []synth.Doc // posted on the forum
	site      *leaksim.Site
	siteURL   string
	siteHost  string
	sink      *smtpsink.Sink
	// recovery holds the unused MFA recovery codes of the legal and admin
	// users login enrolled; each later login uses one.
	recovery map[string][]string
}

type harnessOptions struct {
	refuseFirst int    // SMTP attempts the sink refuses with 451
	postgresDSN string // app database; "" = SQLite in the data dir
	smtpAddr    string // send through this relay instead of the sink
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	lw, temporalBin := binaries(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, leakwatch: lw, dir: t.TempDir(), recovery: map[string][]string{}}
	h.dataDir = filepath.Join(h.dir, "data")
	h.refsDir = filepath.Join(h.dir, "refs")

	var err error
	h.refs, err = synth.Generate(h.refsDir, synth.Options{Seed: 42, Patients: 6, Docs: 12})
	if err != nil {
		t.Fatal(err)
	}
	// Post the patients CSV, one lab result and one clinical note, plus an
	// unrelated file that must not match.
	want := map[synth.Kind]bool{synth.KindPatients: true, synth.KindLabResult: true, synth.KindClinicalNote: true}
	var files []leaksim.File
	for _, d := range h.refs {
		if want[d.Kind] {
			delete(want, d.Kind)
			h.leaked = append(h.leaked, d)
			files = append(files, leaksim.File{Name: "sample-" + filepath.Base(d.RelPath), Data: h.read(d), Thread: "portal dump samples"})
		}
	}
	files = append(files, leaksim.File{Name: "unrelated.txt", Data: []byte("nothing to see here, just a combolist teaser\n"), Thread: "other"})
	h.site = leaksim.New(leaksim.Options{Title: "Fixture forum", Files: files})
	addr, err := h.site.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.siteURL = "http://" + addr.String() + "/"
	h.siteHost = "127.0.0.1"

	h.sink, err = smtpsink.Start(ctx, smtpsink.Options{RefuseFirst: o.refuseFirst})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.sink.Close() })
	smtpHost, smtpPort, _ := net.SplitHostPort(cmp.Or(o.smtpAddr, h.sink.Addr()))

	webAddr := freeAddr(t)
	h.webURL = "http://" + webAddr
	h.cfgPath = filepath.Join(h.dir, "leakwatch.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
fingerprints:
  key_file: %s
database:
  dsn: %q
log:
  level: info
temporal:
  server_binary: %s
web:
  listen: %s
  base_url: %s
smtp:
  host: %s
  port: %s
  tls: none
  from: "Takedown Team <takedowns@claimant.example>"
crawler:
  # The tests' leak sites listen on loopback, which crawls refuse unless allowed.
  allow_networks: [127.0.0.0/8, "::1/128"]
notices:
  default_recipient: abuse@leakforum.example
  triage: auto
  draft_delay: 2s
  rdap: false
injunction:
  court: High Court of New Zealand
  file_number: CIV-2026-404-000123
  date_of_orders: "2026-01-05"
  claimant: Example Health Portal Limited
  defendants: Unknown Defendants
  terms: |
    No person may access, use, disclose or publish any data taken from the claimant.
    Anyone who has published the data or links to it must immediately delete and take it down.
  contact:
    name: Legal Team
    email: legal@claimant.example
`, h.dataDir, writeKey(t, h.dir), o.postgresDSN, temporalBin, webAddr, h.webURL, smtpHost, smtpPort)
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// writeKey writes a fresh fingerprint key file (tests only; a real key lives
// outside the data directory).
func writeKey(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "fingerprint.key")
	if err := os.WriteFile(p, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) read(d synth.Doc) []byte {
	b, err := os.ReadFile(filepath.Join(h.refsDir, filepath.FromSlash(d.RelPath)))
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// freeAddr returns a loopback address free for a process the test starts
// to listen on. It is chosen below the kernel's ephemeral port range: a
// port the kernel handed out for ":0" and then freed is soon handed out
// again (to the Temporal server picking its own ports, say), so the
// process would find it taken. Each port is handed out once per test
// binary.
func freeAddr(t testing.TB) string {
	t.Helper()
	lo := 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	const from = 10000
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := from + rand.IntN(max(lo-from, 1))
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// cli runs one leakwatch command to completion.
func (h *harness) cli(stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.leakwatch, append([]string{"--config", h.cfgPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		h.t.Fatalf("run leakwatch %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// mustCLI runs a command that must succeed.
func (h *harness) mustCLI(stdin string, args ...string) string {
	h.t.Helper()
	out, errOut, code := h.cli(stdin, args...)
	if code != 0 {
		h.t.Fatalf("leakwatch %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, tail(errOut, 30))
	}
	return out
}

// up starts `leakwatch up` and waits until its web server answers.
func (h *harness) up() *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(h.leakwatch, "--config", h.cfgPath, "up")
	logf, err := os.OpenFile(filepath.Join(h.dir, "up.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	h.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	h.eventually("leakwatch up serves /healthz", 2*time.Minute, func() (bool, error) {
		select {
		case <-done:
			return false, fmt.Errorf("leakwatch up exited early:\n%s", h.log())
		default:
		}
		resp, err := http.Get(h.webURL + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return cmd
}

// setSMTP points the config's smtp at addr (for the next `up`).
func (h *harness) setSMTP(addr string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	cfg := regexp.MustCompile(`(?m)^smtp:\n  host: .*\n  port: .*$`).ReplaceAllString(string(b), "smtp:\n  host: "+host+"\n  port: "+port)
	if cfg == string(b) {
		h.t.Fatal("setSMTP: no smtp host/port in the config")
	}
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) log() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "up.log"))
	return tail(string(b), 40)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls cond until it holds, fails or the timeout passes.
func (h *harness) eventually(what string, timeout time.Duration, cond func() (bool, error)) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			h.t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for: %s\nup log:\n%s", timeout, what, h.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api is a logged-in API client.
type api struct {
	h    *harness
	c    *http.Client
	csrf string
}

func (h *harness) login(user, password string) *api {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &api{h: h, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var out struct {
		CSRF       string `json:"csrf_token"`
		MFAPending bool   `json:"mfa_enrolment_required"`
	}
	second := ""
	if codes, enrolled := h.recovery[user]; enrolled {
		if len(codes) == 0 {
			h.t.Fatalf("login %s: out of MFA recovery codes (10 logins per user)", user)
		}
		second, h.recovery[user] = codes[0], codes[1:]
	}
	if code := a.do("POST", "/api/login", map[string]string{"username": user, "password": password, "totp": second}, &out); code != http.StatusOK {
		h.t.Fatalf("login %s: HTTP %d", user, code)
	}
	a.csrf = out.CSRF
	if out.MFAPending {
		h.enrolMFA(a, user)
	}
	return a
}

// enrolMFA turns on two-step login for a legal or admin user, which the
// server requires before anything else, with a code computed from the secret
// it hands out. The recovery codes are kept for the user's later logins: a
// TOTP code is accepted only once per 30 s step.
func (h *harness) enrolMFA(a *api, user string) {
	h.t.Helper()
	var setup struct {
		Secret string `json:"secret"`
	}
	if code := a.do("GET", "/api/account/mfa", nil, &setup); code != http.StatusOK || setup.Secret == "" {
		h.t.Fatalf("MFA set-up of %s: HTTP %d", user, code)
	}
	otp, err := totp.GenerateCode(setup.Secret, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	var done struct {
		Codes []string `json:"recovery_codes"`
		CSRF  string   `json:"csrf_token"`
	}
	if code := a.do("POST", "/api/account/mfa", map[string]string{"code": otp}, &done); code != http.StatusOK {
		h.t.Fatalf("MFA enrolment of %s: HTTP %d", user, code)
	}
	a.csrf = done.CSRF
	h.recovery[user] = done.Codes
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (a *api) do(method, path string, body, out any) int {
	a.h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.h.webURL+path, r)
	if err != nil {
		a.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.h.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

type apiCase struct {
	ID      uint64 `json:"id"`
	Target  string `json:"target"`
	State   string `json:"state"`
	Notices []struct {
		ID         uint64     `json:"id"`
		Revision   int        `json:"revision"`
		State      string     `json:"state"`
		BodyText   string     `json:"body_text"`
		ApprovedBy string     `json:"approved_by"`
		SentAt     *time.Time `json:"sent_at"`
		Attempts   int        `json:"attempts"`
	} `json:"notices"`
	Hits []struct {
		URL         string `json:"url"`
		Method      string `json:"method"`
		RefOpaqueID string `json:"ref_opaque_id"`
		RefName     string `json:"ref_name"`
	} `json:"hits"`
}

// waitCase polls the case about the fixture host until cond holds.
func (a *api) waitCase(what string, cond func(apiCase) bool) apiCase {
	a.h.t.Helper()
	var got apiCase
	a.h.eventually(what, 2*time.Minute, func() (bool, error) {
		var list []apiCase
		if code := a.do("GET", "/api/cases", nil, &list); code != http.StatusOK {
			return false, fmt.Errorf("GET /api/cases: HTTP %d", code)
		}
		for _, c := range list {
			if c.Target != a.h.siteHost {
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
