package filelock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTryLockExcludesAndReleases(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := Holder(p); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("holder = %q, want our pid", got)
	}
	// flock locks belong to the open file description: a second open in the
	// same process conflicts just as another process would.
	if _, err := TryLock(p); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second TryLock: %v; want ErrLocked naming our pid", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	l2, err := TryLock(p)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestWaitBlocksUntilReleased(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		w, err := Wait(p)
		if err == nil {
			err = w.Unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Wait returned while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	l.Unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the lock was released")
	}
}

// A holder that is killed releases the lock with its death.
func TestLockDiesWithHolder(t *testing.T) {
	if os.Getenv("FILELOCK_HOLD") != "" {
		if _, err := TryLock(os.Getenv("FILELOCK_HOLD")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		return
	}
	p := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDiesWithHolder$")
	cmd.Env = append(os.Environ(), "FILELOCK_HOLD="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("child did not take the lock: %q %v", buf, err)
	}
	if _, err := TryLock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by a child: %v; want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := TryLock(p)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}
