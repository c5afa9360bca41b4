package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
)

// tar walks a tar stream. r is either the archive's own bytes (members are
// then metered one by one) or a decompressed stream that is already metered
// as a whole (metered == true), so no byte counts twice.
func (st *walk) tar(a *arc, r io.Reader, metered bool) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		// Names are only labels, cleaned by cleanLabel, so a path the stdlib
		// calls insecure is still walked.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("tar: %w", err)
		}
		if err := st.entry(); err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeCont, tar.TypeGNUSparse:
		default:
			// Directories, links, devices, FIFOs, volume labels.
			st.skip()
			continue
		}
		if err := a.checkDeclared(hdr.Size); err != nil {
			if err := a.member(hdr.Name, hdr.Size, nil, err); err != nil {
				return err
			}
			continue
		}
		var mr io.Reader = tr
		if !metered {
			mr = a.meter(tr)
		}
		data, rerr := a.readMember(mr, hdr.Size)
		if rerr != nil && !errors.Is(rerr, ErrLimit) && !fatal(rerr) {
			rerr = fmt.Errorf("tar: reading member: %w", rerr)
		}
		if err := a.member(hdr.Name, hdr.Size, data, rerr); err != nil {
			return err
		}
		if rerr != nil && !errors.Is(rerr, ErrLimit) {
			// A broken stream: what follows cannot be trusted to frame.
			return errStopArchive
		}
	}
}
