package notices

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"
)

// pdfStreams returns every stream of a PDF, inflated where it is
// FlateDecode-compressed (fpdf compresses page content by default).
func pdfStreams(t *testing.T, doc []byte) []string {
	t.Helper()
	var out []string
	for rest := doc; ; {
		i := bytes.Index(rest, []byte("stream\n"))
		if i < 0 {
			return out
		}
		rest = rest[i+len("stream\n"):]
		j := bytes.Index(rest, []byte("\nendstream"))
		if j < 0 {
			t.Fatal("unterminated stream")
		}
		body := rest[:j]
		rest = rest[j+len("\nendstream"):]
		if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				body = b
			}
		}
		out = append(out, string(body))
	}
}

// pdfText extracts the text with a PDF reader, as a recipient's tools would.
func pdfText(t *testing.T, doc []byte) string {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("read pdf: %v", err)
	}
	tr, err := r.GetPlainText()
	if err != nil {
		t.Fatalf("pdf text: %v", err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderPDF(t *testing.T) {
	tm := load(t)
	d := followUp()
	doc, err := tm.RenderPDF(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(doc, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", doc[:min(len(doc), 16)])
	}
	var content string
	for _, s := range pdfStreams(t, doc) {
		if strings.Contains(s, ")Tj") {
			content += s
		}
	}
	for _, want := range []string{"(Follow-up 1 LW-12-2)Tj", "LW-12-1, sent 2026-12-01 09:30 UTC", strings.Repeat("ab", 32)} {
		if !strings.Contains(content, want) {
			t.Errorf("PDF text streams lack %q", want)
		}
	}
	text := pdfText(t, doc)
	for _, want := range []string{"LW-12-2", "CIV-2026-404-000123", "2026-12-06 09:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("extracted PDF text lacks %q", want)
		}
	}

	// Fixed input, fixed bytes: the PDF's hash can be recorded with the notice.
	again, err := tm.RenderPDF(d)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(doc) != sha256.Sum256(again) {
		t.Error("the same notice rendered to different PDFs")
	}
	r := render(t, d)
	if !bytes.Equal(r.PDF, doc) {
		t.Error("Render and RenderPDF disagree")
	}
	d.DraftedAt = d.DraftedAt.Add(time.Minute)
	if later, _ := tm.RenderPDF(d); bytes.Equal(later, doc) {
		t.Error("the drafting time does not reach the PDF")
	}
}

// Text outside Windows-1252 must not break the PDF: letters with macrons
// keep their base letter, the rest becomes "?".
func TestRenderPDFUnicode(t *testing.T) {
	d := data()
	d.Injunction.Claimant = "Tāmaki Health Ōrākei 高等法院 😀 – “quoted” €5"
	doc, err := load(t).RenderPDF(d)
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, doc)
	if !strings.Contains(text, "Tamaki Health Orakei") {
		t.Errorf("macrons not reduced to base letters in %q", text)
	}
	if !strings.Contains(text, "????") {
		t.Error("characters without a Windows-1252 form did not become ?")
	}
	if got := cp1252("a–€“ā\t\x01高"); got != "a\x96\x80\x93a    ?" {
		t.Errorf("cp1252: %q", got)
	}
}

func TestTextPDFNeedsCreationTime(t *testing.T) {
	if _, err := TextPDF("t", "LW-1", "text", time.Time{}); err == nil {
		t.Error("a PDF without a fixed creation time would not be reproducible")
	}
	long := strings.Repeat("A line of the notice that goes on.\n", 200) + "http://leaks.example/" + strings.Repeat("x", 400)
	doc, err := TextPDF("t", "LW-1/2", long, drafted)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(doc), "/Type /Page\n"); n < 2 {
		t.Errorf("%d pages for 200 lines", n)
	}
	if name := PDFAttachment("LW-1/2", doc).Name; name != "LW-1_2.pdf" {
		t.Errorf("attachment name %q", name)
	}
}
