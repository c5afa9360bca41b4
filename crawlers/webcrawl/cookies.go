package webcrawl

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseCookies reads a Netscape cookies.txt (what browser extensions and
// curl export): one cookie per line, seven tab-separated fields — domain,
// include-subdomains, path, secure, expiry (Unix seconds), name, value.
// Comments are skipped, except "#HttpOnly_", which prefixes a domain.
func ParseCookies(r io.Reader) ([]*http.Cookie, error) {
	var out []*http.Cookie
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("cookies line %d: want 7 tab-separated fields, got %d", n, len(f))
		}
		exp, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cookies line %d: expiry %q: %w", n, f[4], err)
		}
		c := &http.Cookie{Domain: strings.TrimPrefix(f[0], "."), Path: f[2], Secure: strings.EqualFold(f[3], "TRUE"),
			Name: f[5], Value: f[6], HttpOnly: httpOnly}
		if exp > 0 {
			c.Expires = time.Unix(exp, 0)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cookies: %w", err)
	}
	return out, nil
}
