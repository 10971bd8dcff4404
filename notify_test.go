//go:build linux

package sdevent_test

// Tests of sd_notify and socket activation (notify.go), against real
// sockets and subprocesses.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"golang.org/x/sys/unix"
)

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
	path, f := listeningSocket(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAddListenFds$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SDEVENT_TEST_LISTEN_FDS=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=api", "SOCK="+path)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "accepted on api") {
		t.Fatalf("subprocess: %v\n%s", err, out)
	}
}

// listeningSocket makes a listening AF_UNIX stream socket, as a unit's
// ListenStream= does, and returns its path and an *os.File of it to pass to
// a subprocess; the test's cleanup closes the file.
func listeningSocket(t *testing.T) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sock")
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
	t.Cleanup(func() { f.Close() })
	return path, f
}

// listenFdsChild is the subprocess of TestAddListenFds. LISTEN_PID must name
// the process that gets the fds; the parent cannot know it before exec.
func listenFdsChild() {
	fail := func(f string, a ...any) { fmt.Printf(f+"\n", a...); os.Exit(1) }
	if err := os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())); err != nil {
		fail("setenv LISTEN_PID: %v", err)
	}
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

// TestNotifyAddress: $NOTIFY_SOCKET must be an absolute path or '@' and an
// abstract name (or a vsock address: TestNotifyVsock), as sd_notify of
// libsystemd 262 requires (checked with a C program): "relsock" and
// "./relsock" are EPROTO (252 said EINVAL), "@" and "/" EINVAL, and nothing
// is sent, even where a socket by that relative name exists; a path of 108
// bytes or more is ENAMETOOLONG, an abstract name as long EINVAL; an
// abstract name is reached.
func TestNotifyAddress(t *testing.T) {
	testutil.Check(t)
	dir := t.TempDir()
	t.Chdir(dir)
	rel, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "relsock", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer rel.Close()
	wantNotifyErrors(t, []notifyCase{
		{"relsock", unix.EPROTO},
		{"./relsock", unix.EPROTO},
		{"@", unix.EINVAL},
		{"/", unix.EINVAL},
		{"/" + strings.Repeat("a", 107), unix.ENAMETOOLONG},
		{"@" + strings.Repeat("a", 107), unix.EINVAL},
		{"/" + strings.Repeat("a", 106), unix.ENOENT},
		{filepath.Join(dir, "missing"), unix.ENOENT},
	})
	ok(t, "SetReadDeadline", rel.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	if n, _, err := rel.ReadFrom(make([]byte, 64)); err == nil {
		t.Errorf("the relative socket got %d bytes", n)
	}
	name := fmt.Sprintf("@sdevent-test-%d", os.Getpid())
	abs, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer abs.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if sent, err := sdevent.NotifyReady(); !sent || err != nil {
		t.Fatalf("Notify to %s = %v, %v", name, sent, err)
	}
	ok(t, "SetReadDeadline", abs.SetReadDeadline(time.Now().Add(long)))
	buf := make([]byte, 64)
	if n, _, err := abs.ReadFrom(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("the abstract socket got %q, %v", buf[:max(n, 0)], err)
	}
}

// notifySpareEnv makes the test binary, from init (before the Go runtime's
// network poller can have started: the test framework's first timer starts
// it), leave exactly that many descriptors free, call Notify, print the
// result and exit.
const notifySpareEnv = "SDEVENT_TEST_NOTIFY_SPARE"

func init() {
	if s := os.Getenv(notifySpareEnv); s != "" {
		spare, _ := strconv.Atoi(s)
		if err := leaveFdsFree(spare); err != nil {
			fmt.Println("setup:", err)
			os.Exit(2)
		}
		sent, err := sdevent.Notify("READY=1")
		fmt.Printf("sent=%v emfile=%v err=%v\n", sent, errors.Is(err, unix.EMFILE), err)
		os.Exit(0)
	}
}

// leaveFdsFree lowers the soft RLIMIT_NOFILE just past the open fds and
// fills the holes below it, so that exactly spare descriptors are free.
func leaveFdsFree(spare int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	highest := 0
	for _, ent := range ents {
		fd, _ := strconv.Atoi(ent.Name())
		highest = max(highest, fd)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = uint64(highest + 1 + spare)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	var fillers []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil {
			return err
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) < spare {
		return fmt.Errorf("only %d fds free", len(fillers))
	}
	for _, fd := range fillers[len(fillers)-spare:] {
		unix.Close(fd)
	}
	return nil
}

// TestNotifyFewFds: Notify in a process whose network poller never started
// and that has 0, 1 or 2 descriptors to spare. sd_notify of libsystemd 252
// (checked with a C program at the same limits) needs one descriptor: it
// returns -EMFILE with none and sends with one. Through package net, one or
// two spare fds aborted the process ("runtime: netpollinit failed").
func TestNotifyFewFds(t *testing.T) {
	testutil.Check(t)
	for spare, want := range []string{"sent=false emfile=true", "sent=true emfile=false", "sent=true emfile=false"} {
		t.Run(strconv.Itoa(spare), func(t *testing.T) {
			m := testutil.NewManager(t)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), m.Env, notifySpareEnv+"="+strconv.Itoa(spare))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), want) {
				t.Fatalf("subprocess: %v, want %q\n%s", err, want, out)
			}
			got := m.Next(10 * time.Millisecond)
			if sent := strings.HasPrefix(want, "sent=true"); sent != (got == "READY=1") {
				t.Fatalf("the manager got %q", got)
			}
		})
	}
}

