package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/config"
)

// unit parses a systemd unit file into section → key → values.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a unit line: %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnit: the shipped unit runs `leakwatch up` as an unprivileged
// user, restarts it after `up` gives up on a dying Temporal server (with a
// pause and a limit), reads secrets from an optional env file, sets only
// real settings, and passes systemd-analyze where systemd is installed.
func TestSystemdUnit(t *testing.T) {
	const path = "systemd/leakwatch.service"
	u := unit(t, path)
	one := func(section, key string) string {
		if v := u[section][key]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if exec := one("Service", "ExecStart"); !strings.Contains(exec, "leakwatch up") {
		t.Errorf("ExecStart %q does not run leakwatch up", exec)
	}
	if user := one("Service", "User"); user == "" || user == "root" {
		t.Errorf("runs as %q, want an unprivileged user", user)
	}
	if one("Service", "Restart") != "on-failure" || one("Service", "RestartSec") == "" {
		t.Error("no restart with a pause after up gives up")
	}
	if one("Unit", "StartLimitBurst") == "" || one("Unit", "StartLimitIntervalSec") == "" {
		t.Error("no start limit: a server that keeps dying would be restarted for ever")
	}
	if ef := one("Service", "EnvironmentFile"); !strings.HasPrefix(ef, "-/") {
		t.Errorf("EnvironmentFile %q, want an optional (-) absolute path", ef)
	}
	if one("Service", "NoNewPrivileges") != "yes" || one("Service", "ProtectSystem") != "strict" {
		t.Error("the service is not sandboxed (NoNewPrivileges, ProtectSystem=strict)")
	}
	settable := map[string]bool{}
	for _, f := range config.Fields() {
		settable[f.Env] = true
	}
	for _, env := range u["Service"]["Environment"] {
		k, _, _ := strings.Cut(env, "=")
		if strings.HasPrefix(k, config.EnvPrefix) && !settable[k] {
			t.Errorf("Environment sets %s, which is no leakwatch setting", k)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify checks the syntax and every directive; a missing binary
		// or user on this machine is expected, not an error in the unit.
		out, _ := exec.Command(sa, "verify", path).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "Unknown key") || strings.Contains(line, "Failed to parse") || strings.Contains(line, "Invalid") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	} else {
		t.Log("systemd-analyze not installed: unit syntax checked by this test only")
	}
}
