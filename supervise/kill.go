//go:build linux

package supervise

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pidfdSignalProcessGroup is PIDFD_SIGNAL_PROCESS_GROUP of linux/pidfd.h
// (Linux 6.9): pidfd_send_signal(2) sends to the process group whose id is
// the pidfd's process, as kill(-pid) does, but through the pidfd: the
// group it names is that process's for good, also once the process was
// reaped and its number could be another's.
const pidfdSignalProcessGroup = 1 << 2

// The kernel's answer to PIDFD_SIGNAL_PROCESS_GROUP, learnt at the first
// group signal: older kernels refuse the flag with EINVAL.
const (
	groupUnknown int32 = iota
	groupByPidfd
	groupByKill
)

var groupWay atomic.Int32

// forceKillFallback makes every group signal take the way of kernels
// before 6.9 (tests only).
var forceKillFallback bool

// groupByPidfdKnown reports whether group signals are known to go through
// pidfds, so that the group can still be reached after its leader was
// reaped.
func groupByPidfdKnown() bool { return !forceKillFallback && groupWay.Load() == groupByPidfd }

// signalGroup sends sig to the process group led by the process of pidfd,
// whose pid (and group id) is pgid. Through the pidfd where the kernel
// can (Linux 6.9); else with kill(-pgid), which is safe only while the
// leader has not been reaped: a zombie leader keeps its number, and with
// it the group's id, from being taken. reaped says that it may have been:
// then, without the pidfd way, nothing is sent (EOPNOTSUPP).
func signalGroup(pidfd, pgid int, sig unix.Signal, reaped bool) error {
	if !forceKillFallback && groupWay.Load() != groupByKill {
		err := unix.PidfdSendSignal(pidfd, sig, nil, pidfdSignalProcessGroup)
		if !errors.Is(err, unix.EINVAL) {
			groupWay.Store(groupByPidfd)
			return os.NewSyscallError("pidfd_send_signal", err)
		}
		// sig is valid, so EINVAL means the flag is unknown.
		groupWay.Store(groupByKill)
	}
	if reaped {
		return unix.EOPNOTSUPP
	}
	return os.NewSyscallError("kill", unix.Kill(-pgid, sig))
}

// withCont reports whether SIGCONT follows sig, as systemd's
// kill_and_sigcont does: a stopped process acts on a signal only once it
// runs again, and SIGKILL and SIGCONT need no help.
func withCont(sig unix.Signal) bool { return sig != unix.SIGKILL && sig != unix.SIGCONT }