// listenModeEnv makes TestAddListenFdsHostile's subprocess run one of its
// cases on the fds its parent passed.
const listenModeEnv = "SDEVENT_TEST_LISTEN_MODE"

// setListenEnv sets the LISTEN_* variables for the next call, as the
// service manager would (LISTEN_PID is the subprocess's own).
func setListenEnv(t *testing.T, fds, names string) {
	t.Helper()
	ok(t, "setenv LISTEN_PID", os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())))
	ok(t, "setenv LISTEN_FDS", os.Setenv("LISTEN_FDS", fds))
	ok(t, "setenv LISTEN_FDNAMES", os.Setenv("LISTEN_FDNAMES", names))
}

// TestAddListenFdsHostile runs AddListenFds and AddListenFiles in
// subprocesses given a listening socket as fd 3 and, for OpenFile=, a
// regular file as fd 4. What sd_listen_fds(1) and
// sd_listen_fds_with_names(1, ...) of libsystemd 252 did with the same
// variables (checked with a C program) is the rule:
//   - LISTEN_FDS past the passed fds (100000, 2147483644: some fd of the
//     range is not open) is EBADF, checked before any fd is touched: no fd
//     is closed (C only sets FD_CLOEXEC), the loop keeps working;
//     2147483645 (past INT_MAX-3), 0 and "abc" are EINVAL, LISTEN_PID=0
//     ERANGE, two names for one fd EINVAL; the variables are unset after
//     each call, success or not, as unset_environment=1 does;
//   - an error is one *Error: one "sdevent:" prefix, the errno last, and
//     closes nothing;
//   - a regular file among the fds is no error (C returns the count and
//     leaves every fd to the caller): the socket becomes a source, the file
//     stays open as passed (AddListenFds) or is handed back with its name
//     (AddListenFiles).
func TestAddListenFdsHostile(t *testing.T) {
	switch os.Getenv(listenModeEnv) {
	case "":
	case "counts":
		listenCountsChild(t)
		return
	case "fds":
		listenRegularChild(t, false)
		return
	case "files":
		listenRegularChild(t, true)
		return
	case "pidfdid":
		listenPidfdidChild(t)
		return
	}
	_, sock := listeningSocket(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, mode := range []string{"counts", "fds", "files", "pidfdid"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAddListenFdsHostile$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), listenModeEnv+"="+mode, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			cmd.ExtraFiles = []*os.File{sock, file}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("subprocess: %v\n%s", err, out)
			}
		})
	}
}

