package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// Endpoint is one receiver.
type Endpoint struct {
	// Name identifies the endpoint's cursor in the database: renaming an
	// endpoint starts it afresh at the newest event.
	Name   string
	URL    string
	Secret []byte
	// Events are the kinds it receives (storage.EventItemNew,
	// storage.EventCaseState).
	Events []string
}

// Options configure a Dispatcher. Store is required.
type Options struct {
	Store     *storage.Store
	Endpoints []Endpoint
	// BaseURL, when set, adds a link to the case to every event.
	BaseURL string
	// Client posts the events; the default times out after 10 seconds and
	// follows no redirects (a redirect counts as a failure).
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
	// Poll is how often the outbox is read (default 2s).
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a failed
	// endpoint, which doubles with each failure (defaults 5s and 15m).
	MinBackoff, MaxBackoff time.Duration
	// LeaseTTL is how long a delivering process holds the deployment's
	// lease without renewing it (default 1m).
	LeaseTTL time.Duration
	// Retention is how long events are kept (default 30 days): an
	// endpoint that fails for longer misses the oldest ones.
	Retention time.Duration
}

// Dispatcher delivers outbox events to endpoints. Several may run against
// one database (every `leakwatch web` starts one): a lease row in the
// database lets one deliver at a time, and another takes over when the
// holder stops renewing it.
type Dispatcher struct {
	store      *storage.Store
	endpoints  []Endpoint
	baseURL    string
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	poll       time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	leaseTTL   time.Duration
	retention  time.Duration
	holder     string

	mu          sync.Mutex
	cursorsMade bool
	leaseUntil  time.Time // when the lease this process holds expires
	prunedAt    time.Time
}

// maxBatch bounds the events read per endpoint per pass.
const maxBatch = 100

