//go:build linux

package sdevent

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// Notify sends state ("READY=1", "STATUS=...", several lines allowed) to the
// service manager over $NOTIFY_SOCKET, as sd_notify(0, state) of libsystemd
// 262 does, on a socket of its own (SOCK_CLOEXEC, its send buffer raised to
// 8 MiB where allowed), made and closed in the call. It reports false, and
// no error, when $NOTIFY_SOCKET is unset or empty (the process was not
// started by a manager that listens).
//
// $NOTIFY_SOCKET is an AF_UNIX address, an absolute path or '@' and an
// abstract name, reached with one datagram (sendmsg, MSG_NOSIGNAL); or,
// since systemd 254, an AF_VSOCK address (a service manager outside the
// virtual machine): "vsock:CID:PORT", where CID is a number or "hypervisor",
// "local", "host", and "vsock-dgram:", "vsock-seqpacket:" and
// "vsock-stream:" choose the socket type. Plain "vsock:" tries a datagram
// socket, then, where the transport has none (ENODEV, as on virtio), a
// SOCK_SEQPACKET one, then SOCK_STREAM. A vsock socket is bound to the
// highest free privileged port (1023 down; as an unprivileged process, any
// port), and a seqpacket or stream one is connected, sent to, shut down for
// writing and read until the manager closes it (C's end of message).
//
// Errors are those of sd_notify: EPROTO for an address of neither family;
// EINVAL for '@' or '/' alone, a vsock address without a port, with port
// 4294967295, or without a CID (systemd requires one) or with a CID or port
// that is no number (ERANGE for one out of range); ENAMETOOLONG for a path
// that does not fit sockaddr_un; EMFILE when no descriptor is left for the
// socket; those of socket, bind, connect and sendmsg (ENOENT, ECONNREFUSED,
// ENODEV, ...), EIO for a datagram sent short, EPROTO when a vsock manager
// answers. Nothing is sent then.
//
// Unlike go-systemd's daemon.SdNotify, it does not go through package net,
// so it does not start the Go runtime's network poller (which needs two
// descriptors of its own, and aborts the process when it cannot have them),
// and it speaks vsock. As in C, the send blocks while the manager's socket
// queue is full, and connecting to a vsock manager can take the kernel's
// connect timeout (2 s).
func Notify(state string) (bool, error) { return notifyOp("notify", state) }

// notifyOp is Notify with the *Error naming op.
func notifyOp(op, state string) (bool, error) {
	sent, err := notify(state)
	return sent, opErr(op, err)
}

// notify is Notify without the *Error.
func notify(state string) (bool, error) {
	addr, ok := getenv("NOTIFY_SOCKET")
	if !ok {
		return false, nil
	}
	sa, typ, err := notifyAddress(addr)
	if err != nil {
		return false, fmt.Errorf("NOTIFY_SOCKET=%q: %w", addr, err)
	}
	_, vsock := sa.(*unix.SockaddrVM)
	fd, typ, err := notifySocket(vsock, typ)
	if err != nil {
		return false, err
	}
	defer func() { _ = sys.Close(fd) }() // the message is sent or not: close says no more
	if err := notifySend(fd, typ, sa, vsock, []byte(state)); err != nil {
		return false, fmt.Errorf("notify %s: %w", addr, err)
	}
	return true, nil
}

// notifyAddress parses $NOTIFY_SOCKET as 262's sd_notify does: an AF_UNIX
// address first, else an AF_VSOCK one, else EPROTO. typ is the socket type
// the address asks for, 0 for the default.
func notifyAddress(addr string) (sa unix.Sockaddr, typ int, err error) {
	if addr[0] == '/' || addr[0] == '@' {
		if len(addr) < 2 {
			return nil, 0, unix.EINVAL
		}
		if size := len(unix.RawSockaddrUnix{}.Path); len(addr) >= size {
			if addr[0] == '@' {
				return nil, 0, unix.EINVAL
			}
			return nil, 0, unix.ENAMETOOLONG // a path needs room for its NUL
		}
		// x/sys turns a leading '@' into the abstract namespace's NUL.
		return &unix.SockaddrUnix{Name: addr}, 0, nil
	}
	return vsockAddress(addr)
}

