// Package notices drafts takedown notices that cite the injunction and sends
// them by SMTP. A notice lists where the data was found (URL, capture time,
// SHA-256) and never repeats any of the data itself.
package notices

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/leakwatch/leakwatch/config"
)

//go:embed templates/*
var templateFS embed.FS

// Item is one infringing URL in the notice's schedule.
type Item struct {
	URL        string
	CapturedAt time.Time
	SHA256     string
	Size       int64
}

// Data is everything a notice template may use.
type Data struct {
	Injunction config.InjunctionConfig
	CaseID     uint64
	Revision   int
	Target     string // host or channel
	Recipient  string
	DraftedAt  time.Time
	Deadline   time.Time // remove by
	Items      []Item
}

// Rendered is a notice ready to review and send.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Templates renders notices.
type Templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var funcs = map[string]any{
	"utc":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"add":    func(a, b int) int { return a + b },
	"indent": func(s string) string { return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") },
}

// Load parses the built-in templates.
func Load() (*Templates, error) {
	t, err := texttemplate.New("notice.txt").Funcs(funcs).ParseFS(templateFS, "templates/notice.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text notice template: %w", err)
	}
	h, err := htmltemplate.New("notice.html").Funcs(funcs).ParseFS(templateFS, "templates/notice.html")
	if err != nil {
		return nil, fmt.Errorf("parse html notice template: %w", err)
	}
	return &Templates{text: t, html: h}, nil
}

// Render drafts a notice. It refuses to draft without the injunction's
// essentials, since a notice that cites nothing has no force.
func (t *Templates) Render(d Data) (Rendered, error) {
	if missing := d.Injunction.Missing(); len(missing) > 0 {
		return Rendered{}, fmt.Errorf("render notice: injunction incomplete, set %s", strings.Join(missing, ", "))
	}
	if len(d.Items) == 0 {
		return Rendered{}, fmt.Errorf("render notice: no infringing items")
	}
	var tb, hb bytes.Buffer
	if err := t.text.Execute(&tb, d); err != nil {
		return Rendered{}, fmt.Errorf("render text notice: %w", err)
	}
	if err := t.html.Execute(&hb, d); err != nil {
		return Rendered{}, fmt.Errorf("render html notice: %w", err)
	}
	subject := fmt.Sprintf("Takedown notice: %s, %s (%s) - content at %s",
		d.Injunction.Court, d.Injunction.FileNumber, d.Injunction.DateOfOrders, d.Target)
	if d.Revision > 1 {
		subject += fmt.Sprintf(" [revision %d]", d.Revision)
	}
	return Rendered{Subject: subject, Text: tb.String(), HTML: hb.String()}, nil
}
