package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/internal/web"
	"github.com/leakwatch/leakwatch/storage"
)

// demoRecipient is where the simulated forum's takedown notices go; the
// demo's SMTP sink accepts everything.
const demoRecipient = "abuse@leakforum.example"

// runDemo runs `up` with a simulated leak forum, a synthetic reference set,
// demo users and an SMTP sink, so a newcomer sees hits and notices at once.
func runDemo(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("demo", flag.ContinueOnError)
	once := fset.Bool("once", false, "run headless: approve the first notice as the demo lawyer, exit 0 once it is delivered")
	listen := fset.String("listen", "127.0.0.1:8080", "web UI/API address")
	docs := fset.Int("docs", 200, "synthetic reference documents")
	timeout := fset.Duration("timeout", 5*time.Minute, "with --once: give up after this long")
	if _, err := e.parseFlags(fset, args); err != nil {
		return err
	}
	dataDir := e.dataDir
	if dataDir == "" {
		if *once {
			tmp, err := os.MkdirTemp("", "leakwatch-demo-")
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			defer os.RemoveAll(tmp)
			dataDir = tmp
		} else {
			dataDir = filepath.Join("data", "demo")
		}
	}
	if *once {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	sink, err := smtpsink.Start(ctx, smtpsink.Options{Logger: quiet()})
	if err != nil {
		return fmt.Errorf("demo: start SMTP sink: %w", err)
	}
	defer sink.Close()

	cfg := demoConfig(dataDir, *listen, sink.Addr())
	demoTelegramConfig(cfg)
	if cfg.Fingerprints.KeyFile, err = demoKey(dataDir); err != nil {
		return err
	}
	if e.logLevel == "" {
		cfg.Log.Level = "warn" // keep the demo's own output readable
	}
	e.dataDir = dataDir
	e.setConfig(cfg)
	if err := cfg.Validate(config.RequireInjunction(true)); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}

	// A synthetic breach, indexed as the reference set.
	refsDir := filepath.Join(dataDir, "demo-references")
	refDocs, err := synth.Generate(refsDir, synth.Options{Seed: 20251230, Docs: *docs})
	if err != nil {
		return fmt.Errorf("demo: generate references: %w", err)
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return err
	}
	if _, err := addRefs(ctx, e, refsDir, key, false); err != nil {
		return err
	}

	// A leak forum posting a sample of them next to unrelated files.
	site, siteURL, err := startDemoSite(ctx, refsDir, refDocs)
	if err != nil {
		return err
	}
	src := storage.Source{Name: "demo-leak-forum", Kind: storage.SourceForum, URL: siteURL, EverySecs: int64((10 * time.Minute) / time.Second), Enabled: true,
		Options: storage.SourceOptions{WatchTerms: []string{"Health portal"}}}
	if err := store.UpsertSource(ctx, &src); err != nil {
		return err
	}

	// And a Telegram channel posting other samples.
	sim, err := startDemoTelegram(ctx, e, store, refsDir, refDocs)
	if err != nil {
		return err
	}
	defer sim.Close()
	tsrc := storage.Source{Name: "demo-telegram", Kind: storage.SourceTelegram, URL: "https://t.me/" + demoChannel,
		EverySecs: int64((10 * time.Minute) / time.Second), Enabled: true,
		Options: storage.SourceOptions{WatchTerms: []string{"Health portal"}, Telegram: &storage.TelegramOptions{Account: demoTelegramAccount}}}
	if err := store.UpsertSource(ctx, &tsrc); err != nil {
		return err
	}

	users, err := demoUsers(ctx, store)
	if err != nil {
		return err
	}

	s, err := startStack(ctx, e, stackOptions{worker: true, web: !*once, mailbox: sinkMailbox{sink}})
	if err != nil {
		return err
	}
	defer s.stop()

	if !*once {
		fmt.Fprintf(e.stdout, "leakwatch demo is up.\n\n  open      %s\n  leak site %s (simulated, loopback only; %d files posted)\n  telegram  t.me/%s (simulated MTProto server on loopback)\n\n  users:\n",
			cfg.Web.BaseURL, siteURL, len(site.Attachments()), demoChannel)
		for _, u := range users {
			fmt.Fprintf(e.stdout, "    %-13s %-8s password %s\n", u.name, u.role, u.password)
		}
		fmt.Fprintf(e.stdout, "\nThe forum is crawled now and every 10 minutes. Log in as demo-legal to approve the drafted notice;\nsent notices appear under Mailbox. Data: %s. Ctrl-C stops.\n", dataDir)
		return s.run(ctx)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- s.run(runCtx) }()
	defer func() { stopRun(); <-runErr }()

	legal, err := store.UserByUsername(ctx, "demo-legal")
	if err != nil {
		return err
	}
	if err := approveFirstDraft(ctx, s, store, legal, runErr); err != nil {
		return err
	}
	if _, err := sink.Wait(ctx, 1); err != nil {
		return fmt.Errorf("demo: no notice delivered: %w", err)
	}
	// The sink has the mail; wait for the sender to record it too.
	counts, err := waitFor(ctx, runErr, func() (storage.Counts, bool, error) {
		c, err := store.Count(ctx)
		return c, c.NoticesSent >= 1, err
	})
	if err != nil {
		return err
	}
	// The channel's samples are hits too, on a case of their own.
	tgHits, err := waitFor(ctx, runErr, func() (int, bool, error) {
		runs, err := store.RecentRuns(ctx, tsrc.ID, 1)
		if err != nil || len(runs) == 0 || runs[0].Status == storage.RunRunning {
			return 0, false, err
		}
		n, err := telegramHits(ctx, store)
		return n, n > 0, err
	})
	if err != nil {
		return fmt.Errorf("demo: no hit from the Telegram channel: %w", err)
	}
	var summary map[string]any
	line, _ := json.Marshal(counts)
	if err := json.Unmarshal(line, &summary); err != nil {
		return err
	}
	summary["telegram_hits"] = tgHits
	line, _ = json.Marshal(summary)
	fmt.Fprintln(e.stdout, string(line))
	return nil
}

