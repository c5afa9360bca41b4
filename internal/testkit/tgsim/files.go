package tgsim

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

const (
	maxPart      = 1 << 20 // upload.getFile limit ceiling
	hashPartSize = 128 << 10
)

// fileByLocation finds the file a location points to and checks access
// hash, thumb size and file reference.
func (s *Sim) fileByLocation(loc tg.InputFileLocationClass) (*file, error) {
	var (
		id, hash int64
		ref      []byte
		thumb    string
		photo    bool
	)
	switch l := loc.(type) {
	case *tg.InputDocumentFileLocation:
		id, hash, ref, thumb = l.ID, l.AccessHash, l.FileReference, l.ThumbSize
	case *tg.InputPhotoFileLocation:
		id, hash, ref, thumb, photo = l.ID, l.AccessHash, l.FileReference, l.ThumbSize, true
	default:
		return nil, tgerr.New(400, "LOCATION_INVALID")
	}
	f, ok := s.files[id]
	if !ok || f.accessHash != hash || f.photo != photo {
		return nil, tgerr.New(400, "FILE_ID_INVALID")
	}
	if photo && thumb != photoSizeType(f) || !photo && thumb != "" {
		return nil, tgerr.New(400, "LOCATION_INVALID")
	}
	if len(ref) == 0 {
		return nil, tgerr.New(400, "FILE_REFERENCE_EMPTY")
	}
	if !bytes.Equal(ref, f.ref) {
		for _, old := range f.oldRefs {
			if bytes.Equal(ref, old) {
				return nil, tgerr.New(400, "FILE_REFERENCE_EXPIRED")
			}
		}
		return nil, tgerr.New(400, "FILE_REFERENCE_INVALID")
	}
	// A deleted message or channel takes its files along; the client
	// learns why when it refetches the message.
	if f.channel.deleted || f.channel.msgs[f.msgID-1].deleted {
		return nil, tgerr.New(400, "FILE_REFERENCE_EXPIRED")
	}
	return f, nil
}

func (f *file) rotateRef() {
	f.oldRefs = append(f.oldRefs, f.ref)
	f.ref = randBytes(16)
}

// checkPart applies upload.getFile's offset/limit rules
// (https://core.telegram.org/api/files#downloading-files).
func checkPart(offset int64, limit int, precise bool) error {
	if offset < 0 {
		return tgerr.New(400, "OFFSET_INVALID")
	}
	if limit <= 0 || limit > maxPart {
		return tgerr.New(400, "LIMIT_INVALID")
	}
	if precise {
		if limit%1024 != 0 {
			return tgerr.New(400, "LIMIT_INVALID")
		}
		if offset%1024 != 0 {
			return tgerr.New(400, "OFFSET_INVALID")
		}
		return nil
	}
	if limit%4096 != 0 || maxPart%limit != 0 {
		return tgerr.New(400, "LIMIT_INVALID")
	}
	if offset%4096 != 0 || offset/maxPart != (offset+int64(limit)-1)/maxPart {
		return tgerr.New(400, "OFFSET_INVALID")
	}
	return nil
}

func storageType(f *file) tg.StorageFileTypeClass {
	switch {
	case f.photo && f.mime == "image/png":
		return &tg.StorageFilePng{}
	case f.photo:
		return &tg.StorageFileJpeg{}
	default:
		return &tg.StorageFilePartial{}
	}
}

// fileOnDC finds the file at loc, when asked on the DC that serves files
// (else FILE_MIGRATE to it, as Telegram answers).
func (s *Sim) fileOnDC(c *call, loc tg.InputFileLocationClass) (*file, error) {
	if c.dc() != s.opts.FileDC {
		return nil, tgerr.New(303, fmt.Sprintf("FILE_MIGRATE_%d", s.opts.FileDC))
	}
	return s.fileByLocation(loc)
}

func (s *Sim) uploadGetFile(c *call) (bin.Encoder, error) {
	var r tg.UploadGetFileRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	f, err := s.fileOnDC(c, r.Location)
	if err != nil {
		return nil, err
	}
	if err := checkPart(r.Offset, r.Limit, r.Precise); err != nil {
		return nil, err
	}
	size := int64(len(f.data))
	if f.expireArmed && (r.Offset > 0 || int64(r.Limit) >= size) {
		f.expireArmed = false
		f.rotateRef()
		return nil, tgerr.New(400, "FILE_REFERENCE_EXPIRED")
	}
	var part []byte
	if r.Offset < size {
		end := min(r.Offset+int64(r.Limit), size)
		part = f.data[r.Offset:end]
	}
	return &tg.UploadFile{Type: storageType(f), Mtime: f.date, Bytes: part}, nil
}

// uploadGetFileHashes returns SHA-256 hashes of the 128 KiB parts from the
// one holding offset, up to 1 MiB worth, as Telegram does.
func (s *Sim) uploadGetFileHashes(c *call) (bin.Encoder, error) {
	var r tg.UploadGetFileHashesRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	f, err := s.fileOnDC(c, r.Location)
	if err != nil {
		return nil, err
	}
	if r.Offset < 0 {
		return nil, tgerr.New(400, "OFFSET_INVALID")
	}
	out := &tg.FileHashVector{}
	size := int64(len(f.data))
	for off := r.Offset / hashPartSize * hashPartSize; off < size && len(out.Elems) < maxPart/hashPartSize; off += hashPartSize {
		end := min(off+hashPartSize, size)
		sum := sha256.Sum256(f.data[off:end])
		out.Elems = append(out.Elems, tg.FileHash{Offset: off, Limit: hashPartSize, Hash: sum[:]})
	}
	return out, nil
}
