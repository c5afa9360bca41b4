package evidence

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// secretText stands for a patient's data in a captured page (synthetic; Z
// NHI numbers are reserved for testing).
const secretText = "Patient ZZZ0042 clinical note: synthetic test content, never real"

func secretExchange(uri string) Exchange {
	return Exchange{
		TargetURI: uri, RequestHeader: http.Header{"User-Agent": {"leakwatch-test/1"}},
		StatusCode: 200, Status: "200 OK", ResponseHeader: http.Header{"Content-Type": {"text/plain"}},
		// Repeated so it spans several of age's 64 KB chunks.
		Payload:   strings.NewReader(strings.Repeat(secretText+"\n", 3000)),
		FetchTime: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
	}
}

// Evidence written with recipients is encrypted at rest: after Close no
// plain WARC file is left, no captured text is readable in the files, and
// every record reads and verifies with the key, at its recorded offset —
// and not without it, or with another key. The file is a standard age
// file of the WARC file, which a strict WARC reader accepts once decrypted.
func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(dir, WriterOptions{RunID: "enc", MaxFileSize: 1 << 10, Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 5 {
		rec, err := w.WriteExchange(context.Background(), secretExchange("https://leaks.example/dump/"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	// The file being written is plain until it is closed.
	if len(warcFiles(t, dir)) != 1 {
		t.Fatalf("plain files while writing: %v", warcFiles(t, dir))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if plain := warcFiles(t, dir); len(plain) != 0 {
		t.Fatalf("plain WARC files left after Close: %v", plain)
	}
	enc, _ := filepath.Glob(filepath.Join(dir, "enc", "*.warc.gz.age"))
	if len(enc) < 2 {
		t.Fatalf("encrypted files %v; want the rotation's several", enc)
	}
	for _, p := range enc {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) || bytes.Contains(b, []byte("ZZZ0042")) || bytes.Contains(b, []byte("WARC/1.1")) {
			t.Fatalf("%s is not an age file, or shows its content", p)
		}
		// Standard age: decrypted whole, it is the WARC file.
		r, err := age.Decrypt(bytes.NewReader(b), id)
		if err != nil {
			t.Fatal(err)
		}
		plain := filepath.Join(t.TempDir(), "x.warc.gz")
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(plain, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readWithGowarc(t, plain); err != nil {
			t.Errorf("%s decrypted is not a valid WARC file: %v", p, err)
		}
	}

	if probs := Verify(dir, recs, id); len(probs) != 0 {
		t.Fatalf("verify with the key: %v", probs)
	}
	s, err := ReadRecord(dir, recs[3], id)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(s)
	s.Close()
	if err != nil || !strings.HasPrefix(string(body), secretText) {
		t.Fatalf("payload read back: %.40q, %v", body, err)
	}
	probs := Verify(dir, recs[:1])
	if len(probs) != 1 || probs[0].Kind != ProblemUnreadable || !strings.Contains(probs[0].Detail, "no key") {
		t.Errorf("verify without a key: %v", probs)
	}
	if _, err := ReadRecord(dir, recs[0]); !errors.Is(err, ErrNoKey) {
		t.Errorf("read without a key: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := ReadRecord(dir, recs[0], other); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("read with another key: %v", err)
	}

	// A writer opened on the run again starts after the encrypted files.
	w2, err := NewWriter(dir, WriterOptions{RunID: "enc", Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w2.WriteExchange(context.Background(), secretExchange("https://leaks.example/dump/again"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(enc[len(enc)-1]); rec.File <= "enc/"+strings.TrimSuffix(want, EncryptedSuffix) {
		t.Errorf("the reopened run wrote %s, not after %s", rec.File, want)
	}
	if probs := Verify(dir, append(recs, rec), id); len(probs) != 0 {
		t.Errorf("verify after reopening: %v", probs)
	}
}

// A writer that died mid-run leaves its file plain; EncryptRun encrypts
// it, also when a crash came between writing the encrypted copy and
// removing the plain file, and does nothing the second time.
func TestEncryptRunAfterCrash(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	w, err := NewWriter(dir, WriterOptions{RunID: "crash", Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w.WriteExchange(context.Background(), secretExchange("https://leaks.example/a"))
	if err != nil {
		t.Fatal(err)
	}
	// No Close: the process died. Its file is plain and readable as such.
	if probs := Verify(dir, []Record{rec}); len(probs) != 0 {
		t.Fatalf("the plain leftover: %v", probs)
	}
	plain := warcFiles(t, dir)
	if len(plain) != 1 {
		t.Fatalf("leftovers %v", plain)
	}
	// The crash came after the encrypted copy was renamed in: a stale
	// copy that EncryptRun must replace, not trust.
	if err := os.WriteFile(plain[0]+EncryptedSuffix, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := EncryptRun(dir, "crash", id.Recipient())
	if err != nil || n != 1 {
		t.Fatalf("EncryptRun: %d, %v", n, err)
	}
	if left := warcFiles(t, dir); len(left) != 0 {
		t.Fatalf("plain files after EncryptRun: %v", left)
	}
	if probs := Verify(dir, []Record{rec}, id); len(probs) != 0 {
		t.Fatalf("after EncryptRun: %v", probs)
	}
	if n, err := EncryptRun(dir, "crash", id.Recipient()); err != nil || n != 0 {
		t.Errorf("second EncryptRun: %d, %v", n, err)
	}
	if n, err := EncryptRun(dir, "never-written", id.Recipient()); err != nil || n != 0 {
		t.Errorf("EncryptRun of a run with no directory: %d, %v", n, err)
	}
}

// The bundle for counsel holds the decrypted WARC files, which verify
// against the manifest with no key.
func TestBundleOfEncryptedRun(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	w, err := NewWriter(dir, WriterOptions{RunID: "case-9", Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: ManifestFormat, RunID: "case-9", CreatedAt: time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)}
	for _, u := range []string{"https://leaks.example/1", "https://leaks.example/2"} {
		ex := secretExchange(u)
		rec, err := w.WriteExchange(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		m.Captures = append(m.Captures, Capture{URL: u, FinalURL: u, StartedAt: ex.FetchTime, Status: 200, Record: rec})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ComputeRoot(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, dir, m); !errors.Is(err, ErrNoKey) {
		t.Fatalf("bundle without the key: %v", err)
	}
	buf.Reset()
	if err := WriteBundle(&buf, dir, m, id); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	unpackBundle(t, &buf, out)
	if probs := VerifyManifest(out, m); len(probs) != 0 {
		t.Errorf("the unpacked bundle: %v", probs)
	}
}

// A generated key file loads (also from the environment, which wins),
// encrypts to itself and to the extra recipients; a second keygen never
// overwrites the first; broken keys are refused with their source named.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "evidence.key")
	pub, err := GenerateKey(p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	if _, err := GenerateKey(p, time.Now()); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second keygen: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	noEnv := func(string) string { return "" }
	k, err := LoadKeys(noEnv, p, []string{other.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Identities) != 1 || len(k.Recipients) != 2 || k.Recipients[0].(*age.X25519Recipient).String() != pub || !k.Encrypts() {
		t.Fatalf("keys %+v", k)
	}
	env := func(name string) string {
		if name == KeyEnv {
			return other.String()
		}
		return ""
	}
	if k, err := LoadKeys(env, p, nil); err != nil || k.Recipients[0].(*age.X25519Recipient).String() != other.Recipient().String() {
		t.Errorf("key from the environment: %+v, %v", k, err)
	}
	if k, err := LoadKeys(noEnv, "", nil); err != nil || k.Encrypts() || len(k.Identities) != 0 {
		t.Errorf("no key configured: %+v, %v", k, err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	if _, err := LoadKeys(noEnv, bad, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken key file: %v", err)
	}
	if _, err := LoadKeys(noEnv, "", []string{"age1nope"}); err == nil || !strings.Contains(err.Error(), "recipients[0]") {
		t.Errorf("broken recipient: %v", err)
	}
}

// An encrypting writer's file stays plain at most MaxFileAge, even while
// no exchange comes; the next exchange starts a new file, and every record
// reads back.
func TestEncryptedFileAgesOut(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	w, err := NewWriter(dir, WriterOptions{RunID: "idle", Recipients: []age.Recipient{id.Recipient()}, MaxFileAge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := w.WriteExchange(context.Background(), secretExchange("https://leaks.example/live/1"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(warcFiles(t, dir)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle writer's file is still plain after 10 s: %v", warcFiles(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r2, err := w.WriteExchange(context.Background(), secretExchange("https://leaks.example/live/2"))
	if err != nil {
		t.Fatal(err)
	}
	if r2.File == r1.File {
		t.Errorf("the exchange after the file aged out went to %s again", r1.File)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if plain := warcFiles(t, dir); len(plain) != 0 {
		t.Errorf("plain files after Close: %v", plain)
	}
	if probs := Verify(dir, []Record{r1, r2}, id); len(probs) != 0 {
		t.Errorf("verify: %v", probs)
	}
}
