package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
)

func TestStampAndVerifyToken(t *testing.T) {
	srv := tsa.StartServer(t, tsa.Options{})
	digest := sha256.Sum256([]byte("merkle root of run 1"))
	before := time.Now().Add(-time.Second)
	token, err := Stamp(context.Background(), srv.URL, digest[:], srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	at, err := VerifyToken(token, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) || at.Location() != time.UTC {
		t.Errorf("stamped time %v", at)
	}

	other := sha256.Sum256([]byte("another root"))
	if _, err := VerifyToken(token, other[:]); err == nil || !strings.Contains(err.Error(), "not") {
		t.Errorf("token verified for the wrong digest: %v", err)
	}

	// Changing any meaningful part of the token breaks it.
	at2 := func(sub []byte, delta int) int {
		i := bytes.Index(token, sub)
		if i < 0 {
			t.Fatalf("%x not found in token", sub)
		}
		return i + delta
	}
	tstInfoOID := []byte{0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04}
	for name, i := range map[string]int{
		"encapsulated content type": at2(tstInfoOID, len(tstInfoOID)-1),
		"time":                      at2([]byte{0x18, 0x0f, '2', '0'}, 2+13),
		"certificate":               at2(srv.Cert.Raw, len(srv.Cert.Raw)/2),
		"signature":                 len(token) - 3,
	} {
		bad := append([]byte(nil), token...)
		bad[i] ^= 0x01
		if _, err := VerifyToken(bad, digest[:]); err == nil {
			t.Errorf("token with a changed %s (byte %d) verified", name, i)
		}
	}
	// Re-pointing the imprint at another digest is caught by the signature.
	bad := append([]byte(nil), token...)
	forged := append([]byte(nil), digest[:]...)
	forged[5] ^= 0x01
	bad[at2(digest[:], 5)] ^= 0x01
	if _, err := VerifyToken(bad, forged); err == nil {
		t.Error("token with a forged imprint verified")
	}
	if _, err := VerifyToken([]byte("not a token"), digest[:]); err == nil {
		t.Error("garbage token verified")
	}
}

func TestStampErrors(t *testing.T) {
	digest := sha256.Sum256([]byte("root"))
	ctx := context.Background()

	status := func(code int, body string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(s.Close)
		return s
	}

	s500 := status(500, "internal error")
	if _, err := Stamp(ctx, s500.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("HTTP 500: %v", err)
	}
	garbage := status(200, "<html>definitely not DER</html>")
	if _, err := Stamp(ctx, garbage.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "no valid time-stamp reply") {
		t.Errorf("garbage: %v", err)
	}
	rej, _ := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
	rejecting := status(200, string(rej))
	if _, err := Stamp(ctx, rejecting.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("rejection: %v", err)
	}

	srv := tsa.StartServer(t, tsa.Options{})
	srv.Tweak(func(ts *timestamp.Timestamp) { ts.Nonce = new(big.Int).Add(ts.Nonce, big.NewInt(1)) })
	if _, err := Stamp(ctx, srv.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("replayed nonce: %v", err)
	}
	srv.Tweak(func(ts *timestamp.Timestamp) { ts.HashedMessage = make([]byte, 32) })
	if _, err := Stamp(ctx, srv.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "not") {
		t.Errorf("token for another digest: %v", err)
	}
	srv.Tweak(func(ts *timestamp.Timestamp) { ts.AddTSACertificate = false })
	if _, err := Stamp(ctx, srv.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "no TSA certificate") {
		t.Errorf("token without certificate: %v", err)
	}
	srv.Tweak(func(ts *timestamp.Timestamp) { ts.Time = time.Now().Add(-48 * time.Hour) })
	if _, err := Stamp(ctx, srv.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "validity") {
		t.Errorf("time outside certificate validity: %v", err)
	}

	noEKU := tsa.StartServer(t, tsa.Options{NoTimeStampingEKU: true})
	if _, err := Stamp(ctx, noEKU.URL, digest[:], nil); err == nil || !strings.Contains(err.Error(), "time-stamping") {
		t.Errorf("certificate without timeStamping EKU: %v", err)
	}

	if _, err := Stamp(ctx, srv.URL, digest[:16], nil); err == nil {
		t.Error("short digest accepted")
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := Stamp(ctx, closed.URL, digest[:], nil); err == nil {
		t.Error("unreachable TSA: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Stamp(cctx, srv.URL, digest[:], nil); err == nil {
		t.Error("cancelled context: no error")
	}
}
