package synth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The rerendered-pdf class needs the lab's text. Rather than change the
// generator to keep it, LeakMix reads it back from the reference PDF's
// (uncompressed) content stream: the shown strings are exactly the lines
// buildPDF was given, and this also works for distractor labs.

var streamDictRe = regexp.MustCompile(`<<([^<>]*)>>\s*stream\r?\n`)
var lengthRe = regexp.MustCompile(`/Length (\d+)`)

// pdfContentStreams returns the uncompressed streams of a simple PDF
// written by buildPDF or renderPDF.
func pdfContentStreams(data []byte) ([][]byte, error) {
	var out [][]byte
	for _, loc := range streamDictRe.FindAllSubmatchIndex(data, -1) {
		dict := data[loc[2]:loc[3]]
		if bytes.Contains(dict, []byte("/Filter")) {
			return nil, errors.New("compressed PDF streams are not supported")
		}
		m := lengthRe.FindSubmatch(dict)
		if m == nil {
			return nil, errors.New("PDF stream without a direct /Length")
		}
		n, err := strconv.Atoi(string(m[1]))
		if err != nil || loc[1]+n > len(data) {
			return nil, fmt.Errorf("PDF stream /Length %s out of range", m[1])
		}
		out = append(out, data[loc[1]:loc[1]+n])
	}
	if len(out) == 0 {
		return nil, errors.New("no content stream in PDF")
	}
	return out, nil
}

// pdfTextLines returns the text lines a simple, uncompressed PDF shows:
// strings shown by Tj, TJ, ' and " are joined until a text-positioning
// operator (Td, TD, T*, Tm, ', ", BT, ET) starts a new line. Numbers inside
// TJ arrays (kerning) add nothing. A line is reported if any show operator
// ran, so blank lines written as "() Tj" come back as "". It understands
// the PDFs of this package; it is not a general PDF reader.
func pdfTextLines(data []byte) ([]string, error) {
	streams, err := pdfContentStreams(data)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, s := range streams {
		l, err := contentLines(s)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	return lines, nil
}

func contentLines(s []byte) ([]string, error) {
	var (
		lines   []string
		cur     strings.Builder
		shown   bool
		strs    []string // string operands since the last operator
		inArray bool
	)
	flush := func() {
		if shown {
			lines = append(lines, cur.String())
		}
		cur.Reset()
		shown = false
	}
	show := func() {
		for _, x := range strs {
			cur.WriteString(x)
		}
		shown = true
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c) || c == 0 || c == '\f':
			i++
		case c == '%':
			for i < len(s) && s[i] != '\n' && s[i] != '\r' {
				i++
			}
		case c == '(':
			str, n, err := pdfLiteral(s[i:])
			if err != nil {
				return nil, err
			}
			strs = append(strs, str)
			i += n
		case c == '<' && i+1 < len(s) && s[i+1] == '<':
			return nil, errors.New("dictionaries in content streams are not supported")
		case c == '<':
			end := bytes.IndexByte(s[i:], '>')
			if end < 0 {
				return nil, errors.New("unterminated hex string")
			}
			h := strings.Map(func(r rune) rune {
				if isSpace(byte(r)) {
					return -1
				}
				return r
			}, string(s[i+1:i+end]))
			if len(h)%2 == 1 {
				h += "0"
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("bad hex string: %w", err)
			}
			strs = append(strs, string(b))
			i += end + 1
		case c == '[':
			inArray = true
			i++
		case c == ']':
			inArray = false
			i++
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !bytes.ContainsRune([]byte("()<>[]/%"), rune(s[j])) {
				j++
			}
			if c == '/' { // a name operand
				j = i + 1
				for j < len(s) && !isSpace(s[j]) && !bytes.ContainsRune([]byte("()<>[]/%"), rune(s[j])) {
					j++
				}
				i = j
				continue
			}
			tok := string(s[i:j])
			i = j
			if tok == "" {
				return nil, fmt.Errorf("unexpected byte %q in content stream", c)
			}
			if _, err := strconv.ParseFloat(tok, 64); err == nil || inArray {
				continue // numeric operand (or kerning inside TJ)
			}
			switch tok {
			case "Tj", "TJ":
				show()
			case "'", "\"":
				flush()
				show()
			case "Td", "TD", "T*", "Tm", "BT", "ET":
				flush()
			}
			strs = strs[:0]
		}
	}
	flush()
	return lines, nil
}

