package sys

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func tracing(t *testing.T) {
	TraceFds(true)
	t.Cleanup(func() { TraceFds(false) })
}

// TestTraceRecordsOpenerForgetsOnClose: a traced descriptor shows the stack
// that opened it until Close, and after Close its number shows nothing,
// even when an untraced object of the same kind takes it.
func TestTraceRecordsOpenerForgetsOnClose(t *testing.T) {
	tracing(t)
	fd, err := Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	stack, ok := OpenedAt(fd, "anon_inode:[eventfd]")
	if !ok || !strings.HasPrefix(stack, "github.com/go-sdevent/sdevent/internal/sys.TestTraceRecordsOpenerForgetsOnClose()\n\t") {
		t.Errorf("OpenedAt(%d) = %q, %v; want the stack from this test", fd, stack, ok)
	}
	if _, ok := OpenedAt(fd, "anon_inode:[timerfd]"); ok {
		t.Errorf("OpenedAt(%d) shows a stack for a timerfd, but the fd is an eventfd", fd)
	}
	if err := Close(fd); err != nil {
		t.Fatal(err)
	}
	again, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(again)
	for _, n := range []int{fd, again} {
		if stack, ok := OpenedAt(n, "anon_inode:[eventfd]"); ok {
			t.Errorf("after Close, OpenedAt(%d) = %q", n, stack)
		}
	}
}

// TestTraceDropsClosedBehindItsBack: a traced descriptor closed without
// Close loses its record at the next ForgetClosed, or when its number is
// asked about for another kind of object.
func TestTraceDropsClosedBehindItsBack(t *testing.T) {
	tracing(t)
	a, err := TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(a)
	ForgetClosed(map[int]string{})
	if stack, ok := OpenedAt(a, "anon_inode:[timerfd]"); ok {
		t.Errorf("after ForgetClosed, OpenedAt(%d) = %q", a, stack)
	}

	b, err := TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(b)
	ForgetClosed(map[int]string{b: "anon_inode:[eventfd]"})
	if stack, ok := OpenedAt(b, "anon_inode:[timerfd]"); ok {
		t.Errorf("ForgetClosed kept fd %d, listed as another kind: %q", b, stack)
	}
}

// TestTraceOffCostsNothing: off (the default), the wrappers record nothing
// and allocate nothing.
func TestTraceOffCostsNothing(t *testing.T) {
	TraceFds(false)
	allocs := testing.AllocsPerRun(100, func() {
		fd, err := Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := OpenedAt(fd, "anon_inode:[eventfd]"); ok {
			t.Fatal("a descriptor opened with tracing off has a record")
		}
		if err := Close(fd); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("opening and closing with tracing off allocates %v times", allocs)
	}
}
