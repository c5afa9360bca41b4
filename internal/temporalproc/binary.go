package temporalproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BinaryName is the file name of the embedded Temporal server binary
// (built from ./cmd/leakwatch-temporal).
const BinaryName = "leakwatch-temporal"

// ErrBinaryNotFound is returned (wrapped) by FindBinary when no server binary exists.
var ErrBinaryNotFound = errors.New("temporal server binary not found")

// FindBinary locates the leakwatch-temporal binary: the configured path if
// set, else the file next to the running executable (how `go build -o bin/
// ./cmd/...` and release archives lay it out), else the one on PATH.
func FindBinary(configured string) (string, error) {
	if configured != "" {
		p, err := filepath.Abs(configured)
		if err != nil {
			return "", fmt.Errorf("resolving temporal binary path %q: %w", configured, err)
		}
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("configured temporal binary: %w", err)
		}
		return p, nil
	}
	name := BinaryName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: no %s next to this program or on PATH; build it with `go build -o bin/ ./cmd/...` and run bin/leakwatch, or set its path in the config",
		ErrBinaryNotFound, name)
}

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", p)
	}
	return nil
}
