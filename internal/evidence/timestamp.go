package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// maxTSAResponse bounds what Stamp reads from a TSA.
const maxTSAResponse = 1 << 20

// Stamp asks the RFC 3161 time-stamping authority at tsaURL for a token
// over digest (a SHA-256 value, e.g. a run's Merkle root). It sends a
// DER-encoded TimeStampReq (SHA-256 imprint, a random nonce, certReq set)
// with Content-Type application/timestamp-query, checks the reply (status
// granted, same imprint and nonce, signature valid; see VerifyToken) and
// returns the TimeStampToken (DER CMS SignedData). client nil means
// http.DefaultClient.
func Stamp(ctx context.Context, tsaURL string, digest []byte, client *http.Client) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("evidence: time-stamp digest has %d bytes, want a SHA-256 (%d)", len(digest), sha256.Size)
	}
	if client == nil {
		client = http.DefaultClient
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	tsq, err := (&timestamp.Request{
		HashAlgorithm: crypto.SHA256,
		HashedMessage: digest,
		Certificates:  true,
		Nonce:         nonce,
	}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("evidence: building time-stamp request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tsaURL, bytes.NewReader(tsq))
	if err != nil {
		return nil, fmt.Errorf("evidence: time-stamp request: %w", err)
	}
	req.Header.Set("Content-Type", "application/timestamp-query")
	req.Header.Set("Accept", "application/timestamp-reply")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("evidence: TSA %s: %w", tsaURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTSAResponse+1))
	if err != nil {
		return nil, fmt.Errorf("evidence: TSA %s: reading reply: %w", tsaURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("evidence: TSA %s answered HTTP %s: %q", tsaURL, resp.Status, truncateString(printable(body), 200))
	}
	if len(body) > maxTSAResponse {
		return nil, fmt.Errorf("evidence: TSA %s: reply larger than %d bytes", tsaURL, maxTSAResponse)
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return nil, fmt.Errorf("evidence: TSA %s sent no valid time-stamp reply: %w", tsaURL, err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("evidence: TSA %s: reply nonce does not match the request", tsaURL)
	}
	if _, err := VerifyToken(ts.RawToken, digest); err != nil {
		return nil, fmt.Errorf("evidence: TSA %s: %w", tsaURL, err)
	}
	return ts.RawToken, nil
}

// VerifyToken checks an RFC 3161 TimeStampToken against digest and returns
// the time it asserts. It checks that the token's message imprint is
// SHA-256 of exactly digest, that the CMS signature verifies with the
// signer certificate embedded in the token, and that this certificate has
// the id-kp-timeStamping extended key usage and was valid at the stamped
// time, and that the signed ESS signing-certificate attribute (RFC 2634 /
// RFC 5035, required by RFC 3161) names exactly that certificate, so the
// embedded certificate cannot be swapped. It does not check that the certificate chains to a trusted root or
// is unrevoked.
func VerifyToken(token, digest []byte) (time.Time, error) {
	// timestamp.Parse verifies the CMS signature against the embedded
	// certificates, but only when there are some.
	ts, err := timestamp.Parse(token)
	if err != nil {
		return time.Time{}, fmt.Errorf("evidence: invalid time-stamp token: %w", err)
	}
	if len(ts.Certificates) == 0 {
		return time.Time{}, errors.New("evidence: time-stamp token carries no TSA certificate; its signature cannot be checked")
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		return time.Time{}, fmt.Errorf("evidence: time-stamp token imprint uses %v, want SHA-256", ts.HashAlgorithm)
	}
	if !bytes.Equal(ts.HashedMessage, digest) {
		return time.Time{}, fmt.Errorf("evidence: time-stamp token is for digest %x, not %x", ts.HashedMessage, digest)
	}
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return time.Time{}, fmt.Errorf("evidence: invalid time-stamp token: %w", err)
	}
	if err := p7.Verify(); err != nil { // repeated to be independent of timestamp.Parse internals
		return time.Time{}, fmt.Errorf("evidence: time-stamp token signature: %w", err)
	}
	if err := checkContentType(token, p7); err != nil {
		return time.Time{}, fmt.Errorf("evidence: time-stamp token: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return time.Time{}, errors.New("evidence: time-stamp token must have exactly one signer, with its certificate embedded")
	}
	if err := checkSigningCertificate(p7, signer); err != nil {
		return time.Time{}, fmt.Errorf("evidence: time-stamp token: %w", err)
	}
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return time.Time{}, fmt.Errorf("evidence: TSA certificate %q lacks the time-stamping extended key usage", signer.Subject)
	}
	if ts.Time.Before(signer.NotBefore) || ts.Time.After(signer.NotAfter) {
		return time.Time{}, fmt.Errorf("evidence: time-stamp %s lies outside the TSA certificate's validity", ts.Time.UTC().Format(time.RFC3339))
	}
	return ts.Time.UTC(), nil
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '.'
		}
		return r
	}, string(b))
}

