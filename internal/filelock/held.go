package filelock

import (
	"errors"
	"fmt"
	"os"
)

// Held reports whether a process holds the lock at path, and the pid it
// recorded, without creating or writing the file: for tools that inspect
// a data directory read-only. It takes a shared lock for the instant of the
// check, so a TryLock at that very instant may fail as if the lock were held.
func Held(path string) (held bool, pid string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("open lock file: %w", err)
	}
	defer f.Close()
	switch err := probe(f); {
	case errors.Is(err, ErrLocked):
		return true, Holder(path), nil
	case err != nil:
		return false, "", fmt.Errorf("probe lock %s: %w", path, err)
	}
	return false, "", nil
}
