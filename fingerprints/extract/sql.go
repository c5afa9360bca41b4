package extract

import (
	"fmt"
	"strings"
)

// SQL dumps (mysqldump, pg_dump --inserts or COPY, sqlite .dump) are read
// with a small lexer: no SQL is executed or fully parsed. Recognised:
//
//	CREATE TABLE t (col type, ...)            column names for later INSERTs
//	INSERT [IGNORE] INTO t [(a, b)] VALUES (...), (...);
//	COPY t [(a, b)] FROM stdin; tab-separated lines up to \.
//
// Anything else is skipped to the next semicolon.

type sqlTokKind int

const (
	sqlEOF sqlTokKind = iota
	sqlWord
	sqlString
	sqlNumber
	sqlPunct
)

type sqlTok struct {
	kind sqlTokKind
	text string // decoded value for strings and quoted identifiers
}

type sqlLexer struct {
	s          string
	pos        int
	unterminal bool // a string or comment ran to the end of input
}

func (l *sqlLexer) next() sqlTok {
	s := l.s
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			l.pos++
		case c == '-' && strings.HasPrefix(s[l.pos:], "--"), c == '#':
			if i := strings.IndexByte(s[l.pos:], '\n'); i >= 0 {
				l.pos += i + 1
			} else {
				l.pos = len(s)
			}
		case c == '/' && strings.HasPrefix(s[l.pos:], "/*"):
			if i := strings.Index(s[l.pos+2:], "*/"); i >= 0 {
				l.pos += i + 4
			} else {
				l.pos = len(s)
				l.unterminal = true
			}
		case c == '\'':
			return sqlTok{sqlString, l.quoted('\'', true)}
		case c == '"' || c == '`':
			return sqlTok{sqlWord, l.quoted(c, false)}
		case c == '[':
			end := strings.IndexByte(s[l.pos:], ']')
			if end < 0 {
				l.pos = len(s)
				return sqlTok{kind: sqlEOF}
			}
			w := s[l.pos+1 : l.pos+end]
			l.pos += end + 1
			return sqlTok{sqlWord, w}
		case isSQLWordByte(c):
			start := l.pos
			for l.pos < len(s) && isSQLWordByte(s[l.pos]) {
				l.pos++
			}
			w := s[start:l.pos]
			// _binary'..', N'..', X'..', E'..' prefixes: the string follows.
			if l.pos < len(s) && s[l.pos] == '\'' {
				switch strings.ToLower(w) {
				case "_binary", "_utf8", "_utf8mb4", "_latin1", "n", "e", "b":
					return sqlTok{sqlString, l.quoted('\'', true)}
				case "x":
					return sqlTok{sqlString, l.quoted('\'', true)}
				}
			}
			if c >= '0' && c <= '9' {
				return sqlTok{sqlNumber, w}
			}
			return sqlTok{sqlWord, w}
		default:
			l.pos++
			return sqlTok{sqlPunct, string(c)}
		}
	}
	return sqlTok{kind: sqlEOF}
}

func isSQLWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '$' || c == '.' || c >= 0x80
}

// quoted reads a quoted string starting at l.pos. Doubled quotes escape the
// quote; with backslash set, MySQL-style \' \\ \n \t \r \0 escapes too.
func (l *sqlLexer) quoted(q byte, backslash bool) string {
	s := l.s
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case c == q:
			if l.pos+1 < len(s) && s[l.pos+1] == q {
				b.WriteByte(q)
				l.pos += 2
				continue
			}
			l.pos++
			return b.String()
		case c == '\\' && backslash && l.pos+1 < len(s):
			e := s[l.pos+1]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'Z':
				b.WriteByte(0x1a)
			default:
				b.WriteByte(e)
			}
			l.pos += 2
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	l.unterminal = true
	return b.String()
}

// skipStatement moves past the next top-level semicolon.
func (l *sqlLexer) skipStatement() {
	for {
		t := l.next()
		if t.kind == sqlEOF || t.kind == sqlPunct && t.text == ";" {
			return
		}
	}
}

