package main

import (
	"errors"
	"io"
	"testing"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/netguard"
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
