package filelock

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Held tells a held lock from a free one, and from none, and neither
// creates nor changes the file.
func TestHeldReadsWithoutWriting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	if held, pid, err := Held(p); err != nil || held || pid != "" {
		t.Fatalf("no lock file: held %v pid %q err %v", held, pid, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("Held created the lock file: %v", err)
	}
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	held, pid, err := Held(p)
	if err != nil || !held || pid != strconv.Itoa(os.Getpid()) {
		t.Fatalf("held lock: held %v pid %q err %v; want held by %d", held, pid, err, os.Getpid())
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Fatalf("Held changed the lock file: %q -> %q", before, after)
	}
	l.Unlock()
	if held, _, err := Held(p); err != nil || held {
		t.Fatalf("released lock: held %v err %v", held, err)
	}
	// The probe's own shared lock is gone: the lock can be taken at once.
	l, err = TryLock(p)
	if err != nil {
		t.Fatalf("TryLock after Held: %v", err)
	}
	l.Unlock()
}
