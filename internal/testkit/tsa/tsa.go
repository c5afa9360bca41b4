// Package tsa runs a throwaway RFC 3161 time-stamping authority on loopback
// for tests. It answers DER TimeStampReq bodies (POST, Content-Type
// application/timestamp-query) with TimeStampResp tokens signed by a P-256
// certificate generated when it starts (github.com/digitorus/timestamp), so
// the evidence code can be tested against a real TSA exchange without the
// network. Tokens verify with evidence.VerifyToken; nothing chains to a
// trusted root.
//
// Tests usually need only the URL:
//
//	url := tsa.Start(t)
//
// and StartServer returns the Server for tests that make it misbehave (Fail,
// Tweak) or look at its certificate.
package tsa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// Policy is the TSA policy OID the tokens carry (a private-use arc).
var Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

// maxRequest bounds a request body; a TimeStampReq is about 100 bytes.
const maxRequest = 64 << 10

// Options configure a Server.
type Options struct {
	// NoTimeStampingEKU leaves the id-kp-timeStamping extended key usage out
	// of the certificate, making a TSA whose tokens must be rejected.
	NoTimeStampingEKU bool
	// Validity is how long the certificate is valid from now (it is also
	// valid from an hour ago); 0 means 24 hours.
	Validity time.Duration
}

// Server is a running TSA. Its methods are safe for concurrent use.
type Server struct {
	// URL is the TSA's address, http://127.0.0.1:PORT.
	URL string
	// Cert is the TSA's signing certificate, embedded in every token that
	// asks for it (certReq).
	Cert *x509.Certificate

	srv *httptest.Server
	key crypto.Signer

	mu       sync.Mutex
	tweak    func(*timestamp.Timestamp)
	status   int
	serial   int64
	requests int
}

// New starts a TSA on 127.0.0.1 with a fresh key and certificate. The
// caller must Close it.
func New(o Options) (*Server, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tsa: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("tsa: serial: %w", err)
	}
	validity := o.Validity
	if validity == 0 {
		validity = 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "leakwatch test TSA", Organization: []string{"leakwatch tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if !o.NoTimeStampingEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tsa: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tsa: certificate: %w", err)
	}
	s := &Server{Cert: cert, key: key}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tsa: listen: %w", err)
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}}
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

// StartServer starts a TSA that is closed when the test ends.
func StartServer(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a well-behaved TSA that is closed when the test ends and
// returns its URL.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t, Options{}).URL
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Fail makes the TSA answer every request with HTTP status code and no
// token (e.g. 500); 0 restores normal service.
func (s *Server) Fail(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

// Tweak makes the TSA pass every time-stamp through f before signing it,
// to produce wrong tokens (another nonce, imprint or time, no
// certificate); nil restores normal service.
func (s *Server) Tweak(f func(*timestamp.Timestamp)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tweak = f
}

// Requests is the number of requests the TSA has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.serial++
	status, tweak, serial := s.status, s.tweak, s.serial
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, "test TSA told to fail", status)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want POST application/timestamp-query", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := &timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              time.Now().UTC(),
		Accuracy:          time.Second,
		SerialNumber:      big.NewInt(serial),
		Nonce:             req.Nonce,
		Policy:            Policy,
		AddTSACertificate: req.Certificates,
	}
	if tweak != nil {
		tweak(ts)
	}
	resp, err := ts.CreateResponseWithOpts(s.Cert, s.key, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}
