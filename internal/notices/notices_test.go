package notices

import (
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/config"
)

func injunction() config.InjunctionConfig {
	return config.InjunctionConfig{
		Court: "High Court of New Zealand", FileNumber: "CIV-2026-404-000123", DateOfOrders: "2026-01-05",
		Claimant: "Example Health Portal Limited", Defendants: "Unknown Defendants",
		Terms:   "Any person must immediately delete and take down links or publications of the data.",
		Contact: config.ContactConfig{Name: "Legal", Email: "legal@claimant.example", Address: "1 Example Street\nAuckland"},
	}
}

var drafted = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)

func data() Data {
	return Data{
		Reference: "LW-12-1", Injunction: injunction(), Target: "leaks.example", Recipient: "abuse@leaks.example",
		DraftedAt: drafted, Deadline: drafted.Add(48 * time.Hour),
		Items: []Item{{URL: "http://leaks.example/files/1/a.pdf?x=<script>", CapturedAt: drafted, SHA256: strings.Repeat("ab", 32), Size: 2048}},
	}
}

// followUp is the first follow-up to data()'s notice, sent on 2026-12-01.
func followUp() Data {
	d := data()
	d.Kind, d.Number, d.Reference = KindFollowUp, 1, "LW-12-2"
	d.Cites = []Citation{{Reference: "LW-12-1", SentAt: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), MessageID: "<notice-12-1@leakwatch>"}}
	d.DraftedAt = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	d.Deadline = d.DraftedAt.Add(48 * time.Hour)
	return d
}

