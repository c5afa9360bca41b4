// Package edm recognises record dumps by exact data match: keyed hashes of
// normalised patient fields (NHI, e-mail, phone, name + date of birth),
// compared row by row with the breached records.
//
// Matching rule (implemented by the index with these pieces): a reference
// row matches a query row when they share the primary field — the NHI, or
// else the e-mail — AND at least one other field of the same row
// (corroboration). The NHI's checksum is weak (one in 11 or 24 random
// strings of the right shape passes), so an NHI alone is never enough; a
// field found elsewhere in the dump does not corroborate.
//
// Every stored value is HMAC-SHA256 under a per-field subkey derived from
// the fingerprint key ("edm/nhi", "edm/email", …): a stolen index does not
// reveal whether a known NHI or e-mail is in it, because a plain hash of a
// value (there are fewer than 50 million NHIs) matches nothing without the
// key, and a hash leaked from one field says nothing about another.
package edm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// Field names a kind of record field.
type Field string

// The fields EDM hashes.
const (
	FieldNHI     Field = "nhi"
	FieldEmail   Field = "email"
	FieldPhone   Field = "phone"
	FieldNameDOB Field = "name_dob"
)

// allFields lists the fields NewHasher derives keys for.
var allFields = [...]Field{FieldNHI, FieldEmail, FieldPhone, FieldNameDOB}

// Record is one row of a structured source: column names (may be shorter
// than Values, or empty) and cell values. Same shape as extract.Record.
type Record struct {
	Columns []string
	Values  []string
}

// Row holds the keyed hex hashes of the normalised fields found in one
// record (at most one per field).
type Row struct {
	Fields map[Field]string
}

// Hasher hashes normalised field values with per-field subkeys. It is safe
// for concurrent use.
type Hasher struct {
	// pools hold HMACs per field with the key already absorbed: Reset
	// restores the saved pad state instead of hashing two pad blocks, and
	// reuse avoids allocating per value. Pools are safe for concurrent use.
	pools map[Field]*sync.Pool // read-only after NewHasher
}

// NewHasher derives one subkey per field from k ("edm/"+field).
func NewHasher(k *fingerprints.Key) *Hasher {
	h := &Hasher{pools: make(map[Field]*sync.Pool, len(allFields))}
	for _, f := range allFields {
		key := k.Derive("edm/" + string(f))
		h.pools[f] = &sync.Pool{New: func() any {
			m := hmac.New(sha256.New, key)
			m.Reset() // saves the keyed pad states
			return m
		}}
	}
	return h
}

// Hash returns hex HMAC-SHA256 of an already normalised value under the
// field's subkey; "" for an empty value or an unknown field.
func (h *Hasher) Hash(f Field, normalized string) string {
	pool := h.pools[f]
	if pool == nil || normalized == "" {
		return ""
	}
	m := pool.Get().(hash.Hash)
	m.Reset()
	io.WriteString(m, normalized)
	var sum [sha256.Size]byte
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], m.Sum(sum[:0]))
	pool.Put(m)
	return string(hx[:])
}

// set hashes a normalised value into the row unless the field is already
// there; it reports whether it was.
func (h *Hasher) set(r *Row, f Field, normalized string) (dup bool) {
	if _, ok := r.Fields[f]; ok {
		return true
	}
	if s := h.Hash(f, normalized); s != "" {
		if r.Fields == nil {
			r.Fields = make(map[Field]string, 4)
		}
		r.Fields[f] = s
	}
	return false
}
