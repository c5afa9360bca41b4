package smtpsink

import (
	"testing"
)

func TestAttachments(t *testing.T) {
	raw := "From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=OUT\r\n\r\n" +
		"--OUT\r\nContent-Type: multipart/alternative; boundary=IN\r\n\r\n" +
		"--IN\r\nContent-Type: text/plain\r\n\r\nhello\r\n--IN--\r\n" +
		"--OUT\r\nContent-Type: application/pdf; name=\"n.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"LW-1.pdf\"\r\n\r\nJVBE\r\nRi0x\r\n" +
		"--OUT\r\nContent-Type: text/plain; name=\"note.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n" +
		"Content-Disposition: attachment\r\n\r\na=3Db\r\n" +
		"--OUT--\r\n"
	atts, err := Message{Data: []byte(raw)}.Attachments()
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 {
		t.Fatalf("%d attachments: %+v", len(atts), atts)
	}
	if a := atts[0]; a.Name != "LW-1.pdf" || a.ContentType != "application/pdf" || string(a.Data) != "%PDF-1" {
		t.Errorf("first: %q %q %q", a.Name, a.ContentType, a.Data)
	}
	if a := atts[1]; a.Name != "note.txt" || a.ContentType != "text/plain" || string(a.Data) != "a=b" {
		t.Errorf("second: %q %q %q", a.Name, a.ContentType, a.Data)
	}
	if got, err := (Message{Data: []byte("Subject: x\r\n\r\nplain\r\n")}).Attachments(); err != nil || len(got) != 0 {
		t.Errorf("plain message: %v, %v", got, err)
	}
}