// pdfLiteral decodes the literal string at the start of s, returning it and
// the number of bytes consumed.
func pdfLiteral(s []byte) (string, int, error) {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '(':
			if depth > 0 {
				b.WriteByte(c)
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				return b.String(), i + 1, nil
			}
			b.WriteByte(c)
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, errors.New("unterminated string escape")
			}
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '\n': // line continuation
			case '\r':
				if i+1 < len(s) && s[i+1] == '\n' {
					i++
				}
			default:
				if e >= '0' && e <= '7' {
					v, n := 0, 0
					for n < 3 && i < len(s) && s[i] >= '0' && s[i] <= '7' {
						v = v*8 + int(s[i]-'0')
						i++
						n++
					}
					i--
					b.WriteByte(byte(v))
				} else {
					b.WriteByte(e)
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated PDF string")
}

// pdfLayout is how renderPDF lays a lab report out.
type pdfLayout struct {
	pageW, pageH        int
	titleFont, bodyFont string
	titleSize, bodySize float64
	leading, marginX    float64
	mode                string
	created             time.Time
	producer            string
	shuffleObjects      bool
}

// rerenderModes say how text is written into the content stream.
var rerenderModes = []string{
	"lines",       // one Tj per line after T*
	"tj-runs",     // each line split into several Tj runs
	"tj-kerned",   // each line as a TJ array of fragments with small kerning
	"hex-tm",      // hex strings, each line placed with its own Tm
	"bt-per-line", // every line in its own BT … ET block with absolute Td
}

var pdfProducers = []string{
	"Synthetic Print-to-PDF 2.1", "Example Office Suite 7 (synthetic)", "Scan2File 4.0 (synthetic)",
	"Fictional PDF Writer 1.9",
}

// rerenderLayout picks a layout that differs from buildPDF's (Courier 9 pt
// on 13 pt leading): the body size is never 9.
func rerenderLayout(rng *rand.Rand, i int, orig time.Time) pdfLayout {
	l := pdfLayout{pageW: 595, pageH: 842}
	if rng.IntN(2) == 0 {
		l.pageW, l.pageH = 612, 792 // US Letter
	}
	l.bodyFont = pick(rng, []string{"Courier", "Courier", "Helvetica", "Times-Roman"})
	l.titleFont = pick(rng, []string{"Helvetica-Bold", "Times-Bold", "Courier-Bold"})
	l.bodySize = pick(rng, []float64{8, 8.5, 10, 10.5, 11})
	l.titleSize = pick(rng, []float64{12, 13, 15, 16})
	l.leading = l.bodySize + 2 + float64(rng.IntN(5))
	l.marginX = float64(36 + rng.IntN(37))
	l.mode = rerenderModes[i%len(rerenderModes)]
	l.created = orig.AddDate(0, 0, 1+rng.IntN(400)).Add(time.Duration(rng.IntN(86400)) * time.Second)
	l.producer = pick(rng, pdfProducers)
	l.shuffleObjects = rng.IntN(2) == 0
	return l
}