func load(t *testing.T) *Templates {
	t.Helper()
	tm, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func render(t *testing.T, d Data) Rendered {
	t.Helper()
	r, err := load(t).Render(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderNotice(t *testing.T) {
	r := render(t, data())
	// Whitespace is normalised: wrapping may break a phrase across lines.
	for name, part := range map[string]string{"text": strings.Join(strings.Fields(r.Text), " "), "html": strings.Join(strings.Fields(r.HTML), " ")} {
		for _, want := range []string{
			"High Court of New Zealand", "CIV-2026-404-000123", "2026-01-05", // the orders
			"Example Health Portal Limited", "Unknown Defendants", // parties
			"immediately delete and take down",                       // operative terms, quoted
			strings.Repeat("ab", 32), "2026-11-25 20:00 UTC", "2048", // schedule: hash, capture time, size
			"2026-11-27 20:00 UTC",                     // deadline
			"LW-12-1", "please quote it in your reply", // reference
			"legal@claimant.example", "Auckland", // contact
			"A sealed copy of the orders is not attached",
			"You are identified as the hosting provider for leaks.example", // default recipient type
		} {
			if !strings.Contains(part, want) {
				t.Errorf("%s notice lacks %q", name, want)
			}
		}
		for _, never := range []string{"revision", "Revision", "case 12"} {
			if strings.Contains(part, never) {
				t.Errorf("%s notice shows internal bookkeeping %q", name, never)
			}
		}
	}
	if !strings.Contains(r.Text, "<script>") || strings.Contains(r.HTML, "<script>") {
		t.Error("the HTML notice must escape what came from the leak site")
	}
	if want := "Takedown notice LW-12-1 - High Court of New Zealand, CIV-2026-404-000123 (2026-01-05) - content at leaks.example"; r.Subject != want {
		t.Errorf("subject\n got %q\nwant %q", r.Subject, want)
	}
	if r.InReplyTo != "" || r.References != nil {
		t.Errorf("a first notice threads with %q %q", r.InReplyTo, r.References)
	}
	if r.PDFName != "LW-12-1.pdf" || !strings.HasPrefix(string(r.PDF), "%PDF-") {
		t.Errorf("pdf %q, %d bytes", r.PDFName, len(r.PDF))
	}
	// Prose is wrapped for plain-text readers; indented lines (the schedule)
	// keep URLs whole.
	for _, l := range strings.Split(r.Text, "\n") {
		if len([]rune(l)) > textWidth && !strings.HasPrefix(l, " ") {
			t.Errorf("unwrapped prose line: %q", l)
		}
	}

	d := data()
	d.OrderAttached = true
	if r := render(t, d); !strings.Contains(r.Text, "A sealed copy of the orders is attached.") || !strings.Contains(r.HTML, "A sealed copy of the orders is attached.") {
		t.Error("OrderAttached is not stated")
	}
}

func TestRenderKinds(t *testing.T) {
	cites := followUp().Cites
	tests := []struct {
		kind    NoticeKind
		number  int
		subject string
		body    string
	}{
		{KindFollowUp, 2,
			"Follow-up 2 to notice LW-12-1 of 2026-12-01: High Court of New Zealand, CIV-2026-404-000123 (2026-01-05) - content at leaks.example [LW-12-9]",
			"This is follow-up 2 to our takedown notice LW-12-1 of 2026-12-01"},
		{KindEscalation, 1,
			"Escalation: notice LW-12-1 of 2026-12-01 - High Court of New Zealand, CIV-2026-404-000123 (2026-01-05) - content at leaks.example [LW-12-9]",
			"We are escalating this matter. Despite our takedown notice LW-12-1 of 2026-12-01"},
		{KindReappearance, 1,
			"Content reappeared - High Court of New Zealand, CIV-2026-404-000123 (2026-01-05) - content at leaks.example (cites notice LW-12-1 of 2026-12-01) [LW-12-9]",
			"Content that was the subject of our takedown notice LW-12-1 of 2026-12-01"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			d := followUp()
			d.Kind, d.Number, d.Reference = tt.kind, tt.number, "LW-12-9"
			r := render(t, d)
			if r.Subject != tt.subject {
				t.Errorf("subject\n got %q\nwant %q", r.Subject, tt.subject)
			}
			text := strings.Join(strings.Fields(r.Text), " ") // undo wrapping
			if !strings.Contains(text, tt.body) || !strings.Contains(r.HTML, tt.body) {
				t.Errorf("body does not cite the earlier notice: want %q in\n%s", tt.body, r.Text)
			}
			if !strings.Contains(r.Text, "LW-12-1, sent 2026-12-01 09:30 UTC") {
				t.Errorf("no list of earlier notices in\n%s", r.Text)
			}
			if r.InReplyTo != cites[0].MessageID || len(r.References) != 1 || r.References[0] != cites[0].MessageID {
				t.Errorf("threading %q %q", r.InReplyTo, r.References)
			}
		})
	}
}

// A second follow-up cites the notice and the first follow-up: the subject
// names the first notice, the thread runs from it to the newest.
func TestRenderCitesSeveral(t *testing.T) {
	d := followUp()
	d.Number, d.Reference = 2, "LW-12-3"
	d.Cites = append([]Citation{{Reference: "LW-12-2", SentAt: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), MessageID: "<notice-12-2@leakwatch>"}}, d.Cites...)
	r := render(t, d)
	if !strings.HasPrefix(r.Subject, "Follow-up 2 to notice LW-12-1 of 2026-12-01:") {
		t.Errorf("subject %q", r.Subject)
	}
	if text := strings.Join(strings.Fields(r.Text), " "); !strings.Contains(text, "LW-12-1 of 2026-12-01 and our later correspondence LW-12-2 of 2026-12-03") {
		t.Errorf("body:\n%s", r.Text)
	}
	if r.InReplyTo != "<notice-12-2@leakwatch>" || strings.Join(r.References, " ") != "<notice-12-1@leakwatch> <notice-12-2@leakwatch>" {
		t.Errorf("threading %q %q", r.InReplyTo, r.References)
	}
}

// Content first noticed on another host and published again here: the
// notice names that host's notice and says the content is back on this
// target, but is not threaded with a message this recipient never had.
func TestRenderCitesAnotherHost(t *testing.T) {
	d := data()
	d.Kind, d.Reference, d.Target = KindReappearance, "LW-20-1", "mirror.example"
	d.Cites = []Citation{{Reference: "LW-12-1", SentAt: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Target: "leaks.example"}}
	r := render(t, d)
	text := strings.Join(strings.Fields(r.Text), " ")
	for _, want := range []string{"LW-12-1 of 2026-12-01 concerning leaks.example", "has reappeared on mirror.example", "LW-12-1, sent 2026-12-01 09:30 UTC, concerning leaks.example"} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, r.Text)
		}
	}
	if !strings.Contains(r.HTML, "LW-12-1, sent 2026-12-01 09:30 UTC, concerning leaks.example") {
		t.Errorf("HTML does not name the other host:\n%s", r.HTML)
	}
	if r.InReplyTo != "" || len(r.References) != 0 {
		t.Errorf("threaded with another recipient's notice: %q %q", r.InReplyTo, r.References)
	}
	// The same host's own notice cited beside it is threaded as before.
	d.Cites = append(d.Cites, Citation{Reference: "LW-20-0", SentAt: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), MessageID: "<own@leakwatch>"})
	if r := render(t, d); r.InReplyTo != "<own@leakwatch>" || len(r.References) != 1 {
		t.Errorf("threading with the own notice: %q %q", r.InReplyTo, r.References)
	}
}