// vsockAddress parses systemd's "vsock[-dgram|-seqpacket|-stream]:CID:PORT"
// (socket_address_parse_vsock): the port first, then the CID; no CID is
// VMADDR_CID_ANY, which sd_notify refuses.
func vsockAddress(addr string) (unix.Sockaddr, int, error) {
	var typ int
	rest, ok := strings.CutPrefix(addr, "vsock:")
	for _, p := range []struct {
		prefix string
		typ    int
	}{{"vsock-dgram:", unix.SOCK_DGRAM}, {"vsock-seqpacket:", unix.SOCK_SEQPACKET}, {"vsock-stream:", unix.SOCK_STREAM}} {
		if !ok {
			rest, ok = strings.CutPrefix(addr, p.prefix)
			typ = p.typ
		}
	}
	if !ok {
		return nil, 0, unix.EPROTO
	}
	cidVar, portVar, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, 0, unix.EINVAL
	}
	port, err := parseUint32(portVar)
	if err == nil && port == unix.VMADDR_PORT_ANY {
		err = unix.EINVAL
	}
	if err != nil {
		return nil, 0, fmt.Errorf("port %q: %w", portVar, err)
	}
	var cid uint32
	switch cidVar {
	case "hypervisor":
		cid = unix.VMADDR_CID_HYPERVISOR
	case "local":
		cid = unix.VMADDR_CID_LOCAL
	case "host":
		cid = unix.VMADDR_CID_HOST
	case "", "any", "-1":
		cid = unix.VMADDR_CID_ANY
	default:
		if cid, err = parseUint32(cidVar); err != nil {
			return nil, 0, fmt.Errorf("CID %q: %w", cidVar, err)
		}
	}
	if cid == unix.VMADDR_CID_ANY {
		return nil, 0, fmt.Errorf("no CID: %w", unix.EINVAL)
	}
	return &unix.SockaddrVM{CID: cid, Port: port}, typ, nil
}

// notifySocket makes the socket: of typ, else a datagram one; for a vsock
// address of no given type, SOCK_SEQPACKET where datagrams are not
// supported (ENODEV: QEMU's and Firecracker's virtio transport), then
// SOCK_STREAM.
func notifySocket(vsock bool, typ int) (int, int, error) {
	family, given := unix.AF_UNIX, typ != 0
	if vsock {
		family = unix.AF_VSOCK
	}
	if !given {
		typ = unix.SOCK_DGRAM
	}
	fd, err := sys.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil && vsock && !given && (notSupported(err) || errors.Is(err, unix.ENODEV)) {
		typ = unix.SOCK_SEQPACKET
		fd, err = sys.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil && notSupported(err) {
			typ = unix.SOCK_STREAM
			fd, err = sys.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
		}
	}
	if err != nil {
		return -1, typ, os.NewSyscallError("socket", err)
	}
	return fd, typ, nil
}

// notSupported is systemd's ERRNO_IS_NOT_SUPPORTED.
func notSupported(err error) bool {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case unix.EOPNOTSUPP, unix.ENOTTY, unix.ENOSYS, unix.EAFNOSUPPORT,
		unix.EPFNOSUPPORT, unix.EPROTONOSUPPORT, unix.ESOCKTNOSUPPORT:
		return true
	}
	return false
}

// notifySend sends msg on fd, a fresh socket of typ, to sa.
func notifySend(fd, typ int, sa unix.Sockaddr, vsock bool, msg []byte) error {
	if vsock {
		if err := bindPrivilegedPort(fd); err != nil {
			return err
		}
	}
	to := sa
	if typ != unix.SOCK_DGRAM {
		if err := unix.Connect(fd, sa); err != nil {
			return os.NewSyscallError("connect", err)
		}
		to = nil
	}
	// As C: a bigger send buffer where the kernel allows it, no error where
	// it does not.
	const sndbuf = 8 << 20
	if cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil && cur < sndbuf {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf)
	}
	if err := sendWhole(fd, typ, to, msg); err != nil {
		return err
	}
	if !vsock || typ == unix.SOCK_DGRAM {
		return nil
	}
	return awaitManagerClose(fd)
}

// sendWhole sends msg on fd: a datagram or record whole or not at all (EIO
// when sent short), a stream in as many writes as it takes.
func sendWhole(fd, typ int, to unix.Sockaddr, msg []byte) error {
	for len(msg) > 0 {
		n, err := unix.SendmsgN(fd, msg, nil, to, unix.MSG_NOSIGNAL)
		if err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		if n < len(msg) && typ != unix.SOCK_STREAM {
			return unix.EIO
		}
		msg = msg[n:]
	}
	return nil
}

