package extract

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/xuri/excelize/v2"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/text/encoding/charmap"
)

func TestSniff(t *testing.T) {
	tarHead := make([]byte, 512)
	copy(tarHead, "notes.txt")
	copy(tarHead[257:], "ustar\x0000")
	bmpHead := make([]byte, 54)
	copy(bmpHead, "BM")
	bmpHead[14] = 40
	cases := []struct {
		name string
		head []byte
		want Type
	}{
		{"pdf", []byte("%PDF-1.7\n%..."), TypePDF},
		{"pdf junk", []byte("junk\r\n%PDF-1.4\n"), TypePDF},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), TypeZIP},
		{"gzip", []byte("\x1f\x8b\x08\x00"), TypeGzip},
		{"bzip2", []byte("BZh91AY&SY"), TypeBzip2},
		{"xz", []byte("\xfd7zXZ\x00\x00"), TypeXZ},
		{"zstd", []byte("\x28\xb5\x2f\xfd\x00"), TypeZstd},
		{"7z", []byte("7z\xbc\xaf\x27\x1c\x00\x04"), Type7z},
		{"rar", []byte("Rar!\x1a\x07\x01\x00"), TypeRAR},
		{"tar", tarHead, TypeTar},
		{"ole", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00"), TypeOLE},
		{"rtf", []byte(`{\rtf1\ansi hello}`), TypeRTF},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), TypeJPEG},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00"), TypePNG},
		{"gif", []byte("GIF89a\x01\x00"), TypeGIF},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8L"), TypeWEBP},
		{"tiff le", []byte("II*\x00\x08\x00\x00\x00"), TypeTIFF},
		{"tiff be", []byte("MM\x00*\x00\x00\x00\x08"), TypeTIFF},
		{"bmp", bmpHead, TypeBMP},
		{"BM word is text", []byte("BMI report for " + name1 + "\n"), TypeText},
		{"html", []byte("<!DOCTYPE html><html><body><p>Hi</p></body></html>"), TypeHTML},
		{"html fragment", []byte("Results:\n<table><tr><td>" + nhi1 + "</td></tr></table>"), TypeHTML},
		{"xml", []byte(`<?xml version="1.0"?><ClinicalDocument><patient>` + nhi1 + `</patient></ClinicalDocument>`), TypeXML},
		{"xhtml", []byte(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`), TypeHTML},
		{"json", []byte(`[{"nhi":"` + nhi1 + `","name":"` + name1 + `"}]`), TypeJSON},
		{"ndjson", []byte("{\"nhi\":\"" + nhi1 + "\"}\n{\"nhi\":\"" + nhi2 + "\"}\n"), TypeJSON},
		{"not json", []byte("[link](http://example.invalid) text"), TypeText},
		{"sql", []byte("-- MySQL dump 10.13\nINSERT INTO `patients` VALUES (1,'" + nhi1 + "');\n"), TypeSQL},
		{"sql insert", []byte("insert into patients (nhi) values ('" + nhi1 + "');"), TypeSQL},
		{"prose with insert into", []byte("We will insert into the record later.\nThanks.\n"), TypeText},
		{"eml", []byte("From: a@example.invalid\r\nTo: b@example.invalid\r\nSubject: Results\r\n\r\nBody"), TypeEML},
		{"mbox", []byte("From a@example.invalid Mon Jan  1 00:00:00 2024\nReceived: by x\nFrom: a@example.invalid\nSubject: s\n\nbody"), TypeEML},
		{"note with colons", []byte("Patient: " + name1 + "\nNHI: " + nhi1 + "\n\nSeen today.\n"), TypeText},
		{"csv", []byte("nhi,name,dob\n" + nhi1 + "," + name1 + ",1980-01-02\n" + nhi2 + "," + name2 + ",1975-03-04\n"), TypeCSV},
		{"tsv", []byte("nhi\tname\n" + nhi1 + "\t" + name1 + "\n"), TypeCSV},
		{"semicolon", []byte("nhi;name\n" + nhi1 + ";" + name1 + "\n"), TypeCSV},
		{"pipe", []byte("nhi|name|x\n" + nhi1 + "|" + name1 + "|1\n"), TypeCSV},
		{"prose commas", []byte("Hello, world.\nSee you, then.\n"), TypeText},
		{"text", []byte("Plain clinical note for " + name1 + ".\n"), TypeText},
		{"utf16 text", append([]byte{0xff, 0xfe}, utf16le("Patient "+name1+"\n")...), TypeText},
		{"binary", []byte{0x00, 0x01, 0x02, 0x03, 0xfe, 0x00}, TypeUnknown},
		{"empty", nil, TypeUnknown},
	}
	for _, c := range cases {
		if got := Sniff(c.head); got != c.want {
			t.Errorf("%s: Sniff = %q, want %q", c.name, got, c.want)
		}
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func TestSniffAllOffice(t *testing.T) {
	docx := buildDOCX(t, docxBody("x"))
	odt := buildODT(t, `<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p>x</text:p></office:text></office:body></office:document-content>`)
	plain := buildZip(t, zipEntry{name: "a.txt", data: []byte("x")})
	for name, c := range map[string]struct {
		data []byte
		want Type
	}{
		"docx": {docx, TypeDOCX},
		"odt":  {odt, TypeODT},
		"zip":  {plain, TypeZIP},
		"xlsx": {xlsxBytes(t), TypeXLSX},
	} {
		if got := SniffAll(c.data); got != c.want {
			t.Errorf("%s: SniffAll = %q, want %q", name, got, c.want)
		}
	}
	if got := Sniff(odt); got != TypeODT {
		t.Errorf("Sniff(odt head) = %q, want odt (mimetype member first)", got)
	}
}

func TestPDFSimple(t *testing.T) {
	for _, compress := range []bool{false, true} {
		data := simplePDF(compress,
			textLines("Patient: "+name1, "NHI: "+nhi1+"    DOB: 02/01/1980"),
			textLines("Page two (with parens) and \\ backslash", "Haemoglobin 135 g/L"))
		res := mustExtract(t, data)
		if res.Type != TypePDF {
			t.Fatalf("type %q", res.Type)
		}
		wantText(t, res, "Patient: "+name1, "NHI: "+nhi1, "Page two (with parens) and \\ backslash", "Haemoglobin 135 g/L")
		for _, w := range res.Warnings {
			if strings.Contains(w, "pdftotext") {
				t.Errorf("library path should suffice, got warning %q", w)
			}
		}
		if i, j := strings.Index(res.Text, "Patient"), strings.Index(res.Text, "Page two"); i > j {
			t.Errorf("pages out of order")
		}
	}
}

// TestPDFSynthLab extracts the synthetic lab reports from the synth
// package, the documents the demo reference set is built from.
func TestPDFSynthLab(t *testing.T) {
	dir := t.TempDir()
	docs, err := synth.Generate(dir, synth.Options{Seed: 7, Patients: 3, Docs: 12})
	if err != nil {
		t.Fatal(err)
	}
	patients, err := synth.PatientSet(synth.Options{Seed: 7, Patients: 3, Docs: 12})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, p := range patients {
		names[p.NHI] = p.FullName()
	}
	kinds := map[synth.Kind]int{}
	for _, d := range docs {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		res := mustExtract(t, data)
		kinds[d.Kind]++
		switch d.Kind {
		case synth.KindLabResult:
			if res.Type != TypePDF {
				t.Errorf("%s: type %s", d.RelPath, res.Type)
			}
			wantText(t, res, "NHI: "+d.NHI, names[d.NHI])
		case synth.KindClinicalNote:
			if res.Type != TypeText {
				t.Errorf("%s: type %s", d.RelPath, res.Type)
			}
			wantText(t, res, d.NHI)
		case synth.KindVaccination, synth.KindPatients:
			if res.Type != TypeCSV || len(res.Records) == 0 {
				t.Errorf("%s: type %s, %d records", d.RelPath, res.Type, len(res.Records))
			}
		case synth.KindPhoto:
			if !res.Type.IsImage() || len(res.Images) != 1 {
				t.Errorf("%s: type %s, %d images", d.RelPath, res.Type, len(res.Images))
			}
		}
	}
	if kinds[synth.KindLabResult] == 0 {
		t.Fatal("synth produced no lab PDFs")
	}
}

// type0PDF shows text in a composite font through a ToUnicode CMap, the
// way most modern producers embed subset fonts.
func type0PDF(compressCMap bool) []byte {
	cmap := `/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test def 1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfchar <0003> <0020> <0010> <005A> endbfchar
2 beginbfrange <0020> <0029> <0041> <0030> <0032> [<0031> <0032> <0033>] endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end`
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	var tu int
	if compressCMap {
		tu = p.stream("/Filter /FlateDecode", zflate([]byte(cmap)))
	} else {
		tu = p.stream("", []byte(cmap))
	}
	desc := p.add("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Test /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 /W [16 [600] 32 41 550] >>")
	font := p.add(fmt.Sprintf("<< /Type /Font /Subtype /Type0 /BaseFont /Test /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>", desc, tu))
	// "ZAC" + space + "123": Z=<0010>, A=<0020>, C=<0022>, space=<0003>, 1..3=<0030..0032>.
	content := "BT /F0 12 Tf 72 700 Td <0010002000220003> Tj [<0030> -50 <00310032>] TJ ET"
	cs := p.stream("", []byte(content))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F0 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	return p.bytes(catalog)
}

func TestPDFType0ToUnicode(t *testing.T) {
	for _, z := range []bool{false, true} {
		res := mustExtract(t, type0PDF(z))
		wantText(t, res, "ZAC 123")
	}
}

func TestPDFDifferencesAndForm(t *testing.T) {
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	// Codes 1..3 are remapped to N, H, I by glyph name.
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [1 /N /H /I 4 /uni00E9] >> >>")
	form := p.stream("/Type /XObject /Subtype /Form /BBox [0 0 500 100]",
		[]byte("BT /F1 10 Tf 0 0 Td (Footer in a form: "+nhi2+") Tj ET"))
	content := "BT /F1 12 Tf 72 700 Td (\\001\\002\\003 ) Tj (caf\\004) Tj ET q /Fm1 Do Q"
	cs := p.stream("", []byte(content))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> /XObject << /Fm1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, form, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	res := mustExtract(t, p.bytes(catalog))
	wantText(t, res, "NHI café", "Footer in a form: "+nhi2)
}

func TestPDFObjectStreams(t *testing.T) {
	p := &testPDF{compressed: map[int]bool{}}
	catalog := p.add("")
	pagesID := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	cs := p.stream("/Filter /FlateDecode", zflate([]byte(textLines("Object stream PDF for "+name2, "NHI "+nhi3))))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	for _, n := range []int{catalog, pagesID, font, pg} {
		p.compressed[n] = true
	}
	res := mustExtract(t, p.bytesXRefStream(catalog, nil))
	wantText(t, res, "Object stream PDF for "+name2, "NHI "+nhi3)
}

func TestPDFJPEGImage(t *testing.T) {
	jpg := jpegBytes(t, testImage(64, 48))
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	img := p.stream("/Type /XObject /Subtype /Image /Width 64 /Height 48 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", jpg)
	cs := p.stream("", []byte("q 64 0 0 48 72 700 cm /Im1 Do Q BT /F1 12 Tf 72 650 Td (Wound photo "+nhi1+") Tj ET"))
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, img, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	res := mustExtract(t, p.bytes(catalog))
	wantText(t, res, "Wound photo "+nhi1)
	if len(res.Images) != 1 || res.Images[0].Bounds().Dx() != 64 || res.Images[0].Bounds().Dy() != 48 {
		t.Fatalf("images: %d", len(res.Images))
	}
}

// brokenXRefPDF has a wrong cross-reference offset, which the library
// needs and poppler repairs.
func brokenXRefPDF() []byte {
	data := simplePDF(true, textLines("Fallback text for "+name1))
	i := bytes.LastIndex(data, []byte("startxref\n"))
	return append(append([]byte{}, data[:i]...), []byte("startxref\n999999\n%%EOF\n")...)
}

func TestPDFPdftotextFallback(t *testing.T) {
	path := installedPDFToText(t)
	if path == "" {
		t.Skip("pdftotext not installed")
	}
	x := &Extractor{Limits: testLimits(), PDFToText: path}
	res, err := x.Extract(context.Background(), brokenXRefPDF())
	if err != nil {
		t.Fatalf("Extract: %v (warnings %q)", err, res.Warnings)
	}
	wantText(t, res, "Fallback text for "+name1)
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "pdftotext") }) {
		t.Errorf("expected a pdftotext warning, got %q", res.Warnings)
	}
}

// TestPDFPdftotextOff: with no PDFToText (Extract, the zero Extractor) the
// fallback never runs, installed or not: the library's error is returned.
func TestPDFPdftotextOff(t *testing.T) {
	for name, x := range map[string]*Extractor{
		"Extractor": {Limits: testLimits()},
		"zero":      {},
	} {
		res, err := x.Extract(context.Background(), brokenXRefPDF())
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
		if strings.Contains(res.Text, name1) || slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "pdftotext") }) {
			t.Errorf("%s: pdftotext ran: warnings %q", name, res.Warnings)
		}
	}
	if _, err := Extract(context.Background(), brokenXRefPDF(), testLimits()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Extract: err = %v, want ErrCorrupt", err)
	}
}

// TestPDFPdftotextFails: a configured pdftotext that fails leaves the
// library's error in place, with a warning naming pdftotext.
func TestPDFPdftotextFails(t *testing.T) {
	x := &Extractor{Limits: testLimits(), PDFToText: filepath.Join(t.TempDir(), "missing-pdftotext")}
	res, err := x.Extract(context.Background(), brokenXRefPDF())
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want the library's ErrCorrupt", err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "pdf: pdftotext: ") }) {
		t.Errorf("no pdftotext failure warning: %q", res.Warnings)
	}
}

func TestResolvePDFToText(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pdftotext")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	onPath, lookErr := exec.LookPath("pdftotext")
	if lookErr != nil {
		onPath = ""
	}
	for _, tt := range []struct {
		setting, want string
		wantErr       bool
	}{
		{"", "", false},
		{PDFToTextOff, "", false},
		{PDFToTextAuto, onPath, false},
		{exe, exe, false},
		{plain, "", true},
		{dir, "", true},
		{filepath.Join(dir, "missing"), "", true},
	} {
		got, err := ResolvePDFToText(tt.setting)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ResolvePDFToText(%q) = %q, %v; want %q, error %v", tt.setting, got, err, tt.want, tt.wantErr)
		}
	}
	// auto never fails: without pdftotext on $PATH it means none.
	t.Setenv("PATH", dir+"-nothing-here")
	if got, err := ResolvePDFToText(PDFToTextAuto); got != "" || err != nil {
		t.Errorf("auto without pdftotext = %q, %v; want \"\", nil", got, err)
	}
}

func TestPDFReflectionLayout(t *testing.T) {
	// checkObjectStreams and valuePtr read the library's unexported fields;
	// if an upgrade renames them, this fails (and extraction falls back).
	data := simplePDF(false, textLines("x"))
	d := newDoc(context.Background(), TypePDF, testLimits().withDefaults())
	if err := pdfLibText(d, data); err != nil {
		t.Fatalf("pdfLibText: %v", err)
	}
	if _, _, ok := valuePtr(pdfValueForTest(t, data)); !ok {
		t.Fatal("valuePtr: library layout changed")
	}
}

func TestDOCX(t *testing.T) {
	img := pngBytes(t, testImage(20, 10))
	header := `<w:hdr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:p><w:r><w:t>Clinic letterhead</w:t></w:r></w:p></w:hdr>`
	doc := docxBody("Patient:\t"+name1, "NHI: "+nhi1, "Tom & Jerry <ok>")
	// A deleted run must not appear.
	doc = strings.Replace(doc, "</w:body>", `<w:p><w:del><w:r><w:delText>DELETED</w:delText></w:r></w:del></w:p></w:body>`, 1)
	data := buildDOCX(t, doc,
		zipEntry{name: "word/header1.xml", data: []byte(header)},
		zipEntry{name: "word/media/image1.png", data: img},
		zipEntry{name: "word/media/image2.emf", data: []byte("not raster")})
	res := mustExtract(t, data)
	if res.Type != TypeDOCX {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "Patient:\t"+name1+"\n", "NHI: "+nhi1, "Tom & Jerry <ok>", "Clinic letterhead")
	if strings.Contains(res.Text, "DELETED") {
		t.Error("deleted text extracted")
	}
	if len(res.Images) != 1 {
		t.Errorf("images: %d, want 1", len(res.Images))
	}
}

func TestPPTX(t *testing.T) {
	slide := func(s string) []byte {
		return []byte(`<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>` + s + `</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`)
	}
	data := buildZip(t,
		zipEntry{name: "[Content_Types].xml", data: []byte(`<Types/>`)},
		zipEntry{name: "ppt/presentation.xml", data: []byte(`<p:presentation xmlns:p="p"/>`)},
		zipEntry{name: "ppt/slides/slide10.xml", data: slide("ten")},
		zipEntry{name: "ppt/slides/slide2.xml", data: slide("two " + nhi2)})
	res := mustExtract(t, data)
	if res.Type != TypePPTX {
		t.Fatalf("type %s", res.Type)
	}
	if i, j := strings.Index(res.Text, "two"), strings.Index(res.Text, "ten"); i < 0 || j < 0 || i > j {
		t.Errorf("slides out of order: %q", res.Text)
	}
}

func TestODT(t *testing.T) {
	content := `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>
<text:h>Discharge summary</text:h>
<text:p>Patient <text:span>` + name2 + `</text:span><text:tab/>NHI<text:s text:c="2"/>` + nhi2 + `</text:p>
<text:p>Line one<text:line-break/>Line two</text:p>
</office:text></office:body></office:document-content>`
	data := buildODT(t, content, zipEntry{name: "Pictures/photo.jpg", data: jpegBytes(t, testImage(16, 16))})
	res := mustExtract(t, data)
	if res.Type != TypeODT {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "Discharge summary\n", "Patient "+name2+"\tNHI  "+nhi2, "Line one\nLine two")
	if len(res.Images) != 1 {
		t.Errorf("images: %d", len(res.Images))
	}
}

func xlsxBytes(t testing.TB) []byte {
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{
		{"NHI", "Name", "DOB", "Result"},
		{nhi1, name1, "1980-01-02", 135},
		{nhi2, name2, "1975-03-04", 12.5},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	f.NewSheet("Labs")
	f.SetCellValue("Labs", "A1", "NHI")
	f.SetCellValue("Labs", "B1", "Test")
	f.SetCellValue("Labs", "A2", nhi3)
	f.SetCellValue("Labs", "B2", "HbA1c")
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestXLSX(t *testing.T) {
	res := mustExtract(t, xlsxBytes(t))
	if res.Type != TypeXLSX {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "NHI\tName\tDOB\tResult\n", nhi1+"\t"+name1+"\t1980-01-02\t135\n", nhi3+"\tHbA1c")
	if len(res.Records) != 3 {
		t.Fatalf("records: %d, want 3: %+v", len(res.Records), res.Records)
	}
	r := res.Records[1]
	if !slices.Equal(r.Columns, []string{"NHI", "Name", "DOB", "Result"}) || !slices.Equal(r.Values, []string{nhi2, name2, "1975-03-04", "12.5"}) {
		t.Errorf("record: %+v", r)
	}
	if !slices.Equal(res.Records[2].Columns, []string{"NHI", "Test"}) {
		t.Errorf("second sheet header: %+v", res.Records[2])
	}
}

func TestRTF(t *testing.T) {
	src := `{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Helvetica;}}{\colortbl;\red0\green0\blue0;}
{\*\generator Test;}{\info{\title SECRET TITLE}}
\pard\plain Patient: ` + name1 + `\par
NHI:\tab ` + nhi1 + `\par
Caf\'e9 \u8364?5 \{braces\}\line next{\*\unknown skipped}\par
{\pict\pngblip 89504e47}}`
	res := mustExtract(t, []byte(src))
	if res.Type != TypeRTF {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "Patient: "+name1+"\n", "NHI:\t"+nhi1, "Café €5 {braces}\nnext")
	for _, bad := range []string{"Helvetica", "SECRET", "Test;", "skipped", "89504e47"} {
		if strings.Contains(res.Text, bad) {
			t.Errorf("text contains %q: %q", bad, res.Text)
		}
	}
}

func TestHTML(t *testing.T) {
	page := `<!DOCTYPE html><html><head><title>Lab report</title><style>p{color:red}</style>
