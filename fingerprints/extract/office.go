package extract

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
	"golang.org/x/net/html/charset"
)

// maxEmbeddedImageBytes caps one embedded image's compressed bytes.
const maxEmbeddedImageBytes = 64 << 20

// xmlTextRules says how an XML vocabulary's elements map to plain text.
// Names are local names (namespace prefixes are ignored).
type xmlTextRules struct {
	text  map[string]bool // character data inside these is text (nil: everywhere)
	block map[string]bool // a newline after these
	tab   map[string]bool // a tab for these (empty elements)
	br    map[string]bool // a newline for these (empty elements)
	skip  map[string]bool // drop everything inside these
	space string          // element whose attribute c (default 1) gives a run of spaces
}

func wordRules() xmlTextRules {
	return xmlTextRules{
		text:  set("t"),
		block: set("p", "tr"),
		tab:   set("tab", "ptab"),
		br:    set("br", "cr"),
		skip:  set("delText", "instrText", "rPr", "pPr"),
	}
}

func slideRules() xmlTextRules {
	return xmlTextRules{
		text:  set("t"),
		block: set("p"),
		tab:   set("tab"),
		br:    set("br"),
	}
}

func odfRules() xmlTextRules {
	return xmlTextRules{
		text:  set("p", "h", "span", "a", "list-item", "note-body", "ruby-base"),
		block: set("p", "h", "table-row"),
		tab:   set("tab"),
		br:    set("line-break"),
		skip:  set("note-citation", "tracked-changes", "annotation"),
		space: "s",
	}
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// newXMLDecoder returns a non-validating decoder that never fetches or
// expands anything: encoding/xml knows only the five predefined entities and
// numeric references, so "billion laughs" entity definitions are inert
// (Strict mode rejects the undefined reference).
func newXMLDecoder(r io.Reader) *xml.Decoder {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	dec.CharsetReader = charset.NewReaderLabel
	return dec
}

// xmlText streams one XML part into d's text by rules.
func xmlText(d *doc, r io.Reader, rules xmlTextRules) error {
	dec := newXMLDecoder(r)
	inText, skipDepth, depth := 0, 0, 0
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := d.err(); err != nil {
				return err
			}
			if d.full() {
				return nil
			}
		}
		tok, err := dec.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			name := t.Name.Local
			if skipDepth > 0 || rules.skip[name] {
				if skipDepth == 0 {
					skipDepth = depth
				}
				continue
			}
			switch {
			case rules.tab[name]:
				d.write("\t")
			case rules.br[name]:
				d.write("\n")
			case rules.space != "" && name == rules.space:
				c := 1
				for _, a := range t.Attr {
					if a.Name.Local == "c" {
						if v, err := strconv.Atoi(a.Value); err == nil {
							c = max(1, min(v, 64))
						}
					}
				}
				d.write(strings.Repeat(" ", c))
			}
			if rules.text == nil || rules.text[name] {
				inText++
			}
		case xml.EndElement:
			name := t.Name.Local
			if skipDepth > 0 {
				if depth == skipDepth {
					skipDepth = 0
				}
				depth--
				continue
			}
			depth--
			if (rules.text == nil || rules.text[name]) && inText > 0 {
				inText--
			}
			if rules.block[name] {
				d.newline()
			}
		case xml.CharData:
			if skipDepth == 0 && (inText > 0 || rules.text == nil) {
				d.write(string(t))
			}
		}
	}
}

// ooxmlTextParts lists the parts of a DOCX or PPTX that carry text, in
// reading order: the body (slides by number), then headers, footers and
// notes.
func ooxmlTextParts(zr *zip.Reader, t Type) []*zip.File {
	var main []*zip.File
	var rest []*zip.File
	for _, f := range zr.File {
		name := f.Name
		switch t {
		case TypeDOCX:
			switch {
			case name == "word/document.xml":
				main = append(main, f)
			case strings.HasPrefix(name, "word/") && !strings.Contains(name[5:], "/") &&
				strings.HasSuffix(name, ".xml") &&
				(strings.HasPrefix(name, "word/header") || strings.HasPrefix(name, "word/footer") ||
					name == "word/footnotes.xml" || name == "word/endnotes.xml"):
				rest = append(rest, f)
			}
		case TypePPTX:
			switch {
			case strings.HasPrefix(name, "ppt/slides/slide") && strings.HasSuffix(name, ".xml"):
				main = append(main, f)
			case strings.HasPrefix(name, "ppt/notesSlides/notesSlide") && strings.HasSuffix(name, ".xml"):
				rest = append(rest, f)
			}
		}
	}
	byNumber := func(fs []*zip.File) {
		sort.SliceStable(fs, func(i, j int) bool { return naturalLess(fs[i].Name, fs[j].Name) })
	}
	byNumber(main)
	byNumber(rest)
	return append(main, rest...)
}

// naturalLess orders "slide2.xml" before "slide10.xml".
func naturalLess(a, b string) bool {
	na, pa := trailingNumber(a)
	nb, pb := trailingNumber(b)
	if pa == pb && na >= 0 && nb >= 0 {
		return na < nb
	}
	return a < b
}

