package config

import (
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// redactedMark replaces secrets in Redacted output.
const redactedMark = "REDACTED"

// Redacted returns a deep copy of c that is safe to log or show: the SMTP
// password is replaced by "REDACTED" (when set) and a password inside a
// PostgreSQL DSN by "xxxxx". password_file paths are kept; they are not secret.
func (c *Config) Redacted() *Config {
	r := *c
	r.Notices.Recipients = maps.Clone(c.Notices.Recipients)
	r.Sources = slices.Clone(c.Sources)
	r.Webhooks = slices.Clone(c.Webhooks)
	if r.SMTP.Password != "" {
		r.SMTP.Password = redactedMark
	}
	r.Database.DSN = redactDSN(r.Database.DSN)
	return &r
}

// redactDSN hides the password of a URL-form DSN; other forms carry none.
func redactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparseable: we cannot tell where a password would be, so hide it all.
		return redactedMark
	}
	return u.Redacted()
}

// String renders the redacted configuration as YAML, which Load accepts back.
// A value receiver, so fmt redacts both Config and *Config.
func (c Config) String() string {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return fmt.Sprintf("config: cannot render: %v", err)
	}
	return string(b)
}

// LogValue keeps slog (whose JSON handler would otherwise marshal the struct,
// password included) to the redacted form.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String describes the relay without the password, for logs.
func (s SMTPConfig) String() string {
	user := ""
	if s.Username != "" {
		user = s.Username + "@"
	}
	return fmt.Sprintf("smtp://%s%s:%d (tls=%s, from=%s)", user, s.Host, s.Port, s.TLS, s.From)
}

// String shows the DSN with any password hidden.
func (d DatabaseConfig) String() string { return redactDSN(d.DSN) }
