package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/nwaples/rardecode/v2"
)

// rar walks a single-volume RAR (1.5–5.0) archive as a stream. The
// dictionary is capped (MaxDictionarySize), since RAR 7 archives may declare
// up to 64 GiB. Encrypted headers or contents are retried with each
// candidate password on a fresh reader positioned at the same entry.
func (st *walk) rar(a *arc, data []byte) error {
	var pw *string
	rd, err := st.rarOpen(data, nil)
	if err != nil && !rarEncrypted(err) {
		return fmt.Errorf("rar: %w", err)
	}
	for idx := 0; ; idx++ {
		var h *rardecode.FileHeader
		if rd != nil {
			h, err = rarNext(rd)
		}
		if rd == nil || (err != nil && rarEncrypted(err)) {
			// Encrypted headers: nothing can be listed without a password.
			rd, h, pw, err = st.rarRetry(data, idx, pw, nil)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if fatal(err) || errors.Is(err, ErrEncrypted) {
				return err
			}
			return fmt.Errorf("rar: %w", err)
		}
		if err := st.entry(); err != nil {
			return err
		}
		if h.IsDir || h.LinkType != rardecode.LinkTypeNone || h.Mode()&(fs.ModeType) != 0 {
			st.skip()
			continue
		}
		declared := h.UnPackedSize
		if h.UnKnownSize {
			declared = -1
		}
		if err := a.checkDeclared(declared); err != nil {
			if err := a.member(h.Name, declared, nil, err); err != nil {
				return err
			}
			continue
		}
		out, rerr := st.readRar(a, rd, declared)
		if rerr != nil && h.Encrypted && !fatal(rerr) && !errors.Is(rerr, ErrLimit) {
			var nrd *rardecode.Reader
			var npw *string
			nrd, _, npw, rerr = st.rarRetry(data, idx, pw, func(r *rardecode.Reader) error {
				o, err := st.readRar(a, r, declared)
				out = o
				return err
			})
			if rerr == nil {
				rd, pw = nrd, npw
			}
		}
		if rerr != nil && !fatal(rerr) && !errors.Is(rerr, ErrLimit) && !errors.Is(rerr, ErrEncrypted) {
			rerr = fmt.Errorf("rar: %w", rerr)
		}
		if err := a.member(h.Name, declared, out, rerr); err != nil {
			return err
		}
	}
}

func rarEncrypted(err error) bool {
	return errors.Is(err, rardecode.ErrArchiveEncrypted) ||
		errors.Is(err, rardecode.ErrArchivedFileEncrypted) ||
		errors.Is(err, rardecode.ErrBadPassword)
}

func (st *walk) rarOpen(data []byte, pw *string) (r *rardecode.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("rar: library panic: %v", p)
		}
	}()
	opts := []rardecode.Option{rardecode.MaxDictionarySize(st.lim.dictCap())}
	if pw != nil {
		opts = append(opts, rardecode.Password(*pw))
	}
	return rardecode.NewReader(st.input(data), opts...)
}

func rarNext(r *rardecode.Reader) (h *rardecode.FileHeader, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("rar: library panic: %v", p)
		}
	}()
	return r.Next()
}

// rarRetry opens the archive with each candidate password other than
// current, moves to entry idx and, when verify is given, reads that entry
// with it. It returns the first reader that gets there.
func (st *walk) rarRetry(data []byte, idx int, current *string, verify func(*rardecode.Reader) error) (*rardecode.Reader, *rardecode.FileHeader, *string, error) {
candidates:
	for _, p := range st.passwordOrder() {
		if current != nil && p == *current {
			continue
		}
		pw := p
		r, err := st.rarOpen(data, &pw)
		if err != nil {
			if fatal(err) {
				return nil, nil, nil, err
			}
			continue
		}
		var h *rardecode.FileHeader
		for i := 0; i <= idx; i++ {
			if h, err = rarNext(r); err != nil {
				if fatal(err) {
					return nil, nil, nil, err
				}
				continue candidates
			}
		}
		if verify != nil {
			if err := verify(r); err != nil {
				if fatal(err) || errors.Is(err, ErrLimit) {
					return nil, nil, nil, err
				}
				continue
			}
		}
		st.preferPassword(pw)
		return r, h, &pw, nil
	}
	return nil, nil, nil, fmt.Errorf("rar: %w", ErrEncrypted)
}

func (st *walk) readRar(a *arc, r *rardecode.Reader, declared int64) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("rar: library panic: %v", p)
		}
	}()
	// rardecode checks the size and the checksum at EOF.
	return a.readMember(a.meter(r), declared)
}
