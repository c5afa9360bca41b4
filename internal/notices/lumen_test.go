package notices

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Synthetic identifiers only: NHI-like numbers start with Z, addresses are
// under example.org, phone numbers are in the 555 range.
func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://leaks.example/files/1/a.pdf", "https://leaks.example/files/1/a.pdf"},
		{"https://leaks.example/files/ZZZ1234567/labs.pdf", "https://leaks.example/files/[redacted]/labs.pdf"},
		{"https://leaks.example/p/ZZZ0016_results.pdf", "https://leaks.example/p/[redacted]"},
		{"https://leaks.example/p/zzz00AB-notes.pdf", "https://leaks.example/p/[redacted]"},
		{"https://leaks.example/dl?id=1234567890&name=report.pdf", "https://leaks.example/dl?id=[redacted]&name=report.pdf"},
		{"https://leaks.example/u/jane.doe%40example.org/notes", "https://leaks.example/u/[redacted]/notes"},
		{"http://paste.example/raw/Ab3dEf?phone=%2B64%2021%20555%200123", "http://paste.example/raw/Ab3dEf?phone=[redacted]"},
		{"http://paste.example/raw/x?tel=021-555-0123", "http://paste.example/raw/x?tel=[redacted]"},
		{"https://leaks.example/record/00412345/scan.jpg", "https://leaks.example/record/[redacted]/scan.jpg"},
		{"https://leaks.example/z?jane.doe@example.org", "https://leaks.example/z?[redacted]"},
		{"https://leaks.example/thread/2026-01-05/index.html#post-ZZZ1234567", "https://leaks.example/thread/2026-01-05/index.html#[redacted]"},
		{"https://user:secret@leaks.example/a", "https://leaks.example/a"},
		{"https://t.me/leakchannel/123", "https://t.me/leakchannel/123"},
		{"mailto:jane.doe@example.org", "mailto:[redacted]"},
		{"leaks.example/files/ZZZ1234567", "leaks.example/files/[redacted]"},
		// Not a URL at all (bad escape): redacted whole rather than guessed at.
		{"https://leaks.example/a%zz/ZZZ1234567", "[redacted]"},
		{"https://leaks.example/a%zz/b", "https://leaks.example/a%zz/b"},
	}
	for _, tt := range tests {
		got := RedactURL(tt.in)
		if got != tt.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if again := RedactURL(got); again != got {
			t.Errorf("RedactURL is not idempotent: %q -> %q", got, again)
		}
	}
}

func TestWriteLumen(t *testing.T) {
	d := followUp()
	d.Items = append(d.Items,
		Item{URL: "https://leaks.example/files/ZZZ1234567/labs.pdf", CapturedAt: drafted, SHA256: strings.Repeat("cd", 32)},
		Item{URL: "https://leaks.example/files/ZZZ7654321/labs.pdf", CapturedAt: drafted, SHA256: strings.Repeat("ef", 32)},
	)
	sent := time.Date(2026, 12, 4, 9, 1, 2, 0, time.FixedZone("NZDT", 13*3600))
	n := NewLumenNotice(d, sent)
	n.ActionTaken = "Partial"
	// A notice built by hand is redacted on the way out too.
	hand := LumenNotice{Title: "by hand", Reference: "LW-9-1",
		Works: []LumenWork{{Description: "d", InfringingURLs: []LumenURL{{URL: "https://x.example/?email=jane.doe@example.org"}}}}}

	var buf bytes.Buffer
	if err := WriteLumen(&buf, []LumenNotice{n, hand}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, never := range []string{"ZZZ1234567", "ZZZ7654321", "jane.doe", "legal@claimant.example"} {
		if strings.Contains(out, never) {
			t.Errorf("export leaks %q:\n%s", never, out)
		}
	}
	if !strings.Contains(out, "\n  \"notices\": [\n    {\n") {
		t.Errorf("not indented:\n%s", out)
	}
	var got struct {
		Notices []map[string]any `json:"notices"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Notices) != 2 {
		t.Fatalf("%d notices", len(got.Notices))
	}
	g := got.Notices[0]
	for k, want := range map[string]any{
		"type": "CourtOrder", "date_sent": "2026-12-03T20:01:02Z", "date_received": "", "action_taken": "Partial",
		"court": "High Court of New Zealand", "reference": "LW-12-2", "title": "Follow-up 1 LW-12-2 to leaks.example",
	} {
		if g[k] != want {
			t.Errorf("%s = %#v, want %#v", k, g[k], want)
		}
	}
	if p := g["principal"].(map[string]any); p["name"] != "Example Health Portal Limited" {
		t.Errorf("principal %v", p)
	}
	if s := g["sender"].(map[string]any); s["name"] != "Legal" || s["address_line_1"] != "1 Example Street Auckland" {
		t.Errorf("sender %v", s)
	}
	if r := g["recipient"].(map[string]any); r["name"] != "leaks.example" {
		t.Errorf("recipient %v", r)
	}
	works := g["works"].([]any)
	urls := works[0].(map[string]any)["infringing_urls"].([]any)
	var list []string
	for _, u := range urls {
		list = append(list, u.(map[string]any)["url"].(string))
	}
	// Two URLs that differ only in an identifier become one.
	if want := "http://leaks.example/files/1/a.pdf?x=<script> https://leaks.example/files/[redacted]/labs.pdf"; strings.Join(list, " ") != want {
		t.Errorf("urls %q, want %q", list, want)
	}
	if h := got.Notices[1]; h["type"] != "CourtOrder" || !strings.Contains(buf.String(), "https://x.example/?email=[redacted]") {
		t.Errorf("hand-made notice: %v", h)
	}

	if err := WriteLumen(&buf, []LumenNotice{{ActionTaken: "Removed"}}); err == nil {
		t.Error("an action_taken Lumen does not accept was written")
	}
	buf.Reset()
	if err := WriteLumen(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "{\n  \"notices\": []\n}" {
		t.Errorf("empty export %q, %v", buf.String(), err)
	}
}
