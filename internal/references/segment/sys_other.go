//go:build !linux

package segment

import (
	"fmt"
	"io"
	"os"
)

// Linux is the target; elsewhere a segment is read into memory, which
// works (for development) but shares nothing between processes.
func mapFile(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(size)), b); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

func unmapFile([]byte) error { return nil }

func adviseRandom([]byte) {}

func adviseWillNeed([]byte, int, int) {}

func populate([]byte) error { return nil }

// syncDir is best effort: not every system can sync a directory.
func syncDir(dir string) error {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
