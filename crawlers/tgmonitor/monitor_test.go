package tgmonitor_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gotd/neo"
	"github.com/gotd/td/tg"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
)

const (
	phone    = "+15550100"
	password = "correct horse battery staple"
	account  = "monitor1"
)

// world is a simulated Telegram with an extortion channel, a reference
// index of a small synthetic breach, and a monitor logged in to it.
type world struct {
	sim     *tgsim.Sim
	ch      tgsim.Channel
	store   *storage.Store
	p       *capture.Pipeline
	mon     *tgmonitor.Monitor
	monOpts tgmonitor.Options
	src     storage.Source
	dataDir string
	refs    map[string][]byte // reference name → bytes
	refByID map[uint64]string
	posts   map[int]string // message id → what it carries ("chatter", a reference name, "ransom")
	// evKey encrypts the evidence at rest, as evidence.key_file does.
	evKey *age.X25519Identity
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w := &world{refs: map[string][]byte{}, refByID: map[uint64]string{}, posts: map[int]string{}, dataDir: dir}
	var err error
	if w.evKey, err = age.GenerateX25519Identity(); err != nil {
		t.Fatal(err)
	}

	// The breach: synthetic documents, and one large file that needs
	// several 512 KiB parts to download.
	refsDir := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refsDir, synth.Options{Seed: 21, Patients: 6, Docs: 12})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		w.refs[d.RelPath] = b
	}
	var big bytes.Buffer
	for i := 0; big.Len() < 1300<<10; i++ {
		for _, d := range docs {
			if d.Kind == synth.KindClinicalNote {
				big.WriteString(strings.Repeat("x", i%7))
				big.Write(w.refs[d.RelPath])
			}
		}
	}
	if err := os.WriteFile(filepath.Join(refsDir, "export-all-notes.txt"), big.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	w.refs["export-all-notes.txt"] = big.Bytes()

	if w.store, err = storage.Open(ctx, "", filepath.Join(dir, "db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := references.Import(ctx, w.store, refsDir, references.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := references.NewScanner(ctx, w.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.p = &capture.Pipeline{Store: w.store, Scanner: sc}

	// Telegram: the account, and the channel's history.
	w.sim = tgsim.New(tgsim.Options{})
	sctx, cancel := context.WithCancel(context.Background())
	if err := w.sim.Start(sctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); w.sim.Close() })
	w.sim.AddUser(phone, password, "Monitor")
	w.ch = w.sim.AddChannel("leak_dump", "Leaks & Dumps")
	w.post(t, "chatter", tgsim.Post{Text: "welcome to the channel"})
	w.post(t, "ransom", tgsim.Post{Text: "We have 108 GB from the Health portal. Pay or we sell it."})
	for i := range 20 {
		w.post(t, "chatter", tgsim.Post{Text: "nothing to see " + strings.Repeat("here ", i)})
	}
	for _, d := range docs {
		switch d.Kind {
		case synth.KindLabResult:
			w.post(t, d.RelPath, tgsim.Post{Text: "sample", File: &tgsim.File{Name: "lab.pdf", MIME: "application/pdf", Data: w.refs[d.RelPath]}})
		case synth.KindPhoto:
			w.post(t, d.RelPath, tgsim.Post{Text: "photo", File: &tgsim.File{Name: "p.jpg", MIME: "image/jpeg", Data: w.refs[d.RelPath], Photo: true}})
		}
	}
	id := w.post(t, "export-all-notes.txt", tgsim.Post{Text: "all the notes", File: &tgsim.File{Name: "notes.txt", MIME: "text/plain", Data: big.Bytes()}})
	// The file reference expires after the first part: the monitor must
	// refresh it and resume, not leave or keep a partial file.
	w.sim.ExpireFileReferenceOnce(w.ch, id)
	for i := range 10 {
		w.post(t, "chatter", tgsim.Post{Text: "more chatter " + strings.Repeat("!", i)})
	}

	w.monOpts = tgmonitor.Options{AppID: 17349, AppHash: "test", Store: w.store, Sealer: tgmonitor.NewSealer(key),
		Network: network(w.sim), MaxFloodWait: time.Minute}
	if w.mon, err = tgmonitor.New(w.monOpts); err != nil {
		t.Fatal(err)
	}
	if err := w.store.EnsureTelegramAccount(ctx, account, phone); err != nil {
		t.Fatal(err)
	}
	w.src = storage.Source{Name: "leak-dump", Kind: storage.SourceTelegram, URL: "https://t.me/leak_dump", Enabled: true,
		Options: storage.SourceOptions{WatchTerms: []string{"Health portal"}, Telegram: &storage.TelegramOptions{Account: account}}}
	if err := w.store.CreateSource(ctx, &w.src); err != nil {
		t.Fatal(err)
	}
	return w
}

