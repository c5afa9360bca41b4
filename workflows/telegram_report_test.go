package workflows

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
)

// TestSentNoticeReportsChannelInApp: once a notice about a Telegram channel
// is sent, the messages its case holds are reported in-app (against the
// simulated Telegram), once per channel, and the report is audited; a
// notice about a web host reports nothing.
func TestSentNoticeReportsChannelInApp(t *testing.T) {
	ctx := context.Background()
	sim := tgsim.New(tgsim.Options{})
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); sim.Close() })
	if err := sim.Start(sctx); err != nil {
		t.Fatal(err)
	}
	sim.AddUser("+15550100", "", "Monitor")
	ch := sim.AddChannel("leak_dump", "Leaks")
	ransom := sim.Post(ch, tgsim.Post{Text: "pay or we publish"})
	sample := sim.Post(ch, tgsim.Post{Text: "sample", File: &tgsim.File{Name: "a.pdf", MIME: "application/pdf", Data: []byte("%PDF-1.4 x")}})

	store, err := storage.Open(ctx, "", filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := fingerprints.NewKey(bytes.Repeat([]byte{3}, 32))
	ep := sim.Endpoint()
	mon, err := tgmonitor.New(tgmonitor.Options{AppID: 1, AppHash: "t", Store: store, Sealer: tgmonitor.NewSealer(key),
		Network: tgmonitor.Network{DC: ep.DC, DCList: ep.DCList, Resolver: ep.Resolver, PublicKeys: ep.PublicKeys}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTelegramAccount(ctx, "mon1", "+15550100"); err != nil {
		t.Fatal(err)
	}
	if err := mon.Login(ctx, "mon1", tgmonitor.Authenticator{Phone: "+15550100",
		Code: func(context.Context) (string, error) { return "12345", nil }}); err != nil {
		t.Fatal(err)
	}

	// The channel's case: the ransom post (keyword) and the sample file.
	src := storage.Source{Name: "leak-dump", Kind: storage.SourceTelegram, URL: "https://t.me/leak_dump", Enabled: true}
	must(t, store.CreateSource(ctx, &src))
	must(t, store.SaveTelegramChannel(ctx, &storage.TelegramChannel{SourceID: src.ID, ChannelID: ch.ID, AccessHash: ch.AccessHash, Username: "leak_dump"}))
	run, err := store.StartRun(ctx, src.ID)
	must(t, err)
	for _, u := range []string{"https://t.me/leak_dump/" + strconv.Itoa(ransom), "https://t.me/leak_dump/" + strconv.Itoa(sample) + "#document-9"} {
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureMessage, URL: u, Host: "t.me/leak_dump", FetchedAt: time.Now()}
		_, err := store.SaveCapture(ctx, &c)
		must(t, err)
		_, err = store.AddHit(ctx, &storage.Hit{CaptureID: c.ID, Method: "keyword", Score: 1, Target: "t.me/leak_dump"})
		must(t, err)
	}
	tgCase, err := store.EnsureCase(ctx, "t.me/leak_dump", "case-tg")
	must(t, err)
	webCase, err := store.EnsureCase(ctx, "forum.example", "case-web")
	must(t, err)

	a := &CaseActivities{Store: store, Telegram: mon, Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil)),
		Injunction: config.InjunctionConfig{Claimant: "Example Health", Court: "High Court", FileNumber: "CIV-1", DateOfOrders: "2026-01-05"}}
	a.reportTelegram(ctx, storage.Notice{ID: 1, CaseID: webCase.ID, MessageID: "<n1@x>"})
	if n := len(sim.Reports()); n != 0 {
		t.Fatalf("a web host's notice reported %d times in Telegram", n)
	}
	a.reportTelegram(ctx, storage.Notice{ID: 2, CaseID: tgCase.ID, MessageID: "<n2@x>"})
	reps := sim.Reports()
	if len(reps) != 1 || reps[0].Channel != ch.ID || !slices.Equal(reps[0].MsgIDs, []int{ransom, sample}) ||
		!strings.Contains(reps[0].Comment, "CIV-1") {
		t.Fatalf("reports %+v, want one of messages %d and %d citing the orders", reps, ransom, sample)
	}
	events, err := store.AuditEvents(ctx, 100)
	must(t, err)
	if !slices.ContainsFunc(events, func(e storage.AuditEvent) bool { return e.Action == "telegram.reported" && e.Object == "notice:2" }) {
		t.Errorf("the report was not audited: %+v", events)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tWriter sends log lines to the test's log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
