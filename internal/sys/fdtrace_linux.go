package sys

// Every descriptor the loop opens goes through the wrappers below, and every
// descriptor it closes through Close, so that a test harness can say where a
// leaked descriptor was opened (as cilium/ebpf's test main does). Tracing is
// off unless a test turns it on with TraceFds; off, a wrapper costs one
// atomic load more than the system call.

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var fdTracing atomic.Bool

var fdTrace struct {
	sync.Mutex
	open map[int]fdOrigin
}

// fdOrigin is where a traced descriptor was opened and what it referred to
// then, so that a record is never shown for another object that got the
// same number.
type fdOrigin struct {
	target string
	pcs    []uintptr
}

// TraceFds turns recording of where descriptors are opened on or off.
// Turning it off forgets all records.
func TraceFds(on bool) {
	fdTrace.Lock()
	defer fdTrace.Unlock()
	fdTracing.Store(on)
	if on && fdTrace.open == nil {
		fdTrace.open = map[int]fdOrigin{}
	}
	if !on {
		fdTrace.open = nil
	}
}

// Opened records that the loop now owns fd, which it got from elsewhere (a
// pidfd from clone, say), and returns fd. The wrappers below call it.
func Opened(fd int) int {
	if fdTracing.Load() && fd >= 0 {
		record(fd, 3)
	}
	return fd
}

func opened(fd int, err error) (int, error) {
	if err == nil && fdTracing.Load() {
		record(fd, 4)
	}
	return fd, err
}

func record(fd, skip int) {
	pcs := make([]uintptr, 32)
	pcs = pcs[:runtime.Callers(skip, pcs)]
	target, _ := readlinkFd(fd)
	fdTrace.Lock()
	defer fdTrace.Unlock()
	if fdTrace.open != nil {
		fdTrace.open[fd] = fdOrigin{target: target, pcs: pcs}
	}
}

func readlinkFd(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// OpenedAt returns the stack that opened fd, when fd was traced and its
// /proc/self/fd link still reads target. A record for another object (a
// descriptor closed behind the loop's back, its number reused) is dropped.
func OpenedAt(fd int, target string) (stack string, ok bool) {
	fdTrace.Lock()
	o, ok := fdTrace.open[fd]
	if ok && o.target != target {
		delete(fdTrace.open, fd)
		ok = false
	}
	fdTrace.Unlock()
	if !ok {
		return "", false
	}
	var b strings.Builder
	frames := runtime.CallersFrames(o.pcs)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			b.WriteString(f.Function + "()\n\t" + f.File + ":" + strconv.Itoa(f.Line) + "\n")
		}
		if !more {
			break
		}
	}
	return b.String(), true
}

// ForgetClosed drops the records of descriptors that open (number to
// /proc/self/fd link) no longer lists as they were: closed behind the
// loop's back, or their number reused by something untraced.
func ForgetClosed(open map[int]string) {
	fdTrace.Lock()
	defer fdTrace.Unlock()
	for fd, o := range fdTrace.open {
		if target, ok := open[fd]; !ok || target != o.target {
			delete(fdTrace.open, fd)
		}
	}
}

func forget(fd int) {
	fdTrace.Lock()
	delete(fdTrace.open, fd)
	fdTrace.Unlock()
}

// Close closes fd and forgets where it was opened. Errors are the caller's
// to ignore: after close(2) the number is free whatever it returned.
func Close(fd int) error {
	if fdTracing.Load() {
		forget(fd)
	}
	return unix.Close(fd)
}

// EpollCreate1 wraps epoll_create1(2).
func EpollCreate1(flags int) (int, error) { return opened(unix.EpollCreate1(flags)) }

// Eventfd wraps eventfd2(2).
func Eventfd(initval uint, flags int) (int, error) { return opened(unix.Eventfd(initval, flags)) }

// TimerfdCreate wraps timerfd_create(2).
func TimerfdCreate(clock, flags int) (int, error) { return opened(unix.TimerfdCreate(clock, flags)) }

// InotifyInit1 wraps inotify_init1(2).
func InotifyInit1(flags int) (int, error) { return opened(unix.InotifyInit1(flags)) }

// PidfdOpen wraps pidfd_open(2).
func PidfdOpen(pid, flags int) (int, error) { return opened(unix.PidfdOpen(pid, flags)) }

// Open wraps open(2).
func Open(path string, flags int, mode uint32) (int, error) {
	return opened(unix.Open(path, flags, mode))
}

// Socket wraps socket(2).
func Socket(domain, typ, proto int) (int, error) { return opened(unix.Socket(domain, typ, proto)) }

// DupCloexec duplicates fd with fcntl(F_DUPFD_CLOEXEC) onto the lowest free
// number >= 3, so that the copy never takes the place of stdin, stdout or
// stderr.
func DupCloexec(fd int) (int, error) {
	return opened(unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3))
}
