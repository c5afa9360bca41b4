package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for leaked images
	_ "image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// Limits on decoding a leaked image for a thumbnail: the payload read,
// and the pixels a decode may allocate (checked from the header first, so
// a decompression bomb is refused before any pixel is allocated).
const (
	maxThumbPayload = 32 << 20
	maxThumbPixels  = 16_000_000 // 128 MB at 16-bit RGBA
	maxThumbSide    = 20_000
	clearThumbSide  = 320 // a revealed thumbnail's longer side
	blurGrid        = 6   // a blurred thumbnail is this many cells on its longer side
	blurThumbSide   = 160
	revealFor       = 10 * time.Minute
)

// errNotImage is a capture that holds no decodable image within the limits.
var errNotImage = errors.New("not an image within the thumbnail limits")

// reveals remembers which session revealed which capture, so the clear
// thumbnail is served only after the audited reveal, for a short while.
type reveals struct {
	mu sync.Mutex
	m  map[revealKey]time.Time
}

type revealKey struct {
	session string
	capture uint64
}

func (rv *reveals) grant(session string, capture uint64, until time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.m == nil {
		rv.m = map[revealKey]time.Time{}
	}
	for k, t := range rv.m { // drop expired grants; the map stays small
		if !t.After(until.Add(-revealFor)) {
			delete(rv.m, k)
		}
	}
	rv.m[revealKey{session, capture}] = until
}

func (rv *reveals) granted(session string, capture uint64, now time.Time) bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	t, ok := rv.m[revealKey{session, capture}]
	return ok && now.Before(t)
}

// captureParam loads the capture named by the {id} path value.
func (s *Server) captureParam(r *http.Request) (storage.Capture, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return storage.Capture{}, storage.ErrNotFound
	}
	return s.store.CaptureByID(r.Context(), id)
}

