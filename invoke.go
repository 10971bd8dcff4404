//go:build linux

package sdevent

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// Invoke is the loop's one goroutine-safe door: a queue of functions under
// e.inv.mu and an eventfd, watched by a private IO source, that wakes the
// loop when the queue stops being empty.

// Invoke runs fn on the loop's goroutine, inside a dispatch of its own
// (state Running, like any handler); it is the only method that may be
// called from any goroutine. Functions run in the order they were invoked,
// one per iteration, at priority Normal. After Exit was called they no
// longer run; once the loop has finished Invoke returns ESTALE.
func (e *Event) Invoke(fn func()) error {
	if !e.valid() || fn == nil {
		return opErr("invoke", unix.EINVAL)
	}
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	if e.inv.closed {
		return opErr("invoke", unix.ESTALE)
	}
	e.inv.queue = append(e.inv.queue, fn)
	if len(e.inv.queue) == 1 {
		return opErr("invoke", sys.WriteCounter(e.inv.fd))
	}
	return nil
}

// invokeQueued reports whether functions wait to be invoked.
func (e *Event) invokeQueued() bool {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	return len(e.inv.queue) > 0
}

// invokeReady is the invoke eventfd's readiness: a bare wake-up only ends
// the poll, else the private source is pending like any IO source.
func (e *Event) invokeReady(s *Source, events uint32) error {
	if wakeOnly, err := e.drainBareWake(); wakeOnly {
		return err // a wake-up only: nothing to run
	}
	e.ioReady(s, events)
	return nil
}

// drainBareWake is called when the invoke eventfd is readable. If no
// function waits, the readiness was a bare wake-up (LoopContext's, or one
// whose function already ran): it drains the eventfd and reports true. The
// look at the queue and the drain happen under the lock that Invoke holds
// while it queues and writes, so an Invoke can come only before both (then
// its function is seen here) or after both (then its write makes the
// eventfd readable again): its wake-up is never drained unseen.
func (e *Event) drainBareWake() (bool, error) {
	e.inv.mu.Lock()
	wakeOnly := len(e.inv.queue) == 0
	var err error
	if wakeOnly {
		err = sys.ReadCounter(e.inv.fd)
	}
	e.inv.mu.Unlock()
	if wakeOnly && testHookBareWakeDrained != nil {
		testHookBareWakeDrained()
	}
	return wakeOnly, err
}

// testHookBareWakeDrained, when set by a test, runs right after the loop
// found no function queued and drained a bare wake-up, where an Invoke
// racing with the loop may land.
var testHookBareWakeDrained func()

// wake makes a blocked Wait return, from any goroutine.
func (e *Event) wake() {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	if !e.inv.closed {
		// It fails only on a closed fd, which closed rules out; a saturated
		// counter (EAGAIN) is readable, so the wake-up is there anyway.
		_ = sys.WriteCounter(e.inv.fd)
	}
}

// setupInvoke creates the eventfd behind Invoke and the loop's private,
// level-triggered IO source on it, which never counts as a user's source.
func (e *Event) setupInvoke() error {
	fd, err := sys.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("create eventfd: %w", err)
	}
	e.inv.fd = fd
	s := e.initSource(&Source{kindByte: uint8(source.IO), internal: true, floating: true})
	s.io.fd, s.io.events = int32(fd), unix.EPOLLIN
	s.handler = IOHandler(e.runInvoke) // of its named type, which call asserts
	e.setEnabledField(s, source.On)    // internal: it never keeps the loop alive
	s.description = "invoke"
	if err := e.ioRegister(s, source.On, s.io.events); err != nil {
		_ = sys.Close(fd)
		e.inv.fd = -1
		return err
	}
	e.inv.src = s
	return nil
}

// closeInvoke refuses further Invokes, drops the queued functions and
// closes the eventfd.
func (e *Event) closeInvoke() {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	e.inv.closed = true
	e.inv.queue = nil
	if src := e.inv.src; src != nil {
		e.ioUnregister(src)
		e.inv.src = nil
	}
	if e.inv.fd >= 0 {
		_ = sys.Close(e.inv.fd)
		e.inv.fd = -1
	}
}

// runInvoke is the private source's handler: it runs the first queued
// function and drains the eventfd once the queue is empty.
func (e *Event) runInvoke(_ *Source, fd int, _ uint32) error {
	e.inv.mu.Lock()
	var fn func()
	if q := e.inv.queue; len(q) > 0 {
		fn = q[0]
		q[0] = nil
		e.inv.queue = q[1:]
	}
	if len(e.inv.queue) == 0 {
		e.inv.queue = e.inv.queue[:0:0]
		// A drain: if it fails the fd stays readable and the loop comes
		// back here, which is harmless.
		_ = sys.ReadCounter(fd)
	}
	e.inv.mu.Unlock()
	if fn != nil {
		fn()
	}
	return nil
}