<script>var secret = "SCRIPT";</script></head><body>
<h1>Results for ` + name1 + `</h1><p>NHI&nbsp;` + nhi1 + ` &amp; more</p>
<table><tr><td>Hb</td><td>135</td></tr></table><noscript>NOSCRIPT</noscript>
<pre>  keep   spaces</pre></body></html>`
	res := mustExtract(t, []byte(page))
	if res.Type != TypeHTML {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "Lab report", "Results for "+name1, "NHI\u00a0"+nhi1+" & more", "Hb\t135", "  keep   spaces")
	for _, bad := range []string{"SCRIPT", "color:red", "NOSCRIPT"} {
		if strings.Contains(res.Text, bad) {
			t.Errorf("text contains %q", bad)
		}
	}
	// A legacy page declares its charset in a meta tag.
	latin := []byte(`<html><head><meta charset="windows-1252"></head><body><p>Caf` + "\xe9" + ` for ` + name2 + `</p></body></html>`)
	wantText(t, mustExtract(t, latin), "Café for "+name2)
}

func TestTextEncodings(t *testing.T) {
	note := "Clinical note: " + name1 + ", NHI " + nhi1 + ", café\n"
	utf16 := append([]byte{0xff, 0xfe}, utf16le(note)...)
	cp1252, _ := charmap.Windows1252.NewEncoder().String(note)
	for name, data := range map[string][]byte{
		"utf8":     []byte(note),
		"utf8 bom": append([]byte("\xef\xbb\xbf"), note...),
		"utf16":    utf16,
		"cp1252":   []byte(cp1252),
	} {
		res := mustExtract(t, data)
		if res.Type != TypeText {
			t.Errorf("%s: type %s", name, res.Type)
		}
		if res.Text != note {
			t.Errorf("%s: text %q", name, res.Text)
		}
	}
}

func TestCSV(t *testing.T) {
	cases := map[string]string{
		"comma":     "nhi,name,note\n" + nhi1 + "," + name1 + ",\"multi\nline, quoted\"\n" + nhi2 + "," + name2 + ",ok\n",
		"semicolon": "nhi;name;note\n" + nhi1 + ";" + name1 + ";\"multi\nline, quoted\"\n" + nhi2 + ";" + name2 + ";ok\n",
		"tab":       "nhi\tname\tnote\n" + nhi1 + "\t" + name1 + "\t\"multi\nline, quoted\"\n" + nhi2 + "\t" + name2 + "\tok\n",
		"pipe":      "nhi|name|note\n" + nhi1 + "|" + name1 + "|\"multi\nline, quoted\"\n" + nhi2 + "|" + name2 + "|ok\n",
	}
	for name, src := range cases {
		res := mustExtract(t, []byte(src))
		if res.Type != TypeCSV {
			t.Errorf("%s: type %s", name, res.Type)
			continue
		}
		if len(res.Records) != 2 {
			t.Errorf("%s: %d records", name, len(res.Records))
			continue
		}
		want := Record{Columns: []string{"nhi", "name", "note"}, Values: []string{nhi1, name1, "multi\nline, quoted"}}
		if !slices.Equal(res.Records[0].Columns, want.Columns) || !slices.Equal(res.Records[0].Values, want.Values) {
			t.Errorf("%s: record %+v", name, res.Records[0])
		}
		wantText(t, res, nhi2+"\t"+name2+"\tok\n")
	}
	// No header: the first row is data.
	res := mustExtract(t, []byte(nhi1+","+name1+",1980\n"+nhi2+","+name2+",1975\n"+nhi3+",X Y,1990\n"))
	if len(res.Records) != 3 || res.Records[0].Columns != nil {
		t.Errorf("headerless: %+v", res.Records)
	}
}

func TestJSON(t *testing.T) {
	src := `{"export": "portal", "patients": [
 {"nhi": "` + nhi1 + `", "name": {"given": "Aroha", "family": "Testwell"}, "age": 44, "tags": ["a", "b"], "active": true, "gp": null},
 {"nhi": "` + nhi2 + `", "name": {"given": "Mere", "family": "Zample"}, "age": 51, "tags": [], "active": false, "gp": "Dr Who"}
]}`
	res := mustExtract(t, []byte(src))
	if res.Type != TypeJSON {
		t.Fatalf("type %s", res.Type)
	}
	if len(res.Records) != 2 {
		t.Fatalf("records: %+v", res.Records)
	}
	r := res.Records[0]
	wantCols := []string{"nhi", "name.given", "name.family", "age", "tags.0", "tags.1", "active", "gp"}
	wantVals := []string{nhi1, "Aroha", "Testwell", "44", "a", "b", "true", ""}
	if !slices.Equal(r.Columns, wantCols) || !slices.Equal(r.Values, wantVals) {
		t.Errorf("record 0: %+v", r)
	}
	wantText(t, res, "portal\n", nhi1+"\n", "Testwell\n", "Dr Who\n")

	nd := "{\"nhi\":\"" + nhi1 + "\",\"n\":1}\n\n{\"nhi\":\"" + nhi2 + "\",\"n\":2}\n"
	res = mustExtract(t, []byte(nd))
	if len(res.Records) != 2 || res.Records[1].Values[0] != nhi2 {
		t.Errorf("ndjson: %+v", res.Records)
	}
	if &res.Records[0].Columns[0] != &res.Records[1].Columns[0] {
		t.Errorf("identical columns should share one slice")
	}
}

func TestSQL(t *testing.T) {
	dump := "-- MySQL dump 10.13\n/*!40101 SET NAMES utf8 */;\n" +
		"CREATE TABLE `patients` (\n  `id` int NOT NULL,\n  `nhi` char(7) DEFAULT NULL,\n  `name` varchar(80),\n  `note` text,\n  PRIMARY KEY (`id`),\n  KEY `nhi` (`nhi`)\n) ENGINE=InnoDB;\n" +
		"LOCK TABLES `patients` WRITE;\n" +
		"INSERT INTO `patients` VALUES (1,'" + nhi1 + "','" + name1 + "','it''s \\'quoted\\'; (x), y'),(2,'" + nhi2 + "','" + name2 + "',NULL);\n" +
		"INSERT INTO public.visits (nhi, seen) VALUES ('" + nhi3 + "', NOW()), ('" + nhi1 + "', -1.5);\n" +
		"UNLOCK TABLES;\n" +
		"COPY public.labs (nhi, test, value) FROM stdin;\n" + nhi2 + "\tHbA1c\t41\n" + nhi3 + "\tnote with\\ttab\t\\N\n\\.\n"
	res := mustExtract(t, []byte(dump))
	if res.Type != TypeSQL {
		t.Fatalf("type %s", res.Type)
	}
	if len(res.Records) != 6 {
		t.Fatalf("records: %d %+v", len(res.Records), res.Records)
	}
	check := func(i int, cols, vals []string) {
		t.Helper()
		r := res.Records[i]
		if !slices.Equal(r.Columns, cols) || !slices.Equal(r.Values, vals) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	pcols := []string{"id", "nhi", "name", "note"}
	check(0, pcols, []string{"1", nhi1, name1, "it's 'quoted'; (x), y"})
	check(1, pcols, []string{"2", nhi2, name2, ""})
	check(2, []string{"nhi", "seen"}, []string{nhi3, "NOW()"})
	check(3, []string{"nhi", "seen"}, []string{nhi1, "-1.5"})
	check(4, []string{"nhi", "test", "value"}, []string{nhi2, "HbA1c", "41"})
	check(5, []string{"nhi", "test", "value"}, []string{nhi3, "note with\ttab", ""})
	wantText(t, res, nhi1+"\t"+name1)
}

func TestEML(t *testing.T) {
	pdfAttachment := simplePDF(false, textLines("attached "+nhi3))
	msg := "From: Clinic <clinic@example.invalid>\r\n" +
		"To: ops@example.invalid\r\n" +
		"Subject: =?UTF-8?B?UmVzdWx0cyBmb3IgTWVyZSBaYW1wbGU=?=\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"preamble\r\n--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Caf=E9 results for " + name2 + ", NHI " + nhi2 + ". A long line that is soft=\r\n-wrapped.\r\n" +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML twin</p>\r\n" +
		"--alt--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"lab.pdf\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?lab_report.pdf?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64Lines(pdfAttachment) + "\r\n--outer--\r\n"
	res := mustExtract(t, []byte(msg))
	if res.Type != TypeEML {
		t.Fatalf("type %s", res.Type)
	}
	wantText(t, res, "Results for Mere Zample", "Café results for "+name2+", NHI "+nhi2, "soft-wrapped")
	if strings.Contains(res.Text, "HTML twin") {
		t.Error("alternative HTML duplicated the plain text")
	}
	if len(res.Parts) != 1 || res.Parts[0].Name != "lab report.pdf" || !bytes.Equal(res.Parts[0].Data, pdfAttachment) {
		t.Fatalf("parts: %d %+v", len(res.Parts), partNames(res.Parts))
	}
	inner := mustExtract(t, res.Parts[0].Data)
	wantText(t, inner, "attached "+nhi3)
}

func partNames(ps []Part) []string {
	var n []string
	for _, p := range ps {
		n = append(n, fmt.Sprintf("%s(%d)", p.Name, len(p.Data)))
	}
	return n
}

func base64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	return out.String()
}

func TestImages(t *testing.T) {
	src := testImage(30, 20)
	var g, bm, tf bytes.Buffer
	if err := gif.Encode(&g, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bm, src); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tf, src, nil); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"png":  pngBytes(t, src),
		"jpeg": jpegBytes(t, src),
		"gif":  g.Bytes(),
		"bmp":  bm.Bytes(),
		"tiff": tf.Bytes(),
	} {
		res := mustExtract(t, data)
		if string(res.Type) != name || len(res.Images) != 1 {
			t.Errorf("%s: type %s, %d images", name, res.Type, len(res.Images))
			continue
		}
		if b := res.Images[0].Bounds(); b != image.Rect(0, 0, 30, 20) {
			t.Errorf("%s: bounds %v", name, b)
		}
	}
}

func TestArchivesPassThrough(t *testing.T) {
	for _, data := range [][]byte{
		buildZip(t, zipEntry{name: "a.txt", data: []byte("x")}),
		[]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"),
		[]byte("7z\xbc\xaf\x27\x1c\x00\x04"),
	} {
		res, err := Extract(context.Background(), data, testLimits())
		if err != nil || !res.Type.IsArchive() || res.Text != "" {
			t.Errorf("archive %q: %+v, %v", res.Type, res, err)
		}
	}
}

func TestLimits(t *testing.T) {
	lim := testLimits()
	lim.MaxText = 10
	res, err := Extract(context.Background(), []byte("0123456789abcdef é"), lim)
	if err != nil || res.Text != "0123456789" || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "MaxText") }) {
		t.Errorf("MaxText: %q %q %v", res.Text, res.Warnings, err)
	}
	lim = testLimits()
	lim.MaxRows = 2
	res, err = Extract(context.Background(), []byte("a,b\n1,2\n3,4\n5,6\n7,8\n"), lim)
	if err != nil || len(res.Records) != 2 {
		t.Errorf("MaxRows: %d records, %v", len(res.Records), err)
	}
	lim = testLimits()
	lim.MaxBytes = 4
	_, err = Extract(context.Background(), []byte("too long"), lim)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxBytes: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, []byte("x"), testLimits()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestUnsupportedTypeWarns(t *testing.T) {
	res, err := Extract(context.Background(), []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"), testLimits())
	if err != nil || res.Type != TypeOLE || len(res.Warnings) == 0 {
		t.Errorf("ole: %+v %v", res, err)
	}
}
