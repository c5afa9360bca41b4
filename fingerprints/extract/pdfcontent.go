package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ledongthuc/pdf"
)

// Content streams are tokenized and interpreted here rather than by the
// library: its interpreter keeps every operand it meets and its text
// builder has no cap. This one keeps a bounded operand stack, reads at most
// maxPageContent decoded bytes per page and stops writing at the text cap.

const (
	maxPageContent = 32 << 20 // decoded content bytes per page (forms included)
	maxOperands    = 4096
	maxFormDepth   = 4
	maxFormsPage   = 64
)

var errContentBudget = errors.New("page content over budget")

// readPDFStream decodes a stream through the library, after checking the
// filters and predictor parameters it would otherwise trust or panic on.
// It returns what decoded before any error, cut at max bytes.
func readPDFStream(v pdf.Value, max int) ([]byte, error) {
	if v.Kind() != pdf.Stream {
		return nil, fmt.Errorf("not a stream")
	}
	if max <= 0 {
		return nil, errContentBudget
	}
	f := v.Key("Filter")
	var filters []string
	switch f.Kind() {
	case pdf.Null:
	case pdf.Name:
		filters = []string{f.Name()}
	case pdf.Array:
		if f.Len() > 8 {
			return nil, fmt.Errorf("%d filters", f.Len())
		}
		for i := 0; i < f.Len(); i++ {
			filters = append(filters, f.Index(i).Name())
		}
	default:
		return nil, fmt.Errorf("malformed /Filter")
	}
	for _, name := range filters {
		if name != "FlateDecode" && name != "ASCII85Decode" {
			return nil, fmt.Errorf("unsupported filter %q", clip(name, 32))
		}
	}
	params := v.Key("DecodeParms")
	checkParam := func(p pdf.Value) error {
		if p.Kind() != pdf.Dict {
			return nil
		}
		pred := p.Key("Predictor")
		if pred.Kind() != pdf.Null && pred.Int64() != 12 {
			return fmt.Errorf("unsupported predictor %d", pred.Int64())
		}
		if c := p.Key("Columns").Int64(); c < 0 || c > 1<<16 {
			return fmt.Errorf("predictor columns %d out of range", c)
		}
		return nil
	}
	if params.Kind() == pdf.Array {
		for i := 0; i < min(params.Len(), 8); i++ {
			if err := checkParam(params.Index(i)); err != nil {
				return nil, err
			}
		}
	} else if err := checkParam(params); err != nil {
		return nil, err
	}
	rc := v.Reader()
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(max)+1))
	if len(b) > max {
		return b[:max], errContentBudget
	}
	if err != nil {
		return b, fmt.Errorf("decode: %s", clip(err.Error(), 80))
	}
	return b, nil
}

// pdfText holds per-document state: the font cache and its budgets.
type pdfText struct {
	d           *doc
	fonts       map[string]*pdfFont
	fontsParsed int
	cmapBytes   int
}

func newPDFText(d *doc) *pdfText {
	return &pdfText{d: d, fonts: map[string]*pdfFont{}}
}

// page extracts one page's text in its own recover, so one bad page costs
// only itself. A pdfAbort (timeout, recursion) is passed up to stop the
// whole document.
func (x *pdfText) page(pg pdfPage) (text string, err error) {
	var out strings.Builder
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(pdfAbort); ok {
				panic(r)
			}
			text, err = out.String(), fmt.Errorf("%w: %s", ErrPanic, pdfPanicSummary(r))
		}
	}()
	budget := maxPageContent
	content, cerr := x.contents(pg.v.Key("Contents"), &budget)
	st := &pdfState{x: x, res: pg.res, out: &out, budget: &budget, hScale: 1}
	st.run(content, 0)
	if cerr != nil {
		return out.String(), cerr
	}
	return out.String(), nil
}

// contents reads a page's content stream or array of streams (a token may
// span the streams of an array, so they are joined).
func (x *pdfText) contents(v pdf.Value, budget *int) ([]byte, error) {
	switch v.Kind() {
	case pdf.Stream:
		b, err := readPDFStream(v, *budget)
		*budget -= len(b)
		return b, err
	case pdf.Array:
		var all []byte
		var firstErr error
		for i := 0; i < min(v.Len(), 256); i++ {
			b, err := readPDFStream(v.Index(i), *budget)
			*budget -= len(b)
			all = append(all, b...)
			all = append(all, '\n')
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if *budget <= 0 {
				break
			}
		}
		return all, firstErr
	}
	return nil, nil
}

