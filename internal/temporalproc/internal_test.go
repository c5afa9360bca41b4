package temporalproc

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(50); got != restartBackoffMax {
		t.Errorf("backoff(50) = %s, want the cap %s", got, restartBackoffMax)
	}
}

func TestPruneBefore(t *testing.T) {
	now := time.Now()
	ts := []time.Time{now.Add(-3 * time.Minute), now.Add(-time.Minute), now}
	got := pruneBefore(ts, now.Add(-2*time.Minute))
	if len(got) != 2 || !got[0].Equal(now.Add(-time.Minute)) || !got[1].Equal(now) {
		t.Errorf("pruneBefore kept %v", got)
	}
}

func TestRingBufferKeepsLastLines(t *testing.T) {
	b := newRingBuffer(3)
	for i := range 5 {
		b.Add(fmt.Sprint("line", i))
	}
	if got, want := b.String(), "line2\nline3\nline4"; got != want {
		t.Errorf("ring = %q, want %q", got, want)
	}
	b.Add(strings.Repeat("x", 5000))
	if last := b.lines[len(b.lines)-1]; len(last) > 2100 {
		t.Errorf("long line kept at %d bytes", len(last))
	}
	var nilBuf *ringBuffer
	if nilBuf.String() != "" {
		t.Error("nil ring not empty")
	}
}

func TestIsPortConflict(t *testing.T) {
	for out, want := range map[string]bool{
		"leakwatch-temporal: frontend port 7233 is not free: listen tcp 127.0.0.1:7233: bind: address already in use": true,
		"listen tcp 127.0.0.1:41000: bind: address already in use":                                                    true,
		"leakwatch-temporal: creating namespaces: file is not a database":                                             false,
	} {
		if got := isPortConflict(out); got != want {
			t.Errorf("isPortConflict(%q) = %v", out, got)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Binary: "/bin/true", DBPath: "rel/temporal.db"}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.Namespace != DefaultNamespace || o.Retention != DefaultRetention || o.LogLevel != DefaultLogLevel ||
		o.StartTimeout != DefaultStartTimeout || o.MaxRestarts != DefaultMaxRestarts || o.Logger == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
	if !strings.HasPrefix(o.DBPath, "/") {
		t.Errorf("DBPath not made absolute: %s", o.DBPath)
	}
	if err := (&Options{Binary: "/bin/true"}).setDefaults(); err == nil {
		t.Error("missing DBPath accepted")
	}
	if err := (&Options{Binary: "/bin/true", DBPath: "x", Port: 70000}).setDefaults(); err == nil {
		t.Error("port 70000 accepted")
	}
}
