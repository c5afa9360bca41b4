package webcrawl

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/leakwatch/leakwatch/storage"
)

// ForSource applies a source's own settings (kind, selectors, allow and
// deny rules, proxy, workers, rate, file types, file size) over o.
func ForSource(o Options, src storage.Source) Options {
	so := src.Options
	o.Kind, o.Selectors, o.Allow, o.Deny = src.Kind, so.Selectors, so.Allow, so.Deny
	if so.Proxy != "" {
		o.Proxy = so.Proxy
	}
	if so.Workers > 0 {
		o.Workers = so.Workers
	}
	o.Rate, o.FileTypes = so.Rate, so.FileTypes
	if so.MaxFileBytes > 0 {
		o.MaxDownloadBytes = so.MaxFileBytes
	}
	return o
}

// SourceAuth reads a source's login password (from the environment or a
// file, never the database) and its cookies file, when it has them: a
// crawl, and a removal re-check, must see what a logged-in member sees.
func SourceAuth(src storage.Source) (*Login, []*http.Cookie, error) {
	var login *Login
	if l := src.Options.Login; l != nil && l.URL != "" {
		var pw string
		switch {
		case l.PasswordEnvIsOwn():
			// leakwatch's own secrets (the fingerprint key, the SMTP
			// password) are never sent to a site as a login password.
			return nil, nil, fmt.Errorf("source %s: login password_env %s names one of leakwatch's own settings; use another variable", src.Name, l.PasswordEnv)
		case l.PasswordEnv != "":
			pw = os.Getenv(l.PasswordEnv)
			if pw == "" {
				return nil, nil, fmt.Errorf("source %s: login password: environment variable %s is empty", src.Name, l.PasswordEnv)
			}
		case l.PasswordFile != "":
			b, err := os.ReadFile(l.PasswordFile)
			if err != nil {
				return nil, nil, fmt.Errorf("source %s: login password: %w", src.Name, err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		default:
			return nil, nil, fmt.Errorf("source %s: login has no password_env or password_file", src.Name)
		}
		login = &Login{URL: l.URL, UserField: l.UserField, PassField: l.PassField, User: l.User, Password: pw}
	}
	var cookies []*http.Cookie
	if p := src.Options.CookiesFile; p != "" {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: cookies: %w", src.Name, err)
		}
		defer f.Close()
		if cookies, err = ParseCookies(f); err != nil {
			return nil, nil, fmt.Errorf("source %s: cookies %s: %w", src.Name, p, err)
		}
	}
	return login, cookies, nil
}