// pdfASCII maps s to the bytes a WinAnsi Type 1 font shows, like
// pdfString but without escaping (for hex strings).
func pdfASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x20 && r < 0x7f {
			return r
		}
		return '?'
	}, s)
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// splitRuns cuts s into pieces of 2–12 bytes whose concatenation is s.
func splitRuns(rng *rand.Rand, s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(2+rng.IntN(11), len(s))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// renderPDF writes a single-page PDF showing title and lines under layout
// l. Like buildPDF its content stream is uncompressed, so the text can be
// read back; unlike buildPDF the stream's structure and the page geometry
// vary.
func renderPDF(rng *rand.Rand, title string, lines []string, l pdfLayout) []byte {
	var cs strings.Builder
	top := float64(l.pageH) - 52
	first := top - l.titleSize - 8
	lit := func(s string) string { return "(" + pdfString(s) + ")" }
	switch l.mode {
	case "hex-tm":
		fmt.Fprintf(&cs, "BT\n/F2 %s Tf\n1 0 0 1 %s %s Tm\n<%X> Tj\n/F1 %s Tf\n", fmtNum(l.titleSize), fmtNum(l.marginX), fmtNum(top),
			pdfASCII(title), fmtNum(l.bodySize))
		for k, line := range lines {
			if line == "" {
				continue
			}
			fmt.Fprintf(&cs, "1 0 0 1 %s %s Tm\n<%X> Tj\n", fmtNum(l.marginX), fmtNum(first-float64(k)*l.leading), pdfASCII(line))
		}
		cs.WriteString("ET\n")
	case "bt-per-line":
		fmt.Fprintf(&cs, "BT\n/F2 %s Tf\n%s %s Td\n%s Tj\nET\n", fmtNum(l.titleSize), fmtNum(l.marginX), fmtNum(top), lit(title))
		for k, line := range lines {
			if line == "" {
				continue
			}
			fmt.Fprintf(&cs, "BT\n/F1 %s Tf\n%s %s Td\n%s Tj\nET\n", fmtNum(l.bodySize), fmtNum(l.marginX), fmtNum(first-float64(k)*l.leading), lit(line))
		}
	default:
		fmt.Fprintf(&cs, "BT\n/F2 %s Tf\n%s %s Td\n", fmtNum(l.titleSize), fmtNum(l.marginX), fmtNum(top))
		writeShown(&cs, rng, l.mode, title)
		fmt.Fprintf(&cs, "/F1 %s Tf\n%s TL\n0 %s Td\n", fmtNum(l.bodySize), fmtNum(l.leading), fmtNum(-(l.titleSize + 8)))
		for k, line := range lines {
			if k > 0 {
				cs.WriteString("T*\n")
			}
			if line != "" {
				writeShown(&cs, rng, l.mode, line)
			}
		}
		cs.WriteString("ET\n")
	}
	content := cs.String()

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
			l.pageW, l.pageH),
		fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>", l.bodyFont),
		fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>", l.titleFont),
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content),
		fmt.Sprintf("<< /Title (%s) /Producer (%s) /CreationDate (D:%sZ) /ModDate (D:%sZ) >>", pdfString(title), pdfString(l.producer),
			l.created.UTC().Format("20060102150405"), l.created.UTC().Format("20060102150405")),
	}
	order := make([]int, len(objects))
	for k := range order {
		order[k] = k
	}
	if l.shuffleObjects {
		// Writers differ in object order; the xref table still lists
		// objects by number.
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}

	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for _, k := range order {
		offsets[k] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", k+1, objects[k])
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	id := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n",
		len(objects)+1, len(objects), id, id, xref)
	return out.Bytes()
}

// writeShown writes one line's show operators for the T*-based modes.
func writeShown(b *strings.Builder, rng *rand.Rand, mode, s string) {
	switch mode {
	case "tj-runs":
		for _, r := range splitRuns(rng, s) {
			fmt.Fprintf(b, "(%s) Tj ", pdfString(r))
		}
		b.WriteString("\n")
	case "tj-kerned":
		b.WriteString("[")
		for k, r := range splitRuns(rng, s) {
			if k > 0 {
				fmt.Fprintf(b, " %d ", -(rng.IntN(4))) // thousandths of an em: invisible
			}
			fmt.Fprintf(b, "(%s)", pdfString(r))
		}
		b.WriteString("] TJ\n")
	default:
		fmt.Fprintf(b, "(%s) Tj\n", pdfString(s))
	}
}

var creationDateRe = regexp.MustCompile(`/CreationDate \(D:(\d{14})`)

// rerenderLab rebuilds a lab PDF with the same text and a new layout.
func rerenderLab(rng *rand.Rand, i int, orig []byte) ([]byte, string, error) {
	lines, err := pdfTextLines(orig)
	if err != nil {
		return nil, "", fmt.Errorf("read lab text: %w", err)
	}
	if len(lines) < 2 {
		return nil, "", errors.New("lab PDF shows too little text")
	}
	created := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	if m := creationDateRe.FindSubmatch(orig); m != nil {
		if t, err := time.Parse("20060102150405", string(m[1])); err == nil {
			created = t
		}
	}
	l := rerenderLayout(rng, i, created)
	out := renderPDF(rng, lines[0], lines[1:], l)
	if bytes.Equal(out, orig) {
		return nil, "", errors.New("rerendered PDF equals the original")
	}
	return out, l.mode, nil
}

func (m *mixer) rerenderItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	data, variant, err := rerenderLab(rng, i, m.files[src.RelPath])
	return LeakItem{Name: postedName(rng, ".pdf"), Data: data, Variant: variant}, err
}
