package webcrawl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/nwaples/rardecode/v2"
)

// No RAR writer is installed here (rar is non-free), so the tests write
// their archives: stored (method 0) members only, after the published
// formats, RAR5 (rarlab.com/technote.htm) and RAR 1.5–4 (unrar's
// technote.txt). rardecode reading them back, and 7z testing and listing
// them where it is installed, shows they are real archives.

type rarEntry struct {
	name string
	data []byte
	dir  bool
	// blake2 stores a BLAKE2sp hash record instead of the CRC32 field
	// (RAR5 "-htb"); its value is zeros: no reader here checks it.
	blake2 bool
	split  bool // the member continues in the next volume
	link   bool // a RAR5 symlink record (RAR5 only)
	wide   bool // RAR4: the 64-bit size fields (flag 0x100)
	pad    int  // RAR5: an extra record of an unknown type, this big
}

type rarOptions struct {
	solid            bool
	encryptedHeaders bool // only the marker of header encryption; nothing after it is readable
}

// rarTestEntries is n stored members of size bytes of noise each.
func rarTestEntries(n, size int) []rarEntry {
	var es []rarEntry
	for i := range n {
		es = append(es, rarEntry{name: fmt.Sprintf("dump/records/patient-%03d.pdf", i), data: noise(uint64(100+i), size)})
	}
	return es
}

// rarWant is what listing entries should give: the regular files that
// have a usable CRC-32.
func rarWant(es []rarEntry) map[string][]byte {
	want := map[string][]byte{}
	for _, e := range es {
		if !e.dir && !e.blake2 && !e.split && !e.link {
			want[e.name] = e.data
		}
	}
	return want
}

// rar5Block is a RAR5 header block: CRC32, header size, then type, flags,
// extra area size, data size, fields and extra area, which the size and
// the CRC cover.
func rar5Block(typ, flags uint64, fields, extra []byte, data []byte) []byte {
	if len(extra) > 0 {
		flags |= 0x0001
	}
	if data != nil {
		flags |= 0x0002
	}
	body := binary.AppendUvarint(nil, typ)
	body = binary.AppendUvarint(body, flags)
	if len(extra) > 0 {
		body = binary.AppendUvarint(body, uint64(len(extra)))
	}
	if data != nil {
		body = binary.AppendUvarint(body, uint64(len(data)))
	}
	body = append(append(body, fields...), extra...)
	h := binary.AppendUvarint(nil, uint64(len(body)))
	h = append(h, body...)
	out := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(h))
	return append(append(out, h...), data...)
}

func writeRAR5(t *testing.T, o rarOptions, es []rarEntry) []byte {
	t.Helper()
	a := bytes.Clone(rar5Signature)
	if o.encryptedHeaders {
		// Encryption header: version 0, flags 0, KDF count, salt; what
		// follows would be AES blocks.
		f := []byte{0, 0, 15}
		f = append(f, noise(1, 16)...)
		a = append(a, rar5Block(4, 0, f, nil, nil)...)
		return append(a, noise(2, 200_000)...)
	}
	var arcFlags uint64
	multi := false
	for _, e := range es {
		multi = multi || e.split
	}
	if multi {
		arcFlags |= 0x0001 // a volume
	}
	if o.solid {
		arcFlags |= 0x0004
	}
	a = append(a, rar5Block(1, 0, binary.AppendUvarint(nil, arcFlags), nil, nil)...)
	for i, e := range es {
		var fileFlags, attrs, comp uint64 = 0, 0o100644, 0 // comp 0: version 0, stored
		if e.dir {
			fileFlags, attrs = fileFlags|0x0001, 0o40755
		}
		if !e.blake2 && !e.dir {
			fileFlags |= 0x0004
		}
		if o.solid && i > 0 {
			comp |= 0x0040
		}
		f := binary.AppendUvarint(nil, fileFlags)
		f = binary.AppendUvarint(f, uint64(len(e.data)))
		f = binary.AppendUvarint(f, attrs)
		if fileFlags&0x0004 != 0 {
			f = binary.LittleEndian.AppendUint32(f, crc32.ChecksumIEEE(e.data))
		}
		f = binary.AppendUvarint(f, comp)
		f = binary.AppendUvarint(f, 1) // host OS: Unix
		f = binary.AppendUvarint(f, uint64(len(e.name)))
		f = append(f, e.name...)
		var extra []byte
		record := func(typ uint64, data []byte) {
			r := append(binary.AppendUvarint(nil, typ), data...)
			extra = append(binary.AppendUvarint(extra, uint64(len(r))), r...)
		}
		if e.blake2 {
			record(0x02, append([]byte{0}, make([]byte, 32)...)) // BLAKE2sp
		}
		if e.link {
			record(0x05, append([]byte{1, 0, 6}, "target"...)) // Unix symlink to "target"
		}
		if e.pad > 0 {
			record(0x7f, make([]byte, e.pad))
		}
		var blockFlags uint64
		if e.split {
			blockFlags |= 0x0010
		}
		data := e.data
		if data == nil {
			data = []byte{}
		}
		if e.dir || e.link {
			data = nil
		}
		a = append(a, rar5Block(2, blockFlags, f, extra, data)...)
	}
	var endFlags uint64
	if multi {
		endFlags = 0x0001 // not the last volume
	}
	return append(a, rar5Block(5, 0, binary.AppendUvarint(nil, endFlags), nil, nil)...)
}

