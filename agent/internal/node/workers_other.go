//go:build !linux

package node

import "syscall"

// workerProcAttr: without Linux's parent-death signal, a worker stops when its link breaks.
func workerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
