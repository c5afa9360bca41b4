package extract

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Tabular formats write each row to Text as tab-separated fields, so the
// same rows give the same text whether they came as CSV, TSV, XLSX or SQL.

func (d *doc) writeRow(vals []string) {
	if d.full() {
		return
	}
	d.write(strings.Join(vals, "\t"))
	d.write("\n")
}

// extractCSV detects the delimiter (comma, semicolon, tab, pipe) and reads
// rows with encoding/csv, tolerating stray quotes and ragged rows.
func extractCSV(d *doc, data []byte) error {
	s, enc := decodeText(data)
	if enc != "utf-8" {
		d.warnf("csv: decoded as %s", enc)
	}
	const probe = 64 << 10
	delim := sniffDelimiter(s[:min(len(s), probe)], len(s) <= probe)
	if delim == 0 {
		delim = ','
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delim
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	var header []string
	first := true
	parseErrors := 0
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := d.err(); err != nil {
				return err
			}
		}
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && parseErrors < 100 {
				parseErrors++
				d.warnf("csv line %d: %v", pe.Line, pe.Err)
				continue
			}
			return fmt.Errorf("csv: %w", err)
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue
		}
		d.writeRow(row)
		if first {
			first = false
			if looksHeader(row) {
				header = row
				continue
			}
		}
		d.addRecord(header, row)
		if d.full() && d.recordsFull {
			break
		}
	}
	return nil
}

// looksHeader: every field non-empty, distinct, short, and not a number, an
// e-mail address or a date.
func looksHeader(row []string) bool {
	if len(row) < 2 {
		return false
	}
	seen := make(map[string]bool, len(row))
	for _, f := range row {
		f = strings.TrimSpace(f)
		if f == "" || len(f) > 64 || seen[f] || strings.ContainsAny(f, "@/") {
			return false
		}
		if _, err := strconv.ParseFloat(f, 64); err == nil {
			return false
		}
		seen[f] = true
	}
	return true
}

// maxJSONDepth bounds nesting. encoding/json's Token API has no depth limit
// of its own, and the walker recurses.
const maxJSONDepth = 512

// extractJSON walks the token stream without building the document in
// memory: objects that are elements of an array (or NDJSON lines) become
// records with flattened keys ("a.b", "list.0"), and every string value is
// a line of text.
func extractJSON(d *doc, data []byte) error {
	s, _ := decodeText(data)
	w := &jsonWalker{d: d, dec: json.NewDecoder(strings.NewReader(s)), ndjson: looksNDJSON(s)}
	w.dec.UseNumber()
	for top := 0; ; top++ {
		tok, err := w.dec.Token()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = w.value(tok, "", nil, 0, w.ndjson)
		}
		if err != nil {
			if top == 0 && d.text.Len() == 0 && len(d.records) == 0 {
				return fmt.Errorf("json: %w", err)
			}
			d.warnf("json: %v", err)
			return nil
		}
	}
}

// looksNDJSON: the first two non-empty lines are each a complete object.
func looksNDJSON(s string) bool {
	found := 0
	for s != "" && found < 2 {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) {
			return false
		}
		found++
	}
	return found == 2
}

type jsonWalker struct {
	d       *doc
	dec     *json.Decoder
	ndjson  bool
	lastCol []string // shared Columns of the previous record
	n       int
}

type jsonRecord struct {
	cols, vals []string
}

func (w *jsonWalker) value(tok json.Token, key string, rec *jsonRecord, depth int, isElem bool) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nesting deeper than %d: %w", maxJSONDepth, ErrCorrupt)
	}
	if w.n++; w.n%4096 == 0 {
		if err := w.d.err(); err != nil {
			return err
		}
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			own := rec == nil && isElem
			if own {
				rec = &jsonRecord{}
				key = "" // a record's columns start at its own keys
			}
			for w.dec.More() {
				kt, err := w.dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				vt, err := w.dec.Token()
				if err != nil {
					return err
				}
				if err := w.value(vt, joinKey(key, k, rec != nil), rec, depth+1, false); err != nil {
					return err
				}
			}
			if _, err := w.dec.Token(); err != nil { // '}'
				return err
			}
			if own && len(rec.vals) > 0 && !w.d.recordsFull {
				cols := rec.cols
				if slices.Equal(cols, w.lastCol) {
					cols = w.lastCol
				}
				w.lastCol = cols
				w.d.addRecord(cols, rec.vals)
			}
		case '[':
			for i := 0; w.dec.More(); i++ {
				et, err := w.dec.Token()
				if err != nil {
					return err
				}
				elemKey := key
				if rec != nil {
					elemKey = joinKey(key, strconv.Itoa(i), true)
				}
				if err := w.value(et, elemKey, rec, depth+1, rec == nil); err != nil {
					return err
				}
			}
			if _, err := w.dec.Token(); err != nil { // ']'
				return err
			}
		}
	case string:
		w.d.write(t)
		w.d.write("\n")
		rec.add(key, t)
	case json.Number:
		rec.add(key, t.String())
	case bool:
		rec.add(key, strconv.FormatBool(t))
	case nil:
		rec.add(key, "")
	}
	return nil
}

func joinKey(prefix, k string, inRecord bool) string {
	if !inRecord || prefix == "" {
		return k
	}
	return prefix + "." + k
}

func (r *jsonRecord) add(key, val string) {
	if r == nil {
		return
	}
	r.cols = append(r.cols, key)
	r.vals = append(r.vals, val)
}
