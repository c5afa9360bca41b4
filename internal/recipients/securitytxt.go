package recipients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxSecurityTxt bounds the body read; real files are a few hundred
	// bytes, and a larger answer is a catch-all page or hostile.
	maxSecurityTxt = 32 << 10
	// maxRedirects bounds the redirects followed per location.
	maxRedirects = 3
	// maxOtherContacts bounds the non-e-mail contacts carried in Detail.
	maxOtherContacts = 5
)

// securityTxtPaths are RFC 9116's location and, as a fallback, the legacy
// one at the root that older sites still use.
var securityTxtPaths = []string{"/.well-known/security.txt", "/security.txt"}

// securityTxt looks for t's security.txt, https before http, the
// well-known location before the legacy one, within one StepTimeout
// overall. A valid file without e-mail contacts ends the search (found,
// with its other contacts in the note).
func (r *Resolver) securityTxt(ctx context.Context, t site) stepResult {
	ctx, cancel := context.WithTimeout(ctx, r.stepTimeout())
	defer cancel()

	hc := *r.HTTPClient
	check := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		// A file on another host speaks for that host, not this one
		// (RFC 9116 §3); following it could send the notice to a
		// bystander the leak site chose.
		if !strings.EqualFold(req.URL.Hostname(), t.host) {
			return fmt.Errorf("redirected to another host (%s)", clean(req.URL.Host, 100))
		}
		if check != nil {
			return check(req, via)
		}
		return nil
	}

	var fails []string
	for _, u := range securityTxtURLs(t) {
		f, final, err := fetchSecurityTxt(ctx, &hc, u, time.Now())
		if err != nil {
			if ctx.Err() != nil {
				fails = append(fails, fmt.Sprintf("%s: gave up after %s", u, r.stepTimeout()))
				break
			}
			fails = append(fails, fmt.Sprintf("%s: %s", u, clean(err.Error(), 200)))
			continue
		}
		detail := final
		if len(f.other) > 0 {
			detail += "; other contacts: " + strings.Join(f.other, ", ")
		}
		if len(f.mailto) == 0 {
			return stepResult{note: "security.txt at " + detail + " lists no e-mail contact", found: true}
		}
		return stepResult{contacts: []Contact{{
			Addresses: f.mailto,
			Source:    SourceSecurityTxt,
			Role:      RoleHost,
			Detail:    detail,
		}}}
	}
	return stepResult{note: "security.txt: none usable (" + strings.Join(fails, "; ") + ")"}
}

// securityTxtURLs lists the locations to try, in order. With an explicit
// port the site's own port comes first, then the default ports.
func securityTxtURLs(t site) []string {
	var origins []string
	add := func(scheme string, withPort bool) {
		o := scheme + "://" + t.hostPort(withPort)
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	if t.port != "" {
		add("https", true)
		add("http", true)
	}
	add("https", false)
	add("http", false)
	var out []string
	for _, p := range securityTxtPaths {
		for _, o := range origins {
			out = append(out, o+p)
		}
	}
	return out
}

// fetchSecurityTxt gets and parses one location, returning the URL it
// finally came from.
func fetchSecurityTxt(ctx context.Context, hc *http.Client, u string, now time.Time) (securityTxt, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return securityTxt{}, "", err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the caller's note
		}
		return securityTxt{}, "", err
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	if resp.StatusCode != http.StatusOK {
		return securityTxt{}, final, fmt.Errorf("status %d", resp.StatusCode)
	}
	// RFC 9116 §3 requires text/plain; anything else declared is usually
	// a catch-all HTML page answering 200 for every path.
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return securityTxt{}, final, fmt.Errorf("content type %q, not text/plain", clean(ct, 60))
		}
	}
	if resp.ContentLength > maxSecurityTxt {
		return securityTxt{}, final, fmt.Errorf("declares %d bytes, more than %d", resp.ContentLength, maxSecurityTxt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSecurityTxt+1))
	if err != nil {
		return securityTxt{}, final, fmt.Errorf("read: %w", err)
	}
	if len(body) > maxSecurityTxt {
		return securityTxt{}, final, fmt.Errorf("larger than %d bytes", maxSecurityTxt)
	}
	f, err := parseSecurityTxt(body, now)
	return f, final, err
}

// securityTxt is what matters of a parsed file.
type securityTxt struct {
	mailto  []string  // addresses from mailto: Contact fields, in order
	other   []string  // other Contact values (https:, tel:), cleaned
	expires time.Time // zero when absent
}

// parseSecurityTxt parses an RFC 9116 file, signed (OpenPGP cleartext,
// signature not checked) or not. A file without any Contact field, or
// past its Expires, is an error: the former is not a security.txt, the
// latter must not be used (RFC 9116 §2.5.5).
func parseSecurityTxt(body []byte, now time.Time) (securityTxt, error) {
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return securityTxt{}, errors.New("not UTF-8 text")
	}
	text := strings.TrimPrefix(string(body), "\uFEFF")
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	lines = unwrapSigned(lines)

	var f securityTxt
	contacts := 0
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t") || value == "" {
			continue // not a field; RFC 9116 says to ignore what is not understood
		}
		switch strings.ToLower(name) {
		case "contact":
			contacts++
			if len(value) >= 7 && strings.EqualFold(value[:7], "mailto:") {
				for _, a := range parseAddresses(value) {
					if !slices.Contains(f.mailto, a) {
						f.mailto = append(f.mailto, a)
					}
				}
			} else if len(f.other) < maxOtherContacts {
				f.other = append(f.other, clean(value, 200))
			}
		case "expires":
			exp, err := time.Parse(time.RFC3339, value)
			if err != nil {
				continue // malformed: as if absent, like a missing Expires
			}
			// The field must appear once; if repeated, the earliest rules.
			if f.expires.IsZero() || exp.Before(f.expires) {
				f.expires = exp
			}
		}
	}
	if contacts == 0 {
		return securityTxt{}, errors.New("no Contact field")
	}
	if !f.expires.IsZero() && f.expires.Before(now) {
		return securityTxt{}, fmt.Errorf("expired on %s", f.expires.UTC().Format(time.DateOnly))
	}
	return f, nil
}

// unwrapSigned returns the signed text of an OpenPGP cleartext-signed
// message (RFC 4880 §7), dash-escaping undone, or lines unchanged.
func unwrapSigned(lines []string) []string {
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) != "" })
	if start < 0 || strings.TrimSpace(lines[start]) != "-----BEGIN PGP SIGNED MESSAGE-----" {
		return lines
	}
	i := start + 1
	for i < len(lines) && strings.TrimSpace(lines[i]) != "" { // armor headers (Hash: …)
		i++
	}
	var out []string
	for _, l := range lines[i:] {
		if strings.TrimSpace(l) == "-----BEGIN PGP SIGNATURE-----" {
			break
		}
		out = append(out, strings.TrimPrefix(l, "- "))
	}
	return out
}
