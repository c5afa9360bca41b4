package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load builds the configuration: Default, then the YAML file at path (skipped
// when path is ""), then LEAKWATCH_* environment overrides read through getenv
// (nil means none; see Fields for the names), then validation.
//
// A path that does not exist is an error (use FindDefault to look for an
// optional file). Unreadable files and YAML syntax errors are returned at
// once; everything else — unknown keys, values of the wrong type, bad
// environment values, failed validation — is collected and returned together
// as ValidationErrors, each naming the field's yaml path and where its value
// came from ("leakwatch.yaml:14" or "env LEAKWATCH_SMTP_PORT").
//
// Relative paths in the config (data_dir, order_pdf, …) are relative to the
// working directory, not to the config file, as in most daemons.
func Load(path string, getenv func(string) string, opts ...Option) (*Config, error) {
	cfg := Default()
	org := origins{}
	var errs ValidationErrors
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err) // the error names the file
		}
		fileErrs, err := decodeFile(path, data, cfg, org)
		if err != nil {
			return nil, err
		}
		errs = append(errs, fileErrs...)
	}
	if getenv != nil {
		errs = append(errs, applyEnv(cfg, getenv, org)...)
	}
	errs = append(errs, cfg.validate(newOptions(opts), org)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// FindDefault returns the path of DefaultFileName in dir if it is a regular
// file, else "". The CLI uses FindDefault(".") when --config is not given, so a
// missing default file is not an error while a missing explicit one is.
func FindDefault(dir string) string {
	p := filepath.Join(dir, DefaultFileName)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p
	}
	return ""
}

// yamlLineErr matches yaml.v3 syntax errors so we can print them as file:line.
var yamlLineErr = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

func syntaxError(file string, err error) error {
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: invalid YAML: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: invalid YAML: %w", file, err)
}

// decodeFile parses data into cfg, recording in org the line of every key.
// We walk yaml.Node ourselves instead of Unmarshal so that every error carries
// the field's path and line, and all of them are reported, not just the first.
func decodeFile(file string, data []byte, cfg *Config, org origins) (ValidationErrors, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file: all defaults
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", file, line)
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	d := &decoder{file: file, org: org}
	d.decodeStruct("", root, reflect.ValueOf(cfg).Elem())
	return d.errs, nil
}

type decoder struct {
	file string
	org  origins
	errs ValidationErrors
}

func (d *decoder) pos(n *yaml.Node) string { return fmt.Sprintf("%s:%d", d.file, n.Line) }

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Origin: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	default:
		return "this node"
	}
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	n = resolve(n)
	if isNull(n) {
		return // "log:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		what := "must"
		if path == "" {
			what = "the top level must"
		}
		d.fail(path, n, "%s be a mapping of keys to values, not %s", what, nodeKind(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "keys must be plain names, not %s", nodeKind(k))
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k, "duplicate key (first set at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.fail(p, k, "unknown key (valid keys here: %s)", strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		d.org[p] = d.pos(k)
		d.decodeValue(p, val, v.Field(idx))
	}
}

func (d *decoder) decodeValue(path string, n *yaml.Node, v reflect.Value) {
	n = resolve(n)
	switch {
	case isScalarType(v.Type()):
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "must be a single value, not %s", nodeKind(n))
			return
		}
		if isNull(n) {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if err := setScalar(v, n.Value); err != nil {
			d.fail(path, n, "%v", err)
		}
	case v.Kind() == reflect.Struct:
		d.decodeStruct(path, n, v)
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && isScalarType(v.Type().Elem()):
		d.decodeMap(path, n, v)
	case v.Kind() == reflect.Slice && (v.Type().Elem().Kind() == reflect.Struct || isScalarType(v.Type().Elem())):
		d.decodeList(path, n, v)
	default:
		// Only reachable if config.go gains a field type this decoder does not know.
		d.fail(path, n, "unsupported field type %s", v.Type())
	}
}

func (d *decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping, not %s", nodeKind(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "keys must be plain names, not %s", nodeKind(k))
			continue
		}
		p := mapKeyPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k, "duplicate key (first set at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.org[p] = d.pos(k)
		if val.Kind != yaml.ScalarNode {
			d.fail(p, val, "must be a single value, not %s", nodeKind(val))
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if !isNull(val) {
			if err := setScalar(elem, val.Value); err != nil {
				d.fail(p, val, "%v", err)
				continue
			}
		}
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	if m.Len() == 0 {
		m = reflect.Zero(v.Type())
	}
	v.Set(m)
}

func (d *decoder) decodeList(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "must be a list, not %s", nodeKind(n))
		return
	}
	// A list in the file replaces the default list rather than merging with it.
	s := reflect.Zero(v.Type())
	for i, item := range n.Content {
		p := indexPath(path, i)
		d.org[p] = d.pos(item)
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.Struct {
			d.decodeStruct(p, item, elem)
		} else {
			d.decodeValue(p, item, elem)
		}
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// structFields maps yaml key → field index for the exported fields of t.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok {
			m[name] = i
		}
	}
	return m
}

// yamlName is the key a field is written under, as yaml.v3 would choose it.
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

// fieldNames lists the yaml keys of t in declaration order, for error hints.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok {
			names = append(names, name)
		}
	}
	return names
}
