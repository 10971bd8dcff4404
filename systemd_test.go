package sdevent_test

// Living under systemd: the watchdog, sd_notify helpers, socket activation
// and memory pressure, against real sockets, FIFOs and PSI files.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// notifySocket points NOTIFY_SOCKET at a test manager and returns its Next.
func notifySocket(t *testing.T) func(d time.Duration) string {
	t.Helper()
	m := testutil.NewManager(t)
	t.Setenv("NOTIFY_SOCKET", m.Path)
	return m.Next
}

// TestWatchdogNotRequested: without WATCHDOG_USEC, or with WATCHDOG_PID
// naming another process, SetWatchdog(true) reports false and no error, as
// sd_event_set_watchdog returns 0.
func TestWatchdogNotRequested(t *testing.T) {
	for _, tc := range []struct{ usec, pid string }{
		{"", ""},
		{"1000000", strconv.Itoa(os.Getpid() + 1)},
	} {
		t.Run(tc.usec+"/"+tc.pid, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			e := newLoop(t)
			on, err := e.SetWatchdog(true)
			if on || err != nil || e.Watchdog() {
				t.Fatalf("SetWatchdog(true) = %v, %v; Watchdog() = %v", on, err, e.Watchdog())
			}
		})
	}
}

// TestWatchdogPings: turned on, the loop pings at once, and then while idle
// within [1/2, 3/4] of the period, so that systemd never sees a gap of a
// whole period.
func TestWatchdogPings(t *testing.T) {
	next := notifySocket(t)
	const period = 200 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	e := newLoop(t)
	on, err := e.SetWatchdog(true)
	if !on || err != nil || !e.Watchdog() {
		t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
	}
	if got := next(time.Second); got != "WATCHDOG=1" {
		t.Fatalf("no ping at once: got %q", got)
	}
	const idle = 5 * period
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, idle, time.Millisecond, nil))
	loop(t, e)
	pings := 0
	for next(10*time.Millisecond) == "WATCHDOG=1" {
		pings++
	}
	// A ping at least every 3/4 period, at most every 1/2 (plus the one
	// after the final poll).
	if lo, hi := int(idle/(period*3/4)), int(idle/(period/2))+1; pings < lo || pings > hi {
		t.Fatalf("%d pings in %v of idleness with period %v, want %d..%d", pings, idle, period, lo, hi)
	}
	on, err = e.SetWatchdog(false)
	if on || err != nil || e.Watchdog() {
		t.Fatalf("SetWatchdog(false) = %v, %v", on, err)
	}
}

// TestWatchdogBusyQuarterPeriod: a busy loop pings from its polls, at most
// every quarter period.
func TestWatchdogBusyQuarterPeriod(t *testing.T) {
	next := notifySocket(t)
	const period = 400 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", "")
	e := newLoop(t)
	if on, err := e.SetWatchdog(true); !on || err != nil {
		t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
	}
	next(time.Second) // the first ping
	end := live(t, unix.CLOCK_MONOTONIC) + period
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		if live(t, unix.CLOCK_MONOTONIC) > end {
			return e.Exit(0)
		}
		return nil
	}))
	ok(t, "on", d.SetEnabled(source.On))
	loop(t, e)
	pings := 0
	for next(10*time.Millisecond) == "WATCHDOG=1" {
		pings++
	}
	if pings < 1 || pings > 4 {
		t.Fatalf("%d pings in one busy period, want 1..4 (at most one per quarter)", pings)
	}
}

// TestNotify: the sd_notify helpers send their states; without a manager
// they report false and no error.
func TestNotify(t *testing.T) {
	testutil.Check(t)
	t.Run("no manager", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if sent, err := sdevent.NotifyReady(); sent || err != nil {
			t.Fatalf("NotifyReady without NOTIFY_SOCKET = %v, %v", sent, err)
		}
	})
	next := notifySocket(t)
	for _, tc := range []struct {
		send func() (bool, error)
		want string
	}{
		{sdevent.NotifyReady, "READY=1"},
		{sdevent.NotifyStopping, "STOPPING=1"},
		{func() (bool, error) { return sdevent.NotifyStatus("serving 3 clients") }, "STATUS=serving 3 clients"},
		{func() (bool, error) { return sdevent.Notify("RELOADING=1\nSTATUS=reloading") }, "RELOADING=1\nSTATUS=reloading"},
	} {
		if sent, err := tc.send(); !sent || err != nil {
			t.Fatalf("sending %q: %v, %v", tc.want, sent, err)
		}
		if got := next(time.Second); got != tc.want {
			t.Fatalf("manager got %q, want %q", got, tc.want)
		}
	}
}