// listenCountsChild: bad LISTEN_* values fail without touching fd 3, and
// then a good one still finds it.
func listenCountsChild(t *testing.T) {
	e := newLoop(t)
	for _, tc := range []struct {
		pid, fds, names string
		events          uint32
		want            unix.Errno
	}{
		{"", "1", "api", unix.EPOLLIN | unix.EPOLLEXCLUSIVE, unix.EINVAL}, // AddIO refuses the events
		{"", "100000", "", unix.EPOLLIN, unix.EBADF},
		{"", "2147483644", "", unix.EPOLLIN, unix.EBADF},
		{"", "2147483645", "", unix.EPOLLIN, unix.EINVAL},
		{"", "0", "", unix.EPOLLIN, unix.EINVAL},
		{"", "abc", "", unix.EPOLLIN, unix.EINVAL},
		{"0", "1", "", unix.EPOLLIN, unix.ERANGE},
		{"", "1", "a:b", unix.EPOLLIN, unix.EINVAL},
	} {
		setListenEnv(t, tc.fds, tc.names)
		if tc.pid != "" {
			ok(t, "setenv LISTEN_PID", os.Setenv("LISTEN_PID", tc.pid))
		}
		srcs, err := e.AddListenFds(tc.events, nil)
		what := fmt.Sprintf("LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s", tc.pid, tc.fds, tc.names)
		wantErrno(t, what, err, tc.want)
		if err != nil {
			if msg := err.Error(); strings.Count(msg, "sdevent:") != 1 || !strings.HasPrefix(msg, "sdevent: add listen fds: ") || !strings.HasSuffix(msg, tc.want.Error()) {
				t.Errorf("%s: error %q: want one prefix, the operation, the errno last", what, msg)
			}
		}
		if len(srcs) != 0 {
			t.Fatalf("%s: %d sources", what, len(srcs))
		}
		if !testutil.FdOpen(3) {
			t.Fatalf("%s closed fd 3", what)
		}
		for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			if _, set := os.LookupEnv(v); set {
				t.Errorf("%s: %s left in the environment", what, v)
			}
		}
		keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, 0, func(s *sdevent.Source, _ time.Duration) error {
			return nil
		}))
		if !run(t, e, long) {
			t.Fatalf("%s: the loop no longer dispatches", what)
		}
	}
	setListenEnv(t, "1", "api")
	srcs, err := e.AddListenFds(unix.EPOLLIN, nil)
	if err != nil || len(srcs) != 1 {
		t.Fatalf("AddListenFds after the bad calls = %d sources, %v", len(srcs), err)
	}
	srcs[0].Unref()
}

// listenRegularChild: fd 3 a socket, fd 4 a regular file.
func listenRegularChild(t *testing.T, files bool) {
	e := newLoop(t)
	setListenEnv(t, "2", "api:data")
	var srcs []*sdevent.Source
	var fs []*os.File
	var err error
	if files {
		srcs, fs, err = e.AddListenFiles(unix.EPOLLIN, nil)
	} else {
		srcs, err = e.AddListenFds(unix.EPOLLIN, nil)
	}
	if err != nil || len(srcs) != 1 {
		t.Fatalf("%d sources, %v; want the socket's", len(srcs), err)
	}
	defer srcs[0].Unref()
	if name, _ := srcs[0].Description(); name != "api" {
		t.Errorf("the source is %q, want api", name)
	}
	if testutil.FdOpen(3) {
		t.Errorf("fd 3, the socket's original, left open")
	}
	if !files {
		if !testutil.FdOpen(4) {
			t.Fatal("fd 4, the regular file, was closed")
		}
		if fl, _ := unix.FcntlInt(4, unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
			t.Errorf("fd 4 made non-blocking")
		}
		return // fd 4 stays open, as it was when the process started
	}
	if len(fs) != 1 || fs[0].Fd() != 4 || fs[0].Name() != "data" {
		t.Fatalf("files %v, want fd 4 named data", fs)
	}
	defer fs[0].Close()
	if b, err := io.ReadAll(fs[0]); err != nil || string(b) != "hello" {
		t.Fatalf("reading the file: %q, %v", b, err)
	}
}

