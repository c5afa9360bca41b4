package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment override: the yaml key path joined with
// "_" and upper-cased, e.g. smtp.port → LEAKWATCH_SMTP_PORT.
const EnvPrefix = "LEAKWATCH_"

// Field describes one configurable key.
type Field struct {
	// Path is the yaml key path; list elements appear as "sources[].name".
	Path string
	// Env is the environment variable that overrides the key, or "" when the
	// key can only be set in the file (maps, lists and anything inside lists).
	Env string
}

// Fields lists every leaf key of Config in declaration order. It is derived
// from the yaml tags, so it is always complete; the CLI can print it, and the
// tests use it to check leakwatch.example.yaml documents every key.
func Fields() []Field {
	var out []Field
	for _, l := range leaves(reflect.TypeFor[Config]()) {
		out = append(out, Field{Path: l.path, Env: l.env})
	}
	return out
}

// leaf is one settable key found by walking the Config type.
type leaf struct {
	path  string
	env   string // "" when YAML-only
	index []int  // field index from Config; nil inside lists
}

func leaves(t reflect.Type) []leaf {
	var out []leaf
	var walk func(t reflect.Type, path string, index []int, inList bool)
	walk = func(t reflect.Type, path string, index []int, inList bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := yamlName(f)
			if !ok {
				continue
			}
			p := joinPath(path, name)
			idx := append(append([]int(nil), index...), i)
			switch ft := f.Type; {
			case isScalarType(ft):
				l := leaf{path: p}
				if !inList {
					l.env = EnvPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_"))
					l.index = idx
				}
				out = append(out, l)
			case ft.Kind() == reflect.Struct:
				walk(ft, p, idx, inList)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]", nil, true)
			default: // maps: YAML-only
				out = append(out, leaf{path: p})
			}
		}
	}
	walk(t, "", nil, false)
	return out
}

// applyEnv sets every scalar field whose LEAKWATCH_* variable is non-empty.
// An empty variable counts as unset because getenv cannot tell the two apart.
func applyEnv(cfg *Config, getenv func(string) string, org origins) ValidationErrors {
	var errs ValidationErrors
	root := reflect.ValueOf(cfg).Elem()
	for _, l := range leaves(root.Type()) {
		if l.env == "" {
			continue
		}
		s := getenv(l.env)
		if s == "" {
			continue
		}
		origin := "env " + l.env
		if err := setScalar(root.FieldByIndex(l.index), s); err != nil {
			errs = append(errs, &FieldError{Path: l.path, Origin: origin, Msg: err.Error()})
			continue
		}
		org[l.path] = origin
	}
	return errs
}

var durationType = reflect.TypeFor[time.Duration]()

// isScalarType reports whether setScalar can set a value of type t.
func isScalarType(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// setScalar parses s into v. The same parser serves the file and the
// environment so that both accept exactly the same spellings.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("cannot parse %q as a duration (use Go syntax with h, m, s: 90s, 15m, 72h)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	// Underscores are allowed as digit separators: 10_485_760.
	num := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("cannot parse %q as a boolean (use true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(num, 10, v.Type().Bits())
		if err != nil {
			return numError(s, "an integer", err)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(num, 10, v.Type().Bits())
		if err != nil {
			return numError(s, "a non-negative integer", err)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(num, v.Type().Bits())
		if err != nil {
			return numError(s, "a number", err)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}

func numError(s, what string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range for %s", s, what)
	}
	return fmt.Errorf("cannot parse %q as %s", s, what)
}
