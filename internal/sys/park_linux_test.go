package sys

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parkerFixture is an epoll fd watching an eventfd, and a Parker on it.
func parkerFixture(t *testing.T) (epfd, efd int, p *Parker) {
	t.Helper()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	if err := EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, unix.EPOLLIN, 7); err != nil {
		t.Fatal(err)
	}
	p, err = NewParker(epfd)
	if err != nil {
		unix.Close(epfd)
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() }) // it owns epfd
	return epfd, efd, p
}

// waitParked waits until the goroutine whose stack holds fn is parked in
// the runtime's poller ("IO wait" in runtime.Stack; one blocked in a system
// call shows "syscall") and fails the test if it does not get there within
// a minute. It yields instead of sleeping.
func waitParked(t *testing.T, fn string) {
	const state = "IO wait"
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); runtime.Gosched() {
		n := runtime.Stack(buf, true)
		for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
			if bytes.Contains(g, []byte(fn)) && bytes.Contains(g, []byte("["+state)) {
				return
			}
		}
	}
	t.Fatalf("no goroutine in %s reached state %q", fn, state)
}

// parkedWait is the goroutine TestParkerParksInRuntimePoller looks for.
func parkedWait(p *Parker, timeout time.Duration, done chan<- int) {
	ev := make([]unix.EpollEvent, 4)
	n, err := p.Wait(ev, timeout)
	if err != nil || n != 1 || Data(&ev[0]) != 7 {
		n = -1
	}
	done <- n
}

// TestParkerParksInRuntimePoller: a wait with no limit and one with a long
// timeout leave their goroutine parked in the runtime's poller ("IO wait"),
// not in a system call, and an eventfd write wakes them with its event.
func TestParkerParksInRuntimePoller(t *testing.T) {
	for _, timeout := range []time.Duration{-1, time.Minute} {
		_, efd, p := parkerFixture(t)
		done := make(chan int)
		go parkedWait(p, timeout, done)
		waitParked(t, "sys.parkedWait")
		if err := WriteCounter(efd); err != nil {
			t.Fatal(err)
		}
		if n := <-done; n != 1 {
			t.Fatalf("timeout %v: Wait did not report the eventfd", timeout)
		}
	}
}

// TestParkerNeverEarly: timeouts below, at and above fineWait end no
// earlier than asked, sub-millisecond ones included (the runtime's poller
// would round those up to a millisecond).
func TestParkerNeverEarly(t *testing.T) {
	_, _, p := parkerFixture(t)
	ev := make([]unix.EpollEvent, 4)
	for _, d := range []time.Duration{0, 300 * time.Microsecond, fineWait, fineWait + 300*time.Microsecond, 3*fineWait + 1} {
		start := Monotonic()
		n, err := p.Wait(ev, d)
		if err != nil || n != 0 {
			t.Fatalf("Wait(%v) = %d, %v", d, n, err)
		}
		if el := Monotonic() - start; el < d {
			t.Errorf("Wait(%v) returned after %v", d, el)
		}
	}
}

// TestParkerEventDuringDeadline: an event that comes while a wait with a
// timeout is parked ends the wait at once with that event.
func TestParkerEventDuringDeadline(t *testing.T) {
	_, efd, p := parkerFixture(t)
	done := make(chan int)
	go parkedWait(p, time.Hour, done)
	waitParked(t, "sys.parkedWait")
	if err := WriteCounter(efd); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != 1 {
		t.Fatal("Wait did not report the eventfd")
	}
}

// eventpollTargets returns the fds that the epoll fds of the process watch,
// read from their fdinfo ("tfd:" lines).
func eventpollTargets(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[int]bool{}
	for _, ent := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name()))
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", ent.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" {
				n, _ := strconv.Atoi(f[1])
				targets[n] = true
			}
		}
	}
	return targets
}

// TestParkerCloseUnregisters: the runtime's epoll watches the loop's epoll
// fd while the Parker lives; Close takes it out of that epoll and closes
// it, once: a second Close does nothing (the number may be another fd's by
// then).
func TestParkerCloseUnregisters(t *testing.T) {
	epfd, _, p := parkerFixture(t)
	if !eventpollTargets(t)[epfd] {
		t.Fatalf("the runtime's poller does not watch the epoll fd %d", epfd)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if eventpollTargets(t)[epfd] {
		t.Errorf("fd %d is still watched after Close", epfd)
	}
	if _, err := unix.FcntlInt(uintptr(epfd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd %d after Close: F_GETFD gave %v, want EBADF", epfd, err)
	}
	other, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(other), unix.F_GETFD, 0); err != nil {
		t.Fatalf("the second Close closed fd %d, which took the number: %v", other, err)
	}
}

var counterBuf, one = [8]byte{}, func() (b [8]byte) { binary.NativeEndian.PutUint64(b[:], 1); return b }()

// TestParkerWaitAllocatesNothing: a wait that parks, with and without a
// deadline, allocates nothing (the loop's hot path goes through it).
func TestParkerWaitAllocatesNothing(t *testing.T) {
	_, efd, p := parkerFixture(t)
	ev := make([]unix.EpollEvent, 4)
	for _, timeout := range []time.Duration{-1, time.Minute} {
		wait := func() {
			// A goroutine writes once the waiter may be parked; the
			// ready channel and the goroutine are the test's, made
			// outside the counted function.
			if n, err := p.Wait(ev, timeout); n != 1 || err != nil {
				t.Fatalf("Wait = %d, %v", n, err)
			}
			// A buffer of the package's: under -race a local one
			// escapes.
			if _, err := unix.Read(efd, counterBuf[:]); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		kick := make(chan struct{}, 1)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-kick:
					_, _ = unix.Write(efd, one[:])
				}
			}
		}()
		counted := func() { kick <- struct{}{}; wait() }
		counted()
		if a := testing.AllocsPerRun(200, counted); a != 0 {
			t.Errorf("timeout %v: %v allocations per wait", timeout, a)
		}
		close(stop)
	}
}

// TestParkerKick: Kick ends a parked Wait, with no limit or with a long
// timeout, without a kernel event (TakeKick then reports it), and reports
// false when nobody is parked; a Kick's deadline that lands after the wait
// it ended does not end the next one early.
func TestParkerKick(t *testing.T) {
	_, efd, p := parkerFixture(t)
	if p.Kick() {
		t.Fatal("Kick with nobody parked reported true")
	}
	for _, timeout := range []time.Duration{-1, time.Hour} {
		done := make(chan int)
		go func() {
			ev := make([]unix.EpollEvent, 4)
			n, err := p.Wait(ev, timeout)
			if err != nil {
				n = -1
			}
			done <- n
		}()
		waitParked(t, "sys.TestParkerKick")
		if !p.Kick() {
			t.Fatal("Kick found nobody parked")
		}
		if n, k := <-done, p.TakeKick(); n != 0 || !k || p.TakeKick() {
			t.Fatalf("timeout %v: kicked Wait = %d, TakeKick %v then true again; want 0, true once", timeout, n, k)
		}
	}
	// A late Kick's deadline, set after the Parker cleared its own.
	p.deadline = false
	if err := p.f.SetReadDeadline(kickTime); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go parkedWait(p, -1, done)
	waitParked(t, "sys.parkedWait")
	if err := WriteCounter(efd); err != nil {
		t.Fatal(err)
	}
	if n, k := <-done, p.TakeKick(); n != 1 || k {
		t.Fatalf("after a late deadline: Wait = %d, TakeKick %v; want the eventfd", n, k)
	}
}