// ownPidfdID is the test process's pidfd inode id, got another way than
// AddListenFds gets it: st_ino of a pidfd of getpid() (which a C program
// against libsystemd 262 printed equal to sd_pidfd_get_inode_id's).
func ownPidfdID(t *testing.T) uint64 {
	t.Helper()
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	ok(t, "fstat pidfd", unix.Fstat(fd, &st))
	return st.Ino
}

// listenPidfdidChild: LISTEN_PIDFDID (systemd 259) as sd_listen_fds of
// libsystemd 262 checks it (a C program against 262 gave the same results
// for the same variables): after LISTEN_PID matched, a number that is not
// this process's pidfd inode id means "not for us", 0 and no error, fd 3
// untouched (not even FD_CLOEXEC), whatever LISTEN_FDS says; a value that is
// no number is EINVAL or ERANGE, parsed as safe_atou64; a LISTEN_PID of
// another process decides first. LISTEN_PIDFDID is unset after each call.
func listenPidfdidChild(t *testing.T) {
	e := newLoop(t)
	own := strconv.FormatUint(ownPidfdID(t), 10)
	other := strconv.FormatUint(ownPidfdID(t)+1, 10)
	for _, tc := range []struct {
		pid, pidfdid, fds string
		want              unix.Errno // 0: no error and no source
	}{
		{"", other, "1", 0},
		{"", "0", "1", 0},
		{"", " 0x10", "1", 0},
		{"", other, "abc", 0},
		{"1", "abc", "1", 0},
		{"", "abc", "1", unix.EINVAL},
		{"", own + "x", "1", unix.EINVAL},
		{"", "-1", "1", unix.ERANGE},
		{"", "99999999999999999999", "1", unix.ERANGE},
		{"", own, "abc", unix.EINVAL},
	} {
		setListenEnv(t, tc.fds, "")
		ok(t, "setenv LISTEN_PIDFDID", os.Setenv("LISTEN_PIDFDID", tc.pidfdid))
		if tc.pid != "" {
			ok(t, "setenv LISTEN_PID", os.Setenv("LISTEN_PID", tc.pid))
		}
		what := fmt.Sprintf("LISTEN_PID=%s LISTEN_PIDFDID=%q LISTEN_FDS=%s", tc.pid, tc.pidfdid, tc.fds)
		if tc.pidfdid == own {
			what = strings.Replace(what, own, "(own)", 1)
		}
		srcs, err := e.AddListenFds(unix.EPOLLIN, nil)
		if tc.want == 0 && err != nil {
			t.Errorf("%s: %v, want no error", what, err)
		}
		if tc.want != 0 {
			wantErrno(t, what, err, tc.want)
		}
		if len(srcs) != 0 {
			t.Fatalf("%s: %d sources, want none", what, len(srcs))
		}
		if fl, err := unix.FcntlInt(3, unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC != 0 {
			t.Fatalf("%s: fd 3 closed or made close-on-exec (%d, %v)", what, fl, err)
		}
		if _, set := os.LookupEnv("LISTEN_PIDFDID"); set {
			t.Errorf("%s: LISTEN_PIDFDID left in the environment", what)
		}
	}
	setListenEnv(t, "1", "api")
	ok(t, "setenv LISTEN_PIDFDID", os.Setenv("LISTEN_PIDFDID", own))
	srcs, err := e.AddListenFds(unix.EPOLLIN, nil)
	if err != nil || len(srcs) != 1 {
		t.Fatalf("AddListenFds with this process's LISTEN_PIDFDID = %d sources, %v; want fd 3's", len(srcs), err)
	}
	srcs[0].Unref()
}

// TestNotifyVsock: the AF_VSOCK forms of $NOTIFY_SOCKET that sd_notify of
// libsystemd 262 speaks, with the errnos a C program against 262 got for
// the same values on this machine (traced with strace). The machine is a
// Firecracker guest: AF_VSOCK over virtio, CID 3, no vsock_loopback (no
// local transport, so no manager can listen here and no round trip can be
// made), and no datagram sockets (socket gives ENODEV). So:
//   - the address is parsed before any socket is made: port first, then
//     CID; no port, port 4294967295 or no CID EINVAL, a negative or too
//     large number ERANGE, no "vsock" form EPROTO;
//   - "vsock:" falls back from SOCK_DGRAM (ENODEV) to SOCK_SEQPACKET,
//     which the virtio transport makes but cannot connect
//     (ESOCKTNOSUPPORT); "vsock-dgram:" does not fall back (ENODEV);
//   - "vsock-stream:" connects: to this guest's own CID there is no
//     transport (ENODEV), to the host (CID 2) Firecracker resets it
//     (ECONNRESET), after the socket was bound to port 1023;
//   - nothing is sent and no fd is left behind.
func TestNotifyVsock(t *testing.T) {
	testutil.Check(t)
	wantNotifyErrors(t, []notifyCase{
		{"vsock:2", unix.EINVAL},
		{"vsock:host", unix.EINVAL},
		{"vsock:2:", unix.EINVAL},
		{"vsock:2::", unix.EINVAL},
		{"vsock:2:5:6", unix.EINVAL},
		{"vsock:2:x", unix.EINVAL},
		{"vsock:2:5 ", unix.EINVAL},
		{"vsock:2:4294967295", unix.EINVAL},
		{"vsock:2:-5", unix.ERANGE},
		{"vsock:2:99999999999", unix.ERANGE},
		{"vsock:x:1", unix.EINVAL},
		{"vsock:x:-5", unix.ERANGE},
		{"vsock:4294967296:1", unix.ERANGE},
		{"vsock::5555", unix.EINVAL},
		{"vsock:any:1", unix.EINVAL},
		{"vsock:-1:1", unix.EINVAL},
		{"vsock:4294967295:5", unix.EINVAL},
		{"vsock-stream::5", unix.EINVAL},
		{"vsock-dgram:x:1", unix.EINVAL},
		{"vsock-foo:2:3", unix.EPROTO},
		{"VSOCK:2:3", unix.EPROTO},
		{"vsock", unix.EPROTO},
		{"vsock:2:5555", unix.ESOCKTNOSUPPORT},
		{"vsock:host:1", unix.ESOCKTNOSUPPORT},
		{"vsock:local:1", unix.ESOCKTNOSUPPORT},
		{"vsock:hypervisor:1", unix.ESOCKTNOSUPPORT},
		{"vsock:0:5", unix.ESOCKTNOSUPPORT},
		{"vsock:-0:5", unix.ESOCKTNOSUPPORT},
		{"vsock:2:+5", unix.ESOCKTNOSUPPORT},
		{"vsock: 2:0x10", unix.ESOCKTNOSUPPORT},
		{"vsock:2:0b11", unix.ESOCKTNOSUPPORT},
		{"vsock-seqpacket:2:5555", unix.ESOCKTNOSUPPORT},
		{"vsock-dgram:2:5555", unix.ENODEV},
		{"vsock-stream:3:5555", unix.ENODEV},
		{"vsock-stream:host:5555", unix.ECONNRESET},
	})
}

// notifyCase is a $NOTIFY_SOCKET and the errno Notify must give for it.
type notifyCase struct {
	addr string
	want unix.Errno
}

// wantNotifyErrors sets each address and checks that Notify fails with its
// errno and sends nothing.
func wantNotifyErrors(t *testing.T, cases []notifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Setenv("NOTIFY_SOCKET", tc.addr)
		sent, err := sdevent.Notify("READY=1")
		if sent {
			t.Errorf("Notify with NOTIFY_SOCKET=%q sent", tc.addr)
		}
		wantErrno(t, fmt.Sprintf("Notify with NOTIFY_SOCKET=%q", tc.addr), err, tc.want)
	}
}

