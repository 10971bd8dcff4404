//go:build linux

package sdevent_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"golang.org/x/sys/unix"
)

// newLoop makes a loop that the test's cleanup unrefs, and puts the test
// under the per-test leak checks first (testutil.Check).
func newLoop(t *testing.T) *sdevent.Event {
	t.Helper()
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(e.Unref)
	return e
}

// keep fails the test on err and has the test's cleanup drop the caller's
// reference on s.
// Use it as keep(t)(e.AddDefer(h)).
func keep(t *testing.T) func(*sdevent.Source, error) *sdevent.Source {
	return func(s *sdevent.Source, err error) *sdevent.Source {
		t.Helper()
		s = must(t)(s, err)
		t.Cleanup(s.Unref)
		return s
	}
}

// must fails the test on err; the caller drops the reference on s itself.
// Use it as must(t)(e.AddDefer(h)).
func must(t *testing.T) func(*sdevent.Source, error) *sdevent.Source {
	return func(s *sdevent.Source, err error) *sdevent.Source {
		t.Helper()
		if err != nil {
			t.Fatalf("add source: %v", err)
		}
		if s == nil {
			t.Fatal("add source returned a nil source and no error")
		}
		return s
	}
}

// ok fails the test when err is not nil.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErrno fails the test unless err wraps errno.
func wantErrno(t *testing.T, what string, err error, errno unix.Errno) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Errorf("%s: got error %v, want one wrapping %s (%v)", what, err, unix.ErrnoName(errno), errno)
	}
}

// run does one iteration and reports whether it dispatched.
func run(t *testing.T, e *sdevent.Event, timeout time.Duration) bool {
	t.Helper()
	dispatched, err := e.Run(timeout)
	if err != nil {
		t.Fatalf("Run(%v): %v", timeout, err)
	}
	return dispatched
}

// long bounds the waits of tests in which nothing should take long, so that
// a bug shows as a failure rather than a hang.
const long = 10 * time.Second

// loop runs the loop to its end and fails the test on an error.
func loop(t *testing.T, e *sdevent.Event) int {
	t.Helper()
	code, err := loopErr(t, e)
	if err != nil {
		t.Fatalf("Loop: code %d, error %v", code, err)
	}
	return code
}

// loopErr is Loop that fails the test when the loop has not ended after
// 30s (LoopContext is Loop with a way out), so that a bug is a failure and
// not a hang.
func loopErr(t *testing.T, e *sdevent.Event) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := e.LoopContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the loop did not end within 30s")
	}
	return code, err
}

// live reads clock directly from the kernel.
func live(t *testing.T, clock int) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(clock), &ts); err != nil {
		t.Fatalf("clock_gettime(%d): %v", clock, err)
	}
	return time.Duration(ts.Nano())
}

// spinPast waits, reading the clock, until clock has passed t. It is how a
// test lets time pass when there is nothing to wait on.
func spinPast(t *testing.T, clock int, d time.Duration) {
	t.Helper()
	end := live(t, clock) + d
	for live(t, clock) <= end { //nolint:revive // busy on purpose: the condition is the work
	}
}

// writeByte writes one byte to fd.
func writeByte(t *testing.T, fd int) {
	t.Helper()
	if n, err := unix.Write(fd, []byte{'x'}); n != 1 || err != nil {
		t.Fatalf("write fd %d: %d, %v", fd, n, err)
	}
}

// enabled returns the enablement of s, failing the test on an error.
func enabledOf(t *testing.T, s *sdevent.Source) string {
	t.Helper()
	m, err := s.Enabled()
	if err != nil {
		t.Fatalf("Enabled: %v", err)
	}
	return m.String()
}

// runUntil runs iterations until cond holds, and fails the test, naming
// what it waited for, when it does not within long. Use it wherever a test
// waits for a dispatch: a Run may wake with nothing to dispatch (a SIGCHLD
// whose state change was already seen, coalesced signal deliveries, an
// inotify event no enabled source takes, a bare wake-up, the end of a rate
// limit), so one Run is not one dispatch.
func runUntil(t *testing.T, e *sdevent.Event, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(long)
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("waited %v for %s: it did not happen", long, what)
		}
		if _, err := e.Run(min(left, 100*time.Millisecond)); err != nil {
			t.Fatalf("Run while waiting for %s: %v", what, err)
		}
	}
}

// needNofile makes sure the process may have need descriptors open, raising
// the soft RLIMIT_NOFILE up to the hard limit (restored by the test's
// cleanup). A hard limit below need fails the test: it cannot do its job.
func needNofile(t *testing.T, need int) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatalf("getrlimit(RLIMIT_NOFILE): %v", err)
	}
	if old.Cur >= uint64(need) {
		return
	}
	if old.Max < uint64(need) {
		t.Fatalf("this test needs %d descriptors, but the hard RLIMIT_NOFILE is %d: raise it (ulimit -Hn) to run it", need, old.Max)
	}
	raised := syscall.Rlimit{Cur: old.Max, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		t.Fatalf("setrlimit(RLIMIT_NOFILE, %d): %v", raised.Cur, err)
	}
	t.Logf("raised RLIMIT_NOFILE from %d to %d", old.Cur, raised.Cur)
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
}

// notifySocket points NOTIFY_SOCKET at a test manager and returns its Next.
func notifySocket(t *testing.T) func(d time.Duration) string {
	t.Helper()
	m := testutil.NewManager(t)
	t.Setenv("NOTIFY_SOCKET", m.Path)
	return m.Next
}

// memoryPressureFifo points MEMORY_PRESSURE_WATCH at a new FIFO with the
// trigger "hello" and returns the test's own read-write end of it.
func memoryPressureFifo(t *testing.T) int {
	t.Helper()
	return pressureFifo(t, "MEMORY")
}

// pressureFifo makes a FIFO, points $<RESOURCE>_PRESSURE_WATCH at it with
// "hello" as $<RESOURCE>_PRESSURE_WRITE, and returns its read-write end.
func pressureFifo(t *testing.T, resource string) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pressure")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	t.Setenv(resource+"_PRESSURE_WATCH", path)
	t.Setenv(resource+"_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("hello")))
	return fd
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// pollReadable waits until fd is readable, for at most long.
func pollReadable(t *testing.T, fd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(long)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if n > 0 {
			return
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fd %d did not become readable within %v", fd, long)
		}
	}
}

// helperAdds is for helper processes, which run without a testing.T: it
// makes a loop, calls each add on it, frees what it added, and reports on
// stderr, returning 1, every error that bad finds wrong (0 when none).
func helperAdds(adds map[string]func(*sdevent.Event) (*sdevent.Source, error), bad func(error) bool) int {
	e, err := sdevent.New()
	if err != nil {
		fmt.Fprintf(os.Stderr, "New: %v\n", err)
		return 1
	}
	defer e.Unref()
	rc := 0
	for name, add := range adds {
		s, err := add(e)
		if s != nil {
			s.Unref()
		}
		if bad(err) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			rc = 1
		}
	}
	return rc
}
