package extract

import (
	"context"
	"strings"
	"testing"
	"time"
)

// fuzzLimits keep each input cheap.
func fuzzLimits() Limits {
	return Limits{
		MaxBytes:       1 << 20,
		MaxText:        64 << 10,
		MaxPages:       10,
		MaxImages:      2,
		MaxImagePixels: 1 << 20,
		MaxRows:        1000,
		Timeout:        5 * time.Second,
	}
}

// fuzzExtractor runs no pdftotext, so the fuzzer exercises this process
// only (and fast).
func fuzzExtractor() *Extractor {
	return &Extractor{Limits: fuzzLimits(), PDFToText: ""}
}

// fuzzDoc is a doc for calling one parser directly, without Extract's
// recover, so a panic in this package's code fails the fuzz run.
func fuzzDoc(t Type) *doc {
	return newDoc(context.Background(), t, fuzzLimits().withDefaults())
}

func seedDocs(f *testing.F) [][]byte {
	f.Helper()
	return [][]byte{
		simplePDF(true, textLines("Seed "+name1, "NHI "+nhi1)),
		type0PDF(true),
		buildDOCX(f, docxBody("Seed "+name2, "a\tb")),
		buildODT(f, `<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p>x<text:s text:c="3"/>y</text:p></office:text></office:body></office:document-content>`),
		xlsxBytes(f),
		[]byte(`{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}Caf\'e9 \u8364? \par x}`),
		[]byte("<html><head><title>t</title><script>x</script></head><body><p>a&amp;b</p><table><tr><td>1</td></tr></table></body></html>"),
		[]byte("From: a@example.invalid\r\nSubject: =?UTF-8?Q?s=C3=A9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhi=3D\r\n--b\r\nContent-Type: application/octet-stream; name=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"),
		[]byte("nhi,name\n" + nhi1 + "," + name1 + "\n" + nhi2 + ",\"" + name2 + "\"\n"),
		[]byte(`[{"a":{"b":[1,"x",null]},"c":true}]`),
		[]byte("{\"a\":1}\n{\"a\":2}\n"),
		[]byte("CREATE TABLE t (a int, b text);\nINSERT INTO t VALUES (1,'it''s'),(2,'x\\'y');\nCOPY t (a, b) FROM stdin;\n1\tx\n\\.\n"),
		[]byte(`<?xml version="1.0"?><a><b>text</b><c x="1"/></a>`),
		[]byte("plain text \xe9\n"),
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range seedDocs(f) {
		f.Add(s)
	}
	f.Add(pngBytes(f, testImage(4, 4)))
	f.Add(jpegBytes(f, testImage(4, 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := fuzzExtractor().Extract(context.Background(), data)
		if err == nil && len(res.Text) > 4*fuzzLimits().MaxText+16 {
			t.Fatalf("text %d bytes over the cap", len(res.Text))
		}
		if len(res.Records) > fuzzLimits().MaxRows || len(res.Images) > fuzzLimits().MaxImages {
			t.Fatalf("limits exceeded: %d records, %d images", len(res.Records), len(res.Images))
		}
	})
}

// FuzzPDF runs the whole PDF path (library included). The library's
// panics are recovered there; what this target hunts is what recover()
// cannot catch: stack overflows, huge allocations, hangs.
func FuzzPDF(f *testing.F) {
	f.Add(simplePDF(false, textLines("x")))
	f.Add(simplePDF(true, textLines("Seed "+name1), textLines("two")))
	f.Add(type0PDF(false))
	p := &testPDF{compressed: map[int]bool{}}
	c := p.add("")
	pg := p.add("")
	p.set(c, "<< /Type /Catalog /Pages 2 0 R >>")
	p.set(pg, "<< /Type /Pages /Kids [] /Count 0 >>")
	p.compressed[c], p.compressed[pg] = true, true
	f.Add(p.bytesXRefStream(c, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzDoc(TypePDF)
		_ = extractPDF(d, data, "") // no pdftotext: this process only
	})
}

// FuzzPDFContent drives this package's content-stream interpreter and
// lexer directly.
func FuzzPDFContent(f *testing.F) {
	f.Add([]byte(textLines("a (b) c", "d")))
	f.Add([]byte("BT /F1 12 Tf 1 0 0 1 72 700 Tm [(A) -300 (B)] TJ 0 -14 Td (C) ' 1 2 (D) \" ET"))
	f.Add([]byte("BI /W 1 /H 1 ID \x00 EI q /Fm1 Do Q <414243> Tj <4 1> Tj (\\101\\n\\\\) Tj"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzDoc(TypePDF)
		var out strings.Builder
		budget := maxPageContent
		st := &pdfState{x: newPDFText(d), out: &out, budget: &budget, hScale: 1}
		st.run(data, 0)
	})
}

// FuzzPDFCMap parses ToUnicode maps and decodes with them.
func FuzzPDFCMap(f *testing.F) {
	f.Add([]byte("1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfchar <0001> <0041> endbfchar 1 beginbfrange <0010> <0020> [<0042> <0043>] endbfrange"), []byte("\x00\x01\x00\x10\x00\x11"))
	f.Add([]byte("beginbfrange <00> <ff> <d800> endbfrange"), []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, cmap, text []byte) {
		font := defaultPDFFont()
		font.toUni = parseCMap(cmap)
		font.twoByte = len(cmap)%2 == 0
		font.decode(text)
	})
}

// FuzzPDFPrescan runs the raw-byte checks and the JPEG scan on anything.
func FuzzPDFPrescan(f *testing.F) {
	f.Add(simplePDF(true, textLines("x")))
	f.Add([]byte("/Size 5 /W [1 2 1] /Index [0 5] /DecodeParms [null 5 0 R] xref 0 1 0000000000 65535 f stream\n\x78\x9c"))
	f.Add([]byte("1 0 obj << /Subtype /Image /Filter /DCTDecode /Length 4 >> stream\n\xff\xd8\xff\xd9\nendstream"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzDoc(TypePDF)
		_ = pdfPrescan(d, data)
		pdfJPEGs(d, data, false)
		pdfJPEGs(d, data, true)
	})
}

func FuzzDOCX(f *testing.F) {
	f.Add([]byte(docxBody("a", "b\tc")))
	f.Add([]byte(`<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>x</w:t><w:br/><w:delText>y</w:delText></w:r></w:p></w:body></w:document>`))
	f.Fuzz(func(t *testing.T, xml []byte) {
		data := buildDOCX(t, string(xml))
		d := fuzzDoc(TypeDOCX)
		_ = extractOOXMLText(d, data)
	})
}

func FuzzRTF(f *testing.F) {
	f.Add([]byte(`{\rtf1\ansi{\fonttbl{\f0 Arial;}}\'e9\u8364?\uc2\u8364??{\*\x y}\bin3 abc\par}`))
	f.Add([]byte(`{\rtf1 }}}{{{\`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = extractRTF(fuzzDoc(TypeRTF), data)
	})
}

func FuzzHTML(f *testing.F) {
	f.Add([]byte(`<html><head><meta charset="iso-8859-1"><title>t</title></head><body><pre> a </pre><script>x</script><td>1</td></body></html>`))
	f.Add([]byte("<svg><p>x</svg><noscript>y</noscript>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = extractHTML(fuzzDoc(TypeHTML), data, "")
	})
}

func FuzzEML(f *testing.F) {
	for _, s := range seedDocs(f) {
		if Sniff(s) == TypeEML {
			f.Add(s)
		}
	}
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/html; charset=koi8-r\r\n\r\n<p>\xc1</p>\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = extractEML(fuzzDoc(TypeEML), data)
	})
}

func FuzzSQL(f *testing.F) {
	f.Add([]byte("CREATE TABLE IF NOT EXISTS `s`.`t` (`a` int, KEY k (a));\nINSERT IGNORE INTO `s`.`t` VALUES (1,_binary'x',X'41',f(1,(2))),(NULL,'');\n"))
	f.Add([]byte("COPY t FROM stdin;\na\\tb\t\\N\n\\.\nINSERT INTO t (a) VALUES ('/* not a comment */') ON DUPLICATE KEY UPDATE a=1;"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = extractSQL(fuzzDoc(TypeSQL), data)
	})
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"x":[{"a":1,"b":{"c":[true,null]}},{"a":"y"}],"z":"w"}`))
	f.Add([]byte("{\"a\":1}\n{\"b\":[{\"c\":2}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = extractJSON(fuzzDoc(TypeJSON), data)
	})
}

func FuzzSniff(f *testing.F) {
	for _, s := range seedDocs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := Sniff(data)
		b := SniffAll(data)
		if a == "" || b == "" {
			t.Fatal("empty type")
		}
	})
}

