//go:build linux

package sdevent

import (
	"fmt"
	"os"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// Notify sends state ("READY=1", "STATUS=...", several lines allowed) to the
// service manager over $NOTIFY_SOCKET (sd_notify). It reports false, and no
// error, when $NOTIFY_SOCKET is not set (the process was not started by a
// manager that listens); a socket that is set but cannot be reached is an
// error.
func Notify(state string) (bool, error) {
	ok, err := daemon.SdNotify(false, state)
	if err != nil {
		return false, opErr("notify", err)
	}
	return ok, nil
}

// NotifyReady tells the service manager that start-up is finished
// (READY=1): for Type=notify units.
func NotifyReady() (bool, error) { return Notify(daemon.SdNotifyReady) }

// NotifyStopping tells the service manager that the service is stopping
// (STOPPING=1).
func NotifyStopping() (bool, error) { return Notify(daemon.SdNotifyStopping) }

// NotifyStatus sets the status line `systemctl status` shows (STATUS=...).
func NotifyStatus(status string) (bool, error) { return Notify("STATUS=" + status) }

// AddListenFds turns the sockets the service manager passed by socket
// activation ($LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES, read through
// go-systemd's activation package) into IO sources watching events with
// h, one per socket, in the order passed (fd 3 first). Each source owns a
// duplicate of its socket (closed when the source is freed), made
// non-blocking, and is described by the socket's name. The environment
// variables are unset and the originals closed, so children do not inherit
// them. No sockets passed: no sources, no error.
func (e *Event) AddListenFds(events uint32, h IOHandler) ([]*Source, error) {
	const op = "add listen fds"
	if err := e.addable(op); err != nil {
		return nil, err
	}
	files := activation.Files(true)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var sources []*Source
	fail := func(err error) ([]*Source, error) {
		for _, s := range sources {
			s.Unref()
		}
		return nil, opErr(op, err)
	}
	for _, f := range files {
		fd, err := dupNonblock(f)
		if err != nil {
			return fail(err)
		}
		s, err := e.AddIO(fd, events, h)
		if err != nil {
			sys.Close(fd)
			return fail(err)
		}
		s.SetIOFdOwn(true)
		s.SetDescription(f.Name())
		sources = append(sources, s)
	}
	return sources, nil
}

// dupNonblock duplicates f's fd without making it blocking (as f.Fd would)
// and sets O_NONBLOCK on it.
func dupNonblock(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(raw uintptr) {
		fd, derr = sys.DupCloexec(int(raw))
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup listen fd %s: %w", f.Name(), derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		sys.Close(fd)
		return -1, fmt.Errorf("set fd %s non-blocking: %w", strconv.Itoa(fd), err)
	}
	return fd, nil
}
