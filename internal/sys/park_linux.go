package sys

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Parker blocks a goroutine on an epoll fd the way the Go runtime blocks
// goroutines on sockets: the goroutine parks in the runtime's poller and its
// OS thread and P go on to run other goroutines. A goroutine blocked in
// epoll_pwait2 instead keeps its thread in the kernel and its P until
// sysmon takes the P away (after 20 µs to 10 ms); with one P (GOMAXPROCS=1)
// every goroutine the loop waits for (os/signal's, an Invoke caller) and
// the woken loop itself wait for that hand-off, and each costs a thread
// wake-up.
//
// The runtime's poller watches the epoll fd edge-triggered: an epoll fd
// becomes readable for its watchers each time an fd it watches reports a
// new event, so a wake-up that comes between the zero-timeout look and the
// park is kept by the runtime until the park.
//
// The Parker owns the epoll fd from NewParker on: the runtime must take it
// out of its poller before it is closed (a registration lives as long as
// the open file, whatever its number becomes), so Close, and only Close,
// closes it. A duplicate would leave the fd alone but cost the loop a
// descriptor.
type Parker struct {
	f        *os.File
	fd       int
	rc       syscall.RawConn       // nil: the runtime's poller did not take fd
	read     func(fd uintptr) bool // the RawConn callback, made once: no allocation per wait
	events   []unix.EpollEvent     // the buffer of the wait in progress
	n        int
	err      error
	deadline bool // a read deadline is set on f (a Kick sets one too)
	look     Lookahead

	parked atomic.Bool // a goroutine is in Wait's park, and no Kick took it yet
	kicked bool        // a Kick ended the latest Wait (TakeKick)
}

// kickTime is the read deadline Kick sets: any time in the past expires the
// park at once.
var kickTime = time.Unix(1, 0)

// fineWait is the longest timeout that Wait waits for in the kernel rather
// than in the runtime's poller, and how much of a longer one it leaves to
// the kernel at the end: the runtime's poller sleeps whole milliseconds (a
// shorter wait becomes 1 ms) and its timers may fire late, where
// epoll_pwait2 ends a wait within the timer slack of its nanosecond
// timeout. The loop's own timers are timerfds that the epoll fd watches, so
// this matters only to Run and Wait given a finite timeout.
const fineWait = 2 * time.Millisecond

// NewParker takes epfd over for Wait. It sets O_NONBLOCK on it (epoll_wait
// ignores the flag; the runtime's poller takes only non-blocking fds) and
// hands it to the runtime's poller. On error epfd stays the caller's. If
// the poller does not take it, the Parker still owns epfd and Wait waits
// in the kernel.
func NewParker(epfd int) (*Parker, error) {
	if err := unix.SetNonblock(epfd, true); err != nil {
		return nil, os.NewSyscallError("fcntl F_SETFL", err)
	}
	p := &Parker{f: os.NewFile(uintptr(epfd), "epoll"), fd: epfd}
	// SetReadDeadline fails when the runtime's poller did not take the fd.
	if p.f.SetReadDeadline(time.Time{}) == nil {
		if rc, err := p.f.SyscallConn(); err == nil {
			p.rc = rc
		}
	}
	p.read = p.tryRead
	return p, nil
}

// Close takes the epoll fd out of the runtime's poller and closes it; a
// second Close does nothing.
func (p *Parker) Close() error {
	if p == nil || p.f == nil {
		return nil
	}
	if fdTracing.Load() {
		forget(p.fd)
	}
	err := p.f.Close()
	p.f, p.rc, p.fd = nil, nil, -1
	return err
}

// tryRead is the RawConn callback: one look at the epoll fd without
// blocking. It reports false, so that the runtime parks the goroutine, when
// nothing is ready.
func (p *Parker) tryRead(fd uintptr) bool {
	p.n, p.err = EpollWait(int(fd), p.events, 0)
	return p.n > 0 || p.err != nil
}

// Wait is EpollWait that parks the goroutine in the runtime's poller while
// it must block. It never returns early: a timeout it waits in the runtime
// ends in the kernel, for the last fineWait of it, and timeouts of at most
// fineWait are waited for in the kernel alone. Besides an event or the
// timeout, a Kick ends the wait; then it may return no event, and Kicked
// reports true.
func (p *Parker) Wait(events []unix.EpollEvent, timeout time.Duration) (int, error) {
	epfd := p.fd
	p.kicked = false
	if p.rc == nil || timeout == 0 || (timeout > 0 && timeout <= fineWait) {
		return p.look.Wait(epfd, events, timeout)
	}
	// Look first, always: a parked wait is woken by the runtime's poller
	// and looks again (tryRead), the set-up of a park costs more than an
	// empty look, and with one CPU the peer of a request has often
	// answered by now.
	if n, err := EpollWait(epfd, events, 0); n > 0 || err != nil {
		return n, err
	}
	var end time.Duration
	if timeout > 0 {
		end = Monotonic() + timeout
	}
	p.events = events
	defer func() { p.events = nil }()
	for {
		if err := p.setDeadline(end); err != nil {
			return waitRest(epfd, events, end)
		}
		p.parked.Store(true)
		err := p.rc.Read(p.read)
		if !p.parked.CompareAndSwap(true, false) {
			// A Kick took the park; its deadline is set now or soon.
			p.kicked, p.deadline = true, true
			if err == nil {
				return p.n, p.err
			}
			return 0, nil
		}
		switch {
		case err == nil:
			return p.n, p.err
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return waitRest(epfd, events, end)
		case timeout > 0 && end-Monotonic() <= fineWait:
			// The runtime's part of the wait is over; the kernel waits
			// out the rest to the nanosecond.
			return waitRest(epfd, events, end)
		}
		// The deadline of a Kick that took an earlier park: park again.
		p.deadline = true
	}
}

// waitRest waits in the kernel for what is left of a wait that ends at end
// (0: no end), when the runtime's poller cannot, or need not, wait longer.
func waitRest(epfd int, events []unix.EpollEvent, end time.Duration) (int, error) {
	if end == 0 {
		return EpollWait(epfd, events, -1)
	}
	return EpollWait(epfd, events, max(end-Monotonic(), 0))
}

// setDeadline sets f's read deadline for a wait that ends at end (0: no
// end), fineWait before it, or clears it; it leaves f alone when nothing
// changes.
func (p *Parker) setDeadline(end time.Duration) error {
	if end == 0 {
		if !p.deadline {
			return nil
		}
		p.deadline = false
		return p.f.SetReadDeadline(time.Time{})
	}
	p.deadline = true
	// time.Now carries the monotonic reading the runtime's timer uses.
	return p.f.SetReadDeadline(time.Now().Add(end - fineWait - Monotonic()))
}

// Kick wakes the goroutine parked in Wait, if there is one, without a
// kernel event, and reports whether it did: the runtime readies that
// goroutine on the caller's P, where an eventfd write would wake the
// thread that waits in the runtime's poller as well. When it reports
// false, no Wait is parked (the goroutine runs, or waits in the kernel)
// and the caller wakes it through an fd the epoll fd watches instead. It
// may be called from any goroutine while the Parker is open.
func (p *Parker) Kick() bool {
	if !p.parked.CompareAndSwap(true, false) {
		return false
	}
	_ = p.f.SetReadDeadline(kickTime)
	return true
}

// TakeKick reports whether a Kick ended the latest Wait, once.
func (p *Parker) TakeKick() bool {
	k := p.kicked
	p.kicked = false
	return k
}
