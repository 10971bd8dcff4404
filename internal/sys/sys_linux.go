package sys

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Monotonic returns CLOCK_MONOTONIC, read through the vDSO as the Go runtime
// does for its own timers.
func Monotonic() time.Duration { return time.Duration(nanotime()) }

// ClockReadable reports whether clock_gettime can read clock. The three
// basic timerfd clocks always can; the _ALARM clocks cannot on a machine
// without a wake-up capable RTC, where timerfd_create still accepts them.
// sd-event checks this before adding a timer (clock_supported).
func ClockReadable(clock int) bool {
	switch clock {
	case unix.CLOCK_MONOTONIC, unix.CLOCK_REALTIME, unix.CLOCK_BOOTTIME:
		return true
	}
	var ts unix.Timespec
	return unix.ClockGettime(int32(clock), &ts) == nil
}

// Now reads clock (one of the five timerfd clocks; the _ALARM clocks read as
// their base clocks, as in sd-event).
func Now(clock int) (time.Duration, error) {
	switch clock {
	case unix.CLOCK_MONOTONIC:
		return Monotonic(), nil
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_ALARM:
		return time.Duration(time.Now().UnixNano()), nil
	case unix.CLOCK_BOOTTIME, unix.CLOCK_BOOTTIME_ALARM:
		var ts unix.Timespec
		_, _, e := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_BOOTTIME, uintptr(unsafe.Pointer(&ts)), 0)
		if e != 0 {
			return 0, os.NewSyscallError("clock_gettime", e)
		}
		return time.Duration(ts.Nano()), nil
	}
	return 0, unix.EOPNOTSUPP
}

var noPwait2 atomic.Bool

// EpollWait waits on epfd for at most timeout (negative: forever). Unlike
// epoll_wait(2) it never returns early: an EINTR (the Go runtime preempts
// goroutines with signals) is retried with the time that is left. A zero
// timeout polls without handing the thread to the scheduler. It uses
// epoll_pwait2 (Linux 5.11) for nanosecond timeouts and falls back to
// epoll_pwait with the timeout rounded up to whole milliseconds.
// A wait that may block is a blocking system call even when something is
// ready; Lookahead.Wait looks first when that pays.
func EpollWait(epfd int, events []unix.EpollEvent, timeout time.Duration) (int, error) {
	if len(events) == 0 {
		return 0, unix.EINVAL
	}
	if timeout == 0 {
		for {
			n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
				uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				return 0, os.NewSyscallError("epoll_pwait", e)
			}
			return int(n), nil
		}
	}
	var deadline time.Duration
	if timeout > 0 {
		deadline = Monotonic() + timeout
	}
	for {
		n, err := epollWaitOnce(epfd, events, timeout)
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
		if timeout > 0 {
			if timeout = deadline - Monotonic(); timeout <= 0 {
				return 0, nil
			}
		}
	}
}

// Lookahead guesses, for the waits of one loop, whether a wait that may
// block will find something ready at once, and if so looks without
// blocking first: a raw system call, without the runtime's entry into and
// exit from a blocking one (entersyscall, exitsyscall). A busy loop finds
// something nearly every time; a loop that blocks in every iteration (a
// daemon between requests, one end of a request and its response) would
// pay a whole empty epoll_pwait per wait for the look, more than the
// runtime's part of a blocking call costs. So after lookMisses empty looks
// in a row a Lookahead stops looking, except in one wait of every
// lookAgain, and one look that finds something makes it look every time
// again. The zero value looks.
type Lookahead struct {
	misses uint32 // empty looks (and skipped ones, after lookMisses) in a row
}

const (
	lookMisses = 2  // empty looks in a row after which waits stop looking
	lookAgain  = 16 // then one wait in this many looks again
)

// Look looks at epfd without blocking when the guess says it pays, and
// reports whether it did and found something (or failed): then n and err
// are the wait's result.
func (l *Lookahead) Look(epfd int, events []unix.EpollEvent) (n int, done bool, err error) {
	if l.misses >= lookMisses {
		if l.misses++; l.misses < lookMisses+lookAgain {
			return 0, false, nil
		}
		l.misses = lookMisses - 1 // look this once: if it finds nothing, skip again
	}
	if n, err = EpollWait(epfd, events, 0); n > 0 || err != nil {
		l.misses = 0
		return n, true, err
	}
	l.misses++
	return 0, false, nil
}

// Wait is EpollWait with a look first when the guess says it pays.
func (l *Lookahead) Wait(epfd int, events []unix.EpollEvent, timeout time.Duration) (int, error) {
	if timeout != 0 {
		if n, done, err := l.Look(epfd, events); done {
			return n, err
		}
	}
	return EpollWait(epfd, events, timeout)
}

func epollWaitOnce(epfd int, events []unix.EpollEvent, timeout time.Duration) (int, error) {
	if !noPwait2.Load() {
		var tsp *unix.Timespec
		if timeout >= 0 {
			ts := unix.NsecToTimespec(int64(timeout))
			tsp = &ts
		}
		n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)),
			uintptr(unsafe.Pointer(tsp)), 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.ENOSYS, unix.EPERM:
			noPwait2.Store(true)
		default:
			return 0, os.NewSyscallError("epoll_pwait2", e)
		}
	}
	msec := -1
	if timeout >= 0 {
		ms := (timeout + time.Millisecond - 1) / time.Millisecond
		msec = int(min(ms, 1<<31-1))
	}
	n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("epoll_pwait", e)
	}
	return int(n), nil
}

// EpollCtl wraps epoll_ctl(2), passing data as the event's 64-bit user data.
func EpollCtl(epfd, op, fd int, events uint32, data uint64) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(uint32(data)), Pad: int32(uint32(data >> 32))}
	return unix.EpollCtl(epfd, op, fd, &ev)
}

// Data returns the 64-bit user data of an epoll event.
func Data(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// SetTimer arms the timerfd fd at the absolute time t of its clock; t <= 0
// arms it for the earliest possible moment (1 ns), never disarming it.
func SetTimer(fd int, t time.Duration) error {
	if t <= 0 {
		t = 1
	}
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(t))}
	return os.NewSyscallError("timerfd_settime", unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &its, nil))
}

// DisarmTimer disarms the timerfd fd.
func DisarmTimer(fd int) error {
	var its unix.ItimerSpec
	return os.NewSyscallError("timerfd_settime", unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &its, nil))
}

// ReadCounter drains an eventfd or timerfd; EAGAIN is no error. It calls
// read(2) itself: through unix.Read the buffer escapes to the heap in a
// -race build, an allocation per timer wake-up.
func ReadCounter(fd int) error {
	var buf [8]byte
	_, _, e := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e == 0 || e == unix.EAGAIN || e == unix.EINTR {
		return nil
	}
	return os.NewSyscallError("read", e)
}

// WriteCounter adds one to an eventfd. EAGAIN (the counter is saturated, so
// the fd is readable anyway) is no error.
func WriteCounter(fd int) error {
	buf := [8]byte{1}
	if one := uint64(1); *(*byte)(unsafe.Pointer(&one)) == 0 { // big endian
		buf = [8]byte{7: 1}
	}
	_, err := unix.Write(fd, buf[:])
	if err == unix.EAGAIN {
		return nil
	}
	return os.NewSyscallError("write", err)
}

// FdFlags returns fd's descriptor flags (fcntl F_GETFD): EBADF when fd is
// not open.
func FdFlags(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0) }

// SetCloexec sets FD_CLOEXEC on fd (fcntl F_SETFD).
func SetCloexec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	return err
}
