package tsa_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
)

func TestTokensVerify(t *testing.T) {
	ctx := context.Background()
	url := tsa.Start(t)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not on loopback", url)
	}
	digest := sha256.Sum256([]byte("a run's Merkle root"))
	before := time.Now().Add(-time.Second)
	token, err := evidence.Stamp(ctx, url, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	at, err := evidence.VerifyToken(token, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("token time %v, want now", at)
	}
	ts, err := timestamp.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Policy.Equal(tsa.Policy) || ts.SerialNumber == nil || ts.SerialNumber.Sign() <= 0 {
		t.Errorf("token policy %v serial %v", ts.Policy, ts.SerialNumber)
	}
}

func TestMisbehaviour(t *testing.T) {
	ctx := context.Background()
	digest := sha256.Sum256([]byte("root"))
	s := tsa.StartServer(t, tsa.Options{})
	if len(s.Cert.ExtKeyUsage) != 1 || s.Cert.NotAfter.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("certificate EKU %v, valid until %v", s.Cert.ExtKeyUsage, s.Cert.NotAfter)
	}

	s.Fail(http.StatusInternalServerError)
	if _, err := evidence.Stamp(ctx, s.URL, digest[:], s.Client()); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("failing TSA: %v", err)
	}
	s.Fail(0)
	s.Tweak(func(ts *timestamp.Timestamp) { ts.HashedMessage = make([]byte, 32) })
	if _, err := evidence.Stamp(ctx, s.URL, digest[:], nil); err == nil {
		t.Error("token over another digest accepted")
	}
	s.Tweak(nil)
	if _, err := evidence.Stamp(ctx, s.URL, digest[:], nil); err != nil {
		t.Errorf("restored TSA: %v", err)
	}
	if n := s.Requests(); n != 3 {
		t.Errorf("Requests() = %d, want 3", n)
	}
	// A plain GET is no time-stamp request.
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("GET: HTTP %d", resp.StatusCode)
	}

	noEKU := tsa.StartServer(t, tsa.Options{NoTimeStampingEKU: true})
	if _, err := evidence.Stamp(ctx, noEKU.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "time-stamping") {
		t.Errorf("certificate without time-stamping EKU: %v", err)
	}

	s.Close()
	if _, err := evidence.Stamp(ctx, s.URL, digest[:], nil); err == nil {
		t.Error("closed TSA: no error")
	}
}