// pdfState is the text state of one content stream run.
type pdfState struct {
	x      *pdfText
	res    pdf.Value
	out    *strings.Builder
	budget *int
	forms  int

	font                     *pdfFont
	fontSize                 float64
	tm, tlm                  [6]float64
	leading, charSp, wordSp  float64
	hScale                   float64
	lastX, lastY             float64
	haveLast                 bool
	sep                      byte // pending separator: 0, ' ' or '\n'
	operands                 []pdfOperand
	outCap                   int
	stoppedForCap, warnedCap bool
}

type pdfOperand struct {
	kind byte // 'n' number, 's' string, 'N' name, 'a' array, '[' and '<' markers, 'o' other
	num  float64
	str  []byte
	name string
	arr  []pdfOperand
}

// identity is the identity text matrix.
func identity() [6]float64 { return [6]float64{1, 0, 0, 1, 0, 0} }

func (st *pdfState) run(data []byte, depth int) {
	st.outCap = 4*st.x.d.lim.MaxText + 16
	st.tm, st.tlm = identity(), identity()
	lx := pdfLexer{data: data}
	for n := 0; ; n++ {
		if n&0x3fff == 0 && st.x.d.err() != nil {
			return
		}
		if st.out.Len() > st.outCap {
			return
		}
		tok := lx.next()
		switch tok.kind {
		case 0:
			return
		case 'n', 's', 'N':
			st.push(pdfOperand{kind: tok.kind, num: tok.num, str: tok.str, name: tok.name})
		case '[', '<':
			st.push(pdfOperand{kind: tok.kind})
		case ']':
			st.closeArray()
		case '>':
			st.closeDict()
		case 'k':
			st.op(tok.name, &lx, depth)
			st.operands = st.operands[:0]
		}
	}
}

func (st *pdfState) push(o pdfOperand) {
	if len(st.operands) >= maxOperands {
		st.operands = st.operands[:0] // hostile: drop rather than grow
	}
	st.operands = append(st.operands, o)
}

func (st *pdfState) closeArray() {
	for i := len(st.operands) - 1; i >= 0; i-- {
		if st.operands[i].kind == '[' {
			var items []pdfOperand
			for _, o := range st.operands[i+1:] {
				switch o.kind {
				case 'n', 's':
					items = append(items, o)
				case 'a':
					items = append(items, o.arr...)
				}
			}
			st.operands = append(st.operands[:i], pdfOperand{kind: 'a', arr: items})
			return
		}
	}
}

func (st *pdfState) closeDict() {
	for i := len(st.operands) - 1; i >= 0; i-- {
		if st.operands[i].kind == '<' {
			st.operands = append(st.operands[:i], pdfOperand{kind: 'o'})
			return
		}
	}
}

// num returns the k-th operand from the end as a number.
func (st *pdfState) num(fromEnd int) float64 {
	i := len(st.operands) - fromEnd
	if i < 0 || st.operands[i].kind != 'n' {
		return 0
	}
	return st.operands[i].num
}

func (st *pdfState) last() *pdfOperand {
	if len(st.operands) == 0 {
		return nil
	}
	return &st.operands[len(st.operands)-1]
}

func (st *pdfState) op(name string, lx *pdfLexer, depth int) {
	switch name {
	case "BT":
		st.tm, st.tlm = identity(), identity()
	case "Tf":
		if len(st.operands) >= 2 && st.operands[len(st.operands)-2].kind == 'N' {
			st.font = st.x.font(st.res, st.operands[len(st.operands)-2].name)
		}
		st.fontSize = st.num(1)
	case "Td":
		st.moveLine(st.num(2), st.num(1))
	case "TD":
		st.leading = -st.num(1)
		st.moveLine(st.num(2), st.num(1))
	case "Tm":
		if len(st.operands) >= 6 {
			for k := 0; k < 6; k++ {
				st.tlm[k] = st.num(6 - k)
			}
			st.tm = st.tlm
		}
	case "T*":
		st.moveLine(0, -st.leading)
	case "TL":
		st.leading = st.num(1)
	case "Tc":
		st.charSp = st.num(1)
	case "Tw":
		st.wordSp = st.num(1)
	case "Tz":
		st.hScale = st.num(1) / 100
	case "Tj":
		if o := st.last(); o != nil && o.kind == 's' {
			st.show(o.str)
		}
	case "'":
		st.moveLine(0, -st.leading)
		if o := st.last(); o != nil && o.kind == 's' {
			st.show(o.str)
		}
	case "\"":
		st.wordSp, st.charSp = st.num(3), st.num(2)
		st.moveLine(0, -st.leading)
		if o := st.last(); o != nil && o.kind == 's' {
			st.show(o.str)
		}
	case "TJ":
		if o := st.last(); o != nil && o.kind == 'a' {
			for _, it := range o.arr {
				if it.kind == 's' {
					st.show(it.str)
				} else {
					st.advance(-it.num / 1000 * st.fontSize * st.hScale)
				}
			}
		}
	case "Do":
		if o := st.last(); o != nil && o.kind == 'N' {
			st.form(o.name, depth)
		}
	case "ID":
		lx.skipInlineImage()
	}
}

