package removal

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
)

// Telegram items are looked up in their channel (against the simulated
// Telegram): a deleted message is gone, one still there is present, and
// a channel that is gone takes its messages with it. Without Telegram
// configured, they cannot be checked, and say so.
func TestCheckTelegram(t *testing.T) {
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
	src := storage.Source{Name: "leak-dump", Kind: storage.SourceTelegram, URL: "https://t.me/leak_dump", Enabled: true}
	if err := store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveTelegramChannel(ctx, &storage.TelegramChannel{SourceID: src.ID, ChannelID: ch.ID, AccessHash: ch.AccessHash, Username: "leak_dump"}); err != nil {
		t.Fatal(err)
	}
	run, err := store.StartRun(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	var items []storage.CaseItem
	for i, u := range []string{"https://t.me/leak_dump/" + strconv.Itoa(ransom), "https://t.me/leak_dump/" + strconv.Itoa(sample) + "#document-9", "https://t.me/leak_dump"} {
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureMessage, URL: u, Host: "t.me/leak_dump", FetchedAt: time.Now()}
		if _, err := store.SaveCapture(ctx, &c); err != nil {
			t.Fatal(err)
		}
		items = append(items, storage.CaseItem{ID: uint64(i + 1), URL: u, FirstCaptureID: c.ID})
	}
	kase, err := store.EnsureCase(ctx, "t.me/leak_dump", "case-tg")
	if err != nil {
		t.Fatal(err)
	}

	sim.Delete(ch, ransom)
	c := &Checker{Store: store, Telegram: mon, Logger: slog.New(slog.DiscardHandler)}
	res, err := c.Check(ctx, kase, items)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "deleted message", res[0], storage.CheckGone, "deleted")
	want(t, "message still there", res[1], storage.CheckPresent, "still in the channel")
	want(t, "a channel link", res[2], storage.CheckError, "not a t.me message link")
	if runs, _ := store.RecentRuns(ctx, src.ID, 10); len(runs) != 0 {
		t.Errorf("a Telegram check made crawl runs: %+v", runs)
	}

	res, err = (&Checker{Store: store}).Check(ctx, kase, items[:2])
	if err != nil {
		t.Fatal(err)
	}
	want(t, "no Telegram", res[0], storage.CheckError, "Telegram is not configured")
	want(t, "no Telegram", res[1], storage.CheckError, "Telegram is not configured")

	sim.DeleteChannel(ch)
	res, err = c.Check(ctx, kase, items[:2])
	if err != nil {
		t.Fatal(err)
	}
	want(t, "channel gone", res[0], storage.CheckGone, "channel is gone")
	want(t, "channel gone", res[1], storage.CheckGone, "channel is gone")
}