// Every recipient type and kind renders, each type asks for its own thing
// and each kind opens its own way.
func TestRenderEveryTypeAndKind(t *testing.T) {
	asks := map[RecipientType]string{
		RecipientHosting:      "You are identified as the hosting provider",
		RecipientRegistrar:    "suspend the domain",
		RecipientCDN:          "purge it from your caches",
		RecipientForum:        "remove each post",
		RecipientFilehost:     "block uploads of files with the SHA-256",
		RecipientTelegram:     "Telegram channel",
		RecipientSearchEngine: "delist",
	}
	opens := map[NoticeKind]string{
		KindNotice:       "This notice puts you on notice",
		KindFollowUp:     "This is follow-up 1",
		KindEscalation:   "We are escalating",
		KindReappearance: "has reappeared",
	}
	tm := load(t)
	for _, rt := range RecipientTypes() {
		for _, k := range Kinds() {
			d := followUp()
			d.RecipientType, d.Kind = rt, k
			r, err := tm.Render(d)
			if err != nil {
				t.Errorf("%s %s: %v", rt, k, err)
				continue
			}
			text := strings.Join(strings.Fields(r.Text), " ")
			for _, want := range []string{asks[rt], opens[k]} {
				if !strings.Contains(text, want) || !strings.Contains(r.HTML, want) {
					t.Errorf("%s %s lacks %q", rt, k, want)
				}
			}
			for other, ask := range asks {
				if other != rt && strings.Contains(text, ask) && !strings.Contains(asks[rt], ask) {
					t.Errorf("%s notice asks what %s is asked: %q", rt, other, ask)
				}
			}
		}
	}
}

func TestRenderTelegramItemNote(t *testing.T) {
	d := data()
	d.RecipientType, d.Target = RecipientTelegram, "t.me/leakchannel"
	d.Items[0] = Item{URL: "https://t.me/leakchannel/123", CapturedAt: drafted, SHA256: strings.Repeat("cd", 32), Note: "message 123 in channel\r\nBcc: x"}
	r := render(t, d)
	if !strings.Contains(r.Text, "Note:     message 123 in channel  Bcc: x") || !strings.Contains(r.HTML, "message 123 in channel") {
		t.Errorf("note missing or not on one line:\n%s", r.Text)
	}
}