// moveLine is Td: a new line offset from the start of the current one.
func (st *pdfState) moveLine(tx, ty float64) {
	m := st.tlm
	st.tlm[4] = tx*m[0] + ty*m[2] + m[4]
	st.tlm[5] = tx*m[1] + ty*m[3] + m[5]
	st.tm = st.tlm
}

func (st *pdfState) advance(tx float64) {
	if math.IsNaN(tx) || math.IsInf(tx, 0) {
		return
	}
	st.tm[4] += tx * st.tm[0]
	st.tm[5] += tx * st.tm[1]
}

// show decodes and writes one string, choosing a separator from where it
// starts relative to where the previous string ended: a line break when the
// baseline moved by half the font height, a space for a gap wider than a
// fifth of it.
func (st *pdfState) show(raw []byte) {
	f := st.font
	if f == nil {
		f = defaultPDFFont()
	}
	text, width, codes, spaces := f.decode(raw)
	x, y := st.tm[4], st.tm[5]
	if st.haveLast {
		h := math.Abs(st.fontSize) * math.Hypot(st.tm[2], st.tm[3])
		w := math.Abs(st.fontSize) * math.Hypot(st.tm[0], st.tm[1])
		if h == 0 {
			h = 1
		}
		if w == 0 {
			w = 1
		}
		dy, dx := math.Abs(y-st.lastY), x-st.lastX
		switch {
		case dy > 0.5*h:
			st.setSep('\n')
		case dx > 0.2*w || dx < -0.5*w:
			st.setSep(' ')
		}
	}
	if text != "" {
		if st.sep != 0 && st.out.Len() > 0 {
			s := st.out.String()
			if last := s[len(s)-1]; last != ' ' && last != '\n' && text[0] != ' ' {
				st.out.WriteByte(st.sep)
			} else if st.sep == '\n' && last == ' ' {
				st.out.WriteByte('\n')
			}
		}
		st.sep = 0
		st.out.WriteString(text)
	}
	tx := (width/1000*st.fontSize + float64(codes)*st.charSp + float64(spaces)*st.wordSp) * st.hScale
	st.advance(tx)
	st.lastX, st.lastY, st.haveLast = st.tm[4], st.tm[5], true
}

func (st *pdfState) setSep(c byte) {
	if st.sep != '\n' {
		st.sep = c
	}
}

// form runs a Form XObject's content with its own resources, within the
// page's content budget and a depth cap.
func (st *pdfState) form(name string, depth int) {
	if depth >= maxFormDepth || st.forms >= maxFormsPage {
		return
	}
	xo := st.res.Key("XObject").Key(name)
	if xo.Kind() != pdf.Stream || xo.Key("Subtype").Name() != "Form" {
		return
	}
	st.forms++
	b, err := readPDFStream(xo, *st.budget)
	*st.budget -= len(b)
	if err != nil && len(b) == 0 {
		return
	}
	res := xo.Key("Resources")
	if res.Kind() != pdf.Dict {
		res = st.res
	}
	sub := &pdfState{x: st.x, res: res, out: st.out, budget: st.budget, forms: st.forms, hScale: 1}
	st.setSep('\n')
	if st.out.Len() > 0 {
		st.out.WriteByte('\n')
	}
	sub.run(b, depth+1)
	st.forms = sub.forms
	st.haveLast = false
}

// pdfLexer tokenizes content streams and CMaps (PDF/PostScript syntax).
type pdfLexer struct {
	data []byte
	pos  int
}

