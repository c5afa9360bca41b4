// Package webhook delivers leakwatch's events (new case items, case state
// changes) to SIEMs and chat as signed JSON POSTs.
//
// Storage appends each event to an outbox table in the same transaction as
// the change it announces; a Dispatcher reads the outbox in order and posts
// every event to every endpoint subscribed to its kind. Delivery is
// at-least-once: an endpoint that fails (network error, timeout, any status
// but 2xx) gets the same event again, with exponential backoff, until it
// accepts it, and events after it wait, so each endpoint sees events in
// order. Each endpoint has its own cursor, so a dead one delays no other.
// Receivers deduplicate by X-Leakwatch-Delivery, which is the event id and
// the same on every attempt.
//
// Each request carries:
//
//	Content-Type: application/json
//	X-Leakwatch-Event: item.new | case.state
//	X-Leakwatch-Delivery: <event id>
//	X-Leakwatch-Timestamp: <unix seconds of this attempt>
//	X-Leakwatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//
// Receivers check it with Verify (or its dozen lines, copied), which also
// refuses stale timestamps so a captured request cannot be replayed later.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderEvent     = "X-Leakwatch-Event"
	HeaderDelivery  = "X-Leakwatch-Delivery"
	HeaderTimestamp = "X-Leakwatch-Timestamp"
	HeaderSignature = "X-Leakwatch-Signature"
)

// Sign returns the X-Leakwatch-Signature value for body sent at timestamp
// (unix seconds, as in X-Leakwatch-Timestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature means a request was not signed with the secret, or was
// signed too long ago (or too far ahead) to be trusted.
var ErrBadSignature = errors.New("webhook: bad signature")

// Verify checks a received webhook: its signature over the timestamp and
// the raw body, and that the timestamp is within tolerance of now (5
// minutes is a good choice). Read the body unparsed, verify, then decode.
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no valid %s", ErrBadSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is more than %s from now", ErrBadSignature, ts, tolerance)
	}
	got := h.Get(HeaderSignature)
	if !strings.HasPrefix(got, "sha256=") || !hmac.Equal([]byte(got), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}
