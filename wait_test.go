//go:build linux

package sdevent_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// goroutineIn waits until a goroutine whose stack holds fn is in state (as
// runtime.Stack writes it: "IO wait", "syscall"), yielding between looks,
// and fails the test if none gets there within long.
func goroutineIn(t *testing.T, fn, state string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(long); time.Now().Before(end); runtime.Gosched() {
		n := runtime.Stack(buf, true)
		for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
			if bytes.Contains(g, []byte(fn)) && bytes.Contains(g, []byte("["+state)) {
				return
			}
		}
	}
	t.Fatalf("no goroutine in %s reached state %q within %v", fn, state, long)
}

// blockedLoop runs e until it exits and sends Loop's result; the tests
// find it by name in the goroutine dump.
func blockedLoop(e *sdevent.Event, lockThread bool, done chan<- error) {
	if lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	_, err := e.Loop()
	done <- err
}

// TestBlockedLoopLeavesItsThread: with one P (GOMAXPROCS=1) a loop with
// nothing to do parks its goroutine in the Go runtime's poller ("IO
// wait"), where it leaves its OS thread and the P to other goroutines,
// rather than holding them in a system call: the goroutine that wakes it
// then needs no hand-off from sysmon. Invoke wakes it. Also with the loop's
// goroutine locked to its thread, and with several loops blocked at once.
// With two Ps it waits in the kernel ("syscall"), which costs less there.
//
// From SEMANTICS.md, "The loop": Threads.
func TestBlockedLoopLeavesItsThread(t *testing.T) {
	testutil.Check(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name   string
		loops  int
		locked bool
		procs  int
		state  string
	}{
		{"one", 1, false, 1, "IO wait"},
		{"locked", 1, true, 1, "IO wait"},
		{"several", 4, false, 1, "IO wait"},
		{"two-Ps", 1, false, 2, "syscall"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(tc.procs)
			done := make(chan error, tc.loops)
			loops := make([]*sdevent.Event, tc.loops)
			for i := range loops {
				loops[i] = newLoop(t)
				go blockedLoop(loops[i], tc.locked, done)
			}
			goroutineIn(t, "sdevent_test.blockedLoop", tc.state)
			for _, e := range loops {
				ok(t, "invoke", e.Invoke(func() { ok(t, "exit", e.Exit(0)) }))
			}
			for range loops {
				ok(t, "loop", <-done)
			}
		})
	}
}

// TestParkedWaitTimeoutNeverEarly: with one P, Run with a timeout that the
// loop waits in the runtime's poller (over 2 ms) or in the kernel (below; a
// sub-millisecond one the runtime would round up) returns no earlier, and
// an IO event during a long one ends it at once.
//
// From SEMANTICS.md, "The loop": Wait.
func TestParkedWaitTimeoutNeverEarly(t *testing.T) {
	e := newLoop(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, d := range []time.Duration{300 * time.Microsecond, 2 * time.Millisecond, 2300 * time.Microsecond, 10*time.Millisecond + 1} {
		start := time.Now()
		if run(t, e, d) {
			t.Fatalf("Run(%v) dispatched with nothing ready", d)
		}
		if el := time.Since(start); el < d {
			t.Errorf("Run(%v) returned after %v", d, el)
		}
	}
	r, w := testutil.Pipe(t)
	got := false
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { got = true; return nil }))
	go func() { writeByte(t, w) }()
	if !run(t, e, time.Hour) || !got {
		t.Fatal("a byte written during Run(time.Hour) was not dispatched")
	}
}

// TestEmbeddingAfterParkedWait: once the loop has parked in the runtime's
// poller (one P), its Fd still drives it from outside (Prepare, poll Fd, Wait(0),
// Dispatch), and Fd is the same epoll fd it was.
//
// From SEMANTICS.md, "The loop": Wait.
func TestEmbeddingAfterParkedWait(t *testing.T) {
	e := newLoop(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	fd := e.Fd()
	n := 0
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 5*time.Millisecond, 0, func(*sdevent.Source, time.Duration) error {
		n++
		return nil
	}))
	if !run(t, e, sdevent.Infinity) || n != 1 {
		t.Fatal("the timer did not fire in Run")
	}
	if e.Fd() != fd {
		t.Fatalf("Fd changed from %d to %d", fd, e.Fd())
	}
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 5*time.Millisecond, 0, func(*sdevent.Source, time.Duration) error {
		n++
		return nil
	}))
	p, err := e.Prepare()
	ok(t, "prepare", err)
	if !p {
		pollReadable(t, fd)
		p, err = e.Wait(0)
		ok(t, "wait", err)
	}
	if !p {
		t.Fatal("Wait(0) found nothing after Fd became readable")
	}
	if _, err := e.Dispatch(); err != nil || n != 2 {
		t.Fatalf("Dispatch = %v with %d timers fired, want 2", err, n)
	}
}

