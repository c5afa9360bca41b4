package tgmonitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// medium is a message's file: a document, or a photo at its largest size.
type medium struct {
	Kind     string // "document" or "photo"
	ID       int64
	Name     string
	MIME     string
	Size     int64
	DC       int
	Location tg.InputFileLocationClass
}

// mediumOf returns a message's document or largest photo.
func mediumOf(msg *tg.Message) (medium, bool) {
	switch media := msg.Media.(type) {
	case *tg.MessageMediaDocument:
		doc, ok := media.Document.AsNotEmpty()
		if !ok {
			return medium{}, false
		}
		md := medium{Kind: "document", ID: doc.ID, MIME: doc.MimeType, Size: doc.Size, DC: doc.DCID, Location: doc.AsInputDocumentFileLocation("")}
		for _, a := range doc.Attributes {
			if fn, ok := a.(*tg.DocumentAttributeFilename); ok {
				md.Name = fn.FileName
			}
		}
		return md, true
	case *tg.MessageMediaPhoto:
		photo, ok := media.Photo.AsNotEmpty()
		if !ok {
			return medium{}, false
		}
		// The largest size: a thumbnail is not the file that was posted.
		var best string
		var bestSize int
		for _, s := range photo.Sizes {
			switch s := s.(type) {
			case *tg.PhotoSize:
				if s.Size > bestSize {
					best, bestSize = s.Type, s.Size
				}
			case *tg.PhotoSizeProgressive:
				if n := len(s.Sizes); n > 0 && s.Sizes[n-1] > bestSize {
					best, bestSize = s.Type, s.Sizes[n-1]
				}
			}
		}
		if best == "" {
			return medium{}, false
		}
		return medium{Kind: "photo", ID: photo.ID, Name: fmt.Sprintf("photo%d.jpg", photo.ID), MIME: "image/jpeg",
			Size: int64(bestSize), DC: photo.DCID, Location: photo.AsInputPhotoFileLocation(best)}, true
	}
	return medium{}, false
}

// refreshingClient is the downloader's view of the API. File references
// expire (FILE_REFERENCE_EXPIRED, typically hours after the message was
// read); it then fetches the message again for a fresh reference and asks
// for the same part, so the download resumes where it stopped rather than
// starting over or leaving a partial file.
type refreshingClient struct {
	*tg.Client
	refresh func(ctx context.Context) (tg.InputFileLocationClass, error)

	mu        sync.Mutex
	loc       tg.InputFileLocationClass
	refreshes int
}

// maxRefreshes bounds the refreshes of one download: a reference that
// expires again at once means something else is wrong.
const maxRefreshes = 3

func (c *refreshingClient) UploadGetFile(ctx context.Context, req *tg.UploadGetFileRequest) (tg.UploadFileClass, error) {
	for {
		c.mu.Lock()
		r := *req
		r.Location = c.loc
		c.mu.Unlock()
		res, err := c.Client.UploadGetFile(ctx, &r)
		if !tgerr.Is(err, "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID") {
			return res, err
		}
		c.mu.Lock()
		if c.refreshes >= maxRefreshes {
			c.mu.Unlock()
			return nil, fmt.Errorf("file reference still expired after %d refreshes: %w", maxRefreshes, err)
		}
		c.refreshes++
		c.mu.Unlock()
		loc, rerr := c.refresh(ctx)
		if rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("refresh file reference: %w", rerr))
		}
		c.mu.Lock()
		c.loc = loc
		c.mu.Unlock()
	}
}

// errTooBig stops a download that passes the size cap.
var errTooBig = errors.New("file larger than the download cap")

// capWriter keeps at most max bytes.
type capWriter struct {
	buf []byte
	max int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	if int64(len(w.buf)+len(p)) > w.max {
		return 0, errTooBig
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// download reads a medium whole into memory (it is matched in memory and
// dropped, like a web download), refreshing its file reference through
// refresh when it expires. A download that fails part-way returns an error
// and no bytes: a partial file never counts as complete.
func download(ctx context.Context, api *tg.Client, md medium, max int64, refresh func(ctx context.Context) (tg.InputFileLocationClass, error)) ([]byte, error) {
	rc := &refreshingClient{Client: api, refresh: refresh, loc: md.Location}
	w := &capWriter{max: max, buf: make([]byte, 0, min(md.Size, max))}
	if _, err := downloader.NewDownloader().Download(rc, md.Location).WithThreads(1).Stream(ctx, w); err != nil {
		return nil, err
	}
	if md.Size > 0 && int64(len(w.buf)) != md.Size {
		return nil, fmt.Errorf("downloaded %d bytes of %d", len(w.buf), md.Size)
	}
	return w.buf, nil
}

var _ io.Writer = (*capWriter)(nil)
