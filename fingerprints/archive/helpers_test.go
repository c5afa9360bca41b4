package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

type file struct {
	name string
	data []byte
}

func buildZip(t testing.TB, files ...file) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func buildTar(t testing.TB, files ...file) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func bz2(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := bzip2.NewWriter(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func xzc(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zst(t testing.TB, data []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(data, nil)
}

// collect walks data and returns every member by path.
func collect(t testing.TB, w *Walker, name string, data []byte) (map[string]Member, Stats, error) {
	t.Helper()
	got := map[string]Member{}
	st, err := w.Walk(context.Background(), name, data, func(m Member) error {
		if _, dup := got[m.Path]; dup {
			t.Errorf("member %q reported twice", m.Path)
		}
		got[m.Path] = m
		return nil
	})
	return got, st, err
}

// sevenZipCLI returns the 7z binary or skips: no Go 7z writer exists.
// CI installs it with `apt-get install -y p7zip-full` (Debian's 7-Zip).
func sevenZipCLI(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"7z", "7zz", "7za"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("7z CLI not installed (apt-get install p7zip-full); skipping 7z-generated inputs")
	return ""
}

// run7z writes files into a temp dir and runs `7z a out args... files`.
func run7z(t testing.TB, out string, args []string, files ...file) []byte {
	t.Helper()
	bin := sevenZipCLI(t)
	dir := t.TempDir()
	var names []string
	for _, f := range files {
		p := filepath.Join(dir, "in", f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, f.name)
	}
	outPath := filepath.Join(dir, out)
	cmd := exec.Command(bin, append(append([]string{"a", "-bd", "-y", outPath}, args...), names...)...)
	cmd.Dir = filepath.Join(dir, "in")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7z: %v\n%s", err, b)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- a minimal RAR 5 writer (store method), for tests only ---
//
// No Go RAR writer exists and the `rar` CLI is non-free, so tests build RAR 5
// archives by hand from the format description (rarlab.com technote),
// cross-checked against rardecode's reader: blocks, file headers with CRC32,
// symlink redirection records, per-file AES-256 encryption and encrypted
// headers (rar -hp).

type rarEntry struct {
	name     string
	data     []byte
	dir      bool
	symlink  string // target; makes a Unix symlink
	password string // per-file encryption when set
}

type rar5 struct {
	b        bytes.Buffer
	hdrKey   []byte // header encryption key (rar -hp) when set
	kdfPower byte
}

func vint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// rar5Keys mirrors RAR 5's PBKDF2-HMAC-SHA256 key schedule: the key after
// 2^power rounds, then the hash key after 16 more, then the password check
// value after 16 more, folded to 8 bytes plus a 4-byte SHA-256 checksum.
func rar5Keys(pass string, salt []byte, power byte) (key, check []byte) {
	prf := hmac.New(sha256.New, []byte(pass))
	prf.Write(salt)
	prf.Write([]byte{0, 0, 0, 1})
	t := prf.Sum(nil)
	u := slices.Clone(t)
	var keys [][]byte
	for _, iter := range []int{1<<power - 1, 16, 16} {
		for ; iter > 0; iter-- {
			prf.Reset()
			prf.Write(u)
			u = prf.Sum(u[:0])
			for j := range u {
				t[j] ^= u[j]
			}
		}
		keys = append(keys, slices.Clone(t))
	}
	pc := keys[2]
	for i, v := range pc[8:] {
		pc[i&7] ^= v
	}
	pc = pc[:8]
	sum := sha256.Sum256(pc)
	return keys[0], append(pc, sum[:4]...)
}

func cbcEncrypt(key, iv, data []byte) []byte {
	pad := (16 - len(data)%16) % 16
	out := append(slices.Clone(data), make([]byte, pad)...)
	block, _ := aes.NewCipher(key)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return out
}

// block writes one block: header fields (type onwards), optional extra
// area and data.
func (r *rar5) block(htype, flags uint64, body, extra []byte, data []byte) {
	var h []byte
	h = vint(h, htype)
	if len(extra) > 0 {
		flags |= 0x0001
	}
	if data != nil {
		flags |= 0x0002
	}
	h = vint(h, flags)
	if len(extra) > 0 {
		h = vint(h, uint64(len(extra)))
	}
	if data != nil {
		h = vint(h, uint64(len(data)))
	}
	h = append(h, body...)
	h = append(h, extra...)
	sized := vint(nil, uint64(len(h)))
	sized = append(sized, h...)
	var full []byte
	full = binary.LittleEndian.AppendUint32(full, crc32.ChecksumIEEE(sized))
	full = append(full, sized...)
	if r.hdrKey != nil {
		iv := bytes.Repeat([]byte{byte(r.b.Len())}, 16)
		r.b.Write(iv)
		r.b.Write(cbcEncrypt(r.hdrKey, iv, full))
	} else {
		r.b.Write(full)
	}
	r.b.Write(data)
}

// buildRar5 writes a RAR 5 archive. headerPassword enables header
// encryption (and then every file is encrypted with it too, as rar -hp does).
func buildRar5(entries []rarEntry, headerPassword string) []byte {
	r := &rar5{kdfPower: 4} // 16 rounds: fast tests (rar itself uses 2^15)
	r.b.WriteString("Rar!\x1a\x07\x01\x00")
	if headerPassword != "" {
		salt := bytes.Repeat([]byte{0x5a}, 16)
		key, check := rar5Keys(headerPassword, salt, r.kdfPower)
		var body []byte
		body = vint(body, 0) // version
		body = vint(body, 1) // flags: check present
		body = append(body, r.kdfPower)
		body = append(body, salt...)
		body = append(body, check...)
		r.block(4, 0, body, nil, nil)
		r.hdrKey = key
		for i := range entries {
			if entries[i].password == "" {
				entries[i].password = headerPassword
			}
		}
	}
	r.block(1, 0, vint(nil, 0), nil, nil)
	for i, e := range entries {
		var body, extra []byte
		flags := uint64(0x0004) // CRC32 present
		attr := uint64(0o100644)
		data := e.data
		switch {
		case e.dir:
			flags = 0x0001
			attr = 0o40755
			data = nil
		case e.symlink != "":
			attr = 0o120777
			data = nil
			var rec []byte
			rec = vint(rec, 5) // redirection record
			rec = vint(rec, 1) // unix symlink
			rec = vint(rec, 0)
			rec = vint(rec, uint64(len(e.symlink)))
			rec = append(rec, e.symlink...)
			extra = append(vint(extra, uint64(len(rec))), rec...)
		}
		body = vint(body, flags)
		body = vint(body, uint64(len(data)))
		body = vint(body, attr)
		if flags&0x0004 != 0 {
			body = binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(data))
		}
		body = vint(body, 0) // compression: store
		body = vint(body, 1) // host OS: unix
		body = vint(body, uint64(len(e.name)))
		body = append(body, e.name...)
		if e.password != "" && !e.dir && e.symlink == "" {
			salt := bytes.Repeat([]byte{byte(i + 1)}, 16)
			iv := bytes.Repeat([]byte{byte(i + 7)}, 16)
			key, check := rar5Keys(e.password, salt, r.kdfPower)
			var rec []byte
			rec = vint(rec, 1) // encryption record
			rec = vint(rec, 0) // version
			rec = vint(rec, 1) // flags: check present (no MAC)
			rec = append(rec, r.kdfPower)
			rec = append(rec, salt...)
			rec = append(rec, iv...)
			rec = append(rec, check...)
			extra = append(vint(extra, uint64(len(rec))), rec...)
			data = cbcEncrypt(key, iv, data)
		}
		if data == nil {
			data = []byte{}
		}
		r.block(2, 0, body, extra, data)
	}
	r.block(5, 0, vint(nil, 0), nil, nil)
	return r.b.Bytes()
}

var _ = io.EOF
