//go:build unix

package temporalproc

import (
	"errors"
	"fmt"
	"syscall"
)

// terminate asks the server's process group to shut down cleanly.
func terminate(pid int) error { return signalGroup(pid, syscall.SIGTERM) }

// kill ends the server's process group at once.
func kill(pid int) error { return signalGroup(pid, syscall.SIGKILL) }

func signalGroup(pid int, sig syscall.Signal) error {
	// The child leads its own group (Setpgid), so -pid reaches it and anything it spawned.
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending %s to process group %d: %w", sig, pid, err)
	}
	return nil
}