// awaitManagerClose ends a vsock message: on vsock the end of the message is
// the end of the connection, so it shuts down writing and waits until the
// manager, having read it, closes its end. An answer is EPROTO.
func awaitManagerClose(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	n, err := unix.Read(fd, make([]byte, 1))
	if err != nil {
		return os.NewSyscallError("recv", err)
	}
	if n > 0 {
		return fmt.Errorf("the manager answered: %w", unix.EPROTO)
	}
	return nil
}

// bindPrivilegedPort binds a vsock socket to the highest free port below
// 1024, by which the host can tell a privileged sender; without the
// privilege to bind one, it stays unbound (no error), as in C.
func bindPrivilegedPort(fd int) error {
	var err error
	for port := uint32(1023); port > 0; port-- {
		err = unix.Bind(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port})
		if err != unix.EADDRINUSE {
			break
		}
	}
	if err != nil && err != unix.EPERM && err != unix.EACCES {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// NotifyReady tells the service manager that start-up is finished
// (READY=1): for Type=notify units.
func NotifyReady() (bool, error) { return Notify("READY=1") }

// NotifyStopping tells the service manager that the service is stopping
// (STOPPING=1).
func NotifyStopping() (bool, error) { return Notify("STOPPING=1") }

// NotifyStatus sets the status line `systemctl status` shows (STATUS=...).
func NotifyStatus(status string) (bool, error) { return Notify("STATUS=" + status) }

// NotifyReloading tells the service manager that the service has begun to
// reload its configuration: "RELOADING=1" with "MONOTONIC_USEC=" and the time
// of CLOCK_MONOTONIC in microseconds, in one message, as sd_notify's
// users send it. A Type=notify-reload unit (systemd 253+) needs both: systemd
// reloads it with SIGHUP and waits for this message, then for READY=1
// (NotifyReady) once the reload is done. Like Notify, it reports false and no
// error without a manager.
func NotifyReloading() (bool, error) {
	usec := sys.Monotonic() / time.Microsecond
	return notifyOp("notify reloading", "RELOADING=1\nMONOTONIC_USEC="+strconv.FormatInt(int64(usec), 10))
}

// NotifyExtendTimeout asks the service manager for d more before the
// timeout of the unit's current state ends (EXTEND_TIMEOUT_USEC=, systemd
// 236+): TimeoutStartSec= while starting, RuntimeMaxSec= while running,
// TimeoutStopSec= while stopping. The service must send something again
// within d. systemd only ever moves the timeout later, so 0 asks for
// nothing; Infinity is sent as USEC_INFINITY (no timeout); d is rounded up
// to whole microseconds. A negative d is ERANGE, as the manager would find
// the number. Like Notify, it reports false and no error without a manager.
func NotifyExtendTimeout(d time.Duration) (bool, error) {
	const op = "notify extend timeout"
	if d < 0 {
		return false, opErr(op, unix.ERANGE)
	}
	usec := uint64(d / time.Microsecond)
	if d == Infinity {
		usec = math.MaxUint64
	} else if d%time.Microsecond != 0 {
		usec++
	}
	return notifyOp(op, "EXTEND_TIMEOUT_USEC="+strconv.FormatUint(usec, 10))
}

// errnoMax is systemd's ERRNO_MAX: the largest errno the manager takes.
const errnoMax = 4095

// NotifyErrno tells the service manager why the service fails, as an errno
// (ERRNO=, for example ERRNO=2 for ENOENT): systemctl status and the unit's
// StatusErrno property show it. Send it before exiting with an error. 0
// clears it; above 4095 (systemd's ERRNO_MAX) is ERANGE, as the manager
// would refuse it. Like Notify, it reports false and no error without a
// manager.
func NotifyErrno(errno unix.Errno) (bool, error) {
	const op = "notify errno"
	if errno > errnoMax {
		return false, opErr(op, unix.ERANGE)
	}
	return notifyOp(op, "ERRNO="+strconv.FormatUint(uint64(errno), 10))
}

// NotifyExitStatus tells the service manager the status the service is
// about to exit with (EXIT_STATUS=, systemd 254+). From a service, systemd
// takes it as information only; it is how a whole system in a container
// or virtual machine reports its result to the host. A status outside
// 0..255 is ERANGE.
// Like Notify, it reports false and no error without a manager.
func NotifyExitStatus(status int) (bool, error) {
	const op = "notify exit status"
	if status < 0 || status > 255 {
		return false, opErr(op, unix.ERANGE)
	}
	return notifyOp(op, "EXIT_STATUS="+strconv.Itoa(status))
}

// listenFdsStart is SD_LISTEN_FDS_START: the first passed fd.
const listenFdsStart = 3

// AddListenFds turns the sockets the service manager passed by socket
// activation ($LISTEN_FDS, $LISTEN_PID, $LISTEN_PIDFDID, $LISTEN_FDNAMES,
// read as sd_listen_fds_with_names(1, ...) of libsystemd 262 reads them)
// into IO sources watching events with h, one per fd that epoll accepts,
// in the order passed (fd 3 first). Each source owns a duplicate of its socket
// (closed when the source is freed), made non-blocking, and is described by
// the fd's name in $LISTEN_FDNAMES (LISTEN_FD_<n> without names); the
// original is closed, so children do not inherit it.
//
// A passed fd that epoll refuses (a regular file or directory, as systemd
// 253+ passes for OpenFile=) becomes no source and is left open as passed;
// AddListenFiles hands such fds back as *os.File.
//
// As with sd_listen_fds(1), LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and
// LISTEN_FDNAMES are unset once read, whether or not the call succeeds;
// nothing passed (the variables unset or empty, LISTEN_PID naming another
// process, or LISTEN_PIDFDID, systemd 259's guard against a reused pid,
// another pidfd inode id than this process's) is no source and no error.
// LISTEN_PIDFDID is only checked where pidfds live on pidfs (Linux 6.9+). The checks come before any fd is touched, and an
// error closes none of the passed fds: a malformed variable is EINVAL
// (ERANGE for a number out of range), a LISTEN_FDS of 0, negative or
// running past the largest fd is EINVAL, names that are not one per fd
// EINVAL, and an fd of the range that is not open EBADF. Like C, it cannot
// tell a passed fd from one the process opened itself: a LISTEN_FDS that
// claims more fds than were passed, and whose range is all open, would hand
// the process's own fds (the Go runtime's among them) to the loop. On an
// error after the checks (epoll failing otherwise) no source is left and
// the passed fds stay open, with FD_CLOEXEC set as sd_listen_fds sets it.
func (e *Event) AddListenFds(events uint32, h IOHandler) ([]*Source, error) {
	// The refused fds stay open as passed: an *os.File would close them
	// when collected.
	sources, _, err := e.addListen("add listen fds", events, h)
	return sources, err
}

// AddListenFiles is AddListenFds that also returns the passed fds epoll
// refuses (regular files, directories: systemd's OpenFile=) as *os.File,
// named after $LISTEN_FDNAMES, in the order passed. They are the caller's
// to close; the sources are as AddListenFds makes them.
func (e *Event) AddListenFiles(events uint32, h IOHandler) ([]*Source, []*os.File, error) {
	sources, files, err := e.addListen("add listen files", events, h)
	if err != nil {
		return nil, nil, err
	}
	var osFiles []*os.File
	for _, f := range files {
		osFiles = append(osFiles, os.NewFile(uintptr(f.fd), f.name))
	}
	return sources, osFiles, nil
}

// listenFd is one passed fd and its name.
type listenFd struct {
	fd   int
	name string
}

// addListen is AddListenFds and AddListenFiles: the sources, and the fds
// epoll refused, still open.
func (e *Event) addListen(op string, events uint32, h IOHandler) ([]*Source, []listenFd, error) {
	if err := e.addable(op); err != nil {
		return nil, nil, err
	}
	fds, err := listenFds()
	if err != nil {
		return nil, nil, opErr(op, err)
	}
	var sources []*Source
	var refused []listenFd
	fail := func(f listenFd, err error) ([]*Source, []listenFd, error) {
		for _, s := range sources {
			s.Unref()
		}
		var inner *Error // AddIO's own: one "sdevent:" prefix is enough
		if errors.As(err, &inner) {
			err = inner.Err
		}
		return nil, nil, opErr(op, fmt.Errorf("fd %d (%s): %w", f.fd, f.name, err))
	}
	for _, f := range fds {
		dup, err := sys.DupCloexec(f.fd) // listenFdsStart is 3 too
		if err != nil {
			return fail(f, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
		}
		s, err := e.AddIO(dup, events, h)
		if errors.Is(err, unix.EPERM) {
			_ = sys.Close(dup) // not pollable: left to the caller as passed
			refused = append(refused, f)
			continue
		}
		if err != nil {
			_ = sys.Close(dup)
			return fail(f, err)
		}
		// An IO source just made, so neither can fail.
		_ = s.SetIOFdOwn(true)
		_ = s.SetDescription(f.name)
		sources = append(sources, s)
		// O_NONBLOCK is the open file description's: set it only on what
		// became a source.
		if err := unix.SetNonblock(dup, true); err != nil {
			return fail(f, os.NewSyscallError("fcntl F_SETFL", err))
		}
	}
	// The loop holds each socket through its duplicate now.
	for _, f := range fds {
		if !isRefused(refused, f.fd) {
			_ = sys.Close(f.fd)
		}
	}
	return sources, refused, nil
}

func isRefused(refused []listenFd, fd int) bool {
	for _, f := range refused {
		if f.fd == fd {
			return true
		}
	}
	return false
}

// listenFds is sd_listen_fds_with_names(1, ...) of libsystemd 262: it reads
// and unsets LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES,
// checks that every fd of the range is open (fcntl F_GETFD, EBADF for one
// that is not; 252 and 262 both check, by fcntl and by fd_cloexec) before it
// sets FD_CLOEXEC on them, and returns them with their names.
func listenFds() ([]listenFd, error) {
	pidVar, hasPid := getenv("LISTEN_PID")
	pidfdidVar, hasPidfdid := getenv("LISTEN_PIDFDID")
	fdsVar, hasFds := getenv("LISTEN_FDS")
	namesVar, hasNames := getenv("LISTEN_FDNAMES")
	for _, v := range []string{"LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(v) // only fails for an invalid name
	}
	if !hasPid {
		return nil, nil
	}
	pid, err := parsePid(pidVar)
	if err != nil {
		return nil, fmt.Errorf("LISTEN_PID=%q: %w", pidVar, err)
	}
	if pid != os.Getpid() {
		return nil, nil
	}
	if hasPidfdid {
		ours, err := forUs(pidfdidVar)
		if err != nil || !ours {
			return nil, err
		}
	}
	if !hasFds {
		return nil, nil
	}
	n, err := parseInt(fdsVar)
	if err == nil && (n <= 0 || n > 1<<31-1-listenFdsStart) {
		err = unix.EINVAL
	}
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS=%q: %w", fdsVar, err)
	}
	var names []string
	if hasNames {
		if names = strings.Split(namesVar, ":"); len(names) != int(n) {
			return nil, fmt.Errorf("LISTEN_FDNAMES=%q: %d names for %d fds: %w", namesVar, len(names), n, unix.EINVAL)
		}
	}
	return takeListenFds(int(n), names, fdsVar)
}

// forUs checks $LISTEN_PIDFDID (systemd 259) as sd_listen_fds of 262 does,
// after LISTEN_PID matched: a value that is no number is an error (EINVAL,
// ERANGE), one that is not this process's pidfd inode id means the fds are
// not ours (a pid reused since the manager set them). Where the id cannot be
// had (no pidfs before Linux 6.9), LISTEN_PID alone decides, as in C.
func forUs(pidfdidVar string) (bool, error) {
	id, err := parseUint64(pidfdidVar)
	if err != nil {
		return false, fmt.Errorf("LISTEN_PIDFDID=%q: %w", pidfdidVar, err)
	}
	own, err := sys.SelfPidfdID()
	return err != nil || id == own, nil
}

// takeListenFds checks that the n passed fds are open, then sets
// FD_CLOEXEC on each, as sd_listen_fds does; names are their
// LISTEN_FDNAMES, if any.
func takeListenFds(n int, names []string, fdsVar string) ([]listenFd, error) {
	for fd := listenFdsStart; fd < listenFdsStart+n; fd++ {
		if _, err := sys.FdFlags(fd); err != nil {
			return nil, fmt.Errorf("LISTEN_FDS=%q: fd %d: %w", fdsVar, fd, os.NewSyscallError("fcntl F_GETFD", err))
		}
	}
	fds := make([]listenFd, n)
	for i := range fds {
		fd := listenFdsStart + i
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if names != nil {
			name = names[i]
		}
		if err := sys.SetCloexec(fd); err != nil {
			return nil, fmt.Errorf("fd %d: %w", fd, os.NewSyscallError("fcntl F_SETFD", err))
		}
		fds[i] = listenFd{fd: fd, name: name}
	}
	return fds, nil
}
