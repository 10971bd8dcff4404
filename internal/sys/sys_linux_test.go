package sys

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMonotonicIsClockMonotonic(t *testing.T) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	before := time.Duration(ts.Nano())
	got := Monotonic()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	after := time.Duration(ts.Nano())
	if got < before || got > after {
		t.Fatalf("Monotonic() = %v, not within [%v, %v]", got, before, after)
	}
}

func TestNowClocks(t *testing.T) {
	for _, c := range []int{unix.CLOCK_MONOTONIC, unix.CLOCK_REALTIME, unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM} {
		if v, err := Now(c); err != nil || v <= 0 {
			t.Errorf("Now(%d) = %v, %v", c, v, err)
		}
	}
	if _, err := Now(unix.CLOCK_PROCESS_CPUTIME_ID); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("Now(CPUTIME) err = %v, want EOPNOTSUPP", err)
	}
}

// TestEpollWaitNeverEarly: the wait honours a sub-millisecond timeout and
// does not return before it, even though the runtime interrupts threads.
func TestEpollWaitNeverEarly(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	ev := make([]unix.EpollEvent, 4)
	for _, d := range []time.Duration{0, 300 * time.Microsecond, 2 * time.Millisecond} {
		start := Monotonic()
		n, err := EpollWait(epfd, ev, d)
		if err != nil || n != 0 {
			t.Fatalf("EpollWait(%v) = %d, %v", d, n, err)
		}
		if el := Monotonic() - start; el < d {
			t.Errorf("EpollWait(%v) returned after %v", d, el)
		}
	}
}

func TestEventfdCounterAndData(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	const data = uint64(0xfedcba98_01234567)
	if err := EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, data); err != nil {
		t.Fatal(err)
	}
	if err := WriteCounter(fd); err != nil {
		t.Fatal(err)
	}
	ev := make([]unix.EpollEvent, 1)
	n, err := EpollWait(epfd, ev, -1)
	if err != nil || n != 1 || Data(&ev[0]) != data {
		t.Fatalf("got n=%d err=%v data=%#x", n, err, Data(&ev[0]))
	}
	var buf [8]byte
	if _, err := unix.Read(fd, buf[:]); err != nil {
		t.Fatal(err)
	}
	if buf != [8]byte{1} && buf != [8]byte{7: 1} {
		t.Fatalf("counter bytes %v, want the value 1", buf)
	}
	if err := ReadCounter(fd); err != nil {
		t.Fatalf("draining an empty eventfd: %v", err)
	}
}

func TestPerturbWithinMinute(t *testing.T) {
	p := Perturb()
	if p < 0 || p >= time.Minute || p%time.Microsecond != 0 {
		t.Fatalf("Perturb() = %v", p)
	}
	if _, ok := readID128("/proc/sys/kernel/random/boot_id"); !ok {
		t.Fatal("boot id not readable")
	}
}

// TestLookaheadStopsLookingWhenWaitsBlock: a loop whose waits find nothing
// ready stops looking before it blocks, looks again in one wait of
// lookAgain, and looks every time again once a look found something.
// Observed through an eventfd left readable while looks are skipped: a
// skipped look reports nothing, a look reports the eventfd.
func TestLookaheadStopsLookingWhenWaitsBlock(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, unix.EPOLLIN, 7); err != nil {
		t.Fatal(err)
	}
	ev := make([]unix.EpollEvent, 4)
	var l Lookahead
	// Nothing ready: the first lookMisses waits look and find nothing.
	for i := range lookMisses {
		if n, done, err := l.Look(epfd, ev); done || n != 0 || err != nil {
			t.Fatalf("look %d on an idle epoll fd = %d, %v, %v", i, n, done, err)
		}
	}
	if err := WriteCounter(efd); err != nil {
		t.Fatal(err)
	}
	// Now looks are skipped: the ready eventfd is not seen, until the
	// lookAgain-th wait looks.
	looked := -1
	for i := range 2 * lookAgain {
		if n, done, err := l.Look(epfd, ev); done {
			if n != 1 || err != nil || Data(&ev[0]) != 7 {
				t.Fatalf("look = %d, %v, data %d", n, err, Data(&ev[0]))
			}
			looked = i
			break
		}
	}
	if looked != lookAgain-1 {
		t.Fatalf("a skipping Lookahead looked at wait %d, want %d", looked, lookAgain-1)
	}
	// It found something: it looks every time again.
	for i := range 3 {
		if _, done, _ := l.Look(epfd, ev); !done {
			t.Fatalf("look %d after a hit skipped", i)
		}
	}
	// Wait looks as Look does, and blocks as EpollWait does.
	if n, err := l.Wait(epfd, ev, time.Second); n != 1 || err != nil {
		t.Fatalf("Wait with the eventfd ready = %d, %v", n, err)
	}
	if err := ReadCounter(efd); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Wait(epfd, ev, time.Millisecond); n != 0 || err != nil {
		t.Fatalf("Wait on an idle epoll fd = %d, %v", n, err)
	}
}
