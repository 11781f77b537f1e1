package redistest

import "syscall"

// sysProcAttr makes the kernel kill redis-server if the test binary dies without running
// its cleanups (a -timeout panic, SIGKILL), so no server outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