// handleThumb serves a capture's image as a blurred thumbnail, or clear
// (?clear=1) once this session revealed it. Nothing is cached anywhere.
func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request, a *authed) {
	c, err := s.captureParam(r)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	clear := r.URL.Query().Get("clear") != ""
	if clear && !s.reveals.granted(a.tokenHash, c.ID, s.now()) {
		http.Error(w, "reveal the image first", http.StatusForbidden)
		return
	}
	select {
	case s.thumbSlots <- struct{}{}:
		defer func() { <-s.thumbSlots }()
	case <-r.Context().Done():
		return
	}
	img, err := s.captureImage(r.Context(), c)
	if err != nil {
		s.log.WarnContext(r.Context(), "thumbnail", "capture", c.ID, "err", err)
		http.Error(w, "no preview", http.StatusNotFound)
		return
	}
	var out image.Image
	if clear {
		out = scaleTo(img, clearThumbSide)
	} else {
		out = blurred(img)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		s.log.ErrorContext(r.Context(), "encode thumbnail", "capture", c.ID, "err", err)
		http.Error(w, "no preview", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// revealData is the reveal page.
type revealData struct {
	Capture  storage.Capture
	Revealed bool
}

// handleRevealPage asks before revealing: revealing is audited.
func (s *Server) handleRevealPage(w http.ResponseWriter, r *http.Request, a *authed) {
	c, err := s.captureParam(r)
	if err != nil {
		s.uiError(w, r, a, http.StatusNotFound, "That capture does not exist.")
		return
	}
	s.render(w, r, http.StatusOK, "reveal", s.pageFor(a, "triage", "Reveal a leaked image", revealData{Capture: c}))
}

// handleRevealForm records the reveal in the audit log, then shows the
// clear thumbnail. No audit record, no reveal.
func (s *Server) handleRevealForm(w http.ResponseWriter, r *http.Request, a *authed) {
	c, err := s.captureParam(r)
	if err != nil {
		s.uiError(w, r, a, http.StatusNotFound, "That capture does not exist.")
		return
	}
	obj := "capture/" + strconv.FormatUint(c.ID, 10)
	if err := s.store.Audit(r.Context(), a.user.Username, "capture.reveal", obj, "ip="+s.clientIP(r).String()); err != nil {
		s.pageError(w, r, a, "audit reveal", err)
		return
	}
	s.reveals.grant(a.tokenHash, c.ID, s.now().Add(revealFor))
	s.render(w, r, http.StatusOK, "reveal", s.pageFor(a, "triage", "Revealed image", revealData{Capture: c, Revealed: true}))
}

// captureImage reads a capture's payload from its WARC record (opening
// evidence encrypted at rest with the server's key) and decodes it within
// the limits.
func (s *Server) captureImage(ctx context.Context, c storage.Capture) (image.Image, error) {
	if c.Evidence == "" || s.evidenceDir == "" {
		return nil, fmt.Errorf("capture %d: no evidence record", c.ID)
	}
	var rec evidence.Record
	if err := json.Unmarshal([]byte(c.Evidence), &rec); err != nil {
		return nil, fmt.Errorf("capture %d evidence: %w", c.ID, err)
	}
	sr, err := evidence.ReadRecord(s.evidenceDir, rec, s.evidenceIDs...)
	if err != nil {
		return nil, fmt.Errorf("capture %d: read record: %w", c.ID, err)
	}
	defer sr.Close()
	data, err := io.ReadAll(io.LimitReader(sr, maxThumbPayload+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("capture %d: read payload: %w", c.ID, err)
	}
	if len(data) > maxThumbPayload {
		return nil, fmt.Errorf("capture %d: %w (payload over %d bytes)", c.ID, errNotImage, maxThumbPayload)
	}
	return decodeLimited(data)
}

// decodeLimited decodes an image after checking from its header that the
// pixels it would allocate are within the limits.
func decodeLimited(data []byte) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxThumbSide || cfg.Height > maxThumbSide ||
		int64(cfg.Width)*int64(cfg.Height) > maxThumbPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels", errNotImage, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotImage, err)
	}
	return img, nil
}

// scaleTo scales img so its longer side is at most side pixels.
func scaleTo(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		side = max(w, h)
	}
	nw, nh := side, side
	if w >= h {
		nh = max(1, h*side/w)
	} else {
		nw = max(1, w*side/h)
	}
	dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// blurred averages img down to a few cells and blows them up again: the
// colours survive, nothing recognisable does.
func blurred(img image.Image) image.Image {
	b := img.Bounds()
	gw, gh := blurGrid, blurGrid
	if b.Dx() >= b.Dy() {
		gh = max(1, b.Dy()*blurGrid/max(1, b.Dx()))
	} else {
		gw = max(1, b.Dx()*blurGrid/max(1, b.Dy()))
	}
	small := image.NewRGBA(image.Rect(0, 0, gw, gh))
	// CatmullRom over a large downscale averages the whole area of each cell.
	draw.CatmullRom.Scale(small, small.Bounds(), img, b, draw.Src, nil)
	tw, th := blurThumbSide, blurThumbSide*gh/gw
	if gh > gw {
		tw, th = blurThumbSide*gw/gh, blurThumbSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, max(1, tw), max(1, th)))
	draw.NearestNeighbor.Scale(dst, dst.Bounds(), small, small.Bounds(), draw.Src, nil)
	return dst
}

// isImageType reports a content type the thumbnailer decodes.
func isImageType(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "image/png" || ct == "image/jpeg" || ct == "image/gif" || ct == "image/webp"
}

// markImages flags the case's items whose last capture is an image, so
// the page shows them as blurred thumbnails.
func (s *Server) markImages(ctx context.Context, cv *caseView) error {
	caps, err := s.store.CapturesForCase(ctx, cv.Case.ID)
	if err != nil {
		return err
	}
	img := map[uint64]bool{}
	for _, c := range caps {
		img[c.ID] = isImageType(c.SniffedType) || (c.SniffedType == "" && isImageType(c.ContentType))
	}
	for i := range cv.Items {
		cv.Items[i].Image = img[cv.Items[i].LastCaptureID]
	}
	return nil
}
