package sys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WaitInfo is the part of a SIGCHLD siginfo that waitid(2) fills in.
type WaitInfo struct {
	Pid, Uid, Code, Status int
}

// WaitPidfd is waitid(P_PIDFD, pidfd, options) (Linux 5.4). ok is false when
// WNOHANG was given and the child had nothing to report. EINTR is retried.
// Only a call that may block hands the thread to the scheduler.
func WaitPidfd(pidfd, options int) (wi WaitInfo, ok bool, err error) {
	return Waitid(unix.P_PIDFD, pidfd, options)
}

// Waitid is waitid(idtype, id, options), as WaitPidfd: P_ALL for any
// child, P_PID for one pid.
func Waitid(idtype, id, options int) (wi WaitInfo, ok bool, err error) {
	var si unix.Siginfo
	for {
		var e unix.Errno
		if options&unix.WNOHANG != 0 {
			_, _, e = unix.RawSyscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id),
				uintptr(unsafe.Pointer(&si)), uintptr(options), 0, 0)
		} else {
			_, _, e = unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id),
				uintptr(unsafe.Pointer(&si)), uintptr(options), 0, 0)
		}
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return wi, false, os.NewSyscallError("waitid", e)
		}
		break
	}
	base := unsafe.Pointer(&si)
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	wi.Pid = int(*(*int32)(unsafe.Add(base, off)))
	if wi.Pid == 0 {
		return wi, false, nil
	}
	wi.Uid = int(*(*uint32)(unsafe.Add(base, off+4)))
	wi.Status = int(*(*int32)(unsafe.Add(base, off+8)))
	wi.Code = int(si.Code)
	return wi, true, nil
}

// PidfdPid returns the pid a pidfd refers to, read from
// /proc/self/fdinfo, with the errnos of systemd's pidfd_get_pid: EBADF when
// fd is not open, ENOTTY when it is open but not a pidfd, ESRCH when its
// process was reaped.
func PidfdPid(pidfd int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, unix.EBADF // no such fd
		}
		return -1, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		v, found := bytes.CutPrefix(line, []byte("Pid:"))
		if !found {
			continue
		}
		pid, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil {
			return -1, unix.ENOTTY
		}
		if pid <= 0 {
			return -1, unix.ESRCH
		}
		return pid, nil
	}
	return -1, unix.ENOTTY // an fd, but no pidfd
}

// SigchldReaps reports whether the kernel reaps children by itself because
// SIGCHLD is ignored or has SA_NOCLDWAIT: then nobody can wait for them.
func SigchldReaps() (bool, error) {
	// struct sigaction as the kernel takes it: the handler, then the flags
	// (and more that is not needed here).
	var act struct {
		handler uintptr
		flags   uint64
		rest    [4]uint64
	}
	const sigIgn = 1
	const saNoCldWait = 2
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0,
		uintptr(unsafe.Pointer(&act)), 8, 0, 0)
	if e != 0 {
		return false, os.NewSyscallError("rt_sigaction", e)
	}
	return act.handler == sigIgn || act.flags&saNoCldWait != 0, nil
}

// SelfPidfdID returns the calling process's pidfd inode id, the number
// systemd 259+ passes as $LISTEN_PIDFDID, got as libsystemd's
// pidfd_get_inode_id_self_cached gets it: a pidfd of getpid() (Linux 5.3)
// that must live on pidfs (Linux 6.9; EOPNOTSUPP otherwise), whose 64-bit
// id is the handle name_to_handle_at gives for it (Linux 6.13), else its
// st_ino.
func SelfPidfdID() (uint64, error) {
	fd, err := PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return 0, os.NewSyscallError("pidfd_open", err)
	}
	defer func() { _ = Close(fd) }() // only read from
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return 0, os.NewSyscallError("fstatfs", err)
	}
	if fs.Type != unix.PID_FS_MAGIC {
		return 0, unix.EOPNOTSUPP
	}
	if h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH); err == nil && h.Size() >= 8 {
		return binary.NativeEndian.Uint64(h.Bytes()), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	return st.Ino, nil
}
