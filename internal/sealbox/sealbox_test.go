package sealbox_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/leakwatch/leakwatch/internal/sealbox"
)

func TestSealOpen(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	plain := []byte("synthetic: patient Z0000001 lab result")
	sealed, err := sealbox.New(k1).Seal(plain, []byte("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("Z0000001")) {
		t.Fatal("sealed message holds the plain text")
	}
	again, err := sealbox.New(k1).Seal(plain, []byte("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one message are equal: the nonce is not random")
	}
	got, err := sealbox.New(k1).Open(sealed, []byte("row-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the plain text", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		key, sealed, ad []byte
	}{
		"another key":  {k2, sealed, []byte("row-1")},
		"another row":  {k1, sealed, []byte("row-2")},
		"altered byte": {k1, flipped, []byte("row-1")},
		"truncated":    {k1, sealed[:10], []byte("row-1")},
		"empty":        {k1, nil, []byte("row-1")},
	} {
		if _, err := sealbox.New(tc.key).Open(tc.sealed, tc.ad); !errors.Is(err, sealbox.ErrOpen) {
			t.Errorf("%s: Open err %v, want ErrOpen", name, err)
		}
	}
	if _, err := sealbox.New([]byte("short")).Seal(plain, nil); err == nil || errors.Is(err, sealbox.ErrOpen) {
		t.Errorf("a short key: Seal err %v, want a key error", err)
	}
}