// TestSignalWakesParkedLoop: with one P, a signal that arrives while the
// loop is parked in the runtime's poller is dispatched: the signal hub
// readies the parked goroutine directly (no eventfd is written then), and
// the loop takes the signal from the hub's mask. With two Ps the loop
// waits in the kernel and the hub's eventfd wakes it.
//
// From SEMANTICS.md, "Kinds": Signal.
func TestSignalWakesParkedLoop(t *testing.T) {
	testutil.Check(t)
	for procs, state := range map[int]string{1: "IO wait", 2: "syscall"} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			e := newLoop(t)
			const rounds = 3
			seen := make(chan struct{}, rounds)
			got := 0
			keep(t)(e.AddSignal(unix.SIGUSR2, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
				seen <- struct{}{}
				if got++; got == rounds {
					return e.Exit(0)
				}
				return nil
			}))
			done := make(chan error, 1)
			go blockedLoop(e, false, done)
			for i := range rounds {
				goroutineIn(t, "sdevent_test.blockedLoop", state)
				ok(t, "kill", unix.Kill(unix.Getpid(), unix.SIGUSR2))
				// Deliveries of one signal coalesce: send the next
				// once this one was dispatched.
				select {
				case <-seen:
				case <-time.After(long):
					t.Fatalf("signal %d was not dispatched within %v", i+1, long)
				}
			}
			ok(t, "loop", <-done)
		})
	}
}

// TestBusyLoopYields: a loop that always has something to dispatch never
// blocks, so the Go scheduler would see a goroutine running for 10 ms and
// more, and preempt it (with one P, sysmon would take the P away at its
// next system call). Run yields at least every 2 ms, so with one P a
// goroutine made runnable before a busy run gets to run within 8 ms of it,
// before sysmon's preemption (10 ms after it first sees the goroutine
// running, at least).
func TestBusyLoopYields(t *testing.T) {
	testutil.Check(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newLoop(t)
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "on", s.SetEnabled(source.On))
	start := time.Now()
	otherGoroutineRuns(t, "busy iterations", func(int) bool {
		if d, err := e.Run(0); err != nil || !d {
			t.Fatalf("Run(0) = %v, %v", d, err)
		}
		return time.Since(start) < 8*time.Millisecond
	})
}

// otherGoroutineRuns starts a goroutine and calls iterate, with the number of
// calls so far, until the goroutine ran or iterate says stop; it fails t
// when the goroutine did not run.
func otherGoroutineRuns(t *testing.T, what string, iterate func(n int) bool) {
	t.Helper()
	var ran atomic.Bool
	done := make(chan struct{})
	go func() {
		ran.Store(true)
		close(done)
	}()
	start := time.Now()
	n := 0
	for !ran.Load() && iterate(n) {
		n++
	}
	if !ran.Load() {
		t.Fatalf("a runnable goroutine did not run during %d %s (%v) with one P", n, what, time.Since(start))
	}
	<-done
}

// TestSlowIterationsYield: a loop whose iterations each take a millisecond
// (a handler that splices megabytes, say) reads the clock, once it has
// noticed, often enough to yield every yieldAfter, well before sysmon's
// 10 ms preemption: with one P a runnable goroutine runs within four
// iterations.
func TestSlowIterationsYield(t *testing.T) {
	testutil.Check(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newLoop(t)
	slow := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		// Work, not a wait: the handler holds the P for a millisecond.
		spins := 0
		for start := time.Now(); time.Since(start) < time.Millisecond; {
			spins++
		}
		if spins == 0 {
			return errors.New("the clock stood still")
		}
		return nil
	}))
	fast := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	run := func(n int) {
		t.Helper()
		for range n {
			if d, err := e.Run(0); err != nil || !d {
				t.Fatalf("Run(0) = %v, %v", d, err)
			}
		}
	}
	// Short iterations first, so that the loop reads the clock seldom,
	// then long ones, as many as the longest step between two reads.
	ok(t, "slow off", slow.SetEnabled(source.Off))
	ok(t, "fast on", fast.SetEnabled(source.On))
	run(1000)
	ok(t, "fast off", fast.SetEnabled(source.Off))
	ok(t, "slow on", slow.SetEnabled(source.On))
	run(32)
	// yieldAfter is 2 ms: the third iteration yields at the latest.
	// Without the yields sysmon would preempt the loop after 10.
	otherGoroutineRuns(t, "iterations of 1 ms", func(n int) bool {
		if n == 4 {
			return false
		}
		run(1)
		return true
	})
}
