package hostile

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// hugeTick is how often the huge download writes a chunk.
const hugeTick = 50 * time.Millisecond

func (s *Site) handleGzipBomb(w http.ResponseWriter, r *http.Request) {
	body := gzipBomb()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Encoding", "gzip") // sent whatever Accept-Encoding said
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		s.writeAll(w, r, body)
	}
}

func (s *Site) handleZipBomb(w http.ResponseWriter, r *http.Request) {
	body := zipBomb()
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="patients_full.zip"`)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		s.writeAll(w, r, body)
	}
}

// writeAll writes body in 64 KiB pieces, each under the stall deadline, and
// gives up when the client leaves.
func (s *Site) writeAll(w http.ResponseWriter, r *http.Request, body []byte) {
	rc := http.NewResponseController(w)
	for len(body) > 0 && r.Context().Err() == nil {
		n := min(len(body), 64<<10)
		if !setStall(rc) {
			return
		}
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		body = body[n:]
	}
}

// setStall arms the write deadline that ends a response whose client
// stopped reading; recorders without deadlines are fine.
func setStall(rc *http.ResponseController) bool {
	err := rc.SetWriteDeadline(time.Now().Add(stallTimeout))
	return err == nil || errors.Is(err, http.ErrNotSupported)
}

// handleHuge declares HugeDeclaredSize bytes and sends zeros at HugeRate
// until HugeLimit bytes, the client leaves or a write stalls; returning
// short of Content-Length makes net/http close the connection, so the client
// sees a truncated body.
func (s *Site) handleHuge(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="full_dump.tar"`)
	h.Set("Content-Length", strconv.FormatInt(HugeDeclaredSize, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	chunk := make([]byte, max(1, s.opts.HugeRate/int(time.Second/hugeTick)))
	t := time.NewTicker(hugeTick)
	defer t.Stop()
	for sent := int64(0); sent < s.opts.HugeLimit; {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		n := int(min(int64(len(chunk)), s.opts.HugeLimit-sent))
		if !setStall(rc) {
			return
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		sent += int64(n)
	}
}

// Drip contents: the page is an HTML document that never ends; the file
// starts like a 7z archive and continues with zeros.
var (
	dripPageHead = []byte("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Full dump mirror</title></head><body>\n<p>Preparing your download, please wait")
	dripFileHead = []byte("7z\xbc\xaf\x27\x1c\x00\x04")
)

// handleDrip sends one byte per DripInterval, flushed, until the client
// leaves, a write stalls or DripMax has passed. The first byte goes out
// with the headers, so the response is never idle longer than the interval.
func (s *Site) handleDrip(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	head, filler := dripPageHead, byte('.')
	if r.URL.Path == DripFilePath {
		head, filler = dripFileHead, 0
		h.Set("Content-Type", "application/x-7z-compressed")
		h.Set("Content-Disposition", `attachment; filename="full_dump.7z"`)
		h.Set("Content-Length", strconv.FormatInt(DripFileDeclared, 10))
	} else {
		h.Set("Content-Type", "text/html; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	deadline := time.NewTimer(s.opts.DripMax)
	defer deadline.Stop()
	t := time.NewTicker(s.opts.DripInterval)
	defer t.Stop()
	for i := int64(0); ; i++ {
		if r.URL.Path == DripFilePath && i >= DripFileDeclared {
			return
		}
		b := filler
		if i < int64(len(head)) {
			b = head[i]
		}
		if !setStall(rc) {
			return
		}
		if _, err := w.Write([]byte{b}); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline.C:
			return
		case <-t.C:
		}
	}
}