// TestAddListenFds runs in a subprocess that gets a listening socket as fd 3,
// as systemd's socket activation passes it: the socket becomes an IO
// source, named after LISTEN_FDNAMES, that accepts a connection.
func TestAddListenFds(t *testing.T) {
	testutil.Check(t)
	if os.Getenv("SDEVENT_TEST_LISTEN_FDS") == "1" {
		listenFdsChild()
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	ln.SetUnlinkOnClose(false) // the path stays for the subprocess to dial
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAddListenFds$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SDEVENT_TEST_LISTEN_FDS=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=api", "SOCK="+path)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "accepted on api") {
		t.Fatalf("subprocess: %v\n%s", err, out)
	}
}

// listenFdsChild is the subprocess of TestAddListenFds. LISTEN_PID must name
// the process that gets the fds; the parent cannot know it before exec.
func listenFdsChild() {
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	fail := func(f string, a ...any) { fmt.Printf(f+"\n", a...); os.Exit(1) }
	e, err := sdevent.New()
	if err != nil {
		fail("New: %v", err)
	}
	srcs, err := e.AddListenFds(unix.EPOLLIN, func(s *sdevent.Source, fd int, _ uint32) error {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			return err
		}
		unix.Close(nfd)
		name, _ := s.Description()
		fmt.Printf("accepted on %s\n", name)
		return s.Event().Exit(0)
	})
	if err != nil || len(srcs) != 1 {
		fail("AddListenFds = %d sources, %v", len(srcs), err)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		fail("LISTEN_FDS left in the environment")
	}
	if own, _ := srcs[0].IOFdOwn(); !own {
		fail("the source does not own its socket")
	}
	c, err := net.Dial("unix", os.Getenv("SOCK"))
	if err != nil {
		fail("dial: %v", err)
	}
	defer c.Close()
	if code, err := e.Loop(); code != 0 || err != nil {
		fail("Loop = %d, %v", code, err)
	}
	// Nothing passed any more: no sources and no error.
	if again, err := e.AddListenFds(unix.EPOLLIN, nil); len(again) != 0 || !errors.Is(err, unix.ESTALE) {
		fail("AddListenFds on a finished loop = %d, %v", len(again), err)
	}
	srcs[0].Unref()
	e.Unref()
}

