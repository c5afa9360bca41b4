package fingerprints

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	k, err := NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := ParseKey(strings.Repeat("07", 32))
	if k.ID() != k2.ID() || !strings.HasPrefix(k.ID(), "kid_") {
		t.Fatalf("ids %q %q", k.ID(), k2.ID())
	}
	if bytes.Equal(k.Derive("text"), k.Derive("winnow")) || len(k.Derive("text")) != 32 {
		t.Error("subkeys for different purposes must differ")
	}
	other, _ := NewKey(bytes.Repeat([]byte{8}, 32))
	if other.ID() == k.ID() || bytes.Equal(other.MAC("x", []byte("ZAC5361")), k.MAC("x", []byte("ZAC5361"))) {
		t.Error("different keys must give different ids and MACs")
	}
	if _, err := NewKey(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	if _, err := ParseKey("not a key!"); err == nil {
		t.Error("garbage parsed as a key")
	}
}

func TestLoadKey(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	env := func(v string) func(string) string { return func(string) string { return v } }
	k, err := LoadKey(env(hexKey), "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key")
	os.WriteFile(file, []byte(hexKey+"\n"), 0o600)
	kf, err := LoadKey(env(""), file)
	if err != nil || kf.ID() != k.ID() {
		t.Fatalf("key file: %v", err)
	}
	if _, err := LoadKey(env(""), ""); err == nil || !strings.Contains(err.Error(), KeyEnv) {
		t.Errorf("no key: %v", err)
	}
}
