package webcrawl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/PuerkitoBio/goquery"
)

// Login is how to log in to a site whose content is behind a login wall.
// The credentials are used for the login request only, which is never
// recorded as evidence.
type Login struct {
	// URL is the page with the login form.
	URL string
	// UserField and PassField name the form's fields; defaults "username"
	// and "password". Other fields of the form (hidden tokens) are sent as
	// the page gave them.
	UserField, PassField string
	User, Password       string
}

// errLoginWall: the site answered with its login page instead of what was
// asked for.
var errLoginWall = errors.New("session expired: the site answered with its login page")

// loginish is what a login page's URL looks like, for sites with no login
// configured.
var loginish = regexp.MustCompile(`(?i)(log-?in|sign-?in|/auth\b|mode=login|/account/enter)`)

// loginState serialises logins: when several fetches hit the wall at once,
// one logs in again and the others retry with its session.
type loginState struct {
	mu  sync.Mutex
	gen int // bumped by each successful login
}

func (f *fetcher) canLogin() bool { return f.opts.Login != nil && f.opts.Login.URL != "" }

// atWall reports whether a response is the site's login page rather than
// what was asked for: a redirect to the configured login page (or, with
// none configured, to a login-looking URL), or a 401.
func (f *fetcher) atWall(asked string, resp *http.Response) bool {
	final := resp.Request.URL
	if resp.StatusCode == http.StatusUnauthorized {
		return true
	}
	if final.String() == asked {
		return false
	}
	if f.canLogin() {
		lu, err := url.Parse(f.opts.Login.URL)
		return err == nil && lu.Path == final.Path
	}
	return loginish.MatchString(final.Path + "?" + final.RawQuery)
}

// login logs in through the site's form: it reads the form (for its action
// and hidden fields), posts it with the credentials, and checks the site no
// longer answers with a password field.
func (f *fetcher) login(ctx context.Context) error {
	l := f.opts.Login
	userField, passField := l.UserField, l.PassField
	if userField == "" {
		userField = "username"
	}
	if passField == "" {
		passField = "password"
	}
	form, action, err := f.loginForm(ctx, l.URL, passField)
	if err != nil {
		return fmt.Errorf("login at %s: %w", l.URL, err)
	}
	form.Set(userField, l.User)
	form.Set(passField, l.Password)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("login at %s: %w", l.URL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("login at %s: %w", l.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 || hasPasswordField(body) {
		// Never quote the page: it may echo what was sent.
		return fmt.Errorf("login at %s refused (HTTP %d): check the source's credentials", l.URL, resp.StatusCode)
	}
	return nil
}

// loginForm returns the fields of the form holding passField and where it
// posts.
func (f *fetcher) loginForm(ctx context.Context, pageURL, passField string) (url.Values, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	form := doc.Find("form").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return s.Find(`input[type="password"]`).Length() > 0 || s.Find(fmt.Sprintf(`input[name=%q]`, passField)).Length() > 0
	}).First()
	if form.Length() == 0 {
		return nil, "", errors.New("no login form on the page")
	}
	vals := url.Values{}
	form.Find("input[name]").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		if t, _ := in.Attr("type"); strings.EqualFold(t, "submit") || strings.EqualFold(t, "password") {
			return
		}
		v, _ := in.Attr("value")
		vals.Set(name, v)
	})
	action, _ := form.Attr("action")
	au, err := resp.Request.URL.Parse(action)
	if err != nil {
		return nil, "", fmt.Errorf("login form action %q: %w", action, err)
	}
	if au.Hostname() != f.host {
		return nil, "", fmt.Errorf("login form posts to another host (%s); not sending credentials there", au.Hostname())
	}
	return vals, au.String(), nil
}

var passwordInput = regexp.MustCompile(`(?i)<input[^>]+type\s*=\s*["']?password`)

func hasPasswordField(body []byte) bool { return passwordInput.Match(body) }

// relogin logs in again after a fetch that began under session gen hit
// the wall, unless another fetch already did; it returns the session to
// retry under.
func (f *fetcher) relogin(ctx context.Context, gen int) (int, error) {
	f.logins.mu.Lock()
	defer f.logins.mu.Unlock()
	if f.logins.gen != gen {
		return f.logins.gen, nil
	}
	if err := f.login(ctx); err != nil {
		return gen, err
	}
	f.logins.gen++
	return f.logins.gen, nil
}

func (f *fetcher) session() int {
	f.logins.mu.Lock()
	defer f.logins.mu.Unlock()
	return f.logins.gen
}
