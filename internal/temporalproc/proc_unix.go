//go:build unix && !linux

package temporalproc

import "syscall"

// sysProcAttr puts the server in its own process group so a terminal's Ctrl-C
// reaches only the app, which then stops the server in order. (No parent-death
// signal outside Linux.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