// TestNotifyHelpers: NotifyReloading, NotifyExtendTimeout, NotifyErrno and
// NotifyExitStatus send their one datagram each, in the form systemd parses
// (sd_notify(3)); values the manager would refuse are ERANGE and send
// nothing, with or without a manager; without one, the rest report false
// and no error.
func TestNotifyHelpers(t *testing.T) {
	testutil.Check(t)
	bad := []struct {
		name string
		send func() (bool, error)
		op   string
	}{
		{"negative timeout", func() (bool, error) { return sdevent.NotifyExtendTimeout(-time.Nanosecond) }, "notify extend timeout"},
		{"errno past ERRNO_MAX", func() (bool, error) { return sdevent.NotifyErrno(4096) }, "notify errno"},
		{"negative exit status", func() (bool, error) { return sdevent.NotifyExitStatus(-1) }, "notify exit status"},
		{"exit status past 255", func() (bool, error) { return sdevent.NotifyExitStatus(256) }, "notify exit status"},
	}
	checkBad := func(t *testing.T) {
		t.Helper()
		for _, tc := range bad {
			sent, err := tc.send()
			var e *sdevent.Error
			if sent || !errors.Is(err, unix.ERANGE) || !errors.As(err, &e) || e.Op != tc.op {
				t.Errorf("%s: %v, %v; want false and an *Error %q wrapping ERANGE", tc.name, sent, err, tc.op)
			}
		}
	}
	good := []func() (bool, error){
		sdevent.NotifyReloading,
		func() (bool, error) { return sdevent.NotifyExtendTimeout(time.Second) },
		func() (bool, error) { return sdevent.NotifyErrno(unix.ENOENT) },
		func() (bool, error) { return sdevent.NotifyExitStatus(1) },
	}

	t.Run("no manager", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		for i, send := range good {
			if sent, err := send(); sent || err != nil {
				t.Errorf("helper %d without NOTIFY_SOCKET = %v, %v", i, sent, err)
			}
		}
		checkBad(t)
	})

	next := notifySocket(t)
	t.Run("reloading", func(t *testing.T) {
		before := live(t, unix.CLOCK_MONOTONIC) / time.Microsecond
		if sent, err := sdevent.NotifyReloading(); !sent || err != nil {
			t.Fatalf("NotifyReloading = %v, %v", sent, err)
		}
		after := live(t, unix.CLOCK_MONOTONIC) / time.Microsecond
		got := next(long)
		usec, found := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
		n, err := strconv.ParseInt(usec, 10, 64)
		if !found || err != nil || time.Duration(n) < before || time.Duration(n) > after {
			t.Fatalf("manager got %q, want RELOADING=1 and MONOTONIC_USEC= within [%d, %d]", got, before, after)
		}
	})
	for _, tc := range []struct {
		send func() (bool, error)
		want string
	}{
		{func() (bool, error) { return sdevent.NotifyExtendTimeout(90 * time.Second) }, "EXTEND_TIMEOUT_USEC=90000000"},
		{func() (bool, error) { return sdevent.NotifyExtendTimeout(1500 * time.Nanosecond) }, "EXTEND_TIMEOUT_USEC=2"},
		{func() (bool, error) { return sdevent.NotifyExtendTimeout(0) }, "EXTEND_TIMEOUT_USEC=0"},
		{func() (bool, error) { return sdevent.NotifyExtendTimeout(sdevent.Infinity) }, "EXTEND_TIMEOUT_USEC=18446744073709551615"},
		{func() (bool, error) { return sdevent.NotifyErrno(unix.ENOENT) }, "ERRNO=2"},
		{func() (bool, error) { return sdevent.NotifyErrno(0) }, "ERRNO=0"},
		{func() (bool, error) { return sdevent.NotifyErrno(4095) }, "ERRNO=4095"},
		{func() (bool, error) { return sdevent.NotifyExitStatus(0) }, "EXIT_STATUS=0"},
		{func() (bool, error) { return sdevent.NotifyExitStatus(255) }, "EXIT_STATUS=255"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if sent, err := tc.send(); !sent || err != nil {
				t.Fatalf("sending %q: %v, %v", tc.want, sent, err)
			}
			if got := next(long); got != tc.want {
				t.Fatalf("manager got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		checkBad(t)
		if got := next(50 * time.Millisecond); got != "" {
			t.Fatalf("manager got %q from a refused value", got)
		}
	})
}
