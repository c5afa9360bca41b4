package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	pdf  = []byte("%PDF-1.7\nfake clinical note for patient ZAC5361\n%%EOF\n")
	csv  = []byte(strings.Repeat("nhi,name,dob\nZAC5361,Test Patient,1970-01-01\n", 50))
	note = []byte("lab results: all within range\n")
)

func wantMembers(t *testing.T, got map[string]Member, want map[string][]byte) {
	t.Helper()
	for p, data := range want {
		m, ok := got[p]
		if !ok {
			t.Errorf("missing member %q (have %v)", p, keys(got))
			continue
		}
		if m.Err != nil {
			t.Errorf("%q: unexpected error %v", p, m.Err)
			continue
		}
		if !bytes.Equal(m.Data, data) || m.Size != int64(len(data)) {
			t.Errorf("%q: got %d bytes (Size %d), want %d", p, len(m.Data), m.Size, len(data))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d members %v, want %d", len(got), keys(got), len(want))
	}
}

func keys(m map[string]Member) []string {
	var out []string
	for k, v := range m {
		if v.Err != nil {
			k += " (" + v.Err.Error() + ")"
		}
		out = append(out, k)
	}
	return out
}

func TestFormats(t *testing.T) {
	tarball := buildTar(t, file{"docs/a.pdf", pdf}, file{"docs/b.csv", csv})
	innerZip := buildZip(t, file{"note.txt", note})
	outer := buildZip(t,
		file{"top.pdf", pdf},
		file{"nested/inner.zip", innerZip},
		file{"nested/more.tar.gz", gz(t, tarball)},
	)
	cases := []struct {
		name string
		data []byte
		want map[string][]byte
	}{
		{"outer.zip", outer, map[string][]byte{
			"outer.zip!/top.pdf":                        pdf,
			"outer.zip!/nested/inner.zip!/note.txt":     note,
			"outer.zip!/nested/more.tar.gz!/docs/a.pdf": pdf,
			"outer.zip!/nested/more.tar.gz!/docs/b.csv": csv,
		}},
		{"x.tar", tarball, map[string][]byte{"x.tar!/docs/a.pdf": pdf, "x.tar!/docs/b.csv": csv}},
		{"x.tar.gz", gz(t, tarball), map[string][]byte{"x.tar.gz!/docs/a.pdf": pdf, "x.tar.gz!/docs/b.csv": csv}},
		{"x.tbz2", bz2(t, tarball), map[string][]byte{"x.tbz2!/docs/a.pdf": pdf, "x.tbz2!/docs/b.csv": csv}},
		{"x.tar.xz", xzc(t, tarball), map[string][]byte{"x.tar.xz!/docs/a.pdf": pdf, "x.tar.xz!/docs/b.csv": csv}},
		{"x.tar.zst", zst(t, tarball), map[string][]byte{"x.tar.zst!/docs/a.pdf": pdf, "x.tar.zst!/docs/b.csv": csv}},
		{"dump.csv.gz", gz(t, csv), map[string][]byte{"dump.csv.gz!/dump.csv": csv}},
		{"dump.csv.bz2", bz2(t, csv), map[string][]byte{"dump.csv.bz2!/dump.csv": csv}},
		{"dump.csv.xz", xzc(t, csv), map[string][]byte{"dump.csv.xz!/dump.csv": csv}},
		{"dump.csv.zst", zst(t, csv), map[string][]byte{"dump.csv.zst!/dump.csv": csv}},
		{"blob", gz(t, csv), map[string][]byte{"blob!/data": csv}},
		{"inner.zip.gz", gz(t, innerZip), map[string][]byte{"inner.zip.gz!/inner.zip!/note.txt": note}},
		{"plain.pdf", pdf, map[string][]byte{"plain.pdf": pdf}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !IsArchive(c.data) && c.name != "plain.pdf" {
				t.Errorf("IsArchive = false")
			}
			got, st, err := collect(t, &Walker{}, c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			wantMembers(t, got, c.want)
			if st.Members != len(c.want) || st.Errors != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestIsArchive(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want bool
	}{
		{nil, false},
		{pdf, false},
		{[]byte("PK\x03\x04"), true},
		{[]byte("PK\x05\x06"), true},
		{[]byte{0x1f, 0x8b, 0x08, 0}, true},
		{[]byte("BZh91AY&SY"), true},
		{[]byte("BZh9 hello"), false},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, true},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, true},
		{[]byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}, true},
		{[]byte("Rar!\x1a\x07\x00"), true},
		{[]byte("Rar!\x1a\x07\x01\x00"), true},
		{buildTar(t, file{"a", nil})[:512], true},
		{make([]byte, 512), false},
	} {
		if got := IsArchive(c.head); got != c.want {
			t.Errorf("IsArchive(%q) = %v, want %v", c.head[:min(len(c.head), 12)], got, c.want)
		}
	}
}

// Office documents are zips, but documents: fingerprinted whole.
func TestDocumentZipNotDescended(t *testing.T) {
	docx := buildZip(t, file{"[Content_Types].xml", []byte("<Types/>")}, file{"word/document.xml", []byte("<w:document/>")})
	odt := buildZip(t, file{"mimetype", []byte("application/vnd.oasis.opendocument.text")}, file{"content.xml", []byte("<x/>")})
	// LibreOffice may write [Content_Types].xml later in the directory.
	late := buildZip(t, file{"_rels/.rels", []byte("<r/>")}, file{"xl/workbook.xml", []byte("<w/>")}, file{"[Content_Types].xml", []byte("<Types/>")})
	// A marker file alone does not make a leak zip a document.
	fake := buildZip(t, file{"[Content_Types].xml", []byte("<Types/>")}, file{"patients.csv", csv})
	outer := buildZip(t, file{"report.docx", docx}, file{"letter.odt", odt}, file{"late.xlsx", late}, file{"fake.zip", fake})
	got, _, err := collect(t, &Walker{}, "leak.zip", outer)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers(t, got, map[string][]byte{
		"leak.zip!/report.docx":                   docx,
		"leak.zip!/letter.odt":                    odt,
		"leak.zip!/late.xlsx":                     late,
		"leak.zip!/fake.zip!/[Content_Types].xml": []byte("<Types/>"),
		"leak.zip!/fake.zip!/patients.csv":        csv,
	})
	// Walked on its own, a document comes back whole.
	got, _, err = collect(t, &Walker{}, "report.docx", docx)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers(t, got, map[string][]byte{"report.docx": docx})
}

func TestPathTraversalCleaned(t *testing.T) {
	names := map[string]string{
		"../../etc/passwd":     "etc/passwd",
		"/abs/file.txt":        "abs/file.txt",
		`C:\Users\x\doc.pdf`:   "Users/x/doc.pdf",
		"a/../../../b.txt":     "b.txt",
		"ok/./c.txt":           "ok/c.txt",
		"evil.zip!/fake.pdf":   "evil.zip%21/fake.pdf",
		"ctl\x07\x1bchars.txt": "ctl__chars.txt",
		"bad\xffutf8.txt":      "bad\uFFFDutf8.txt",
		"..":                   "_",
	}
	var files []file
	for n := range names {
		files = append(files, file{n, []byte(n)})
	}
	for _, kind := range []string{"zip", "tar"} {
		t.Run(kind, func(t *testing.T) {
			var data []byte
			if kind == "zip" {
				data = buildZip(t, files...)
			} else {
				data = buildTar(t, files...)
			}
			got, _, err := collect(t, &Walker{}, "t."+kind, data)
			if err != nil {
				t.Fatal(err)
			}
			for raw, clean := range names {
				m, ok := got["t."+kind+"!/"+clean]
				if !ok || !bytes.Equal(m.Data, []byte(raw)) {
					t.Errorf("%q: want label %q; have %v", raw, clean, keys(got))
				}
			}
			for p := range got {
				rest := strings.TrimPrefix(p, "t."+kind+"!/")
				if strings.Contains(rest, "..") || strings.HasPrefix(rest, "/") || strings.Contains(rest, "!/") {
					t.Errorf("unsafe label %q", p)
				}
			}
		})
	}
}

func TestSkippedEntries(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"},
		{Name: "hard", Typeflag: tar.TypeLink, Linkname: "dir/f"},
		{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		{Name: "blk", Typeflag: tar.TypeBlock},
		{Name: "fifo", Typeflag: tar.TypeFifo},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "dir/f", Typeflag: tar.TypeReg, Size: int64(len(note)), Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Write(note)
	tw.Close()
	got, st, err := collect(t, &Walker{}, "t.tar", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	wantMembers(t, got, map[string][]byte{"t.tar!/dir/f": note})
	if st.Skipped != 6 {
		t.Errorf("Skipped = %d, want 6", st.Skipped)
	}

	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	h := &zip.FileHeader{Name: "link"}
	h.SetMode(0o777 | 1<<27) // os.ModeSymlink
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("/etc/shadow"))
	zw.Create("emptydir/")
	w, _ = zw.Create("f.txt")
	w.Write(note)
	zw.Close()
	got, st, err = collect(t, &Walker{}, "t.zip", zb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	wantMembers(t, got, map[string][]byte{"t.zip!/f.txt": note})
	if st.Skipped != 2 {
		t.Errorf("Skipped = %d, want 2", st.Skipped)
	}
}

func TestFnErrorStopsWalk(t *testing.T) {
	data := buildZip(t, file{"a", pdf}, file{"b", pdf}, file{"c", pdf})
	stop := errors.New("enough")
	calls := 0
	_, err := (&Walker{}).Walk(context.Background(), "x.zip", data, func(Member) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	data := buildZip(t, file{"a", pdf}, file{"b", pdf})
	w := &Walker{Limits: Limits{Timeout: time.Nanosecond}}
	time.Sleep(time.Millisecond)
	_, err := w.Walk(context.Background(), "x.zip", data, func(Member) error { return nil })
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "Timeout" || !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want Timeout limit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Walker{}).Walk(ctx, "x.zip", data, func(Member) error { return nil })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestMemberLimitPerMember(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4096)
	data := buildZip(t, file{"big", big}, file{"small", note})
	w := &Walker{Limits: Limits{MaxMemberBytes: 1024}}
	got, st, err := collect(t, w, "x.zip", data)
	if err != nil {
		t.Fatal(err)
	}
	if m := got["x.zip!/big"]; !errors.Is(m.Err, ErrLimit) || !strings.Contains(m.Err.Error(), "MaxMemberBytes") || m.Data != nil {
		t.Errorf("big: %+v", m.Err)
	}
	if m := got["x.zip!/small"]; m.Err != nil || !bytes.Equal(m.Data, note) {
		t.Errorf("small: %v", m.Err)
	}
	if st.Errors != 1 || st.Members != 1 {
		t.Errorf("stats %+v", st)
	}
	// A compressed stream has no declared size: the LimitReader catches it.
	got, _, err = collect(t, w, "big.gz", gz(t, big))
	if err != nil {
		t.Fatal(err)
	}
	if m := got["big.gz!/big"]; !errors.Is(m.Err, ErrLimit) {
		t.Errorf("stream: %v", keys(got))
	}
}

func TestLimitErrorText(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", limitErr("MaxTotalBytes", 5, 4))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "archive limit exceeded: MaxTotalBytes: 5 > 4") {
		t.Fatal(err)
	}
}

func TestCorruptArchivesNeverPanic(t *testing.T) {
	tarball := buildTar(t, file{"docs/a.pdf", pdf}, file{"docs/b.csv", csv})
	inputs := map[string][]byte{
		"zip":  buildZip(t, file{"a.pdf", pdf}, file{"b.csv", csv}, file{"in.zip", buildZip(t, file{"n", note})}),
		"tar":  tarball,
		"tgz":  gz(t, tarball),
		"tbz":  bz2(t, tarball),
		"txz":  xzc(t, tarball),
		"tzst": zst(t, tarball),
		"rar":  buildRar5([]rarEntry{{name: "a.pdf", data: pdf}, {name: "b.csv", data: csv, password: "pw"}}, ""),
		"rarh": buildRar5([]rarEntry{{name: "a.pdf", data: pdf}}, "pw"),
	}
	w := &Walker{Passwords: []string{"nope", "pw"}, Limits: Limits{Timeout: 10 * time.Second}}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			step := max(1, len(data)/97)
			for cut := 0; cut < len(data); cut += step {
				if _, err := w.Walk(context.Background(), name, data[:cut], func(Member) error { return nil }); fatal(err) && !errors.Is(err, ErrLimit) {
					t.Fatalf("truncated at %d: %v", cut, err)
				}
				flipped := bytes.Clone(data)
				flipped[cut] ^= 0x55
				if _, err := w.Walk(context.Background(), name, flipped, func(Member) error { return nil }); fatal(err) && !errors.Is(err, ErrLimit) {
					t.Fatalf("flipped at %d: %v", cut, err)
				}
			}
		})
	}
	// A truncated tar.gz reports the damage, not silence.
	got, st, err := collect(t, &Walker{}, "cut.tar.gz", gz(t, tarball)[:len(gz(t, tarball))/2])
	if err != nil {
		t.Fatal(err)
	}
	if st.Errors == 0 {
		t.Errorf("truncated tar.gz: no error reported: %v", keys(got))
	}
}
