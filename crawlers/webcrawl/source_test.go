package webcrawl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/storage"
)

// A source's password comes from the environment or a file at crawl time;
// a missing one is a clear, permanent error, and cookies are parsed.
func TestSourceAuth(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	cookies := filepath.Join(dir, "cookies.txt")
	os.WriteFile(cookies, []byte("leaks.example\tFALSE\t/\tFALSE\t0\tsid\tv\n"), 0o600)
	t.Setenv("LW_TEST_PW", "from-env")

	src := storage.Source{Name: "f", Options: storage.SourceOptions{
		Login:       &storage.SourceLogin{URL: "http://leaks.example/login", User: "u", PasswordEnv: "LW_TEST_PW"},
		CookiesFile: cookies,
	}}
	l, cs, err := webcrawl.SourceAuth(src)
	if err != nil || l.Password != "from-env" || l.User != "u" || len(cs) != 1 || cs[0].Name != "sid" {
		t.Fatalf("env: %+v %v %v", l, cs, err)
	}
	src.Options.Login.PasswordEnv, src.Options.Login.PasswordFile = "", pwFile
	if l, _, err := webcrawl.SourceAuth(src); err != nil || l.Password != "from-file" {
		t.Fatalf("file: %+v %v", l, err)
	}
	src.Options.Login.PasswordFile, src.Options.Login.PasswordEnv = "", "LW_TEST_UNSET"
	if _, _, err := webcrawl.SourceAuth(src); err == nil || !strings.Contains(err.Error(), "LW_TEST_UNSET is empty") {
		t.Fatalf("unset env: %v", err)
	}
	src.Options.Login.PasswordEnv = "LEAKWATCH_FINGERPRINT_KEY"
	t.Setenv("LEAKWATCH_FINGERPRINT_KEY", "secret")
	if l, _, err := webcrawl.SourceAuth(src); err == nil || l != nil {
		t.Fatalf("a login may not send leakwatch's own secret: %+v %v", l, err)
	}
	src.Options.Login, src.Options.CookiesFile = nil, filepath.Join(dir, "missing")
	if _, _, err := webcrawl.SourceAuth(src); err == nil || !strings.Contains(err.Error(), "cookies") {
		t.Fatalf("missing cookies file: %v", err)
	}
}
