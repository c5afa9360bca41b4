package evidence

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// EncryptedSuffix ends the name of a WARC file encrypted at rest: the
// whole <name>.warc.gz as one standard age file, so `age -d -i KEY` gives
// back the WARC file byte for byte and every recorded offset holds.
const EncryptedSuffix = ".age"

// ErrNoKey means the evidence is encrypted and no identity that opens it
// was given.
var ErrNoKey = errors.New("evidence is encrypted at rest and no key that opens it was given (evidence.key_file)")

// OpenWARC opens the WARC file file (relative to dir, forward slashes, as
// in Record.File) for reading: the plain file while it is still being
// written, else its encrypted form, decrypted with ids as it is read (age's
// random access: only the chunks read are decrypted). size is the plain
// file's size. The caller closes c.
func OpenWARC(dir, file string, ids ...age.Identity) (r io.ReaderAt, size int64, c io.Closer, err error) {
	if file == "" || !filepath.IsLocal(filepath.FromSlash(file)) {
		return nil, 0, nil, fmt.Errorf("evidence: invalid WARC file name %q", file)
	}
	p := filepath.Join(dir, filepath.FromSlash(file))
	f, err := os.Open(p)
	if err == nil {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, nil, fmt.Errorf("evidence: %w", err)
		}
		return f, st.Size(), f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil, fmt.Errorf("evidence: %w", err)
	}
	f, eerr := os.Open(p + EncryptedSuffix)
	if eerr != nil {
		if errors.Is(eerr, os.ErrNotExist) {
			return nil, 0, nil, fmt.Errorf("evidence: %w", err) // name the plain file: that is what was asked for
		}
		return nil, 0, nil, fmt.Errorf("evidence: %w", eerr)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("evidence: %w", err)
	}
	if len(ids) == 0 {
		f.Close()
		return nil, 0, nil, fmt.Errorf("evidence: %s: %w", file, ErrNoKey)
	}
	ra, n, err := age.DecryptReaderAt(f, st.Size(), ids...)
	if err != nil {
		f.Close()
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, 0, nil, fmt.Errorf("evidence: %s: the evidence key does not open it: %w", file, err)
		}
		return nil, 0, nil, fmt.Errorf("evidence: %s: decrypt: %w", file, err)
	}
	return ra, n, f, nil
}

// EncryptFile encrypts the closed WARC file at path to recipients as
// path+EncryptedSuffix, durably, and then removes the plain file. Run again
// after a crash between the two, it encrypts again and removes the plain
// file: the plain file is only ever removed once its encrypted copy is on
// disk.
func EncryptFile(path string, recipients ...age.Recipient) (err error) {
	if len(recipients) == 0 {
		return errors.New("evidence: encrypt: no recipients")
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("evidence: encrypt: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".age-*")
	if err != nil {
		return fmt.Errorf("evidence: encrypt: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w, err := age.Encrypt(tmp, recipients...)
	if err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path+EncryptedSuffix); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("evidence: encrypt %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("evidence: encrypt %s: remove the plain file: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// EncryptRun encrypts every plain WARC file left in the run directory
// <dir>/<runID> (by a writer that never closed: a crash mid-run). It must
// not run while a Writer still writes that run. It returns how many files
// it encrypted.
func EncryptRun(dir, runID string, recipients ...age.Recipient) (int, error) {
	if !runIDPattern.MatchString(runID) {
		return 0, fmt.Errorf("evidence: invalid run id %q", runID)
	}
	runDir := filepath.Join(dir, runID)
	entries, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("evidence: %w", err)
	}
	n := 0
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && strings.HasPrefix(name, runID+"-") && strings.HasSuffix(name, warcSuffix) {
			if err := EncryptFile(filepath.Join(runDir, name), recipients...); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
