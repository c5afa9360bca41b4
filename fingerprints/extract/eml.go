package extract

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/html/charset"
)

// maxMIMEDepth bounds multipart nesting (the walk recurses).
const maxMIMEDepth = 16

// extractEML reads an RFC 5322 message: the Subject and the text/plain and
// text/html bodies become text; attachments (and attached messages) become
// Parts for the caller to extract in turn.
func extractEML(d *doc, data []byte) error {
	if bytes.HasPrefix(data, []byte("From ")) { // mbox separator line
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	w := &mimeWalker{d: d, dec: &mime.WordDecoder{CharsetReader: charset.NewReaderLabel}}
	if subj := msg.Header.Get("Subject"); subj != "" {
		d.write(w.header(subj))
		d.newline()
		d.newline()
	}
	if err := w.entity(textproto.MIMEHeader(msg.Header), msg.Body, 0); err != nil {
		if d.text.Len() == 0 && len(d.parts) == 0 {
			return err
		}
		d.warnf("eml: %v", err)
	}
	return nil
}

type mimeWalker struct {
	d        *doc
	dec      *mime.WordDecoder
	entities int
}

// header decodes RFC 2047 encoded-words; undecodable input is kept as is.
func (w *mimeWalker) header(s string) string {
	out, err := w.dec.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

// entity handles one MIME entity (the message itself or a part).
func (w *mimeWalker) entity(h textproto.MIMEHeader, body io.Reader, depth int) error {
	d := w.d
	if err := d.err(); err != nil {
		return err
	}
	if w.entities++; w.entities > maxParts {
		return fmt.Errorf("more than %d MIME entities", maxParts)
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType == "" {
		mediaType, params = "text/plain", map[string]string{}
	}
	disposition, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = w.header(name)

	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxMIMEDepth {
			return fmt.Errorf("multipart nested deeper than %d", maxMIMEDepth)
		}
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without boundary", mediaType)
		}
		return w.multipart(multipart.NewReader(body, boundary), mediaType == "multipart/alternative", depth)
	}

	content, err := w.decodeBody(h, body)
	if err != nil {
		return err
	}
	attachment := disposition == "attachment" || (name != "" && disposition != "inline") ||
		!(mediaType == "text/plain" || mediaType == "text/html")
	if attachment {
		if name == "" {
			name = "part-" + strconv.Itoa(w.entities) + partExt(mediaType)
		}
		if len(content) > 0 {
			d.addPart(name, content)
		}
		return nil
	}
	return w.text(mediaType, params["charset"], content)
}

// text adds a decoded text/plain or text/html body.
func (w *mimeWalker) text(mediaType, cs string, content []byte) error {
	d := w.d
	if mediaType == "text/html" {
		err := extractHTML(d, content, "text/html; charset="+cs)
		d.newline()
		return err
	}
	s := ""
	if cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		r, err := charset.NewReaderLabel(cs, bytes.NewReader(content))
		if err == nil {
			if b, err := io.ReadAll(r); err == nil {
				s = string(b)
			}
		}
	}
	if s == "" {
		s, _ = decodeText(content)
	}
	d.write(s)
	d.newline()
	return nil
}

// multipart walks the parts. For multipart/alternative only one rendering
// is kept (text/plain when present, else the HTML) so the text is not
// doubled.
func (w *mimeWalker) multipart(mr *multipart.Reader, alternative bool, depth int) error {
	type alt struct {
		mediaType, charset string
		content            []byte
	}
	var alts []alt
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("multipart: %w", err)
		}
		if alternative {
			mt, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if mt == "text/plain" || mt == "text/html" {
				content, err := w.decodeBody(p.Header, p)
				if err != nil {
					return err
				}
				alts = append(alts, alt{mt, params["charset"], content})
				continue
			}
			if !strings.HasPrefix(mt, "multipart/") {
				continue // calendars and the like in an alternative
			}
		}
		if err := w.entity(p.Header, p, depth+1); err != nil {
			return err
		}
	}
	if len(alts) > 0 {
		best := alts[len(alts)-1]
		for _, a := range alts {
			if a.mediaType == "text/plain" {
				best = a
				break
			}
		}
		return w.text(best.mediaType, best.charset, best.content)
	}
	return nil
}

// decodeBody undoes the Content-Transfer-Encoding, reading at most MaxBytes.
func (w *mimeWalker) decodeBody(h textproto.MIMEHeader, body io.Reader) ([]byte, error) {
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	limit := w.d.lim.MaxBytes
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("part over MaxBytes (%d): %w", limit, ErrTooLarge)
	}
	if err != nil {
		// Keep what decoded before the damage: mail in the wild is often
		// cut short.
		w.d.warnf("eml: body decode: %v", err)
	}
	return b, nil
}

// base64Filter drops white space and anything else outside the base64
// alphabet, as mail clients do, so a stray space does not end the body.
type base64Filter struct {
	r   io.Reader
	buf [4096]byte
}

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(f.buf[:min(len(p), len(f.buf))])
		k := 0
		for _, c := range f.buf[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// partExt names an attachment that came without a file name. A fixed table
// keeps names the same on every machine (mime.ExtensionsByType reads the
// system's tables).
func partExt(mediaType string) string {
	switch mediaType {
	case "message/rfc822":
		return ".eml"
	case "application/pdf":
		return ".pdf"
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "text/csv":
		return ".csv"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "application/zip":
		return ".zip"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return ".docx"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return ".xlsx"
	}
	return ".bin"
}
