//go:build linux

package testutil

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BlockFor blocks the calling goroutine's thread for d in a read of a
// timerfd armed for d: the time a handler takes is then what the kernel
// measured, not a sleep's guess, and the time is at least d.
func BlockFor(tb testing.TB, d time.Duration) {
	tb.Helper()
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		tb.Fatalf("timerfd_create: %v", err)
	}
	defer func() { _ = unix.Close(fd) }()
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		tb.Fatalf("timerfd_settime: %v", err)
	}
	var buf [8]byte
	for {
		_, err := unix.Read(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			tb.Fatalf("read timerfd: %v", err)
		}
		return
	}
}