// approveFirstDraft waits for the crawl to produce a drafted notice and
// approves it the way a lawyer would, through the case workflow.
func approveFirstDraft(ctx context.Context, s *stack, store *storage.Store, legal storage.User, runErr <-chan error) error {
	c, err := waitFor(ctx, runErr, func() (storage.Case, bool, error) {
		cs, err := store.ListCases(ctx)
		for _, c := range cs {
			if c.State == storage.CaseDrafted {
				return c, true, err
			}
		}
		return storage.Case{}, false, err
	})
	if err != nil {
		return fmt.Errorf("demo: waiting for a drafted notice: %w", err)
	}
	if err := s.cases.Approve(ctx, c.ID, 0, legal); err != nil {
		return fmt.Errorf("demo: approve: %w", err)
	}
	return nil
}

// waitFor polls check until it reports done, the stack fails or ctx ends.
func waitFor[T any](ctx context.Context, runErr <-chan error, check func() (T, bool, error)) (T, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		v, done, err := check()
		if err != nil || done {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case err := <-runErr:
			if err == nil {
				err = errors.New("stopped")
			}
			return v, fmt.Errorf("leakwatch stopped: %w", err)
		case <-t.C:
		}
	}
}

func demoConfig(dataDir, listen, smtpAddr string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Web.Listen = listen
	cfg.Web.BaseURL = "http://" + listen
	host, port, _ := net.SplitHostPort(smtpAddr)
	cfg.SMTP.Host = host
	cfg.SMTP.Port, _ = strconv.Atoi(port)
	cfg.SMTP.TLS = config.TLSNone
	cfg.SMTP.From = "Takedown Team <takedowns@claimant.example>"
	cfg.Notices.DefaultRecipient = demoRecipient
	// The demo's matches are exact copies of its own synthetic set, and
	// its crawl is one pass: confirm them as they come and draft at once.
	// RDAP would ask IANA (the public network) about loopback.
	cfg.Notices.Triage = config.TriageAuto
	cfg.Notices.DraftDelay = 5 * time.Second
	cfg.Notices.RDAP = false
	cfg.Injunction = config.InjunctionConfig{
		Court:        "High Court of New Zealand (fictional demo)",
		FileNumber:   "CIV-2026-404-000123",
		DateOfOrders: "2026-01-05",
		Claimant:     "Example Health Portal Limited",
		Defendants:   "Unknown Defendants",
		Terms: "1. No person may access, use, disclose or publish any data taken from the claimant's systems.\n" +
			"2. Any person who has published, or provided links to, that data must immediately delete and take down those publications and links.",
		Contact: config.ContactConfig{Name: "Legal Team, Example Health Portal Limited", Email: "legal@claimant.example", Phone: "+64 9 555 0100"},
	}
	return cfg
}