// rar4Block is a RAR 1.5–4 block header: the low half of the CRC32 of
// what follows it, type, flags, size, and the rest.
func rar4Block(typ byte, flags uint16, rest []byte) []byte {
	h := make([]byte, 7, 7+len(rest))
	h[2] = typ
	binary.LittleEndian.PutUint16(h[3:], flags)
	binary.LittleEndian.PutUint16(h[5:], uint16(7+len(rest)))
	h = append(h, rest...)
	binary.LittleEndian.PutUint16(h, uint16(crc32.ChecksumIEEE(h[2:])))
	return h
}

// rar4Unicode stores name with flag 0x200: an OEM name with '?' for what
// is not ASCII, a NUL, the high byte (0) and every UTF-16 unit whole
// (encoding type 2, four to a flags byte).
func rar4Unicode(name string) []byte {
	u := utf16.Encode([]rune(name))
	var oem []byte
	for _, c := range u {
		if c < 0x80 {
			oem = append(oem, byte(c))
		} else {
			oem = append(oem, '?')
		}
	}
	b := append(oem, 0, 0)
	for i, c := range u {
		if i%4 == 0 {
			b = append(b, 0xaa)
		}
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func writeRAR4(t *testing.T, o rarOptions, es []rarEntry) []byte {
	t.Helper()
	a := bytes.Clone(rar4Signature)
	var arcFlags uint16
	if o.solid {
		arcFlags |= 0x0008
	}
	if o.encryptedHeaders {
		arcFlags |= 0x0080
	}
	a = append(a, rar4Block(rar4Archive, arcFlags, make([]byte, 6))...)
	if o.encryptedHeaders {
		return append(a, noise(3, 200_000)...)
	}
	le := binary.LittleEndian
	for i, e := range es {
		flags := uint16(0x8000)
		name := []byte(e.name)
		if strings.ContainsFunc(e.name, func(r rune) bool { return r >= 0x80 }) {
			flags |= 0x0200
			name = rar4Unicode(e.name)
		}
		attrs := uint32(0o100644)
		if e.dir {
			flags |= 0x00e0
			attrs = 0o40755
		}
		if e.split {
			flags |= 0x0002
		}
		if e.wide {
			flags |= 0x0100
		}
		if o.solid && i > 0 {
			flags |= 0x0010
		}
		f := le.AppendUint32(nil, uint32(len(e.data))) // packed size
		f = le.AppendUint32(f, uint32(len(e.data)))    // unpacked size
		f = append(f, 3)                               // host OS: Unix
		f = le.AppendUint32(f, crc32.ChecksumIEEE(e.data))
		f = le.AppendUint32(f, 0x5a210000) // 2025-01-01, DOS time
		f = append(f, 29, 0x30)            // version 2.9, stored
		f = le.AppendUint16(f, uint16(len(name)))
		f = le.AppendUint32(f, attrs)
		if e.wide {
			f = le.AppendUint32(le.AppendUint32(f, 0), 0) // high halves
		}
		f = append(f, name...)
		a = append(a, rar4Block(rar4File, flags, f)...)
		a = append(a, e.data...)
	}
	return append(a, rar4Block(rar4End, 0x4000, nil)...)
}

// rardecodeRoundTrip reads archive with rardecode and checks that every
// regular member reads back as written (rardecode checks its CRC too).
func rardecodeRoundTrip(t *testing.T, archive []byte, es []rarEntry) {
	t.Helper()
	rr, err := rardecode.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("rardecode: %v", err)
	}
	want := map[string]rarEntry{}
	for _, e := range es {
		want[e.name] = e
	}
	seen := 0
	for {
		h, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("rardecode Next: %v", err)
		}
		e, ok := want[h.Name]
		if !ok {
			t.Errorf("rardecode: unexpected member %q", h.Name)
			continue
		}
		seen++
		if h.IsDir != e.dir {
			t.Errorf("rardecode: %q dir %v", h.Name, h.IsDir)
		}
		if e.dir || e.link {
			continue
		}
		got, err := io.ReadAll(rr)
		if err != nil || !bytes.Equal(got, e.data) {
			t.Errorf("rardecode: %q read back %d bytes (%v), want %d", h.Name, len(got), err, len(e.data))
		}
	}
	if seen != len(es) {
		t.Errorf("rardecode saw %d of %d members", seen, len(es))
	}
}

