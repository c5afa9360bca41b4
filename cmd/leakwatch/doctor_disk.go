//go:build linux || darwin

package main

import "syscall"

// diskSpace is the space free to this user and the size of the file
// system holding dir.
func diskSpace(dir string) (free, total uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	bs := uint64(s.Bsize) // int64 on linux, uint32 on darwin
	return uint64(s.Bavail) * bs, uint64(s.Blocks) * bs, nil
}