func extractSQL(d *doc, data []byte) error {
	s, _ := decodeText(data)
	l := &sqlLexer{s: s}
	tables := map[string][]string{} // CREATE TABLE columns by table name
	statements := 0
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := d.err(); err != nil {
				return err
			}
			if d.full() && d.recordsFull {
				return nil
			}
		}
		t := l.next()
		if t.kind == sqlEOF {
			break
		}
		if t.kind != sqlWord {
			continue
		}
		switch strings.ToUpper(t.text) {
		case "INSERT", "REPLACE":
			if err := sqlInsert(d, l, tables); err != nil {
				d.warnf("sql statement %d: %v", statements+1, err)
				l.skipStatement()
			}
			statements++
		case "CREATE":
			sqlCreate(l, tables)
		case "COPY":
			if err := sqlCopy(d, l, tables); err != nil {
				d.warnf("sql statement %d: %v", statements+1, err)
			}
			statements++
		default:
			l.skipStatement()
		}
	}
	if l.unterminal {
		d.warnf("sql: unterminated string or comment at end of input")
	}
	if statements == 0 {
		return fmt.Errorf("no INSERT or COPY statements: %w", ErrCorrupt)
	}
	return nil
}

// sqlTableName reads a possibly qualified name (schema.table, `db`.`t`)
// and returns its last part, lower-cased.
func sqlTableName(l *sqlLexer) string {
	var name string
	for {
		save := l.pos
		t := l.next()
		if t.kind != sqlWord {
			l.pos = save
			break
		}
		name = t.text
		save = l.pos
		if nt := l.next(); nt.kind != sqlPunct || nt.text != "." {
			l.pos = save
			break
		}
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return strings.ToLower(name)
}

// sqlIdentList reads "(a, b, c)" after the opening parenthesis.
func sqlIdentList(l *sqlLexer) ([]string, error) {
	var cols []string
	for {
		t := l.next()
		switch {
		case t.kind == sqlEOF:
			return nil, fmt.Errorf("unterminated column list")
		case t.kind == sqlPunct && t.text == ")":
			return cols, nil
		case t.kind == sqlPunct && t.text == ",":
		case t.kind == sqlWord:
			cols = append(cols, t.text)
		default:
			return nil, fmt.Errorf("unexpected token in column list")
		}
		if len(cols) > 4096 {
			return nil, fmt.Errorf("more than 4096 columns")
		}
	}
}

// sqlTarget reads INSERT's or COPY's "table [(col, ...)]" and returns the
// columns (the listed ones, else those CREATE TABLE declared) and the
// token after it.
func sqlTarget(l *sqlLexer, tables map[string][]string) ([]string, sqlTok, error) {
	cols := tables[sqlTableName(l)]
	t := l.next()
	if t.kind == sqlPunct && t.text == "(" {
		list, err := sqlIdentList(l)
		if err != nil {
			return nil, t, err
		}
		cols, t = list, l.next()
	}
	return cols, t, nil
}

func sqlInsert(d *doc, l *sqlLexer, tables map[string][]string) error {
	t := l.next()
	for t.kind == sqlWord && !strings.EqualFold(t.text, "INTO") {
		t = l.next() // IGNORE, LOW_PRIORITY, ...
		if t.kind != sqlWord {
			return fmt.Errorf("INSERT without INTO")
		}
	}
	cols, t, err := sqlTarget(l, tables)
	if err != nil {
		return err
	}
	if t.kind != sqlWord || !(strings.EqualFold(t.text, "VALUES") || strings.EqualFold(t.text, "VALUE")) {
		return fmt.Errorf("INSERT without VALUES")
	}
	for {
		t = l.next()
		if t.kind == sqlPunct && t.text == "," {
			continue
		}
		if t.kind != sqlPunct || t.text != "(" {
			break
		}
		vals, err := sqlTuple(l)
		if err != nil {
			return err
		}
		d.writeRow(vals)
		c := cols
		if len(c) != len(vals) {
			c = nil
		}
		d.addRecord(c, vals)
		if err := d.err(); err != nil {
			return err
		}
	}
	if !(t.kind == sqlPunct && t.text == ";") && t.kind != sqlEOF {
		l.skipStatement() // ON DUPLICATE KEY UPDATE ... or RETURNING ...
	}
	return nil
}

// sqlTuple reads values up to the closing parenthesis. Expressions such as
// NOW() or -1 are kept as their source words.
func sqlTuple(l *sqlLexer) ([]string, error) {
	var vals []string
	var cur strings.Builder
	have := false
	depth := 0
	for {
		t := l.next()
		switch {
		case t.kind == sqlEOF:
			return nil, fmt.Errorf("unterminated VALUES tuple")
		case t.kind == sqlPunct && t.text == "(":
			depth++
			cur.WriteString("(")
		case t.kind == sqlPunct && t.text == ")":
			if depth == 0 {
				if have || len(vals) > 0 {
					vals = append(vals, cur.String())
				}
				return vals, nil
			}
			depth--
			cur.WriteString(")")
		case t.kind == sqlPunct && t.text == "," && depth == 0:
			vals = append(vals, cur.String())
			cur.Reset()
			have = false
		case t.kind == sqlWord && depth == 0 && strings.EqualFold(t.text, "NULL") && !have:
			have = true // NULL is the empty value
		default:
			cur.WriteString(t.text)
			have = true
		}
		if len(vals) > 4096 {
			return nil, fmt.Errorf("more than 4096 values in a tuple")
		}
	}
}

// sqlCreate remembers CREATE TABLE column names: the first word of each
// top-level definition that is not a constraint.
func sqlCreate(l *sqlLexer, tables map[string][]string) {
	t := l.next()
	for t.kind == sqlWord && (strings.EqualFold(t.text, "TEMPORARY") || strings.EqualFold(t.text, "UNLOGGED")) {
		t = l.next()
	}
	if t.kind != sqlWord || !strings.EqualFold(t.text, "TABLE") {
		l.skipStatement()
		return
	}
	save := l.pos
	for i := 0; i < 3; i++ { // IF NOT EXISTS
		t = l.next()
		if t.kind != sqlWord || !(strings.EqualFold(t.text, "IF") || strings.EqualFold(t.text, "NOT") || strings.EqualFold(t.text, "EXISTS")) {
			l.pos = save
			break
		}
		save = l.pos
	}
	table := sqlTableName(l)
	if t = l.next(); t.kind != sqlPunct || t.text != "(" {
		l.skipStatement()
		return
	}
	var cols []string
	depth, atStart := 0, true
	for {
		t = l.next()
		switch {
		case t.kind == sqlEOF:
			return
		case t.kind == sqlPunct && t.text == "(":
			depth++
		case t.kind == sqlPunct && t.text == ")":
			if depth == 0 {
				if table != "" && len(cols) > 0 {
					tables[table] = cols
				}
				l.skipStatement()
				return
			}
			depth--
		case t.kind == sqlPunct && t.text == "," && depth == 0:
			atStart = true
			continue
		case t.kind == sqlWord && atStart && depth == 0:
			switch strings.ToUpper(t.text) {
			case "PRIMARY", "KEY", "UNIQUE", "INDEX", "CONSTRAINT", "FOREIGN", "CHECK", "FULLTEXT", "SPATIAL", "EXCLUDE":
			default:
				if len(cols) < 4096 {
					cols = append(cols, t.text)
				}
			}
		}
		atStart = false
	}
}

// sqlCopy reads pg_dump's COPY ... FROM stdin data: tab-separated lines
// with backslash escapes and \N for NULL, ended by a line "\.".
func sqlCopy(d *doc, l *sqlLexer, tables map[string][]string) error {
	cols, t, err := sqlTarget(l, tables)
	if err != nil {
		return err
	}
	if t.kind != sqlWord || !strings.EqualFold(t.text, "FROM") {
		l.skipStatement()
		return nil
	}
	if t = l.next(); t.kind != sqlWord || !strings.EqualFold(t.text, "stdin") {
		l.skipStatement()
		return nil
	}
	l.skipStatement()
	// The data starts on the line after the semicolon.
	s := l.s
	if i := strings.IndexByte(s[l.pos:], '\n'); i >= 0 && strings.TrimSpace(s[l.pos:l.pos+i]) == "" {
		l.pos += i + 1
	}
	for n := 0; l.pos < len(s); n++ {
		if n%1024 == 0 {
			if err := d.err(); err != nil {
				return err
			}
		}
		end := strings.IndexByte(s[l.pos:], '\n')
		var line string
		if end < 0 {
			line, l.pos = s[l.pos:], len(s)
		} else {
			line, l.pos = s[l.pos:l.pos+end], l.pos+end+1
		}
		line = strings.TrimSuffix(line, "\r")
		if line == `\.` {
			return nil
		}
		fields := strings.Split(line, "\t")
		for i, f := range fields {
			fields[i] = unescapeCopy(f)
		}
		d.writeRow(fields)
		c := cols
		if len(c) != len(fields) {
			c = nil
		}
		d.addRecord(c, fields)
	}
	return fmt.Errorf("COPY data without terminating \\.")
}

func unescapeCopy(f string) string {
	if f == `\N` {
		return ""
	}
	if !strings.Contains(f, `\`) {
		return f
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '\\' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
