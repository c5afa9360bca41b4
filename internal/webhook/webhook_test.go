package webhook_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/webhook"
	"github.com/leakwatch/leakwatch/storage"
)

var secret = []byte("test-secret-0123456789abcdef")

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP endpoint on loopback that answers with the
// statuses in fail first, then 200.
type receiver struct {
	mu   sync.Mutex
	got  []received
	fail []int
	srv  *httptest.Server
}

func newReceiver(t *testing.T, fail ...int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		if len(r.fail) > 0 {
			w.WriteHeader(r.fail[0])
			r.fail = r.fail[1:]
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// deliveries are the delivery ids received, in order.
func (r *receiver) deliveries() []string {
	var out []string
	for _, g := range r.requests() {
		out = append(out, g.header.Get(webhook.HeaderDelivery))
	}
	return out
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.Context(), "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newDispatcher(t *testing.T, s *storage.Store, clk *clock, eps ...webhook.Endpoint) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.New(webhook.Options{Store: s, Endpoints: eps, Now: clk.Now, BaseURL: "https://leakwatch.example",
		MinBackoff: time.Minute, MaxBackoff: time.Hour, LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func endpoint(name string, r *receiver, events ...string) webhook.Endpoint {
	if len(events) == 0 {
		events = storage.EventKinds
	}
	return webhook.Endpoint{Name: name, URL: r.srv.URL + "/hook", Secret: secret, Events: events}
}

// deliver runs one pass, which must hold the lease and succeed.
func deliver(t *testing.T, d *webhook.Dispatcher) {
	t.Helper()
	held, err := d.Deliver(t.Context())
	if err != nil || !held {
		t.Fatalf("Deliver: held lease %v, err %v", held, err)
	}
}

// openCase makes a case (one case.state event) and moves it (another).
func openCase(t *testing.T, s *storage.Store, target string) storage.Case {
	t.Helper()
	c, err := s.EnsureCase(t.Context(), target, "case-"+target)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCaseState(t.Context(), c.ID, storage.CaseDrafted, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// Events arrive signed, in order, with the documented headers and body;
// the signature verifies with the secret and fails with another, after
// tampering, and once stale.
func TestDeliverSignedEvents(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	clk := &clock{t: time.Now()}
	r := newReceiver(t)
	d := newDispatcher(t, s, clk, endpoint("siem", r))
	deliver(t, d) // first sight: the cursor starts at the newest event
	c := openCase(t, s, "leaks.example")
	deliver(t, d)

	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("received %d requests, want 2 (opened, drafted)", len(got))
	}
	for i, g := range got {
		if err := webhook.Verify(secret, g.header, g.body, clk.Now(), 5*time.Minute); err != nil {
			t.Errorf("request %d does not verify with the secret: %v", i, err)
		}
		if err := webhook.Verify([]byte("another-secret-0123456789"), g.header, g.body, clk.Now(), 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("request %d verifies with another secret: %v", i, err)
		}
		tampered := append(slices.Clone(g.body[:len(g.body)-1]), ' ', '}')
		if err := webhook.Verify(secret, g.header, tampered, clk.Now(), 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("request %d verifies with a changed body: %v", i, err)
		}
		if err := webhook.Verify(secret, g.header, g.body, clk.Now().Add(time.Hour), 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("request %d verifies an hour later: %v", i, err)
		}
		if ct := g.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var env webhook.Envelope
		if err := json.Unmarshal(g.body, &env); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		if env.Type != storage.EventCaseState || g.header.Get(webhook.HeaderEvent) != env.Type ||
			g.header.Get(webhook.HeaderDelivery) != strconv.FormatUint(env.ID, 10) {
			t.Errorf("envelope %+v does not match headers %v", env, g.header)
		}
		if want := "https://leakwatch.example/cases/" + strconv.FormatUint(c.ID, 10); env.CaseURL != want {
			t.Errorf("case_url %q, want %q", env.CaseURL, want)
		}
	}
	var env webhook.Envelope
	var data storage.CaseStateEvent
	if err := json.Unmarshal(got[1].body, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data != (storage.CaseStateEvent{CaseID: c.ID, Target: "leaks.example", From: storage.CaseDetected, To: storage.CaseDrafted}) {
		t.Errorf("second event %+v", data)
	}
	deliver(t, d)
	if n := len(r.requests()); n != 2 {
		t.Errorf("a pass with nothing new sent %d more requests", n-2)
	}
}

// A receiver answering 500 gets the same event (same delivery id) again
// after the backoff, not before; a dead endpoint delays no other; an
// endpoint not subscribed to a kind never gets it.
func TestRetryWithSameDeliveryID(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	clk := &clock{t: time.Now()}
	flaky := newReceiver(t, http.StatusInternalServerError)
	dead := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500)
	items := newReceiver(t)
	d := newDispatcher(t, s, clk, endpoint("flaky", flaky), endpoint("dead", dead), endpoint("items", items, storage.EventItemNew))
	deliver(t, d)
	openCase(t, s, "leaks.example")

	deliver(t, d)
	if got := flaky.deliveries(); len(got) != 1 {
		t.Fatalf("flaky got %v after the first pass, want one attempt", got)
	}
	first := flaky.deliveries()[0]
	deliver(t, d) // still backing off
	if got := flaky.deliveries(); len(got) != 1 {
		t.Fatalf("flaky retried before its backoff: %v", got)
	}
	clk.Add(61 * time.Second)
	deliver(t, d)
	got := flaky.deliveries()
	if len(got) != 3 || got[1] != first || got[2] == first {
		t.Fatalf("flaky got deliveries %v; want %s again, then the next event", got, first)
	}
	if n := len(dead.requests()); n != 2 {
		t.Errorf("dead endpoint tried %d times in two due passes, want 2", n)
	}
	if n := len(items.requests()); n != 0 {
		t.Errorf("item.new-only endpoint got %d case.state events", n)
	}
	cur, err := s.WebhookCursor(t.Context(), "dead", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Attempts != 2 || cur.LastError != "endpoint answered HTTP 500" || cur.NextAttemptAt == nil ||
		!cur.NextAttemptAt.Equal(clk.Now().Add(2*time.Minute)) {
		t.Errorf("dead endpoint's cursor %+v; want 2 attempts, retry after 2 minutes (doubled)", cur)
	}
}

// A new dispatcher on the same database (a restart, or a second web
// process) waits while the lease is held, then resumes where the first
// stopped: every event once, none missing.
func TestRestartResumesWithoutDuplicatesOrGaps(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	clk := &clock{t: time.Now()}
	r := newReceiver(t)
	d1 := newDispatcher(t, s, clk, endpoint("siem", r))
	deliver(t, d1)
	openCase(t, s, "a.example")
	deliver(t, d1)
	openCase(t, s, "b.example")

	d2 := newDispatcher(t, s, clk, endpoint("siem", r))
	if held, err := d2.Deliver(t.Context()); err != nil || held {
		t.Fatalf("second dispatcher delivered while the first holds the lease (held %v, err %v)", held, err)
	}
	clk.Add(2 * time.Minute) // d1 died and stopped renewing
	deliver(t, d2)
	deliver(t, d2)

	evs, err := s.WebhookEventsAfter(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range evs {
		want = append(want, strconv.FormatUint(e.ID, 10))
	}
	if got := r.deliveries(); !slices.Equal(got, want) || len(want) != 4 {
		t.Fatalf("deliveries %v, want each of %v once", got, want)
	}
}

// Verify rejects requests without a timestamp or signature.
func TestVerifyRejectsUnsigned(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":1}`)
	h := http.Header{}
	if err := webhook.Verify(secret, h, body, time.Now(), time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("no headers: %v", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h.Set(webhook.HeaderTimestamp, ts)
	if err := webhook.Verify(secret, h, body, time.Now(), time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("no signature: %v", err)
	}
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
	if err := webhook.Verify(secret, h, body, time.Now(), time.Minute); err != nil {
		t.Errorf("signed: %v", err)
	}
}

// New items taken into a case reach the receiver as one item.new event
// listing them, with ids and counts only.
func TestDeliverNewItems(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	clk := &clock{t: time.Now()}
	r := newReceiver(t)
	d := newDispatcher(t, s, clk, endpoint("chat", r, storage.EventItemNew))
	deliver(t, d)

	src := storage.Source{Name: "forum", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
	must(t, s.CreateSource(ctx, &src))
	run, err := s.StartRun(ctx, src.ID)
	must(t, err)
	ref := storage.Reference{OpaqueID: "r1", Name: "Z7654321 lab results.pdf", SHA256: "02"}
	must(t, s.DB().Create(&ref).Error)
	var hits []uint64
	for _, u := range []string{"http://leaks.example/a.zip", "http://leaks.example/b.zip"} {
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: u, Host: "leaks.example", FetchedAt: time.Now()}
		_, err := s.SaveCapture(ctx, &c)
		must(t, err)
		h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: "sha256", Target: "leaks.example"}
		_, err = s.AddHit(ctx, &h)
		must(t, err)
		hits = append(hits, h.ID)
	}
	cs, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
	must(t, err)
	res, err := s.TakeHits(ctx, cs.ID, hits, false)
	must(t, err)
	deliver(t, d)

	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("received %d requests, want one item.new (case.state not subscribed)", len(got))
	}
	if strings.Contains(string(got[0].body), "Z7654321") || strings.Contains(string(got[0].body), "a.zip") {
		t.Errorf("event body carries a reference name or URL: %s", got[0].body)
	}
	var env webhook.Envelope
	var data storage.ItemsEvent
	must(t, json.Unmarshal(got[0].body, &env))
	must(t, json.Unmarshal(env.Data, &data))
	if env.Type != storage.EventItemNew || !slices.Equal(data.NewItems, res.New) || data.Hits != 2 || data.CaseID != cs.ID {
		t.Errorf("item.new %+v %+v, want items %v", env, data, res.New)
	}
}

// Events past retention are pruned; newer ones stay.
func TestPruneOldEvents(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	openCase(t, s, "old.example")
	must(t, s.DB().Exec(`UPDATE webhook_events SET created_at = ?`, time.Now().UTC().Add(-48*time.Hour)).Error)
	openCase(t, s, "new.example")
	d, err := webhook.New(webhook.Options{Store: s, Retention: 24 * time.Hour})
	must(t, err)
	deliver(t, d)
	evs, err := s.WebhookEventsAfter(t.Context(), 0, 10)
	must(t, err)
	if len(evs) != 2 {
		t.Fatalf("%d events left, want the 2 of new.example", len(evs))
	}
	for _, e := range evs {
		if !strings.Contains(e.Payload, "new.example") {
			t.Errorf("kept %s", e.Payload)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A redirect is a failure, not followed by the default client (the
// signed body must not wander to another host).
func TestRedirectFails(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	clk := &clock{t: time.Now()}
	target := newReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL+"/hook", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	d := newDispatcher(t, s, clk, webhook.Endpoint{Name: "redirect", URL: redirect.URL, Secret: secret, Events: storage.EventKinds})
	deliver(t, d)
	openCase(t, s, "leaks.example")
	deliver(t, d)
	if n := len(target.requests()); n != 0 {
		t.Errorf("the redirect was followed: target got %d requests", n)
	}
	wantFailedOnce(t, s, "redirect")
}

// An endpoint that does not answer in time fails the attempt instead of
// stalling delivery.
func TestTimeoutFails(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	d, err := webhook.New(webhook.Options{Store: s, Client: &http.Client{Timeout: 100 * time.Millisecond},
		Endpoints: []webhook.Endpoint{{Name: "slow", URL: slow.URL, Secret: secret, Events: storage.EventKinds}}})
	must(t, err)
	deliver(t, d)
	openCase(t, s, "leaks.example")
	deliver(t, d)
	wantFailedOnce(t, s, "slow")
}

// wantFailedOnce checks an endpoint's cursor records one failed attempt,
// without the endpoint's address.
func wantFailedOnce(t *testing.T, s *storage.Store, name string) {
	t.Helper()
	c, err := s.WebhookCursor(t.Context(), name, 0)
	must(t, err)
	if c.Attempts != 1 || c.LastError == "" {
		t.Errorf("%s: cursor %+v, want one failed attempt", name, c)
	}
	if strings.Contains(c.LastError, "127.0.0.1") {
		t.Errorf("%s: recorded error names the endpoint's address: %s", name, c.LastError)
	}
}