// A URL captured twice is one line of the schedule, with its earliest
// capture.
func TestRenderDedupesItems(t *testing.T) {
	d := data()
	early := drafted.Add(-time.Hour)
	d.Items = []Item{
		{URL: "http://leaks.example/b", CapturedAt: drafted, SHA256: strings.Repeat("11", 32)},
		{URL: "http://leaks.example/a", CapturedAt: drafted, SHA256: strings.Repeat("22", 32)},
		{URL: "http://leaks.example/b", CapturedAt: early, SHA256: strings.Repeat("33", 32)},
		{URL: "http://leaks.example/a", CapturedAt: drafted.Add(time.Hour), SHA256: strings.Repeat("44", 32)},
	}
	r := render(t, d)
	for _, part := range []string{r.Text, r.HTML} {
		for url, n := range map[string]int{"http://leaks.example/b": 1, "http://leaks.example/a": 1} {
			if got := strings.Count(part, url); got != n {
				t.Errorf("%s appears %d times", url, got)
			}
		}
		if !strings.Contains(part, strings.Repeat("33", 32)) || strings.Contains(part, strings.Repeat("11", 32)) {
			t.Error("the earliest capture of a URL was not kept")
		}
		if !strings.Contains(part, strings.Repeat("22", 32)) || strings.Contains(part, strings.Repeat("44", 32)) {
			t.Error("a later capture replaced an earlier one")
		}
	}
	if !strings.Contains(r.Text, "SCHEDULE (2 items)") {
		t.Errorf("schedule count:\n%s", r.Text)
	}
	if strings.Index(r.Text, "leaks.example/b") > strings.Index(r.Text, "leaks.example/a") {
		t.Error("items are not in the order their URLs first appeared")
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Data)
		want   string
	}{
		{"no file number", func(d *Data) { d.Injunction.FileNumber, d.Injunction.Terms = "", "" }, "injunction.file_number"},
		{"no items", func(d *Data) { d.Items = nil }, "no infringing items"},
		{"only empty URLs", func(d *Data) { d.Items = []Item{{URL: " "}} }, "no infringing items"},
		{"no reference", func(d *Data) { d.Reference = "" }, "reference"},
		{"reference with a line break", func(d *Data) { d.Reference = "LW-1\r\nBcc: x" }, "reference"},
		{"follow-up citing nothing", func(d *Data) { d.Kind = KindFollowUp }, "must cite the earlier notice"},
		{"citation without a date", func(d *Data) { d.Cites = []Citation{{Reference: "LW-12-0"}} }, "cited notice 1"},
		{"unknown kind", func(d *Data) { d.Kind = "reminder" }, "unknown kind"},
		{"unknown recipient type", func(d *Data) { d.RecipientType = "isp" }, "unknown recipient type"},
		{"no deadline", func(d *Data) { d.Deadline = time.Time{} }, "deadline"},
		{"deadline before drafting", func(d *Data) { d.Deadline = d.DraftedAt.Add(-time.Hour) }, "deadline"},
		{"negative number", func(d *Data) { d.Number = -1 }, "negative"},
	}
	tm := load(t)
	for _, tt := range tests {
		d := data()
		tt.change(&d)
		if _, err := tm.Render(d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %q", tt.name, err, tt.want)
		}
		if _, err := tm.RenderPDF(d); err == nil {
			t.Errorf("%s: RenderPDF succeeded", tt.name)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrapProse("short\n"+strings.Repeat("word ", 30)+"\n  "+strings.Repeat("x", 100)+"\n"+strings.Repeat("y", 80), 20)
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "  x") && l != strings.Repeat("y", 80) {
			t.Errorf("line %q over width", l)
		}
	}
	if !strings.Contains(got, "\n  "+strings.Repeat("x", 100)+"\n") {
		t.Error("an indented line was wrapped")
	}
	if q := quote("a b c d e f\n\ng", "  ", 7); q != "  a b c\n  d e f\n\n  g" {
		t.Errorf("quote: %q", q)
	}
}

func TestDiff(t *testing.T) {
	old := "Dear host,\nplease remove\nthe items\nbelow.\n"
	revised := "Dear host,\nplease remove at once\nthe items\nbelow.\nThanks\n"
	got := Diff(old, revised)
	for _, want := range []string{"--- previous revision\n", "+++ this revision\n", "@@ -1,4 +1,5 @@\n",
		" Dear host,\n", "-please remove\n", "+please remove at once\n", "+Thanks\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if d := Diff(old, old); d != "" {
		t.Errorf("diff of equal texts: %q", d)
	}
	if d := Diff(strings.ReplaceAll(old, "\n", "\r\n"), old); d != "" {
		t.Errorf("line endings alone make a diff: %q", d)
	}
	if d := Diff("", "new\n"); !strings.Contains(d, "+new\n") {
		t.Errorf("diff from nothing: %q", d)
	}
}