// startDemoSite posts a sample of the reference set (the patients CSV, a lab
// result, a clinical note and a photo) and three unrelated files.
func startDemoSite(ctx context.Context, refsDir string, docs []synth.Doc) (*leaksim.Site, string, error) {
	const thread = "Health portal FULL DB - samples, 48h to pay"
	var files []leaksim.File
	var posts []leaksim.Post
	want := map[synth.Kind]bool{synth.KindPatients: true, synth.KindLabResult: true, synth.KindClinicalNote: true, synth.KindPhoto: true}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return nil, "", fmt.Errorf("demo: %w", err)
		}
		// A second note is not attached but quoted in a reply "as proof":
		// found by its text, on the thread's page.
		if d.Kind == synth.KindClinicalNote && !want[d.Kind] && len(posts) == 0 && len(b) > 400 {
			excerpt := string(b[len(b)/4 : len(b)/4+300])
			posts = append(posts, leaksim.Post{Thread: thread, Author: "seller", Text: "proof it's real, from one of the notes:\n\n" + excerpt})
		}
		if !want[d.Kind] {
			continue
		}
		delete(want, d.Kind)
		files = append(files, leaksim.File{Name: filepath.Base(d.RelPath), Data: b, Thread: thread})
	}
	otherDir, err := os.MkdirTemp("", "leakwatch-demo-other-")
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(otherDir)
	others, err := synth.Generate(otherDir, synth.Options{Seed: 7, Patients: 3, Docs: 2})
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	for _, d := range others {
		b, err := os.ReadFile(filepath.Join(otherDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return nil, "", fmt.Errorf("demo: %w", err)
		}
		files = append(files, leaksim.File{Name: "other-" + filepath.Base(d.RelPath), Data: b, Thread: "Random combolists (unrelated)"})
	}
	site := leaksim.New(leaksim.Options{Title: "LeakForum (simulated)", Files: files, Posts: posts, Logger: quiet()})
	addr, err := site.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return site, "http://" + addr.String() + "/", nil
}

// demoKey makes (once) a fingerprint key for the demo's data directory. A
// real deployment keeps its key outside the data directory and its backups.
func demoKey(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "demo-fingerprint.key")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	if err := os.WriteFile(p, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	return p, nil
}

type demoUser struct {
	name     string
	role     storage.Role
	password string
}

// demoUsers creates (or resets the passwords of) one user per role.
func demoUsers(ctx context.Context, store *storage.Store) ([]demoUser, error) {
	users := []demoUser{{"demo-analyst", storage.RoleAnalyst, ""}, {"demo-legal", storage.RoleLegal, ""}, {"demo-admin", storage.RoleAdmin, ""}}
	for i := range users {
		u := &users[i]
		u.password = generatePassword()
		_, err := createUser(ctx, store, u.name, u.role, u.password)
		if errors.Is(err, storage.ErrDuplicate) {
			existing, lerr := store.UserByUsername(ctx, u.name)
			if lerr != nil {
				return nil, lerr
			}
			err = resetPassword(ctx, store, existing.ID, u.password)
		}
		if err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.name, err)
		}
	}
	return users, nil
}

// sinkMailbox shows the demo SMTP sink's messages in the web UI.
type sinkMailbox struct{ sink *smtpsink.Sink }

func (m sinkMailbox) Messages() []web.MailMessage {
	var out []web.MailMessage
	for _, msg := range m.sink.Messages() {
		out = append(out, web.MailMessage{From: msg.From, To: msg.To, Subject: msg.Subject, Received: msg.Received, Body: msg.TextBody()})
	}
	return out
}