var (
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidHashes               = map[string]crypto.Hash{
		"2.16.840.1.101.3.4.2.1": crypto.SHA256,
		"2.16.840.1.101.3.4.2.2": crypto.SHA384,
		"2.16.840.1.101.3.4.2.3": crypto.SHA512,
	}
)

// checkSigningCertificate checks that the signed ESS signing-certificate
// attribute identifies signer (its first ESSCertID is the signer's).
func checkSigningCertificate(p7 *pkcs7.PKCS7, signer *x509.Certificate) error {
	var sc struct {
		Certs    []asn1.RawValue
		Policies asn1.RawValue `asn1:"optional"`
	}
	alg := crypto.SHA256
	var certHash []byte
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &sc); err == nil && len(sc.Certs) > 0 {
		// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier
		//   DEFAULT id-sha256, certHash OCTET STRING, issuerSerial OPTIONAL }
		var first asn1.RawValue
		rest, err := asn1.Unmarshal(sc.Certs[0].Bytes, &first)
		if err != nil {
			return fmt.Errorf("malformed signing-certificate-v2 attribute: %w", err)
		}
		if first.Tag == asn1.TagSequence {
			var ai pkix.AlgorithmIdentifier
			if _, err := asn1.Unmarshal(first.FullBytes, &ai); err != nil {
				return fmt.Errorf("malformed signing-certificate-v2 attribute: %w", err)
			}
			h, ok := oidHashes[ai.Algorithm.String()]
			if !ok {
				return fmt.Errorf("signing-certificate-v2 uses unsupported hash %v", ai.Algorithm)
			}
			alg = h
			if _, err := asn1.Unmarshal(rest, &first); err != nil {
				return fmt.Errorf("malformed signing-certificate-v2 attribute: %w", err)
			}
		}
		if first.Tag != asn1.TagOctetString {
			return errors.New("malformed signing-certificate-v2 attribute")
		}
		certHash = first.Bytes
	} else if err := p7.UnmarshalSignedAttribute(oidSigningCertificate, &sc); err == nil && len(sc.Certs) > 0 {
		// ESSCertID ::= SEQUENCE { certHash OCTET STRING (SHA-1), ... }
		var id struct {
			CertHash     []byte
			IssuerSerial asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(sc.Certs[0].FullBytes, &id); err != nil {
			return fmt.Errorf("malformed signing-certificate attribute: %w", err)
		}
		alg, certHash = crypto.SHA1, id.CertHash
	} else {
		return errors.New("no ESS signing-certificate attribute identifies the TSA certificate")
	}
	h := alg.New()
	h.Write(signer.Raw)
	if !bytes.Equal(h.Sum(nil), certHash) {
		return errors.New("embedded TSA certificate is not the one the signature names (ESS signing-certificate mismatch)")
	}
	return nil
}

// checkContentType checks that the signed content-type attribute, and the
// encapsulated content type when the token is DER, are id-ct-TSTInfo
// (pkcs7 does not compare them).
func checkContentType(token []byte, p7 *pkcs7.PKCS7) error {
	var signed asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(oidContentType, &signed); err != nil {
		return fmt.Errorf("no signed content-type attribute: %w", err)
	}
	if !signed.Equal(oidTSTInfo) {
		return fmt.Errorf("signed content type is %v, not TSTInfo", signed)
	}
	var ci struct {
		ContentType asn1.ObjectIdentifier
		SignedData  struct {
			Version          int
			DigestAlgorithms asn1.RawValue
			Encap            struct {
				EContentType asn1.ObjectIdentifier
				EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
			}
			// certificates, crls and signerInfos follow; encoding/asn1
			// ignores trailing elements of a SEQUENCE.
		} `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(token, &ci); err != nil {
		return nil // BER token: pkcs7 parsed it; the signed attribute was checked
	}
	if !ci.SignedData.Encap.EContentType.Equal(oidTSTInfo) {
		return fmt.Errorf("encapsulated content type is %v, not TSTInfo", ci.SignedData.Encap.EContentType)
	}
	return nil
}