// New checks opts and builds a Dispatcher.
func New(opts Options) (*Dispatcher, error) {
	if opts.Store == nil {
		return nil, errors.New("webhook: Options.Store is required")
	}
	names := map[string]bool{}
	for _, ep := range opts.Endpoints {
		u, err := url.Parse(ep.URL)
		switch {
		case ep.Name == "" || names[ep.Name]:
			return nil, fmt.Errorf("webhook: endpoint names must be unique and non-empty (%q)", ep.Name)
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return nil, fmt.Errorf("webhook %s: URL must be absolute http(s)", ep.Name)
		case len(ep.Secret) < 16:
			return nil, fmt.Errorf("webhook %s: secret must be at least 16 bytes", ep.Name)
		}
		names[ep.Name] = true
	}
	tok, _, err := auth.NewToken()
	if err != nil {
		return nil, fmt.Errorf("webhook: lease holder id: %w", err)
	}
	d := &Dispatcher{
		store: opts.Store, endpoints: opts.Endpoints, baseURL: strings.TrimRight(opts.BaseURL, "/"),
		client: opts.Client, log: opts.Logger, now: opts.Now, poll: opts.Poll,
		minBackoff: opts.MinBackoff, maxBackoff: opts.MaxBackoff, leaseTTL: opts.LeaseTTL, retention: opts.Retention,
		holder: tok[:16],
	}
	if d.client == nil {
		d.client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.poll <= 0 {
		d.poll = 2 * time.Second
	}
	if d.minBackoff <= 0 {
		d.minBackoff = 5 * time.Second
	}
	if d.maxBackoff < d.minBackoff {
		d.maxBackoff = max(15*time.Minute, d.minBackoff)
	}
	if d.leaseTTL <= 0 {
		d.leaseTTL = time.Minute
	}
	if d.retention <= 0 {
		d.retention = 30 * 24 * time.Hour
	}
	return d, nil
}

// Run delivers until ctx ends, then gives up the lease so another process
// can take over at once. Without endpoints it only prunes old events,
// hourly.
func (d *Dispatcher) Run(ctx context.Context) error {
	poll := d.poll
	if len(d.endpoints) == 0 {
		poll = time.Hour
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.store.ReleaseWebhookLease(rctx, d.holder); err != nil {
			d.log.WarnContext(rctx, "release webhook lease", "err", err)
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := d.Deliver(ctx); err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "webhook delivery pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Deliver makes one pass: if this process holds (or can take) the lease,
// it posts each endpoint's pending events, the endpoints in parallel, and
// now and then prunes events past retention. It reports whether it held
// the lease.
func (d *Dispatcher) Deliver(ctx context.Context) (bool, error) {
	ok, err := d.holdLease(ctx)
	if err != nil || !ok {
		return false, err
	}
	if err := d.makeCursors(ctx); err != nil {
		return true, err
	}
	if err := d.prune(ctx); err != nil {
		return true, err
	}
	errs := make([]error, len(d.endpoints))
	var wg sync.WaitGroup
	for i, ep := range d.endpoints {
		wg.Go(func() { errs[i] = d.deliverEndpoint(ctx, ep) })
	}
	wg.Wait()
	return true, errors.Join(errs...)
}

// holdLease makes sure this process holds the delivery lease for at least
// half its TTL more, renewing it (one database write) only when needed.
func (d *Dispatcher) holdLease(ctx context.Context) (bool, error) {
	now := d.now()
	d.mu.Lock()
	held := now.Before(d.leaseUntil.Add(-d.leaseTTL / 2))
	d.mu.Unlock()
	if held {
		return true, nil
	}
	ok, err := d.store.AcquireWebhookLease(ctx, d.holder, now, d.leaseTTL)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil || !ok {
		d.leaseUntil = time.Time{}
		return false, err
	}
	d.leaseUntil = now.Add(d.leaseTTL)
	return true, nil
}

// prune deletes events past retention, at most hourly.
func (d *Dispatcher) prune(ctx context.Context) error {
	now := d.now()
	d.mu.Lock()
	due := now.Sub(d.prunedAt) >= time.Hour
	if due {
		d.prunedAt = now
	}
	d.mu.Unlock()
	if !due {
		return nil
	}
	n, err := d.store.PruneWebhookEvents(ctx, now.Add(-d.retention))
	if n > 0 {
		d.log.InfoContext(ctx, "pruned old webhook events", "events", n)
	}
	return err
}

// makeCursors creates the cursors of endpoints seen for the first time at
// the newest event: a new endpoint does not receive the whole history.
func (d *Dispatcher) makeCursors(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cursorsMade {
		return nil
	}
	last, err := d.store.LastWebhookEventID(ctx)
	if err != nil {
		return err
	}
	for _, ep := range d.endpoints {
		if _, err := d.store.WebhookCursor(ctx, ep.Name, last); err != nil {
			return err
		}
	}
	d.cursorsMade = true
	return nil
}

// deliverEndpoint posts ep's pending events in order, stopping at the first
// failure, which it records with the time of the next attempt.
func (d *Dispatcher) deliverEndpoint(ctx context.Context, ep Endpoint) (retErr error) {
	c, err := d.store.WebhookCursor(ctx, ep.Name, 0)
	if err != nil {
		return err
	}
	if c.NextAttemptAt != nil && d.now().Before(*c.NextAttemptAt) {
		return nil
	}
	evs, err := d.store.WebhookEventsAfter(ctx, c.LastEventID, maxBatch)
	if err != nil {
		return err
	}
	done := c.LastEventID // the last event ep has or does not want
	defer func() {
		if done > c.LastEventID {
			if aerr := d.store.AdvanceWebhookCursor(context.WithoutCancel(ctx), ep.Name, done); aerr != nil {
				retErr = errors.Join(retErr, aerr)
			}
		}
	}()
	for _, ev := range evs {
		if !slices.Contains(ep.Events, ev.Kind) {
			done = ev.ID
			continue
		}
		// Checked before each post, so a slow endpoint cannot outlast the
		// lease and have another process post the same events meanwhile.
		if ok, err := d.holdLease(ctx); err != nil || !ok {
			return err
		}
		if perr := d.post(ctx, ep, ev); perr != nil {
			if ctx.Err() != nil {
				return nil // shutting down: not the endpoint's failure
			}
			attempts := c.Attempts + 1
			next := d.now().Add(d.backoff(attempts))
			d.log.WarnContext(ctx, "webhook delivery failed", "endpoint", ep.Name, "event", ev.ID,
				"attempts", attempts, "retry_at", next, "err", perr)
			return d.store.WebhookFailed(ctx, ep.Name, attempts, next, perr.Error())
		}
		done = ev.ID
		c.Attempts = 0
	}
	return nil
}

// backoff is the wait after the n-th failure in a row.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.minBackoff
	for range n - 1 {
		b *= 2
		if b >= d.maxBackoff {
			return d.maxBackoff
		}
	}
	return b
}

// Envelope is the JSON body of every request.
type Envelope struct {
	ID        uint64    `json:"id"`   // also X-Leakwatch-Delivery
	Type      string    `json:"type"` // also X-Leakwatch-Event
	CreatedAt time.Time `json:"created_at"`
	// CaseURL links to the case in the UI (when web.base_url is set).
	CaseURL string `json:"case_url,omitempty"`
	// Data is a storage.ItemsEvent (item.new) or storage.CaseStateEvent
	// (case.state).
	Data json.RawMessage `json:"data"`
}

// post sends one event; any answer but 2xx is a failure. The answer's body
// is read (so the connection is reused) but never logged or stored.
func (d *Dispatcher) post(ctx context.Context, ep Endpoint, ev storage.WebhookEvent) error {
	env := Envelope{ID: ev.ID, Type: ev.Kind, CreatedAt: ev.CreatedAt.UTC(), Data: json.RawMessage(ev.Payload)}
	if d.baseURL != "" && ev.CaseID != 0 {
		env.CaseURL = d.baseURL + "/cases/" + strconv.FormatUint(ev.CaseID, 10)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	ts := strconv.FormatInt(d.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad endpoint URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "leakwatch-webhook/1")
	req.Header.Set(HeaderEvent, ev.Kind)
	req.Header.Set(HeaderDelivery, strconv.FormatUint(ev.ID, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(ep.Secret, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		// The URL may hold a token (chat relays put one in the path): keep
		// only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered HTTP %d", resp.StatusCode)
	}
	return nil
}
