package node

import "syscall"

// workerProcAttr has the kernel stop a worker (SIGTERM: it drains) when the agent that
// started it dies, even by SIGKILL; the worker also stops when its link breaks.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
