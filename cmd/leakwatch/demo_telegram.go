package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
)

// The demo's simulated Telegram: an extortion channel on a loopback MTProto
// server (gotd's tgtest), read by a demo account through the real client.
const (
	demoTelegramAccount = "demo-monitor"
	demoTelegramPhone   = "+15550100"
	demoChannel         = "health_leaks_demo"
)

// demoTelegramConfig makes the demo's config read Telegram as a demo account.
func demoTelegramConfig(cfg *config.Config) {
	cfg.Telegram.APIID = 1
	cfg.Telegram.APIHash = "demo"
	cfg.Telegram.Accounts = []config.TelegramAccountConfig{{Name: demoTelegramAccount, Phone: demoTelegramPhone}}
}

// startDemoTelegram serves a channel that announces the ransom and posts a
// lab result and a photo of the reference set as samples, points the
// environment's Telegram at it and logs the demo account in.
func startDemoTelegram(ctx context.Context, e *env, store *storage.Store, refsDir string, docs []synth.Doc) (*tgsim.Sim, error) {
	sim := tgsim.New(tgsim.Options{Logger: quiet()})
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("demo: simulated Telegram: %w", err)
	}
	sim.AddUser(demoTelegramPhone, "", "Demo Monitor")
	ch := sim.AddChannel(demoChannel, "Health Leaks (simulated)")
	sim.Post(ch, tgsim.Post{Text: "We have 108 GB from the Health portal: notes, lab results, photos. 48h to pay, then we sell it."})
	want := map[synth.Kind]bool{synth.KindLabResult: true, synth.KindPhoto: true}
	for i := len(docs) - 1; i >= 0 && len(want) > 0; i-- { // other samples than the forum's
		d := docs[i]
		if !want[d.Kind] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			sim.Close()
			return nil, fmt.Errorf("demo: %w", err)
		}
		delete(want, d.Kind)
		f := &tgsim.File{Name: filepath.Base(d.RelPath), MIME: "application/pdf", Data: b}
		if d.Kind == synth.KindPhoto {
			// A JPEG goes out as a Telegram photo, anything else as a file.
			f.MIME, f.Photo = "image/png", strings.HasSuffix(d.RelPath, ".jpg")
			if f.Photo {
				f.MIME = "image/jpeg"
			}
		}
		sim.Post(ch, tgsim.Post{Text: "sample: " + filepath.Base(d.RelPath), File: f})
	}
	ep := sim.Endpoint()
	e.tgNetwork = tgmonitor.Network{DC: ep.DC, DCList: ep.DCList, Resolver: ep.Resolver, PublicKeys: ep.PublicKeys}
	m, err := e.telegramMonitor(ctx, store)
	if err != nil {
		sim.Close()
		return nil, err
	}
	if err := demoLogin(ctx, m); err != nil {
		sim.Close()
		return nil, err
	}
	return sim, nil
}

// demoLogin logs the demo account in against the simulated Telegram.
func demoLogin(ctx context.Context, m *tgmonitor.Monitor) error {
	if err := m.Login(ctx, demoTelegramAccount, tgmonitor.Authenticator{Phone: demoTelegramPhone,
		Code: func(context.Context) (string, error) { return "12345", nil }}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// telegramHits counts the hits found on Telegram channels.
func telegramHits(ctx context.Context, store *storage.Store) (int, error) {
	hs, err := store.RecentHits(ctx, 100000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, h := range hs {
		if strings.HasPrefix(h.Target, "t.me/") {
			n++
		}
	}
	return n, nil
}
