package temporalproc

import "syscall"

// sysProcAttr puts the server in its own process group, so a terminal's Ctrl-C
// reaches only the app, which then stops the server in order, and asks the
// kernel to SIGTERM it if the app dies without doing so. Pdeathsig fires when
// the forking OS thread exits; Go keeps ordinary threads alive, so in practice
// that is the death of the app.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