func network(s *tgsim.Sim) tgmonitor.Network {
	ep := s.Endpoint()
	return tgmonitor.Network{DC: ep.DC, DCList: ep.DCList, Resolver: ep.Resolver, PublicKeys: ep.PublicKeys}
}

func (w *world) post(t testing.TB, what string, p tgsim.Post) int {
	t.Helper()
	id := w.sim.Post(w.ch, p)
	w.posts[id] = what
	return id
}

func (w *world) login(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.mon.Login(ctx, account, tgmonitor.Authenticator{Phone: phone,
		Code:     func(context.Context) (string, error) { return "12345", nil },
		Password: func(context.Context) (string, error) { return password, nil }})
	if err != nil {
		t.Fatal(err)
	}
}

// pass runs one Watch into a new run, as a crawl activity does; rec, if
// not nil, wraps the run's recorder.
func (w *world) pass(t testing.TB, wrap func(tgmonitor.Recorder) tgmonitor.Recorder) (storage.CrawlRun, tgmonitor.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run, err := w.store.StartRun(ctx, w.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.p.ForRun(run)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := capture.CompileWatch(w.src.Options.WatchTerms)
	if err != nil {
		t.Fatal(err)
	}
	var rec tgmonitor.Recorder = r.WithWatch(watch)
	if wrap != nil {
		rec = wrap(rec)
	}
	ev, err := evidence.NewWriter(capture.EvidenceDir(w.dataDir), evidence.WriterOptions{RunID: capture.EvidenceRunID(run.ID),
		Recipients: []age.Recipient{w.evKey.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := w.store.SourceByID(ctx, w.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, werr := w.mon.Watch(ctx, tgmonitor.Request{Source: src, Recorder: rec, Evidence: ev})
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := capture.Seal(ctx, w.store, run.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	return run, st, werr
}

// captures returns every capture of the source's runs.
func (w *world) captures(t testing.TB, runs ...storage.CrawlRun) []storage.Capture {
	t.Helper()
	var all []storage.Capture
	for _, r := range runs {
		cs, err := w.store.CapturesOfRun(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	return all
}

// stopAfter cancels a pass after n records: a worker dying mid-backfill.
type stopAfter struct {
	next tgmonitor.Recorder
	n    int
}

var errKilled = errors.New("worker killed")

func (s *stopAfter) Record(ctx context.Context, it capture.Item) (capture.Result, error) {
	if s.n == 0 {
		return capture.Result{}, errKilled
	}
	s.n--
	return s.next.Record(ctx, it)
}

func TestWatchChannel(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	// Before login the account cannot watch, and says so.
	if _, _, err := w.pass(t, nil); !errors.Is(err, tgmonitor.ErrNotLoggedIn) || !tgmonitor.IsPermanent(err) {
		t.Fatalf("watch before login: %v, want ErrNotLoggedIn", err)
	}
	w.login(t)
	acct, err := w.store.TelegramAccount(ctx, account)
	if err != nil || acct.Status != storage.TelegramOK || acct.UserID == 0 || len(acct.Session) == 0 {
		t.Fatalf("account after login: %+v, %v", acct, err)
	}

	// A worker dies after 15 records; the next pass resumes.
	run1, _, err := w.pass(t, func(r tgmonitor.Recorder) tgmonitor.Recorder { return &stopAfter{next: r, n: 15} })
	if !errors.Is(err, errKilled) {
		t.Fatalf("first pass: %v, want it killed", err)
	}
	run2, st, err := w.pass(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Backfill {
		t.Errorf("history not finished: %+v", st)
	}

	// Every message exactly once over both runs, every file whole.
	msgs := map[string]int{}
	files := map[string]storage.Capture{}
	for _, c := range w.captures(t, run1, run2) {
		switch c.Kind {
		case storage.CaptureMessage:
			msgs[c.URL]++
		case storage.CaptureFile:
			if _, dup := files[c.URL]; dup {
				t.Errorf("file %s captured twice", c.URL)
			}
			files[c.URL] = c
		}
		if c.Host != "t.me/leak_dump" {
			t.Errorf("capture %s targets %q", c.URL, c.Host)
		}
	}
	if len(msgs) != len(w.posts) {
		t.Errorf("%d messages captured, the channel has %d", len(msgs), len(w.posts))
	}
	for u, n := range msgs {
		if n != 1 {
			t.Errorf("message %s captured %d times", u, n)
		}
	}
	wantFiles := 0
	for id, what := range w.posts {
		ref, isRef := w.refs[what]
		if !isRef {
			continue
		}
		wantFiles++
		var c *storage.Capture
		for u, fc := range files {
			if strings.HasPrefix(u, "https://t.me/leak_dump/"+strconv.Itoa(id)+"#") {
				c = &fc
			}
		}
		if c == nil {
			t.Errorf("message %d: its file (%s) was not captured", id, what)
			continue
		}
		if c.Error != "" || c.Size != int64(len(ref)) || c.Truncated {
			t.Errorf("message %d: file captured with error %q, %d of %d bytes", id, c.Error, c.Size, len(ref))
		}
	}
	if len(files) != wantFiles {
		t.Errorf("%d files captured, want %d", len(files), wantFiles)
	}
	if w.sim.Calls(tg.ChannelsGetMessagesRequestTypeID) == 0 {
		t.Error("the expired file reference was never refreshed")
	}

	// Hits: each posted reference matched, the ransom note a keyword hit.
	hits, err := w.store.RecentHits(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	matched := map[string]bool{}
	keyword := 0
	for _, h := range hits {
		if h.Method == capture.MethodKeyword {
			keyword++
			continue
		}
		matched[h.RefName] = true
		if h.Target != "t.me/leak_dump" {
			t.Errorf("hit %d targets %q", h.ID, h.Target)
		}
	}
	if keyword != 1 {
		t.Errorf("%d keyword hits, want 1 (the ransom post)", keyword)
	}
	for _, what := range w.posts {
		if _, isRef := w.refs[what]; isRef && !matched[what] {
			t.Errorf("posted reference %s was not matched", what)
		}
	}

	// Evidence: every capture's record verifies.
	for _, c := range w.captures(t, run1, run2) {
		if c.Evidence == "" {
			t.Errorf("capture %s has no evidence record", c.URL)
		}
	}
	if probs, _, err := capture.VerifyRun(ctx, w.store, w.dataDir, run2.ID, w.evKey); err != nil || len(probs) > 0 {
		t.Errorf("run %d evidence: %v %v", run2.ID, probs, err)
	}
	// The ransom note is evidence, kept encrypted: no WARC file is left
	// plain, and none shows the message's text.
	if plain, _ := filepath.Glob(filepath.Join(capture.EvidenceDir(w.dataDir), "*", "*.warc.gz")); len(plain) != 0 {
		t.Errorf("plain WARC files after the passes: %v", plain)
	}
	enc, _ := filepath.Glob(filepath.Join(capture.EvidenceDir(w.dataDir), "*", "*.warc.gz.age"))
	if len(enc) == 0 {
		t.Error("no encrypted evidence")
	}
	for _, p := range enc {
		if b, err := os.ReadFile(p); err != nil || bytes.Contains(b, []byte("Pay or we sell it")) {
			t.Errorf("%s: %v, or it shows the ransom note", p, err)
		}
	}

	// A new post is picked up by the next pass, and nothing else again.
	id := w.post(t, "chatter", tgsim.Post{Text: "new post"})
	run3, st, err := w.pass(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := w.captures(t, run3)
	if st.Messages != 1 || len(cs) != 1 || cs[0].URL != "https://t.me/leak_dump/"+strconv.Itoa(id) {
		t.Errorf("third pass recorded %+v, captures %v; want only message %d", st, cs, id)
	}

	// The channel was resolved once, though three passes ran.
	if n := w.sim.Calls(tg.ContactsResolveUsernameRequestTypeID); n != 1 {
		t.Errorf("resolveUsername called %d times, want 1", n)
	}
}

// TestFloodWaitAndDeadSession: a FLOOD_WAIT within the budget is waited
// out and shows in the account's status while it lasts; one beyond it ends
// the pass without a retry storm, and the account waits it out; a revoked
// session stops the account cleanly, with no reconnect loop, until it logs
// in again. Flood waits run on a fake clock: an hour passes when the test
// says so.
func TestFloodWaitAndDeadSession(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.login(t)
	clk := neo.NewTime(time.Now())
	opts := w.monOpts
	opts.Clock, opts.MaxFloodWait = clk, 2*time.Hour
	var err error
	if w.mon, err = tgmonitor.New(opts); err != nil {
		t.Fatal(err)
	}

	// Within the budget (an hour of two): the pass waits, showing the
	// wait, until the hour has passed, then goes on.
	w.sim.FloodWaitOnce(tg.MessagesGetHistoryRequestTypeID, 3600)
	before := w.sim.Calls(tg.MessagesGetHistoryRequestTypeID)
	waiting := clk.Observe() // closed when the waiter sets its timer
	type result struct {
		st  tgmonitor.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, st, err := w.pass(t, nil)
		done <- result{st, err}
	}()
	select {
	case <-waiting:
	case r := <-done:
		t.Fatalf("the pass ended without waiting: %+v, %v", r.st, r.err)
	case <-time.After(time.Minute):
		t.Fatal("no flood wait began within a minute")
	}
	acct, _ := w.store.TelegramAccount(ctx, account)
	if acct.Status != storage.TelegramFloodWait || acct.FloodUntil == nil || acct.FloodUntil.Sub(clk.Now()) < 59*time.Minute {
		t.Errorf("while waiting the account is %s until %v (now %v), want flood-wait for an hour", acct.Status, acct.FloodUntil, clk.Now())
	}
	select {
	case r := <-done:
		t.Fatalf("the pass ended before the hour passed: %+v, %v", r.st, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	clk.Travel(time.Hour)
	select {
	case r := <-done:
		if r.err != nil || r.st.Messages == 0 {
			t.Fatalf("pass with an hour's flood wait: %+v, %v", r.st, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the pass did not go on once the hour had passed")
	}
	if w.sim.Calls(tg.MessagesGetHistoryRequestTypeID) < before+2 {
		t.Error("the flood-waited request was not retried")
	}
	acct, _ = w.store.TelegramAccount(ctx, account)
	if acct.Status != storage.TelegramOK {
		t.Errorf("after the wait the account is %s (%s), want ok", acct.Status, acct.Detail)
	}

	// Beyond the budget: the pass ends, the account shows the wait, and
	// no pass even connects until it is over.
	w.post(t, "chatter", tgsim.Post{Text: "after the flood"})
	w.sim.FloodWaitOnce(tg.MessagesGetHistoryRequestTypeID, 3*3600)
	_, _, err = w.pass(t, nil)
	var fw *tgmonitor.FloodWaitError
	if !errors.As(err, &fw) || !tgmonitor.IsPermanent(err) || fw.Until.Sub(clk.Now()) < 179*time.Minute {
		t.Fatalf("pass with a three-hour flood wait: %v, want a FloodWaitError three hours long", err)
	}
	acct, _ = w.store.TelegramAccount(ctx, account)
	if acct.Status != storage.TelegramFloodWait || acct.FloodUntil == nil {
		t.Errorf("account %s (flood until %v), want flood-wait", acct.Status, acct.FloodUntil)
	}
	calls := w.sim.Calls(tg.MessagesGetHistoryRequestTypeID)
	clk.Travel(2 * time.Hour)
	if _, _, err := w.pass(t, nil); !errors.As(err, &fw) {
		t.Errorf("pass two hours into the flood wait: %v", err)
	}
	if w.sim.Calls(tg.MessagesGetHistoryRequestTypeID) != calls {
		t.Error("a pass during the flood wait called Telegram")
	}
	clk.Travel(time.Hour + time.Minute)
	if _, st, err := w.pass(t, nil); err != nil || st.Messages != 1 {
		t.Errorf("pass after the flood wait: %+v, %v; want the one message posted meanwhile", st, err)
	}

	// Dead session: revoked server-side.
	if err := w.store.SetTelegramStatus(ctx, account, storage.TelegramOK, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	w.sim.RevokeSessions(phone)
	_, _, err = w.pass(t, nil)
	var dead *tgmonitor.DeadError
	if !errors.As(err, &dead) || !tgmonitor.IsPermanent(err) {
		t.Fatalf("pass with a revoked session: %v, want DeadError", err)
	}
	acct, _ = w.store.TelegramAccount(ctx, account)
	if acct.Status != storage.TelegramDead || acct.Detail == "" {
		t.Errorf("account %s %q, want dead with a reason", acct.Status, acct.Detail)
	}
	calls = w.sim.Calls(tg.MessagesGetHistoryRequestTypeID)
	if _, _, err := w.pass(t, nil); !errors.As(err, &dead) {
		t.Errorf("second pass with a dead session: %v", err)
	}
	if w.sim.Calls(tg.MessagesGetHistoryRequestTypeID) != calls {
		t.Error("a dead account still called Telegram")
	}

	// Logging in again brings it back, and the pass reads what it missed.
	w.post(t, "chatter", tgsim.Post{Text: "while the session was dead"})
	w.login(t)
	if _, st, err := w.pass(t, nil); err != nil || st.Messages != 1 {
		t.Errorf("pass after logging in again: %+v, %v; want the one missed message", st, err)
	}
}

// TestSealedSession: the session in the database opens only with the
// fingerprint key it was sealed with, and only for its own account.
func TestSealedSession(t *testing.T) {
	k1, _ := fingerprints.NewKey(bytes.Repeat([]byte{1}, 32))
	k2, _ := fingerprints.NewKey(bytes.Repeat([]byte{2}, 32))
	plain := []byte(`{"Version":1,"Data":{"AuthKey":"c2VjcmV0"}}`)
	sealed, err := tgmonitor.NewSealer(k1).Seal("a", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("c2VjcmV0")) {
		t.Fatal("sealed session holds the plain text")
	}
	if got, err := tgmonitor.NewSealer(k1).Open("a", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("open with the right key: %q, %v", got, err)
	}
	if _, err := tgmonitor.NewSealer(k2).Open("a", sealed); !errors.Is(err, tgmonitor.ErrSessionKey) {
		t.Errorf("open with another key: %v", err)
	}
	if _, err := tgmonitor.NewSealer(k1).Open("b", sealed); !errors.Is(err, tgmonitor.ErrSessionKey) {
		t.Errorf("open as another account: %v", err)
	}
}
