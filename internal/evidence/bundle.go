package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Bundle writes a tar.gz for counsel: members added one by one, and on
// Close a SHA256SUMS over all of them in sha256sum(1) format. Files are
// streamed, not loaded.
type Bundle struct {
	tw    *tar.Writer
	zw    *gzip.Writer
	now   time.Time
	sums  bytes.Buffer
	names map[string]bool
}

// NewBundle starts a bundle on w; now stamps its generated members.
func NewBundle(w io.Writer, now time.Time) *Bundle {
	zw := gzip.NewWriter(w)
	return &Bundle{zw: zw, tw: tar.NewWriter(zw), now: now.UTC().Truncate(time.Second), names: map[string]bool{BundleSumsName: true}}
}

func (b *Bundle) claim(name string) error {
	if name == "" || path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("evidence: bundle member name %q is not a clean relative path", name)
	}
	if b.names[name] {
		return fmt.Errorf("evidence: two bundle members named %s", name)
	}
	b.names[name] = true
	return nil
}

// AddBytes adds a member holding data.
func (b *Bundle) AddBytes(name string, data []byte) error {
	if err := b.claim(name); err != nil {
		return err
	}
	if err := b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: b.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	if _, err := b.tw.Write(data); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	fmt.Fprintf(&b.sums, "%s  %s\n", hexSum(data), name)
	return nil
}

// AddJSON adds a member holding v as indented JSON.
func (b *Bundle) AddJSON(name string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // record ids are <urn:uuid:…>
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("evidence: bundle: encoding %s: %w", name, err)
	}
	return b.AddBytes(name, buf.Bytes())
}

// AddWARC adds the WARC file file of the evidence directory dir (a
// Record.File) as name, decrypted if it is encrypted at rest (ids open it):
// counsel gets the WARC file itself, every recorded offset valid in it. A
// file still being appended to is copied up to its size when opened, which
// holds every record already referenced.
func (b *Bundle) AddWARC(dir, file, name string, ids ...age.Identity) error {
	if err := b.claim(name); err != nil {
		return err
	}
	r, size, c, err := OpenWARC(dir, file, ids...)
	if err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	defer c.Close()
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: b.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(b.tw, h), io.NewSectionReader(r, 0, size))
	if err != nil {
		return fmt.Errorf("evidence: bundle: %s: %w", file, err)
	}
	if n != size {
		return errors.New("evidence: bundle: " + file + " shrank while being bundled")
	}
	fmt.Fprintf(&b.sums, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	return nil
}

// Close writes SHA256SUMS and ends the archive.
func (b *Bundle) Close() error {
	if err := b.tw.WriteHeader(&tar.Header{Name: BundleSumsName, Mode: 0o644, Size: int64(b.sums.Len()), ModTime: b.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	if _, err := b.tw.Write(b.sums.Bytes()); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	if err := b.tw.Close(); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	if err := b.zw.Close(); err != nil {
		return fmt.Errorf("evidence: bundle: %w", err)
	}
	return nil
}