// FuzzPDFObjects fuzzes object bodies of a well-formed PDF and rebuilds
// the cross-reference data around them, so the library gets past the
// xref and walks fuzzed object graphs (page trees, fonts, resources,
// object streams) — where cycles, recursion and huge counts live.
func FuzzPDFObjects(f *testing.F) {
	f.Add("<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"BT /F1 12 Tf 72 700 Td (Hello) Tj ET", false, false)
	f.Add("<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
		"<< /Type /Page /Parent 3 0 R /Resources 4 0 R /Contents [5 0 R 5 0 R] >>",
		"<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /DescendantFonts [<< /W [1 [500]] >>] /ToUnicode 5 0 R >>",
		"1 begincodespacerange <0000> <ffff> endcodespacerange 1 beginbfchar <0001> <0041> endbfchar", true, true)
	f.Fuzz(func(t *testing.T, pages, page, font, content string, compress, objStm bool) {
		p := &testPDF{compressed: map[int]bool{}}
		catalog := p.add("<< /Type /Catalog /Pages 2 0 R >>")
		p.add(pages)
		p.add(page)
		p.add(font)
		if compress {
			p.stream("/Filter /FlateDecode", zflate([]byte(content)))
		} else {
			p.stream("", []byte(content))
		}
		var data []byte
		if objStm {
			for _, n := range []int{1, 2, 3, 4} {
				p.compressed[n] = true
			}
			data = p.bytesXRefStream(catalog, nil)
		} else {
			data = p.bytes(catalog)
		}
		_ = extractPDF(fuzzDoc(TypePDF), data, "")
	})
}
