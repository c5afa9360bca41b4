package archive

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/mikelolasagasti/xz"
)

// dictCap bounds the dictionary or window a decoder may allocate (xz, zstd,
// LZMA in 7z, rar), from the input's declaration: tied to MaxMemberBytes,
// never below what the usual "maximum" presets need (64 MiB) nor above
// 1.5 GiB (7-Zip's largest preset).
func (l Limits) dictCap() int64 {
	return min(max(l.MaxMemberBytes, 64<<20), 1536<<20)
}

// decompressor opens a single-stream decoder over r. close releases it.
func (st *walk) decompressor(f format, r io.Reader) (dec io.Reader, close func(), err error) {
	noop := func() {}
	switch f {
	case formatGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case formatBzip2:
		return bzip2.NewReader(r), noop, nil
	case formatXz:
		// The dictionary is declared by the stream; cap it so a tiny file
		// cannot make us allocate gigabytes.
		zr, err := xz.NewReader(r, uint32(st.lim.dictCap()))
		if err != nil {
			return nil, nil, fmt.Errorf("xz: %w", err)
		}
		return zr, noop, nil
	case formatZstd:
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1), // decode in this goroutine
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(st.lim.dictCap())),
			zstd.WithDecoderMaxMemory(uint64(st.lim.dictCap())))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("%v: not a compressed stream", f)
}

// stream walks one compressed stream: a tar inside is walked as part of the
// same archive (a .tar.gz is one nesting level); anything else is one member
// named after the stream minus its extension.
func (st *walk) stream(a *arc, f format, data []byte) error {
	dec, closeDec, err := st.decompressor(f, st.input(data))
	if err != nil {
		return err
	}
	defer closeDec()
	br := bufio.NewReaderSize(a.meter(dec), 64<<10)
	head, perr := br.Peek(512)
	if isTar(head) {
		return st.tar(a, br, true)
	}
	if perr != nil && perr != io.EOF && perr != bufio.ErrBufferFull {
		if fatal(perr) {
			return perr
		}
		return a.member(streamMemberName(a.label), -1, nil, fmt.Errorf("%v: %w", f, perr))
	}
	out, rerr := a.readMember(br, -1)
	if rerr != nil && !fatal(rerr) && !errors.Is(rerr, ErrLimit) {
		rerr = fmt.Errorf("%v: %w", f, rerr)
	}
	return a.member(streamMemberName(a.label), int64(len(out)), out, rerr)
}

// streamMemberName is the name of a compressed stream's content: the stream's
// own name minus its compression extension, or "data".
func streamMemberName(label string) string {
	if i := strings.LastIndex(label, "!/"); i >= 0 {
		label = label[i+2:]
	}
	base := path.Base(label)
	ext := strings.ToLower(path.Ext(base))
	stem := strings.TrimSuffix(base, base[len(base)-len(ext):])
	switch ext {
	case ".gz", ".gzip", ".bz2", ".bzip2", ".xz", ".zst", ".zstd":
		if stem != "" {
			return stem
		}
	case ".tgz", ".tbz", ".tbz2", ".txz", ".tzst":
		if stem != "" {
			return stem + ".tar"
		}
	}
	return "data"
}
