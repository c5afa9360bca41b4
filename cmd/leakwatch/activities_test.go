package main

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/netguard"
	"github.com/leakwatch/leakwatch/workflows"
)

// The security.txt look-up of a case's host runs under the crawler's
// guard: a host resolving to an internal address is refused before any
// packet is sent, unless crawler.allow_networks allows it.
func TestRecipientLookupIsGuarded(t *testing.T) {
	cfg := config.Default()
	cfg.Notices.SecurityTxt, cfg.Notices.RDAP = true, false
	e := &env{stderr: io.Discard, stdout: io.Discard}
	e.setConfig(cfg)
	r, err := e.recipientFinder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.HTTPClient.Get("http://127.0.0.1:1/.well-known/security.txt"); !errors.Is(err, netguard.ErrRefused) {
		t.Errorf("security.txt of a loopback host: %v; want it refused", err)
	}
	cfg.Crawler.AllowNetworks = []string{"127.0.0.0/8"}
	e.setConfig(cfg)
	if r, err = e.recipientFinder(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.HTTPClient.Get("http://127.0.0.1:1/.well-known/security.txt"); errors.Is(err, netguard.ErrRefused) {
		t.Errorf("security.txt with loopback allowed was refused: %v", err)
	}
}

// A worker builds only what its queues need: notify alone needs neither
// the fingerprint key nor the index; crawl without scan spools (no index);
// scan loads the index for matching and removal re-checks; crawl with scan
// matches inline, as up does.
func TestWorkerActivitiesPerQueue(t *testing.T) {
	build := func(key string, queues ...string) (workflows.Activities, error) {
		t.Setenv("LEAKWATCH_FINGERPRINT_KEY", key)
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		e := &env{stderr: io.Discard, stdout: io.Discard}
		e.setConfig(cfg)
		t.Cleanup(e.close)
		return e.workerActivities(t.Context(), nil, queues)
	}
	acts, err := build("", config.QueueNotify)
	if err != nil {
		t.Fatalf("notify-only worker without a fingerprint key: %v", err)
	}
	if acts.Cases == nil || acts.Crawl == nil || acts.Crawl.Pipeline != nil || acts.Scan != nil || acts.Cases.Checker != nil || acts.Telegram != nil {
		t.Errorf("notify-only worker built %+v; want the case activities and StartCrawlRun only", acts)
	}
	if _, err := build("", config.QueueCrawl); err == nil {
		t.Error("a crawl worker started without the fingerprint key that seals its spool")
	}
	key := strings.Repeat("5a", 32)
	acts, err = build(key, config.QueueCrawl)
	if err != nil {
		t.Fatal(err)
	}
	if p := acts.Crawl.Pipeline; p == nil || p.Inline() || p.Spool == nil || acts.Scan != nil || acts.Cases.Checker != nil {
		t.Errorf("crawl-only worker: pipeline %+v, scan %v; want a spooling pipeline and no index", p, acts.Scan)
	}
	acts, err = build(key, config.QueueScan, config.QueueNotify)
	if err != nil {
		t.Fatal(err)
	}
	if acts.Scan == nil || !acts.Scan.Pipeline.Inline() || acts.Scan.Pipeline.Spool == nil || acts.Cases.Checker == nil || acts.Crawl.Pipeline != nil {
		t.Errorf("scan worker: %+v; want the index for scans and re-checks, no crawler", acts)
	}
	acts, err = build(key, config.WorkerQueues...)
	if err != nil {
		t.Fatal(err)
	}
	if !acts.Crawl.Pipeline.Inline() || acts.Scan == nil {
		t.Errorf("worker of every queue: crawls do not match inline")
	}
}
