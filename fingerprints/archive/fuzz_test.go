package archive

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fuzzLimits keep each fuzz input cheap: small members, budgets and depth.
var fuzzLimits = Limits{
	MaxDepth:       3,
	MaxEntries:     200,
	MaxMemberBytes: 1 << 20,
	MaxTotalBytes:  4 << 20,
	MaxRatio:       200,
	Timeout:        5 * time.Second,
}

// fuzzWalk walks data and checks the invariants that must hold for any
// input: no panic, errors classified, labels safe, limits respected.
func fuzzWalk(t *testing.T, name string, data []byte) {
	w := &Walker{Limits: fuzzLimits, Passwords: []string{"secret", "pw"}}
	var total int64
	st, err := w.Walk(context.Background(), name, data, func(m Member) error {
		if m.Err == nil && int64(len(m.Data)) > fuzzLimits.MaxMemberBytes {
			t.Fatalf("member %q of %d bytes passed MaxMemberBytes", m.Path, len(m.Data))
		}
		if m.Err != nil && m.Data != nil {
			t.Fatalf("member %q has both Err and Data", m.Path)
		}
		if m.Err == nil && m.Size != int64(len(m.Data)) {
			t.Fatalf("member %q: Size %d, %d bytes", m.Path, m.Size, len(m.Data))
		}
		rest := strings.TrimPrefix(m.Path, name)
		for _, seg := range strings.Split(strings.TrimPrefix(rest, "!/"), "!/") {
			if rest == "" {
				break
			}
			for _, part := range strings.Split(seg, "/") {
				if part == ".." || part == "" {
					t.Fatalf("unsafe label %q", m.Path)
				}
			}
		}
		total += int64(len(m.Data))
		return nil
	})
	if err != nil {
		var le *LimitError
		if !errors.As(err, &le) || !le.walkWide() {
			t.Fatalf("walk error that is not a walk-wide limit: %v", err)
		}
	}
	if st.Bytes > fuzzLimits.MaxTotalBytes+fuzzLimits.MaxMemberBytes+1<<20 {
		t.Fatalf("produced %d bytes", st.Bytes)
	}
	if total > st.Bytes+int64(len(data)) {
		t.Fatalf("members hold %d bytes, produced %d", total, st.Bytes)
	}
}

func seedZips(f *testing.F) {
	f.Add(buildZip(f, file{"a.pdf", pdf}, file{"d/b.csv", csv}))
	f.Add(buildZip(f, file{"in.zip", buildZip(f, file{"n", note})}, file{"t.tgz", gz(f, buildTar(f, file{"x", note}))}))
	f.Add(buildZip(f, file{"../../etc/passwd", note}))
	f.Add(zipBomb(f, 8, -1))
	f.Add(zipBomb(f, 8, 100))
	f.Add(manyEntriesZip(300))
}

func seedTars(f *testing.F) {
	f.Add(buildTar(f, file{"a.pdf", pdf}, file{"d/b.csv", csv}))
	f.Add(buildTar(f, file{"in.zip", buildZip(f, file{"n", note})}))
}

func seedStreams(f *testing.F) {
	tarball := buildTar(f, file{"a.pdf", pdf}, file{"b.csv", csv})
	f.Add(gz(f, tarball))
	f.Add(gz(f, csv))
	f.Add(gzipBomb(f, nil, 8))
	f.Add(bz2(f, tarball))
	f.Add(xzc(f, csv))
	f.Add(zst(f, tarball))
}

func seed7z(f *testing.F) {
	// Hand-built headers always; 7z-CLI archives when the CLI is there.
	f.Add([]byte("7z\xbc\xaf\x27\x1c\x00\x04"))
	for _, args := range [][]string{nil, {"-mx0"}, {"-psecret", "-mhe=on"}, {"-psecret", "-mx0"}, {"-m0=bzip2"}} {
		if data := try7z(f, args); data != nil {
			f.Add(data)
		}
	}
}

// try7z builds a small 7z with the CLI, or returns nil when it is missing.
func try7z(f *testing.F, args []string) []byte {
	for _, name := range []string{"7z", "7zz", "7za"} {
		if _, err := exec.LookPath(name); err == nil {
			return run7z(f, "s.7z", args, file{"a.pdf", pdf}, file{"in.zip", buildZip(f, file{"n", note})})
		}
	}
	return nil
}

func seedRars(f *testing.F) {
	f.Add(buildRar5([]rarEntry{{name: "a.pdf", data: pdf}, {name: "l", symlink: "/x"}, {name: "d", dir: true}}, ""))
	f.Add(buildRar5([]rarEntry{{name: "a.pdf", data: pdf, password: "secret"}}, ""))
	f.Add(buildRar5([]rarEntry{{name: "a.pdf", data: pdf}}, "secret"))
	f.Add([]byte("Rar!\x1a\x07\x00\xcf\x90\x73\x00\x00\x0d\x00\x00\x00\x00\x00\x00\x00"))
}

func FuzzWalkZip(f *testing.F) {
	seedZips(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "f.zip", data) })
}

func FuzzWalkTar(f *testing.F) {
	seedTars(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "f.tar", data) })
}

func FuzzWalkGzip(f *testing.F) {
	seedStreams(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "f.tar.gz", data) })
}

func FuzzWalk7z(f *testing.F) {
	seed7z(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "f.7z", data) })
}

func FuzzWalkRar(f *testing.F) {
	seedRars(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "f.rar", data) })
}

func FuzzWalk(f *testing.F) {
	seedZips(f)
	seedTars(f)
	seedStreams(f)
	seedRars(f)
	f.Add(pdf)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, "any", data) })
}
