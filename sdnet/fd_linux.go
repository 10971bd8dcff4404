//go:build linux

package sdnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of the package, each without allocating on success, so
// that a dispatch that accepts, reads or writes allocates nothing but what
// it hands to the program.

// errClosed is what a closed Listener or Conn returns: net.ErrClosed, as a
// closed net.Conn does, and EBADF, the errno behind it.
var errClosed = fmt.Errorf("%w (%w)", net.ErrClosed, unix.EBADF)

// opError names the operation: "sdnet: write: broken pipe".
func opError(op string, err error) error { return fmt.Errorf("sdnet: %s: %w", op, err) }

// rawFd returns the descriptor of v, a syscall.Conn (EINVAL otherwise),
// through SyscallConn().Control, which leaves its blocking mode alone
// (os.File.Fd would switch it to blocking). The descriptor stays valid for
// as long as v is open; the callers own v.
func rawFd(v any) (int, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no file descriptor (no syscall.Conn): %w", v, unix.EINVAL)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, closedAsEBADF(err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, closedAsEBADF(err)
	}
	return fd, nil
}

// fileFd returns the descriptor of f, made non-blocking, and how to put
// its mode back.
func fileFd(f *os.File) (fd int, restore func(), err error) {
	if f == nil {
		return -1, nil, unix.EINVAL
	}
	if fd, err = rawFd(f); err != nil {
		return -1, nil, err
	}
	if restore, err = setNonblock(fd); err != nil {
		return -1, nil, err
	}
	return fd, restore, nil
}

// setNonblock sets O_NONBLOCK on fd and returns how to undo it.
func setNonblock(fd int) (restore func(), err error) {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_GETFL", err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		return func() {}, nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("fcntl F_SETFL", err)
	}
	return func() { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags) }, nil // as it was: best effort
}

// closedAsEBADF makes "file already closed" (os and net have their own)
// match EBADF too.
func closedAsEBADF(err error) error {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w (%w)", err, unix.EBADF)
	}
	return err
}

// accept4 accepts one connection, non-blocking and close-on-exec, without
// asking for the peer's address (unix.Accept4 allocates one). Like the
// other calls here it returns the bare errno, 0 for none.
func accept4(fd int) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), 0
	}
}

// send writes p to a socket with MSG_NOSIGNAL: a peer that went away is
// EPIPE, never a SIGPIPE that a program watching SIGPIPE would see.
func send(fd int, p []byte) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
			unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), 0
	}
}

// write is write(2) for what is not a socket (a pipe, a FIFO, a terminal),
// with EINTR retried.
func write(fd int, p []byte) (int, unix.Errno) { return rw(unix.SYS_WRITE, fd, p) }

// read is read(2) with EINTR retried.
func read(fd int, p []byte) (int, unix.Errno) { return rw(unix.SYS_READ, fd, p) }

func rw(trap uintptr, fd int, p []byte) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), 0
	}
}

// isSocket reports whether fd is a socket, and if so checks that it is a
// stream socket (EPROTOTYPE otherwise) and, for listening, that it listens
// (EINVAL otherwise, as accept(2) says of a socket that does not; ENOTSOCK
// for what is no socket).
func isSocket(fd int, listening bool) (bool, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case err == unix.ENOTSOCK && listening:
		return false, fmt.Errorf("not a socket: %w", err)
	case err == unix.ENOTSOCK:
		return false, nil
	case err != nil:
		return false, os.NewSyscallError("getsockopt SO_TYPE", err)
	case typ != unix.SOCK_STREAM:
		return true, fmt.Errorf("socket type %d, not SOCK_STREAM: %w", typ, unix.EPROTOTYPE)
	case !listening:
		return true, nil
	}
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return true, os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
	}
	if on == 0 {
		return true, fmt.Errorf("socket is not listening: %w", unix.EINVAL)
	}
	return true, nil
}

// listening reports whether fd is a listening stream socket.
func listening(fd int) bool {
	sock, err := isSocket(fd, true)
	return sock && err == nil
}

// sockAddr turns what getsockname or getpeername returned into the
// net.Addr that package net would give: *net.TCPAddr or *net.UnixAddr; nil
// for an error or another family.
func sockAddr(sa unix.Sockaddr, err error) net.Addr {
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		zone := ""
		if a.ZoneId != 0 {
			zone = strconv.FormatUint(uint64(a.ZoneId), 10)
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