// memoryPressureFifo points MEMORY_PRESSURE_WATCH at a new FIFO with the
// trigger "hello" and returns the test's own read-write end of it.
func memoryPressureFifo(t *testing.T) (path string, fd int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pressure")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	t.Setenv("MEMORY_PRESSURE_WATCH", path)
	t.Setenv("MEMORY_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("hello")))
	return path, fd
}

// TestMemoryPressureFifo: with $MEMORY_PRESSURE_WATCH on a FIFO, the trigger
// from $MEMORY_PRESSURE_WRITE is written before the first poll, and data on
// the FIFO dispatches the source; the trigger is locked (EBUSY).
func TestMemoryPressureFifo(t *testing.T) {
	_, fd := memoryPressureFifo(t)
	e := newLoop(t)
	calls := 0
	s := keep(t)(e.AddMemoryPressure(func(*sdevent.Source) error { calls++; return nil }))
	_, err := s.SetMemoryPressureType("full")
	wantErrno(t, "SetMemoryPressureType on an environment trigger", err, unix.EBUSY)
	if p, err := e.Prepare(); err != nil || p {
		t.Fatalf("Prepare = %v, %v", p, err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Read(fd, buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("trigger on the FIFO: %q, %v", buf[:max(n, 0)], err)
	}
	if p, err := e.Wait(0); err != nil || p {
		t.Fatalf("Wait(0) with nothing on the FIFO = %v, %v", p, err)
	}
	writeByte(t, fd)
	if !run(t, e, long) || calls != 1 {
		t.Fatalf("no dispatch for data on the FIFO (calls %d)", calls)
	}
}

// TestMemoryPressureSocket: $MEMORY_PRESSURE_WATCH may name an AF_UNIX stream
// socket: the source connects, writes its trigger, and data dispatches it.
func TestMemoryPressureSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pressure.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("MEMORY_PRESSURE_WATCH", path)
	t.Setenv("MEMORY_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("watch me")))
	e := newLoop(t)
	calls := 0
	keep(t)(e.AddMemoryPressure(func(*sdevent.Source) error { calls++; return e.Exit(0) }))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run(t, e, 0) // writes the trigger
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(long))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "watch me" {
		t.Fatalf("trigger on the socket: %q, %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	loop(t, e)
	if calls != 1 {
		t.Fatalf("handler calls %d, want 1", calls)
	}
}

// TestMemoryPressureSystem: without $MEMORY_PRESSURE_WATCH the source
// watches the kernel's PSI (the cgroup's, else /proc/pressure/memory) with a
// default trigger that may be changed until it is written.
func TestMemoryPressureSystem(t *testing.T) {
	os.Unsetenv("MEMORY_PRESSURE_WATCH") // t.Setenv cannot unset
	e := newLoop(t)
	s := keep(t)(e.AddMemoryPressure(nil))
	if changed, err := s.SetMemoryPressureType("full"); !changed || err != nil {
		t.Fatalf("SetMemoryPressureType(full) = %v, %v", changed, err)
	}
	if changed, err := s.SetMemoryPressureType("full"); changed || err != nil {
		t.Fatalf("SetMemoryPressureType(full) again = %v, %v", changed, err)
	}
	_, err := s.SetMemoryPressureType("most")
	wantErrno(t, "SetMemoryPressureType(most)", err, unix.EINVAL)
	_, err = s.SetMemoryPressurePeriod(0, time.Second)
	wantErrno(t, "threshold 0", err, unix.ERANGE)
	_, err = s.SetMemoryPressurePeriod(2*time.Second, time.Second)
	wantErrno(t, "threshold > window", err, unix.EINVAL)
	if changed, err := s.SetMemoryPressurePeriod(150*time.Millisecond, 2*time.Second); !changed || err != nil {
		t.Fatalf("SetMemoryPressurePeriod = %v, %v", changed, err)
	}
	run(t, e, 0) // the trigger is written now
	if en, _ := s.Enabled(); en != source.On {
		t.Fatalf("the kernel refused the trigger: source is %v", en)
	}
	_, err = s.SetMemoryPressurePeriod(100*time.Millisecond, 2*time.Second)
	wantErrno(t, "SetMemoryPressurePeriod after the write", err, unix.EBUSY)
}

// TestMemoryPressureErrors: the errors of sd_event_add_memory_pressure.
func TestMemoryPressureErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		watch string
		want  unix.Errno
	}{
		{"", unix.EHOSTDOWN},
		{"/dev/null", unix.EHOSTDOWN},
		{"relative/path", unix.EBADMSG},
		{dir + "/../x", unix.EBADMSG},
		{dir, unix.EISDIR},
		{regular, unix.ENOTTY},
		{filepath.Join(dir, "missing"), unix.ENOENT},
	} {
		t.Run(tc.watch, func(t *testing.T) {
			t.Setenv("MEMORY_PRESSURE_WATCH", tc.watch)
			e := newLoop(t)
			before := openFds(t)
			s, err := e.AddMemoryPressure(nil)
			if s != nil {
				s.Unref()
			}
			wantErrno(t, "AddMemoryPressure", err, tc.want)
			if after := openFds(t); after != before {
				t.Errorf("fds %d before, %d after a failed add", before, after)
			}
		})
	}
	e := newLoop(t)
	d := keep(t)(e.AddDefer(nil))
	_, err := d.SetMemoryPressureType("some")
	wantErrno(t, "SetMemoryPressureType on a defer source", err, unix.EDOM)
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
