package notices

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Attachment is a file carried by a message.
type Attachment struct {
	Name        string // file name shown to the recipient
	ContentType string // "" means application/octet-stream
	Data        []byte
}

// Message is one e-mail.
type Message struct {
	From string
	// To is one address or a comma-separated list; every address is both
	// in the To header and a recipient of the envelope.
	To      string
	ReplyTo string // optional, e.g. the injunction's contact
	Subject string
	Text    string
	HTML    string
	// MessageID is fixed per notice (angle brackets included), so a
	// receiver can drop the duplicate of a resend.
	MessageID string
	// InReplyTo and References thread a follow-up with the notices it cites
	// (see Data.Threading); empty for a first notice.
	InReplyTo  string
	References []string
	Date       time.Time // zero means now
	// Attachments go after the body, in order (the notice PDF first).
	Attachments []Attachment
	// OrderPDF is the path of the sealed order to attach after Attachments;
	// "" attaches nothing.
	OrderPDF string
}

// msgIDRE is a Message-ID as RFC 5322 allows it, without folding or
// comments: the header values built from it cannot carry a line break.
var msgIDRE = regexp.MustCompile(`^<[^<>\s@]+@[^<>\s@]+>$`)

// Build renders the message as RFC 5322 bytes: multipart/alternative text and
// HTML, wrapped in multipart/mixed when there are attachments.
func (m Message) Build() ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	to, err := mail.ParseAddressList(m.To)
	if err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	if !msgIDRE.MatchString(m.MessageID) {
		return nil, fmt.Errorf("message-id %q: want <local@domain>", m.MessageID)
	}
	if m.InReplyTo != "" && !msgIDRE.MatchString(m.InReplyTo) {
		return nil, fmt.Errorf("in-reply-to %q: want <local@domain>", m.InReplyTo)
	}
	for _, r := range m.References {
		if !msgIDRE.MatchString(r) {
			return nil, fmt.Errorf("references %q: want <local@domain>", r)
		}
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}

	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	h("From", from.String())
	h("To", strings.Join(tos, ", "))
	if m.ReplyTo != "" {
		rt, err := mail.ParseAddress(m.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("reply-to address: %w", err)
		}
		h("Reply-To", rt.String())
	}
	// QEncoding encodes CR and LF too, so a subject cannot add headers.
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", m.MessageID)
	if m.InReplyTo != "" {
		h("In-Reply-To", m.InReplyTo)
	}
	if len(m.References) > 0 {
		// Folded one per line: a long thread stays under the line limit.
		h("References", strings.Join(m.References, "\r\n "))
	}
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")

	alt, err := alternative(m.Text, m.HTML)
	if err != nil {
		return nil, err
	}
	atts := m.Attachments
	if m.OrderPDF != "" {
		order, err := os.ReadFile(m.OrderPDF)
		if err != nil {
			return nil, fmt.Errorf("read sealed order: %w", err)
		}
		atts = append(atts[:len(atts):len(atts)], Attachment{Name: filepath.Base(m.OrderPDF), ContentType: "application/pdf", Data: order})
	}
	if len(atts) == 0 {
		h("Content-Type", alt.contentType)
		buf.WriteString("\r\n")
		buf.Write(alt.body)
		return buf.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {alt.contentType}})
	if err != nil {
		return nil, fmt.Errorf("build message body: %w", err)
	}
	if _, err := pw.Write(alt.body); err != nil {
		return nil, fmt.Errorf("build message body: %w", err)
	}
	for _, a := range atts {
		if err := writeAttachment(mw, a); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

func writeAttachment(mw *multipart.Writer, a Attachment) error {
	name := oneLine(filepath.Base(a.Name))
	if name == "" || name == "." || name == "/" {
		return fmt.Errorf("attachment without a name")
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("attachment %q: content type %q: %w", name, ct, err)
	}
	params["name"] = name
	ctype := mime.FormatMediaType(mt, params)
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if ctype == "" || disp == "" {
		return fmt.Errorf("attachment %q: cannot encode its content type or name", name)
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ctype},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {disp},
	})
	if err != nil {
		return fmt.Errorf("attachment %q: %w", name, err)
	}
	if err := writeBase64Lines(w, a.Data); err != nil {
		return fmt.Errorf("attachment %q: %w", name, err)
	}
	return nil
}

type part struct {
	contentType string
	body        []byte
}

func alternative(text, html string) (part, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range []struct{ ct, s string }{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return part{}, fmt.Errorf("build message body: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(p.s)); err != nil {
			return part{}, fmt.Errorf("build message body: %w", err)
		}
		if err := qp.Close(); err != nil {
			return part{}, fmt.Errorf("build message body: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return part{}, fmt.Errorf("build message body: %w", err)
	}
	return part{contentType: "multipart/alternative; boundary=" + mw.Boundary(), body: b.Bytes()}, nil
}

// writeBase64Lines wraps base64 at 76 characters, as RFC 2045 requires. It
// encodes into one buffer and writes once: a multi-megabyte order would
// otherwise be hundreds of thousands of small writes.
func writeBase64Lines(w io.Writer, data []byte) error {
	const line = 57 // bytes per 76-character line
	lines := (len(data) + line - 1) / line
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(data))+2*lines)
	for len(data) > 0 {
		n := min(line, len(data))
		out = base64.StdEncoding.AppendEncode(out, data[:n])
		out = append(out, '\r', '\n')
		data = data[n:]
	}
	_, err := w.Write(out)
	return err
}