// sevenZipCheckRAR has 7z, where installed, test archive (headers and
// data, CRCs included) and list it, and compares its CRCs with want's.
func sevenZipCheckRAR(t *testing.T, archive []byte, want map[string][]byte) {
	t.Helper()
	bin, err := exec.LookPath("7z")
	if err != nil {
		t.Log("7z not installed: RAR fixtures checked by rardecode only")
		return
	}
	p := filepath.Join(t.TempDir(), "a.rar")
	if err := os.WriteFile(p, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "t", p).CombinedOutput(); err != nil {
		t.Fatalf("7z t: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "l", "-slt", p).CombinedOutput()
	if err != nil {
		t.Fatalf("7z l: %v\n%s", err, out)
	}
	got := map[string]string{} // path → CRC, from its "Path = …" block
	for _, block := range strings.Split(string(out), "\n\n") {
		var path, crc string
		for _, line := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(line, " = ")
			switch k {
			case "Path":
				path = v
			case "CRC":
				crc = v
			}
		}
		got[path] = crc
	}
	for name, data := range want {
		if c := fmt.Sprintf("%08X", crc32.ChecksumIEEE(data)); got[name] != c {
			t.Errorf("7z lists %q with CRC %q, want %s", name, got[name], c)
		}
	}
}

// RAR5 and RAR4 archives, solid or not: the members with their CRC-32
// and size, hopping header to header: one small ranged request per
// member, a small part of the bytes.
func TestRarDirectory(t *testing.T) {
	entries := rarTestEntries(40, 200_000)
	entries = append(entries,
		rarEntry{name: "dump/records", dir: true},
		rarEntry{name: "dump/empty.txt", data: []byte{}},
		rarEntry{name: "dump/index.csv", data: []byte("nhi,name\nZZZ0016,Test Patient One\n")})
	r4 := append([]rarEntry(nil), entries...)
	r4 = append(r4, rarEntry{name: "dump/Befund-Zoë-Ωmega.txt", data: []byte("synthetic\n"), wide: true})
	archives := map[string]struct {
		data    []byte
		entries []rarEntry
	}{
		"/dump.rar":        {writeRAR5(t, rarOptions{}, entries), entries},
		"/solid.rar":       {writeRAR5(t, rarOptions{solid: true}, entries), entries},
		"/dump4.part1.rar": {writeRAR4(t, rarOptions{}, r4), r4},
		"/solid4.rar":      {writeRAR4(t, rarOptions{solid: true}, r4), r4},
	}
	site := newArchiveSite()
	for p, a := range archives {
		rardecodeRoundTrip(t, a.data, a.entries)
		sevenZipCheckRAR(t, a.data, rarWant(a.entries))
		site.add(p, a.data)
	}
	for p, f := range site.crawl(t) {
		t.Run(strings.TrimPrefix(p, "/"), func(t *testing.T) {
			checkMembers(t, f, rarWant(archives[p].entries))
			n, served := site.counts(p)
			size := len(archives[p].data)
			t.Logf("%s: %d bytes, %d members; directory read in %d ranged requests, %d bytes (%.1f%%)",
				p, size, len(f.Members), n, served, 100*float64(served)/float64(size))
			// A request per member bigger than a block, a few more for the rest.
			if n > 40+4 || served > size/8 {
				t.Errorf("%d requests and %d of the archive's %d bytes to list it", n, served, size)
			}
		})
	}
}

// Members a RAR lists without a usable CRC-32 are counted out, by reason;
// the rest are listed.
func TestRarDirectorySkips(t *testing.T) {
	entries := rarTestEntries(3, 100_000)
	entries = append(entries,
		rarEntry{name: "dump/hashed-1.pdf", data: noise(7, 50_000), blake2: true},
		rarEntry{name: "dump/hashed-2.pdf", data: noise(8, 50_000), blake2: true},
		rarEntry{name: "dump/latest", link: true},
		rarEntry{name: "dump/big-part.bin", data: noise(9, 50_000), split: true})
	site := newArchiveSite()
	a := writeRAR5(t, rarOptions{}, entries)
	rardecodeRoundTrip(t, writeRAR5(t, rarOptions{}, entries[:6]), entries[:6]) // (the split one needs its next volume)
	site.add("/mixed.rar", a)
	f := site.crawl(t)["/mixed.rar"]
	checkMembers(t, f, rarWant(entries))
	for _, want := range []string{"4 left out", "2 " + rarSkipBLAKE2, "1 " + rarSkipLink, "1 " + rarSkipSplit} {
		if !strings.Contains(f.Err.Error(), want) {
			t.Errorf("err %v; want it to say %q", f.Err, want)
		}
	}
}

// Encrypted headers (rar -hp) hide the members: a clear error, at once.
// rardecode agrees the fixtures are header-encrypted archives.
func TestRarDirectoryEncryptedHeaders(t *testing.T) {
	site := newArchiveSite()
	for p, a := range map[string][]byte{
		"/sealed.rar":  writeRAR5(t, rarOptions{encryptedHeaders: true}, nil),
		"/sealed4.rar": writeRAR4(t, rarOptions{encryptedHeaders: true}, nil),
	} {
		if _, err := rardecode.NewReader(bytes.NewReader(a)); !errors.Is(err, rardecode.ErrArchiveEncrypted) {
			t.Fatalf("%s: rardecode says %v, want ErrArchiveEncrypted", p, err)
		}
		site.add(p, a)
	}
	for p, f := range site.crawl(t) {
		if !errors.Is(f.Err, errEncryptedHeaders) || f.Members != nil ||
			!strings.Contains(f.Err.Error(), "its directory could not be read: RAR: its headers are encrypted") {
			t.Errorf("%s: err %v", p, f.Err)
		}
		if n, _ := site.counts(p); n != 1 {
			t.Errorf("%s: %d range requests, want 1", p, n)
		}
	}
}

// Truncated and corrupt RARs: what their checked headers list, or a clear
// error, from few requests; a RAR needing more requests than the cap
// lists the members read until then and says why it stopped.
func TestRarDirectoryBroken(t *testing.T) {
	entries := rarTestEntries(10, 100_000)
	whole := writeRAR5(t, rarOptions{}, entries)
	whole4 := writeRAR4(t, rarOptions{}, entries)
	// Cut inside member 4's data.
	cut, cut4 := bytes.Index(whole, entries[4].data)+50_000, bytes.Index(whole4, entries[4].data)+50_000
	corrupt := bytes.Clone(whole)
	corrupt[28] ^= 0x01                 // in the first file header, at 16 (after the signature and main header)
	many := rarTestEntries(200, 20_000) // each hop a request: past the cap
	site := newArchiveSite()
	site.add("/truncated.rar", whole[:cut])
	site.add("/truncated4.rar", whole4[:cut4])
	site.add("/corrupt.rar", corrupt)
	// A first header of 100 kB (a big extra record), cut in its middle.
	site.add("/short.rar", writeRAR5(t, rarOptions{}, []rarEntry{{name: "a", data: []byte("a"), pad: 100_000}})[:80_000])
	site.add("/many.rar", writeRAR5(t, rarOptions{}, many))
	got := site.crawl(t)

	for _, p := range []string{"/truncated.rar", "/truncated4.rar"} {
		f := got[p]
		// Member 4's header is whole; its data is what is cut.
		checkMembers(t, f, rarWant(entries[:5]))
		if !strings.Contains(f.Err.Error(), "listing stopped early") || !strings.Contains(f.Err.Error(), "truncated") {
			t.Errorf("%s: err %v", p, f.Err)
		}
		if n, _ := site.counts(p); n > 12 {
			t.Errorf("%s: %d range requests", p, n)
		}
	}
	for p, want := range map[string]string{"/corrupt.rar": "header at offset 16: header CRC mismatch: corrupt", "/short.rar": "header at offset 16: the header (100030 bytes) runs past the archive's end: truncated"} {
		f := got[p]
		if f.Err == nil || !strings.Contains(f.Err.Error(), "its directory could not be read: RAR: "+want) || f.Members != nil {
			t.Errorf("%s: err %v", p, f.Err)
		}
		if n, _ := site.counts(p); n > 2 {
			t.Errorf("%s: %d range requests", p, n)
		}
	}

	f := got["/many.rar"]
	n, served := site.counts("/many.rar")
	t.Logf("many.rar: %d members listed in %d requests, %d bytes; err %v", len(f.Members), n, served, f.Err)
	if n != archiveMaxRequests || len(f.Members) < archiveMaxRequests-2 || len(f.Members) >= len(many) ||
		!strings.Contains(f.Err.Error(), fmt.Sprintf("its directory lists %d members (listing stopped early: ", len(f.Members))) ||
		!strings.HasSuffix(f.Err.Error(), errRequestCap.Error()+")") {
		t.Errorf("many.rar: %d requests, %d members, err %v", n, len(f.Members), f.Err)
	}
	for _, m := range f.Members {
		var e rarEntry
		for _, x := range many {
			if x.name == m.Name {
				e = x
			}
		}
		if e.name == "" || m.CRC32 != crc32.ChecksumIEEE(e.data) || m.Size != int64(len(e.data)) {
			t.Errorf("many.rar: member %+v", m)
		}
	}
}

// The decoding of RAR4 Unicode names against unrar's algorithm as
// rardecode implements it, including the OEM-run encoding (type 3).
func TestRarName4(t *testing.T) {
	for _, name := range []string{"plain.txt", "Befund-Zoë-Ωmega.txt", "患者記録.csv"} {
		if got := rar4Name(rar4Unicode(name)); got != name {
			t.Errorf("rar4Name(%q) = %q", name, got)
		}
	}
	// "abcdé": high byte 0; flags 11 (run), 01 (high page); run of 4 of
	// the OEM name unchanged (length 4-2), then 0xe9 in page 0.
	enc := append([]byte("abcd?\x00"), 0x00, 0xd0, 0x02, 0xe9)
	if got := rar4Name(enc); got != "abcdé" {
		t.Errorf("run encoding: %q", got)
	}
	if got := rar4Name([]byte("utf8-ñ.txt")); got != "utf8-ñ.txt" {
		t.Errorf("no NUL: %q", got)
	}
}
