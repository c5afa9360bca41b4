package smtpsink

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Attachment is one attached file of a received message, decoded.
type Attachment struct {
	Name        string // filename of Content-Disposition, else name of Content-Type
	ContentType string // media type without parameters, e.g. "application/pdf"
	Data        []byte
}

// Attachments returns the parts marked Content-Disposition: attachment, in
// order, with their base64 or quoted-printable encoding undone, searching
// nested multiparts. A message without any returns none and no error.
func (m Message) Attachments() ([]Attachment, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("smtpsink: parse message: %w", err)
	}
	var out []Attachment
	if err := walkParts(msg.Header.Get("Content-Type"), msg.Body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func walkParts(contentType string, body io.Reader, out *[]Attachment) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil // a single-part message has no attachments
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("smtpsink: read part: %w", err)
		}
		ct := p.Header.Get("Content-Type")
		disp, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if disp != "attachment" {
			if err := walkParts(ct, p, out); err != nil {
				return err
			}
			continue
		}
		var r io.Reader = p
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, p)
		case "quoted-printable":
			r = quotedprintable.NewReader(p)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("smtpsink: decode attachment: %w", err)
		}
		pmt, cparams, _ := mime.ParseMediaType(ct)
		name := dparams["filename"]
		if name == "" {
			name = cparams["name"]
		}
		*out = append(*out, Attachment{Name: name, ContentType: pmt, Data: data})
	}
}
