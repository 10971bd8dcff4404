//go:build linux

package sdevent

import (
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
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
// CLD* values, Status the exit status or the signal number.
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

// Signal returns the signal that killed, stopped or trapped the child (or
// continued it: SIGCONT), else 0.
func (ci *ChildInfo) Signal() unix.Signal {
	if ci == nil {
		return 0
	}
	switch ci.Code {
	case CLDKilled, CLDDumped, CLDTrapped, CLDStopped, CLDContinued:
		return unix.Signal(ci.Status)
	}
	return 0
}

// String describes the child's state change: "exited 3", "killed by
// SIGTERM", "dumped core (SIGSEGV)", "stopped (SIGSTOP)", "trapped
// (SIGTRAP)", "continued".
func (ci *ChildInfo) String() string {
	if ci == nil {
		return "<nil>"
	}
	sig := func() string {
		if n := unix.SignalName(unix.Signal(ci.Status)); n != "" {
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
	}
	return fmt.Sprintf("code %d status %d", ci.Code, ci.Status)
}

// ChildHandler handles a child source.
type ChildHandler func(s *Source, si *ChildInfo) error

// AddChild watches the child pid (sd_event_add_child). Not built yet:
// EOPNOTSUPP.
func (e *Event) AddChild(pid int, options int, h ChildHandler) (*Source, error) {
	return nil, errNotYet(fmt.Sprintf("add child %d", pid))
}

// AddChildPidfd watches the child behind pidfd (sd_event_add_child_pidfd).
// Not built yet: EOPNOTSUPP.
func (e *Event) AddChildPidfd(pidfd int, options int, h ChildHandler) (*Source, error) {
	return nil, errNotYet("add child pidfd")
}

// AddCommand starts cmd and watches it through a pidfd. Not built yet:
// EOPNOTSUPP, and cmd is not started.
func (e *Event) AddCommand(cmd *exec.Cmd, options int, h ChildHandler) (*Source, error) {
	return nil, errNotYet("add command")
}

func (s *Source) childOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	return opErr(op, unix.EDOM)
}

// ChildPid returns the pid of a child source (sd_event_source_get_child_pid).
func (s *Source) ChildPid() (int, error) { return -1, s.childOnly("child pid") }

// ChildPidfd returns the pidfd of a child source
// (sd_event_source_get_child_pidfd).
func (s *Source) ChildPidfd() (int, error) { return -1, s.childOnly("child pidfd") }

// ChildPidfdOwn reports whether the source closes its pidfd when freed.
func (s *Source) ChildPidfdOwn() (bool, error) { return false, s.childOnly("child pidfd own") }

// SetChildPidfdOwn sets whether the source closes its pidfd when freed.
func (s *Source) SetChildPidfdOwn(own bool) error { return s.childOnly("set child pidfd own") }

// ChildProcessOwn reports whether freeing the source kills the child.
func (s *Source) ChildProcessOwn() (bool, error) { return false, s.childOnly("child process own") }

// SetChildProcessOwn sets whether freeing the source kills and reaps the
// child.
func (s *Source) SetChildProcessOwn(own bool) error { return s.childOnly("set child process own") }

// SendChildSignal sends sig to the child through its pidfd
// (sd_event_source_send_child_signal).
func (s *Source) SendChildSignal(sig unix.Signal, si *unix.Siginfo, flags uint) error {
	return s.childOnly("send child signal")
}