func trailingNumber(name string) (int, string) {
	base := strings.TrimSuffix(name, path.Ext(name))
	i := len(base)
	for i > 0 && base[i-1] >= '0' && base[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(base[i:])
	if err != nil || i == len(base) {
		return -1, base
	}
	return n, base[:i]
}

// extractOOXMLText handles DOCX and PPTX: text from the XML parts, images
// from the media folder.
func extractOOXMLText(d *doc, data []byte) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	parts := ooxmlTextParts(zr, d.t)
	if len(parts) == 0 {
		return fmt.Errorf("no %s text part: %w", d.t, ErrCorrupt)
	}
	rules := wordRules()
	if d.t == TypePPTX {
		rules = slideRules()
	}
	limit := d.memberCap(len(data))
	for i, f := range parts {
		if err := d.err(); err != nil {
			return err
		}
		err := zipXMLText(d, f, limit, rules)
		switch {
		case err == nil:
		case i == 0 && d.text.Len() == 0:
			// The main part failing with nothing read is fatal.
			return fmt.Errorf("%s: %w", f.Name, err)
		default:
			d.warnf("%s: %v", clip(f.Name, 80), err)
		}
		d.newline()
	}
	mediaDir := map[Type]string{TypeDOCX: "word/media/", TypePPTX: "ppt/media/"}[d.t]
	extractZipImages(d, zr, mediaDir)
	return nil
}

func zipXMLText(d *doc, f *zip.File, limit int64, rules xmlTextRules) error {
	rc, err := openZipMember(f, limit)
	if err != nil {
		return err
	}
	defer rc.Close()
	return xmlText(d, rc, rules)
}

// extractZipImages decodes raster images under dir (vector formats such as
// EMF and SVG are skipped quietly).
func extractZipImages(d *doc, zr *zip.Reader, dir string) {
	if dir == "" {
		return
	}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, dir) || d.imagesFull || d.err() != nil {
			continue
		}
		b, err := readZipMember(f, min(maxEmbeddedImageBytes, d.lim.MaxBytes))
		if err != nil {
			d.warnf("%s: %v", clip(f.Name, 80), err)
			continue
		}
		if !Sniff(b).IsImage() {
			continue
		}
		d.addEmbeddedImage(clip(f.Name, 80), b)
	}
}

// extractODF handles OpenDocument text, spreadsheets and presentations:
// text from content.xml, images from Pictures/.
func extractODF(d *doc, data []byte) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	f := findZip(zr, "content.xml")
	if f == nil {
		return fmt.Errorf("no content.xml: %w", ErrCorrupt)
	}
	if err := zipXMLText(d, f, d.memberCap(len(data)), odfRules()); err != nil {
		if d.text.Len() == 0 {
			return fmt.Errorf("content.xml: %w", err)
		}
		d.warnf("content.xml: %v", err)
	}
	extractZipImages(d, zr, "Pictures/")
	return nil
}

// extractXML handles generic XML (e.g. HL7 CDA clinical documents): all
// character data, one element's text per line.
func extractXML(d *doc, data []byte) error {
	dec := newXMLDecoder(bytes.NewReader(data))
	dec.Strict = false // generic XML in the wild is often sloppy
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := d.err(); err != nil {
				return err
			}
			if d.full() {
				return nil
			}
		}
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			if d.text.Len() == 0 {
				return fmt.Errorf("xml: %w", err)
			}
			d.warnf("xml: %v", err)
			break
		}
		if t, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(t)); s != "" {
				d.write(s)
				d.newline()
			}
		}
	}
	return nil
}

// extractXLSX streams each sheet's rows with excelize: the first non-empty
// row is the header, the rest become records, and every row is also a line
// of tab-separated text.
func extractXLSX(d *doc, data []byte) error {
	// Everything stays in memory (UnzipXMLSizeLimit = UnzipSizeLimit), so
	// excelize never spills leaked sheets into temporary files.
	limit := min(2*d.lim.MaxBytes, max(int64(len(data))*200, 1<<20))
	if _, err := openZip(data); err != nil { // entry-count guard before excelize's own zip.NewReader
		return err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    limit,
		UnzipXMLSizeLimit: limit,
	})
	if err != nil {
		return fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()
	// Sheet names are document content, so warnings give positions.
	for i, sheet := range f.GetSheetList() {
		if err := d.err(); err != nil {
			return err
		}
		if err := xlsxSheet(d, f, sheet); err != nil {
			d.warnf("sheet %d: %v", i+1, err)
		}
		if d.full() && d.recordsFull {
			break
		}
	}
	extractZipImagesFromBytes(d, data, "xl/media/")
	return nil
}

func xlsxSheet(d *doc, f *excelize.File, sheet string) error {
	rows, err := f.Rows(sheet)
	if err != nil {
		return err
	}
	defer rows.Close()
	var header []string
	for n := 0; rows.Next(); n++ {
		if n%1024 == 0 {
			if err := d.err(); err != nil {
				return err
			}
		}
		cells, err := rows.Columns()
		if err != nil {
			return err
		}
		for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
			cells = cells[:len(cells)-1]
		}
		if len(cells) == 0 {
			continue
		}
		d.write(strings.Join(cells, "\t"))
		d.write("\n")
		if header == nil {
			header = cells
			continue
		}
		if !d.recordsFull {
			d.addRecord(header, cells)
		}
		if d.full() && d.recordsFull {
			return nil
		}
	}
	return rows.Error()
}

func extractZipImagesFromBytes(d *doc, data []byte, dir string) {
	zr, err := openZip(data)
	if err != nil {
		return
	}
	extractZipImages(d, zr, dir)
}
