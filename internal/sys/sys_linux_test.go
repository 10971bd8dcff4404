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
