package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one configuration field.
type FieldError struct {
	// Path is the field's yaml key path, e.g. "smtp.port", "sources[1].url" or
	// `notices.recipients["leakforum.example"]`. Empty for whole-file problems.
	Path string
	// Origin says where the offending value was set: "leakwatch.yaml:14",
	// "env LEAKWATCH_SMTP_PORT", or "" for defaults and values set in code.
	Origin string
	// Msg describes the problem.
	Msg string
}

// Error formats the problem as "origin: path: msg", leaving out empty parts.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Origin != "" {
		b.WriteString(e.Origin)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationErrors is every problem Load or Validate found, in file order, then
// environment, then validation order. It is never returned empty.
type ValidationErrors []*FieldError

// Error lists the problems one per line.
func (es ValidationErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *FieldError values.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// origins maps a yaml key path to where its value was set ("file:line" or
// "env NAME"), so validation errors can point at the line to fix.
type origins map[string]string

// lookup returns the origin of path or, failing that, of its nearest recorded
// ancestor: a missing sources[1].url is reported at the sources[1] entry.
func (o origins) lookup(path string) string {
	for p := path; p != ""; p = parentPath(p) {
		if s, ok := o[p]; ok {
			return s
		}
	}
	return ""
}

// parentPath strips the last segment: "a.b" → "a", "a[1]" → "a", `a["x.y"]` → "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, `"]`) {
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	}
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// joinPath appends a key to a yaml path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath names a list element.
func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// mapKeyPath names a map entry; keys are quoted because hosts contain dots.
func mapKeyPath(path, key string) string { return fmt.Sprintf("%s[%q]", path, key) }