type pdfToken struct {
	kind byte // 0 EOF, 'n' number, 's' string, 'N' name, 'k' keyword, '[' ']' '<' (dict open) '>' (dict close)
	num  float64
	str  []byte
	name string
}

func (lx *pdfLexer) next() pdfToken {
	d := lx.data
	for lx.pos < len(d) {
		c := d[lx.pos]
		switch {
		case pdfIsSpace(c):
			lx.pos++
		case c == '%':
			for lx.pos < len(d) && d[lx.pos] != '\n' && d[lx.pos] != '\r' {
				lx.pos++
			}
		case c == '(':
			return pdfToken{kind: 's', str: lx.literal()}
		case c == '<':
			if lx.pos+1 < len(d) && d[lx.pos+1] == '<' {
				lx.pos += 2
				return pdfToken{kind: '<'}
			}
			return pdfToken{kind: 's', str: lx.hex()}
		case c == '>':
			lx.pos++
			if lx.pos < len(d) && d[lx.pos] == '>' {
				lx.pos++
				return pdfToken{kind: '>'}
			}
		case c == '[' || c == ']':
			lx.pos++
			return pdfToken{kind: c}
		case c == '{' || c == '}' || c == ')':
			lx.pos++
		case c == '/':
			name, next := pdfReadName(d, lx.pos+1)
			lx.pos = next
			for lx.pos < len(d) && !pdfIsSpace(d[lx.pos]) && !pdfIsDelim(d[lx.pos]) {
				lx.pos++ // a name longer than pdfReadName keeps
			}
			return pdfToken{kind: 'N', name: name}
		default:
			start := lx.pos
			for lx.pos < len(d) && !pdfIsSpace(d[lx.pos]) && !pdfIsDelim(d[lx.pos]) {
				lx.pos++
			}
			if lx.pos == start {
				lx.pos++
				continue
			}
			word := d[start:lx.pos]
			if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' {
				v, err := strconv.ParseFloat(string(word), 64)
				if err != nil {
					v = 0
				}
				return pdfToken{kind: 'n', num: v}
			}
			if len(word) > 32 {
				word = word[:32]
			}
			return pdfToken{kind: 'k', name: string(word)}
		}
	}
	return pdfToken{}
}

// literal reads a (string) with nesting and escapes.
func (lx *pdfLexer) literal() []byte {
	d := lx.data
	lx.pos++
	var b []byte
	depth := 1
	for lx.pos < len(d) {
		c := d[lx.pos]
		lx.pos++
		switch c {
		case '(':
			depth++
			b = append(b, c)
		case ')':
			if depth--; depth == 0 {
				return b
			}
			b = append(b, c)
		case '\\':
			if lx.pos >= len(d) {
				return b
			}
			e := d[lx.pos]
			lx.pos++
			switch e {
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case '\r':
				if lx.pos < len(d) && d[lx.pos] == '\n' {
					lx.pos++
				}
			case '\n':
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for k := 0; k < 2 && lx.pos < len(d) && d[lx.pos] >= '0' && d[lx.pos] <= '7'; k++ {
					v = v*8 + int(d[lx.pos]-'0')
					lx.pos++
				}
				b = append(b, byte(v))
			default:
				b = append(b, e)
			}
		default:
			b = append(b, c)
		}
	}
	return b
}

// hex reads a <hex string>; an odd final digit counts as followed by 0.
func (lx *pdfLexer) hex() []byte {
	d := lx.data
	lx.pos++
	var b []byte
	var hi byte
	half := false
	for lx.pos < len(d) {
		c := d[lx.pos]
		lx.pos++
		if c == '>' {
			break
		}
		v, ok := hexVal(c)
		if !ok {
			continue
		}
		if half {
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		b = append(b, hi<<4)
	}
	return b
}

// skipInlineImage moves past the binary data of BI ... ID <data> EI: to an
// "EI" with white space before it and white space or the end after it.
func (lx *pdfLexer) skipInlineImage() {
	d := lx.data
	if lx.pos < len(d) && pdfIsSpace(d[lx.pos]) {
		lx.pos++
	}
	for lx.pos < len(d) {
		i := bytes.Index(d[lx.pos:], []byte("EI"))
		if i < 0 {
			lx.pos = len(d)
			return
		}
		at := lx.pos + i
		lx.pos = at + 2
		before := at == 0 || pdfIsSpace(d[at-1])
		after := at+2 == len(d) || pdfIsSpace(d[at+2])
		if before && after {
			return
		}
	}
}
