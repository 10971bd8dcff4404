package sdevent

import (
	"fmt"
	"syscall"
)

// The si_code values of SIGCHLD (x/sys/unix has no names for them).
const (
	CLDExited    = 1
	CLDKilled    = 2
	CLDDumped    = 3
	CLDTrapped   = 4
	CLDStopped   = 5
	CLDContinued = 6
)

// ChildInfo is what waitid(2) reported: Signo is SIGCHLD, Code one of the
// CLD* values, Status the exit status or the signal number. Code 0 means
// the child was reaped by someone else (waitpid, cmd.Wait) before the loop
// could read its status.
type ChildInfo struct {
	Signo, Code, Pid, Uid, Status int
}

// Exited reports whether the child exited normally.
func (ci *ChildInfo) Exited() bool { return ci != nil && ci.Code == CLDExited }

// ExitStatus returns the exit status of a child that exited, else -1.
func (ci *ChildInfo) ExitStatus() int {
	if !ci.Exited() {
		return -1
	}
	return ci.Status
}

// Signaled reports whether a signal killed the child (with or without a
// core dump).
func (ci *ChildInfo) Signaled() bool {
	return ci != nil && (ci.Code == CLDKilled || ci.Code == CLDDumped)
}

// signal is the signal that killed, stopped or trapped the child (or
// continued it: SIGCONT), else 0; Signal returns it as a unix.Signal on
// Linux (child.go) and as the same type under its syscall name elsewhere.
func (ci *ChildInfo) signal() int {
	if ci == nil {
		return 0
	}
	switch ci.Code {
	case CLDKilled, CLDDumped, CLDTrapped, CLDStopped, CLDContinued:
		return ci.Status
	}
	return 0
}

// String describes the child's state change: "exited 3", "killed by
// SIGTERM", "dumped core (SIGSEGV)", "stopped (SIGSTOP)", "trapped
// (SIGTRAP)", "continued". Off Linux a signal goes by its number ("killed
// by signal 15").
func (ci *ChildInfo) String() string {
	if ci == nil {
		return "<nil>"
	}
	sig := func() string {
		if n := signalName(syscall.Signal(ci.Status)); n != "" {
			return n
		}
		return fmt.Sprintf("signal %d", ci.Status)
	}
	switch ci.Code {
	case CLDExited:
		return fmt.Sprintf("exited %d", ci.Status)
	case CLDKilled:
		return "killed by " + sig()
	case CLDDumped:
		return "dumped core (" + sig() + ")"
	case CLDTrapped:
		return "trapped (" + sig() + ")"
	case CLDStopped:
		return "stopped (" + sig() + ")"
	case CLDContinued:
		return "continued"
	case 0:
		return "reaped elsewhere"
	}
	return fmt.Sprintf("code %d status %d", ci.Code, ci.Status)
}
