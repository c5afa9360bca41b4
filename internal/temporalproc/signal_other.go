//go:build !unix

package temporalproc

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate has no graceful form without Unix signals; the caller's grace
// period then ends in kill.
func terminate(pid int) error { return nil }

func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("finding process %d: %w", pid, err)
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing process %d: %w", pid, err)
	}
	return nil
}
