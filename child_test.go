//go:build linux

package sdevent_test

// Child sources (issue 3), ported from systemd's test-event.c (TEST(pidfd),
// TEST(child_wnowait), TEST(child_pidfd_wnowait), TEST(child_autoreap_ebusy),
// the signal → fork → child chain of TEST(basic)) and man/event-quick-child.c,
// plus the rules of SEMANTICS.md ("Child", "Differences from C" 2 and 5).
// Every child is a real process; every wait is on the loop or a descriptor.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// childHelperEnv selects what TestChildHelperProcess does when the test
// binary runs itself (the re-exec pattern of os/signal's tests).
const childHelperEnv = "SDEVENT_CHILD_TEST_HELPER"

// TestChildHelperProcess is not a test: it is the body of the helper
// processes that the child tests start by running the test binary again.
// Without the environment variable it does nothing.
func TestChildHelperProcess(t *testing.T) {
	testutil.Check(t)
	switch mode := os.Getenv(childHelperEnv); mode {
	case "":
		return
	case "wait-sigusr2":
		// The child of TEST(basic): wait for SIGUSR2, then exit 78.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR2)
		if _, err := os.Stdout.WriteString("ready\n"); err != nil {
			fmt.Fprintf(os.Stderr, "write ready: %v\n", err)
			os.Exit(2)
		}
		<-ch
		os.Exit(78)
	case "autoreap":
		os.Exit(autoreapHelper())
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
}

// helperCmd returns a command that runs this test binary as helper mode.
func helperCmd(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHelperProcess$", "-test.count=1")
	// Under -race, a process that exits 0 sleeps 1s at exit unless told not to.
	cmd.Env = append(os.Environ(), childHelperEnv+"="+mode,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// kid is a child process handed to a test: its pid and a pidfd of the
// test's own (taken at clone time, so it is that child for sure).
type kid struct {
	pid, pidfd int
}

// spawn starts cmd, whose stdio must be nil or *os.File (os/exec would
// otherwise keep goroutines that only cmd.Wait ends), and releases os/exec's
// hold on it, so that nobody but the test and the loop waits for it. The
// test's cleanup kills the child (if it still runs), reaps it (unless the
// loop did) and closes the pidfd.
func spawn(t *testing.T, cmd *exec.Cmd) kid {
	t.Helper()
	pidfd := -1
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.PidFD = &pidfd
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	k := kid{pid: cmd.Process.Pid, pidfd: pidfd}
	_ = cmd.Process.Release() // an error only on Windows
	t.Cleanup(func() {
		// Best effort: ESRCH once it has exited, ECHILD when the loop
		// reaped it.
		_ = unix.PidfdSendSignal(k.pidfd, unix.SIGKILL, nil, 0)
		_, _ = waitPidfd(k.pidfd, unix.WEXITED)
		unix.Close(k.pidfd)
	})
	return k
}

// kill sends the child SIGKILL through the test's pidfd (never a recycled
// pid); it may be called from any goroutine. Best effort: the child may
// have exited already.
func (k kid) kill() { _ = unix.PidfdSendSignal(k.pidfd, unix.SIGKILL, nil, 0) }

// spawnSh runs /bin/sh -c script as a kid.
func spawnSh(t *testing.T, script string) kid {
	t.Helper()
	return spawn(t, exec.Command("/bin/sh", "-c", script))
}

// spawnBlocked runs /bin/sh -c 'read x; <script>' as a kid and returns a
// function that lets it go on (by closing the write end of its stdin).
func spawnBlocked(t *testing.T, script string) (kid, func()) {
	t.Helper()
	// os.Pipe, not testutil.Pipe: a descriptor that was O_NONBLOCK before
	// os/exec saw it stays so in the child, whose read would not block.
	r, w, err := os.Pipe()
	ok(t, "pipe", err)
	t.Cleanup(func() { w.Close() })
	cmd := exec.Command("/bin/sh", "-c", "read x; "+script)
	cmd.Stdin = r
	k := spawn(t, cmd)
	r.Close()
	return k, func() { w.Close() }
}

// waitResult is what waitid(2) wrote into its siginfo_t.
type waitResult struct {
	pid, uid, code, status int
}

// waitPidfd is waitid(P_PIDFD, pidfd, options), independent of the package's
// own wrapper. pid is 0 when WNOHANG found nothing to report.
func waitPidfd(pidfd, options int) (waitResult, error) {
	var si unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, pidfd, &si, options, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return waitResult{}, err
		}
		break
	}
	// siginfo_t: signo, errno, code, then (after padding to the pointer
	// size on 64-bit) pid, uid, status.
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	p := unsafe.Pointer(&si)
	return waitResult{
		pid:    int(*(*int32)(unsafe.Add(p, off))),
		uid:    int(*(*uint32)(unsafe.Add(p, off+4))),
		status: int(*(*int32)(unsafe.Add(p, off+8))),
		code:   int(si.Code),
	}, nil
}

// procState returns the state letter of /proc/<pid>/stat ('Z' for a
// zombie), or 0 when the process is gone.
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return 0
	}
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	p, err := testutil.ParseStat(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

// wantReaped fails the test unless the child behind k is gone: reaped, not
// a zombie.
func wantReaped(t *testing.T, k kid) {
	t.Helper()
	if _, err := waitPidfd(k.pidfd, unix.WEXITED|unix.WNOHANG); !errors.Is(err, unix.ECHILD) {
		t.Errorf("child %d: waitid after the handler: %v, want ECHILD (the loop should have reaped it)", k.pid, err)
	}
	if err := unix.Kill(k.pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("child %d: kill(pid, 0) = %v, want ESRCH", k.pid, err)
	}
}

// checkInfo fails the test unless ci is what waitid reports for pid with
// code and status.
func checkInfo(t *testing.T, ci *sdevent.ChildInfo, pid, code, status int) {
	t.Helper()
	if ci == nil {
		t.Errorf("child %d: nil ChildInfo", pid)
		return
	}
	want := sdevent.ChildInfo{Signo: int(unix.SIGCHLD), Code: code, Pid: pid, Uid: os.Getuid(), Status: status}
	if *ci != want {
		t.Errorf("child %d: ChildInfo %+v (%v), want %+v", pid, *ci, ci, want)
	}
}

// TestChildPidfd ports TEST(pidfd): a child watched through a pidfd that
// the caller opened is reported with its exit status; a second, frozen
// child watched with SetChildProcessOwn(true) stays alive while its source
// lives and is killed and reaped when the source is freed. The pidfd
// belongs to the caller unless SetChildPidfdOwn(true): an owned one is
// closed when the source is freed, one not owned stays open
// (sd_event_add_child_pidfd, sd_event_source_set_child_pidfd_own).
func TestChildPidfd(t *testing.T) {
	for _, own := range []bool{true, false} {
		t.Run(fmt.Sprintf("own=%v", own), func(t *testing.T) {
			e := newLoop(t)
			k := spawnSh(t, "exit 66")
			pidfd, err := unix.PidfdOpen(k.pid, 0)
			ok(t, "pidfd_open", err)
			if !own {
				t.Cleanup(func() { unix.Close(pidfd) })
			}
			frozen := spawn(t, exec.Command("sleep", "1000"))

			calls := 0
			s := must(t)(e.AddChildPidfd(pidfd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				calls++
				checkInfo(t, ci, k.pid, sdevent.CLDExited, 66)
				if err := s.Event().Exit(0); err != nil {
					t.Errorf("Exit: %v", err)
				}
				s.Unref() // the last reference, inside its own handler
				return nil
			}))
			if got, err := s.ChildPidfdOwn(); err != nil || got {
				t.Errorf("ChildPidfdOwn of AddChildPidfd = %v, %v; want false (the caller's pidfd)", got, err)
			}
			if got, err := s.ChildPidfd(); err != nil || got != pidfd {
				t.Errorf("ChildPidfd = %d, %v; want %d", got, err, pidfd)
			}
			if got, err := s.ChildPid(); err != nil || got != k.pid {
				t.Errorf("ChildPid = %d, %v; want %d", got, err, k.pid)
			}
			ok(t, "SetChildPidfdOwn", s.SetChildPidfdOwn(own))
			if got, _ := s.ChildPidfdOwn(); got != own {
				t.Errorf("ChildPidfdOwn = %v after SetChildPidfdOwn(%v)", got, own)
			}

			// This one never fires: its child lives until the source goes.
			f := must(t)(e.AddChild(frozen.pid, unix.WEXITED, func(*sdevent.Source, *sdevent.ChildInfo) error {
				t.Errorf("the frozen child %d was reported", frozen.pid)
				return nil
			}))
			ok(t, "SetChildProcessOwn", f.SetChildProcessOwn(true))
			if got, _ := f.ChildProcessOwn(); !got {
				t.Error("ChildProcessOwn = false after SetChildProcessOwn(true)")
			}
			if got, _ := f.ChildPidfdOwn(); !got {
				t.Error("ChildPidfdOwn of AddChild = false; AddChild opens and owns its pidfd")
			}

			if code := loop(t, e); code != 0 {
				t.Errorf("Loop = %d, want 0", code)
			}
			if calls != 1 {
				t.Errorf("handler called %d times, want 1", calls)
			}
			wantReaped(t, k)
			if got := testutil.FdOpen(pidfd); got == own {
				t.Errorf("caller's pidfd open after the source was freed: %v, want %v (owned: %v)", got, !own, own)
			}

			if err := unix.Kill(frozen.pid, 0); err != nil {
				t.Fatalf("frozen child dead while its source lives: kill(pid, 0) = %v", err)
			}
			f.Unref()
			// Killed and reaped before Unref returned.
			if err := unix.Kill(frozen.pid, 0); !errors.Is(err, unix.ESRCH) {
				t.Errorf("after Unref of the process-owned source: kill(pid, 0) = %v, want ESRCH", err)
			}
		})
	}
}

// TestChildPidfdOwnership: AddChild owns the pidfd it opened, and
// SetChildPidfdOwn(false) hands it to the caller, who must close it
// (sd_event_source_set_child_pidfd_own).
func TestChildPidfdOwnership(t *testing.T) {
	e := newLoop(t)
	k := spawn(t, exec.Command("sleep", "1000"))

	s := must(t)(e.AddChild(k.pid, unix.WEXITED, nil))
	fd, err := s.ChildPidfd()
	ok(t, "ChildPidfd", err)
	if fd < 0 || fd == k.pidfd {
		t.Fatalf("ChildPidfd = %d, want a pidfd of the source's own", fd)
	}
	s.Unref()
	if testutil.FdOpen(fd) {
		t.Errorf("the pidfd AddChild opened (%d) is still open after the source was freed", fd)
	}

	s = must(t)(e.AddChild(k.pid, unix.WEXITED, nil))
	fd, err = s.ChildPidfd()
	ok(t, "ChildPidfd", err)
	ok(t, "SetChildPidfdOwn(false)", s.SetChildPidfdOwn(false))
	s.Unref()
	if !testutil.FdOpen(fd) {
		t.Fatalf("pidfd %d closed although SetChildPidfdOwn(false) gave it to the caller", fd)
	}
	if pid, err := testutil.PidfdPid(fd); err != nil || pid != k.pid {
		t.Errorf("the pidfd left to the caller refers to pid %d (%v), want %d", pid, err, k.pid)
	}
	unix.Close(fd)
}

// TestChildWnowait ports TEST(child_wnowait) and TEST(child_pidfd_wnowait):
// with WNOWAIT the handler sees the zombie and the loop does not reap it; a
// source left ON fires again in every iteration while the zombie exists
// (SEMANTICS "Child"). The test then reaps the child itself.
func TestChildWnowait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options int
		pidfd   bool // AddChildPidfd instead of AddChild
	}{
		{"child", unix.WEXITED | unix.WNOWAIT, false},
		{"pidfd", unix.WEXITED | unix.WNOWAIT, true},
		// The same through the SIGCHLD-polled path of sources that also
		// watch stops.
		{"child-stopped", unix.WEXITED | unix.WSTOPPED | unix.WNOWAIT, false},
		{"pidfd-stopped", unix.WEXITED | unix.WSTOPPED | unix.WNOWAIT, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			k := spawnSh(t, "exit 42")
			var iters []uint64
			h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				iters = append(iters, s.Event().Iteration())
				checkInfo(t, ci, k.pid, sdevent.CLDExited, 42)
				if st := procState(t, k.pid); st != 'Z' {
					t.Errorf("call %d: child state %q in the handler, want 'Z'", len(iters), st)
				}
				if len(iters) == 5 {
					return s.Event().Exit(0)
				}
				return nil
			}
			var s *sdevent.Source
			if tc.pidfd {
				s = keep(t)(e.AddChildPidfd(k.pidfd, tc.options, h))
			} else {
				s = keep(t)(e.AddChild(k.pid, tc.options, h))
			}
			ok(t, "SetEnabled(On)", s.SetEnabled(source.On))

			code, err := loopErrBounded(e, long)
			if err != nil {
				t.Fatalf("Loop: %d, %v (handler calls: %d)", code, err, len(iters))
			}
			if len(iters) != 5 {
				t.Fatalf("handler called %d times, want 5", len(iters))
			}
			for i := 1; i < len(iters); i++ {
				if iters[i] != iters[i-1]+1 {
					t.Errorf("handler ran in iterations %v, want one call in each iteration", iters)
					break
				}
			}
			if err := s.SendChildSignal(unix.SIGTERM, nil, 0); !errors.Is(err, unix.ESRCH) {
				t.Errorf("SendChildSignal after the exit was seen: %v, want ESRCH", err)
			}
			// Not reaped: still waitable, with its status.
			wr, err := waitPidfd(k.pidfd, unix.WEXITED|unix.WNOHANG)
			if err != nil {
				t.Fatalf("waitid P_PIDFD: %v (the loop reaped a WNOWAIT child)", err)
			}
			if want := (waitResult{pid: k.pid, uid: os.Getuid(), code: sdevent.CLDExited, status: 42}); wr != want {
				t.Errorf("waitid = %+v, want %+v", wr, want)
			}
		})
	}
}

// loopErrBounded is Loop that gives up (returns an error) after d, so that
// a source that does not fire is a failure, not a hang.
func loopErrBounded(e *sdevent.Event, d time.Duration) (int, error) {
	tm, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, d, 0, func(s *sdevent.Source, _ time.Duration) error {
		return s.Event().Exit(-1000)
	})
	if err != nil {
		return 0, err
	}
	defer tm.Unref()
	code, err := e.Loop()
	if err == nil && code == -1000 {
		err = fmt.Errorf("the loop did not end within %v", d)
	}
	return code, err
}

// TestChildAutoreapEBUSY ports TEST(child_autoreap_ebusy): adding a child
// source works with SIGCHLD's default disposition and fails with EBUSY once
// SIGCHLD is ignored, because the kernel then reaps children by itself
// (SEMANTICS "Differences from C" 2). signal.Ignore cannot be undone for
// the rest of the process, so it runs in a re-executed test binary.
func TestChildAutoreapEBUSY(t *testing.T) {
	testutil.Check(t)
	cmd := helperCmd("autoreap")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("autoreap: ok")) {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
}

// autoreapHelper is the helper process of TestChildAutoreapEBUSY. It
// prints "autoreap: ok" and returns 0 when all went as expected.
func autoreapHelper() int {
	failed := false
	fail := func(format string, args ...any) {
		failed = true
		fmt.Printf(format+"\n", args...)
	}
	e, err := sdevent.New()
	if err != nil {
		fail("New: %v", err)
		return 1
	}
	defer e.Unref()
	pidfd := -1
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
	if err := cmd.Start(); err != nil {
		fail("start: %v", err)
		return 1
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release() // an error only on Windows
	defer func() {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) // best effort, as in spawn
		unix.Close(pidfd)
	}()

	// Default disposition: it works.
	if s, err := e.AddChild(pid, unix.WEXITED, nil); err != nil {
		fail("AddChild with SIGCHLD at its default: %v", err)
	} else {
		s.Unref()
	}
	if s, err := e.AddChildPidfd(pidfd, unix.WEXITED|unix.WSTOPPED, nil); err != nil {
		fail("AddChildPidfd with SIGCHLD at its default: %v", err)
	} else {
		s.Unref()
	}

	signal.Ignore(syscall.SIGCHLD)
	if s, err := e.AddChild(pid, unix.WEXITED, nil); !errors.Is(err, unix.EBUSY) {
		fail("AddChild with SIGCHLD ignored: %v, want EBUSY", err)
		s.Unref()
	}
	if s, err := e.AddChildPidfd(pidfd, unix.WEXITED, nil); !errors.Is(err, unix.EBUSY) {
		fail("AddChildPidfd with SIGCHLD ignored: %v, want EBUSY", err)
		s.Unref()
	}
	c := exec.Command("true")
	if s, err := e.AddCommand(c, unix.WEXITED, nil); !errors.Is(err, unix.EBUSY) {
		fail("AddCommand with SIGCHLD ignored: %v, want EBUSY", err)
		s.Unref()
	}
	if c.Process != nil {
		fail("AddCommand with SIGCHLD ignored started the command")
		_ = c.Wait() // reaps it; the failure is reported above
	}
	// Stops and continues alone: libsystemd 262 checks autoreaping only
	// when WEXITED is asked (verify_sigchld), and adds these while SIGCHLD
	// is ignored (and blocked, as C needs). Here watching them takes a
	// SIGCHLD handler through os/signal, which would end the autoreaping the
	// process asked for, for good: they are refused, and SIGCHLD stays
	// ignored.
	for _, opts := range []int{unix.WSTOPPED, unix.WCONTINUED, unix.WSTOPPED | unix.WNOWAIT} {
		if s, err := e.AddChildPidfd(pidfd, opts, nil); !errors.Is(err, unix.EBUSY) {
			fail("AddChildPidfd(%#x) with SIGCHLD ignored: %v, want EBUSY", opts, err)
			s.Unref()
		}
	}
	if err := autoreaped(); err != nil {
		fail("after the refused stop sources: %v", err)
	}
	// SA_NOCLDWAIT autoreaps too (C 262 checks it; 252 did not).
	act := struct {
		handler uintptr
		flags   uint64
		rest    [4]uint64
	}{flags: 2 /* SA_NOCLDWAIT */}
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); errno != 0 {
		fail("rt_sigaction(SIGCHLD, SIG_DFL, SA_NOCLDWAIT): %v", errno)
	}
	for _, opts := range []int{unix.WEXITED, unix.WSTOPPED} {
		if s, err := e.AddChildPidfd(pidfd, opts, nil); !errors.Is(err, unix.EBUSY) {
			fail("AddChildPidfd(%#x) with SA_NOCLDWAIT: %v, want EBUSY", opts, err)
			s.Unref()
		}
	}
	if failed {
		return 1
	}
	fmt.Println("autoreap: ok")
	return 0
}

// autoreaped checks that the kernel reaps an exiting child by itself: once
// its pidfd is readable, waitid finds no child to wait for.
func autoreaped() error {
	pidfd := -1
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = cmd.Process.Release() // an error only on Windows
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll the child's pidfd: %w", err)
		}
		if n == 0 {
			return errors.New("the child did not exit within 10s")
		}
		break
	}
	var si unix.Siginfo
	switch err := unix.Waitid(unix.P_PIDFD, pidfd, &si, unix.WEXITED|unix.WNOHANG, nil); {
	case err == nil:
		return errors.New("waitid found the exited child: SIGCHLD no longer autoreaps")
	case !errors.Is(err, unix.ECHILD):
		return fmt.Errorf("waitid of an exited child: %w, want ECHILD", err)
	}
	return nil
}

// TestChildSignalForkChain ports the chain of TEST(basic): a defer handler
// adds a signal source and raises the signal; the signal handler starts a
// child and watches it (process-owned), and once the child is ready sends
// it SIGUSR2 with a siginfo through SendChildSignal; the child exits 78,
// and its handler exits the loop. Each handler frees its own source.
func TestChildSignalForkChain(t *testing.T) {
	e := newLoop(t)
	var chain []string
	var k kid
	var child *sdevent.Source

	var childHandler sdevent.ChildHandler = func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		chain = append(chain, "child")
		checkInfo(t, ci, k.pid, sdevent.CLDExited, 78)
		if err := s.Event().Exit(0); err != nil {
			t.Errorf("Exit: %v", err)
		}
		s.Unref()
		return nil
	}
	var readyHandler sdevent.IOHandler = func(s *sdevent.Source, fd int, _ uint32) error {
		buf := make([]byte, 64)
		n, _ := unix.Read(fd, buf)
		if !bytes.Contains(buf[:max(n, 0)], []byte("ready")) {
			return nil // not yet all there
		}
		chain = append(chain, "ready")
		si := unix.Siginfo{Signo: int32(unix.SIGUSR2), Code: -1 /* SI_QUEUE */}
		if err := child.SendChildSignal(unix.SIGUSR2, &si, 0); err != nil {
			t.Errorf("SendChildSignal(SIGUSR2): %v", err)
		}
		s.Unref()
		return nil
	}
	signalHandler := func(s *sdevent.Source, si *unix.SignalfdSiginfo) error {
		chain = append(chain, "signal")
		if si.Signo != uint32(unix.SIGUSR1) {
			t.Errorf("signal handler got signal %d, want SIGUSR1", si.Signo)
		}
		r, w := testutil.Pipe(t)
		testutil.Disown(t, w)
		wf := os.NewFile(uintptr(w), "ready-pipe")
		cmd := helperCmd("wait-sigusr2")
		cmd.Stdout = wf
		k = spawn(t, cmd)
		wf.Close()
		var err error
		child, err = s.Event().AddChild(k.pid, unix.WEXITED, childHandler)
		if err != nil {
			t.Errorf("AddChild in the signal handler: %v", err)
			return err
		}
		ok(t, "SetEnabled(OneShot)", child.SetEnabled(source.OneShot))
		ok(t, "SetChildProcessOwn", child.SetChildProcessOwn(true))
		if _, err := s.Event().AddIO(r, unix.EPOLLIN, readyHandler); err != nil {
			t.Errorf("AddIO: %v", err)
		}
		s.Unref()
		return nil
	}
	d := must(t)(e.AddDefer(func(s *sdevent.Source) error {
		chain = append(chain, "defer")
		sig, err := s.Event().AddSignal(unix.SIGUSR1, signalHandler)
		if err != nil {
			t.Errorf("AddSignal: %v", err)
			return err
		}
		ok(t, "SetEnabled(OneShot)", sig.SetEnabled(source.OneShot))
		ok(t, "raise SIGUSR1", unix.Kill(os.Getpid(), unix.SIGUSR1))
		s.Unref()
		return nil
	}))
	ok(t, "SetEnabled(OneShot)", d.SetEnabled(source.OneShot))

	if code := loop(t, e); code != 0 {
		t.Errorf("Loop = %d, want 0", code)
	}
	if want := []string{"defer", "signal", "ready", "child"}; !slices.Equal(chain, want) {
		t.Errorf("chain %v, want %v", chain, want)
	}
	if k.pid > 0 {
		wantReaped(t, k)
	}
}

// TestChildQuickExample ports man/event-quick-child.c: a floating child
// source with the default handler and userdata 666; when the child exits,
// the default handler exits the loop with the userdata, so Loop returns 666
// (sd_event_add_child with a NULL handler).
func TestChildQuickExample(t *testing.T) {
	e := newLoop(t) // the C example uses the default loop; a private one keeps tests apart
	k := spawn(t, exec.Command("sleep", "0.1"))
	s, err := e.AddChild(k.pid, unix.WEXITED, nil)
	ok(t, "AddChild", err)
	s.SetUserdata(666)
	ok(t, "SetFloating", s.SetFloating(true))
	s.Unref() // the loop owns it now
	if code := loop(t, e); code != 666 {
		t.Errorf("Loop = %d, want 666", code)
	}
	wantReaped(t, k)
}

// nonexistentPid returns a pid that no process has now.
func nonexistentPid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	ok(t, "read pid_max", err)
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ok(t, "parse pid_max", err)
	for pid := pidMax - 1; pid > 300; pid-- {
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return pid
		}
	}
	t.Fatal("no free pid")
	return 0
}

// TestChildAddErrors: every way of adding a child source validates its
// arguments with sd-event's errno (SEMANTICS "Child"): pid <= 1 EINVAL;
// options empty, with unknown bits or WNOWAIT alone EINVAL; a second source
// for a pid EBUSY; pidfd < 0 EBADF; an fd that is not a pidfd ENOTTY (as
// systemd's pidfd_get_pid, and libsystemd 252); not our child ECHILD; no
// such process ESRCH; a finished loop ESTALE; child methods on another kind
// of source EDOM. A failed Add changes nothing: no descriptor is left open,
// no command is started, the pid can still be added, the loop still works.
func TestChildAddErrors(t *testing.T) {
	e := newLoop(t)
	watched := spawn(t, exec.Command("sleep", "1000"))
	free := spawn(t, exec.Command("sleep", "1000"))
	keep(t)(e.AddChild(watched.pid, unix.WEXITED, nil))
	def := keep(t)(e.AddDefer(nil))
	ok(t, "SetEnabled(Off)", def.SetEnabled(source.Off))
	finished, _, _ := finishedLoop(t)
	notPidfd, _ := testutil.Pipe(t)
	nobody := nonexistentPid(t)
	notOurs := os.Getppid()
	if notOurs <= 1 {
		notOurs = os.Getpid()
	}
	foreignPidfd, err := unix.PidfdOpen(notOurs, 0)
	ok(t, "pidfd_open(parent)", err)
	t.Cleanup(func() { unix.Close(foreignPidfd) })
	reapedPidfd := func() int {
		k := spawnSh(t, "exit 0")
		_, err := waitPidfd(k.pidfd, unix.WEXITED)
		ok(t, "reap", err)
		return k.pidfd
	}()

	h := func(*sdevent.Source, *sdevent.ChildInfo) error { return nil }
	var started []*exec.Cmd
	command := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(name, args...)
		started = append(started, c)
		return c
	}
	startedCmd := exec.Command("true")
	ok(t, "start", startedCmd.Start())
	t.Cleanup(func() { _ = startedCmd.Wait() }) // reaps it; its status is not what this test is about

	rows := []struct {
		name  string
		add   func() (*sdevent.Source, error)
		errno unix.Errno
	}{
		{"pid 0", func() (*sdevent.Source, error) { return e.AddChild(0, unix.WEXITED, h) }, unix.EINVAL},
		{"pid 1", func() (*sdevent.Source, error) { return e.AddChild(1, unix.WEXITED, h) }, unix.EINVAL},
		{"pid -1", func() (*sdevent.Source, error) { return e.AddChild(-1, unix.WEXITED, h) }, unix.EINVAL},
		{"options 0", func() (*sdevent.Source, error) { return e.AddChild(free.pid, 0, h) }, unix.EINVAL},
		{"options WNOHANG", func() (*sdevent.Source, error) { return e.AddChild(free.pid, unix.WEXITED|unix.WNOHANG, h) }, unix.EINVAL},
		{"options __WALL", func() (*sdevent.Source, error) { return e.AddChild(free.pid, unix.WEXITED|unix.WALL, h) }, unix.EINVAL},
		{"options -1", func() (*sdevent.Source, error) { return e.AddChild(free.pid, -1, h) }, unix.EINVAL},
		{"options WNOWAIT alone", func() (*sdevent.Source, error) { return e.AddChild(free.pid, unix.WNOWAIT, h) }, unix.EINVAL},
		{"pidfd options 0", func() (*sdevent.Source, error) { return e.AddChildPidfd(free.pidfd, 0, h) }, unix.EINVAL},
		{"pidfd options unknown", func() (*sdevent.Source, error) { return e.AddChildPidfd(free.pidfd, unix.WEXITED|1<<20, h) }, unix.EINVAL},
		{"pidfd options WNOWAIT alone", func() (*sdevent.Source, error) { return e.AddChildPidfd(free.pidfd, unix.WNOWAIT, h) }, unix.EINVAL},
		{"command options 0", func() (*sdevent.Source, error) { return e.AddCommand(command("true"), 0, h) }, unix.EINVAL},
		{"command options WNOWAIT alone", func() (*sdevent.Source, error) { return e.AddCommand(command("true"), unix.WNOWAIT, h) }, unix.EINVAL},
		{"command nil", func() (*sdevent.Source, error) { return e.AddCommand(nil, unix.WEXITED, h) }, unix.EINVAL},
		{"command already started", func() (*sdevent.Source, error) { return e.AddCommand(startedCmd, unix.WEXITED, h) }, unix.EINVAL},
		{"pid watched twice", func() (*sdevent.Source, error) { return e.AddChild(watched.pid, unix.WEXITED, h) }, unix.EBUSY},
		{"pid watched twice, other options", func() (*sdevent.Source, error) {
			return e.AddChild(watched.pid, unix.WEXITED|unix.WSTOPPED, h)
		}, unix.EBUSY},
		{"pidfd of a watched pid", func() (*sdevent.Source, error) { return e.AddChildPidfd(watched.pidfd, unix.WEXITED, h) }, unix.EBUSY},
		{"pidfd -1", func() (*sdevent.Source, error) { return e.AddChildPidfd(-1, unix.WEXITED, h) }, unix.EBADF},
		{"pidfd -1000", func() (*sdevent.Source, error) { return e.AddChildPidfd(-1000, unix.WEXITED, h) }, unix.EBADF},
		{"not a pidfd", func() (*sdevent.Source, error) { return e.AddChildPidfd(notPidfd, unix.WEXITED, h) }, unix.ENOTTY},
		{"not our child", func() (*sdevent.Source, error) { return e.AddChild(notOurs, unix.WEXITED, h) }, unix.ECHILD},
		{"ourselves", func() (*sdevent.Source, error) { return e.AddChild(os.Getpid(), unix.WEXITED, h) }, unix.ECHILD},
		{"pidfd not of our child", func() (*sdevent.Source, error) { return e.AddChildPidfd(foreignPidfd, unix.WEXITED, h) }, unix.ECHILD},
		{"not our child, stops too", func() (*sdevent.Source, error) {
			return e.AddChild(notOurs, unix.WEXITED|unix.WSTOPPED, h)
		}, unix.ECHILD},
		{"no such process", func() (*sdevent.Source, error) { return e.AddChild(nobody, unix.WEXITED, h) }, unix.ESRCH},
		{"pidfd of a reaped child", func() (*sdevent.Source, error) { return e.AddChildPidfd(reapedPidfd, unix.WEXITED, h) }, unix.ESRCH},
		{"finished loop", func() (*sdevent.Source, error) { return finished.AddChild(free.pid, unix.WEXITED, h) }, unix.ESTALE},
		{"finished loop, pidfd", func() (*sdevent.Source, error) { return finished.AddChildPidfd(free.pidfd, unix.WEXITED, h) }, unix.ESTALE},
		{"finished loop, command", func() (*sdevent.Source, error) { return finished.AddCommand(command("true"), unix.WEXITED, h) }, unix.ESTALE},
	}
	fdsBefore, err := testutil.OpenFds()
	ok(t, "OpenFds", err)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			s, err := row.add()
			if s != nil {
				t.Errorf("a failing add returned a source")
				s.Unref()
			}
			wantErrno(t, row.name, err, row.errno)
		})
	}
	fdsAfter, err := testutil.OpenFds()
	ok(t, "OpenFds", err)
	if leaked := fdsBefore.Leaked(fdsAfter, nil); len(leaked) > 0 {
		t.Errorf("failed adds left descriptors open: %v", leaked)
	}
	for _, c := range started {
		if c.Process != nil {
			t.Errorf("a failed AddCommand started %v", c.Args)
			_ = c.Process.Kill() // cleanup after the failure above
			_ = c.Wait()
		}
	}
	for _, fd := range []int{foreignPidfd, free.pidfd, watched.pidfd, notPidfd} {
		if !testutil.FdOpen(fd) {
			t.Errorf("a failed add closed the caller's descriptor %d", fd)
		}
	}

	t.Run("type mismatch EDOM", func(t *testing.T) {
		_, err := def.ChildPid()
		wantErrno(t, "ChildPid", err, unix.EDOM)
		_, err = def.ChildPidfd()
		wantErrno(t, "ChildPidfd", err, unix.EDOM)
		_, err = def.ChildPidfdOwn()
		wantErrno(t, "ChildPidfdOwn", err, unix.EDOM)
		wantErrno(t, "SetChildPidfdOwn", def.SetChildPidfdOwn(true), unix.EDOM)
		_, err = def.ChildProcessOwn()
		wantErrno(t, "ChildProcessOwn", err, unix.EDOM)
		wantErrno(t, "SetChildProcessOwn", def.SetChildProcessOwn(true), unix.EDOM)
		wantErrno(t, "SendChildSignal", def.SendChildSignal(unix.SIGTERM, nil, 0), unix.EDOM)
	})

	// Nothing changed: the pid that failed to be added can be added, and
	// the loop runs it to the end.
	var got *sdevent.ChildInfo
	s := keep(t)(e.AddChild(free.pid, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		c := *ci
		got = &c
		return s.Event().Exit(7)
	}))
	ok(t, "SendChildSignal", s.SendChildSignal(unix.SIGTERM, nil, 0))
	if code := loop(t, e); code != 7 {
		t.Errorf("Loop = %d, want 7", code)
	}
	checkInfo(t, got, free.pid, sdevent.CLDKilled, int(unix.SIGTERM))
	wantReaped(t, free)
}

// TestChildStopContinueKill: a source with WEXITED|WSTOPPED|WCONTINUED sees
// the stop, the continue and the kill that SendChildSignal causes, in that
// order, with si_code CLD_STOPPED, CLD_CONTINUED, CLD_KILLED
// (sd_event_add_child options, sd_event_source_send_child_signal). A
// WEXITED-only source on the same child (in another loop) sees none of the
// stop and continue. Once the exit was seen, SendChildSignal is ESRCH;
// an invalid signal is EINVAL.
func TestChildStopContinueKill(t *testing.T) {
	e := newLoop(t)
	exitOnly := newLoop(t)
	k := spawn(t, exec.Command("sleep", "1000"))

	var got []sdevent.ChildInfo
	s := keep(t)(e.AddChild(k.pid, unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		got = append(got, *ci)
		if ci.Code == sdevent.CLDKilled {
			if st := procState(t, k.pid); st != 'Z' {
				t.Errorf("state of the killed child in the handler %q, want 'Z'", st)
			}
		}
		return nil
	}))
	ok(t, "SetEnabled(On)", s.SetEnabled(source.On))
	x := must(t)(exitOnly.AddChild(k.pid, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		t.Errorf("the WEXITED-only source fired: %v", ci)
		return nil
	}))
	ok(t, "SetEnabled(On)", x.SetEnabled(source.On))

	for _, sig := range []unix.Signal{0, -1, 65, 1000} {
		wantErrno(t, fmt.Sprintf("SendChildSignal(%d)", sig), s.SendChildSignal(sig, nil, 0), unix.EINVAL)
	}

	steps := []struct {
		sig    unix.Signal
		code   int
		str    string
		signal unix.Signal
	}{
		{unix.SIGSTOP, sdevent.CLDStopped, "stopped (SIGSTOP)", unix.SIGSTOP},
		{unix.SIGCONT, sdevent.CLDContinued, "continued", unix.SIGCONT},
		{unix.SIGSTOP, sdevent.CLDStopped, "stopped (SIGSTOP)", unix.SIGSTOP},
		{unix.SIGCONT, sdevent.CLDContinued, "continued", unix.SIGCONT},
	}
	for i, st := range steps {
		ok(t, "SendChildSignal", s.SendChildSignal(st.sig, nil, 0))
		runUntil(t, e, fmt.Sprintf("step %d (%v)", i, st.str), func() bool { return len(got) > i })
		ci := &got[i]
		checkInfo(t, ci, k.pid, st.code, int(st.signal))
		if ci.String() != st.str || ci.Signal() != st.signal || ci.Exited() || ci.Signaled() || ci.ExitStatus() != -1 {
			t.Errorf("step %d: String %q Signal %v Exited %v Signaled %v ExitStatus %d; want %q, %v, false, false, -1",
				i, ci.String(), ci.Signal(), ci.Exited(), ci.Signaled(), ci.ExitStatus(), st.str, st.signal)
		}
		// Another child's exit makes the loop poll the stop-watching
		// sources again: the report just dispatched must not come back.
		poke := spawnSh(t, "exit 0")
		poked := false
		ps := must(t)(e.AddChild(poke.pid, unix.WEXITED|unix.WSTOPPED, func(*sdevent.Source, *sdevent.ChildInfo) error {
			poked = true
			return nil
		}))
		runUntil(t, e, fmt.Sprintf("step %d: the other child", i), func() bool { return poked })
		for range 2 {
			run(t, e, 0)
		}
		ps.Unref()
		if len(got) != i+1 {
			t.Fatalf("step %d: reports %v, want %d (a report was dispatched twice)", i, got, i+1)
		}
		// The exit-only source in the other loop has nothing to say.
		for range 3 {
			if run(t, exitOnly, 0) {
				t.Errorf("step %d: the exit-only loop dispatched something", i)
			}
		}
		if p, _ := x.Pending(); p {
			t.Errorf("step %d: the WEXITED-only source is pending", i)
		}
	}
	if len(got) != len(steps) {
		t.Fatalf("%d reports, want %d: %v", len(got), len(steps), got)
	}
	// No report left behind: nothing more without a new event.
	if run(t, e, 50*time.Millisecond) {
		t.Errorf("a stop/continue report was dispatched twice: %v", got)
	}

	// Only one loop may reap: the exit-only source goes before the kill.
	x.Unref()
	ok(t, "SendChildSignal(SIGKILL)", s.SendChildSignal(unix.SIGKILL, nil, 0))
	runUntil(t, e, "the kill", func() bool { return len(got) == len(steps)+1 })
	ci := &got[len(steps)]
	checkInfo(t, ci, k.pid, sdevent.CLDKilled, int(unix.SIGKILL))
	if !ci.Signaled() || ci.Signal() != unix.SIGKILL || ci.String() != "killed by SIGKILL" {
		t.Errorf("kill: Signaled %v Signal %v String %q", ci.Signaled(), ci.Signal(), ci.String())
	}
	wantErrno(t, "SendChildSignal after the exit was seen", s.SendChildSignal(unix.SIGTERM, nil, 0), unix.ESRCH)
	wantErrno(t, "SendChildSignal(0) after the exit", s.SendChildSignal(0, nil, 0), unix.EINVAL)
	wantReaped(t, k)
}

// TestChildExitOnlyIgnoresStop: a WEXITED-only source does not fire when its
// child stops or continues, only when it exits; a source watching stops
// on the same child, in another loop, proves that the stop happened.
func TestChildExitOnlyIgnoresStop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options int
	}{
		{"WEXITED", unix.WEXITED},
		{"WEXITED|WCONTINUED on stop", unix.WEXITED | unix.WCONTINUED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			witness := newLoop(t)
			e := newLoop(t)
			k := spawn(t, exec.Command("sleep", "1000"))
			var seen []int
			w := keep(t)(witness.AddChild(k.pid, unix.WSTOPPED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				seen = append(seen, ci.Code)
				return nil
			}))
			ok(t, "SetEnabled(On)", w.SetEnabled(source.On))
			var got []int
			s := keep(t)(e.AddChild(k.pid, tc.options, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				got = append(got, ci.Code)
				return nil
			}))
			ok(t, "SetEnabled(On)", s.SetEnabled(source.On))

			ok(t, "SIGSTOP", s.SendChildSignal(unix.SIGSTOP, nil, 0))
			runUntil(t, witness, "the witness seeing the stop", func() bool { return len(seen) == 1 })
			if seen[0] != sdevent.CLDStopped {
				t.Fatalf("witness saw code %d, want CLD_STOPPED", seen[0])
			}
			for range 3 {
				if run(t, e, 0) {
					t.Errorf("source with %s fired on a stop: %v", tc.name, got)
				}
			}
			w.Unref()
			ok(t, "SIGKILL", s.SendChildSignal(unix.SIGKILL, nil, 0))
			runUntil(t, e, "the exit", func() bool { return len(got) > 0 })
			if !slices.Equal(got, []int{sdevent.CLDKilled}) {
				t.Errorf("codes seen %v, want only CLD_KILLED", got)
			}
			wantReaped(t, k)
		})
	}
}

// TestChildProcessOwnKillOnFree: freeing a source with
// SetChildProcessOwn(true) before its child exited sends the child SIGKILL
// and reaps it before Unref returns (sd_event_source_set_child_process_own):
// kill(pid, 0) is ESRCH right after Unref; for AddCommand, cmd.ProcessState
// is set. Without it, the child lives on.
func TestChildProcessOwnKillOnFree(t *testing.T) {
	type added struct {
		s    *sdevent.Source
		pid  int
		cmd  *exec.Cmd
		kill func() // the test's own way to kill the child, from any goroutine
	}
	adders := []struct {
		name string
		add  func(t *testing.T, e *sdevent.Event, options int) added
	}{
		{"AddChild", func(t *testing.T, e *sdevent.Event, options int) added {
			k := spawn(t, exec.Command("sleep", "1000"))
			return added{s: must(t)(e.AddChild(k.pid, options, nil)), pid: k.pid, kill: k.kill}
		}},
		{"AddChildPidfd", func(t *testing.T, e *sdevent.Event, options int) added {
			k := spawn(t, exec.Command("sleep", "1000"))
			return added{s: must(t)(e.AddChildPidfd(k.pidfd, options, nil)), pid: k.pid, kill: k.kill}
		}},
		{"AddCommand", func(t *testing.T, e *sdevent.Event, options int) added {
			cmd := exec.Command("sleep", "1000")
			s := must(t)(e.AddCommand(cmd, options, nil))
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill() // best effort: it may have exited
					_ = cmd.Wait()
				}
			})
			p := cmd.Process
			return added{s: s, pid: p.Pid, cmd: cmd, kill: func() { _ = p.Kill() }}
		}},
	}
	for _, ad := range adders {
		for _, options := range []int{unix.WEXITED, unix.WEXITED | unix.WSTOPPED} {
			for _, own := range []bool{true, false} {
				name := fmt.Sprintf("%s/options=%#x/own=%v", ad.name, options, own)
				t.Run(name, func(t *testing.T) {
					e := newLoop(t)
					a := ad.add(t, e, options)
					ok(t, "SetChildProcessOwn", a.s.SetChildProcessOwn(own))
					// A few iterations first, so the loop has looked at it.
					for range 2 {
						if run(t, e, 0) {
							t.Errorf("something was dispatched for a child that runs")
						}
					}
					rescued := killOnFreeWatchdog(a.kill, a.s.Unref)
					err := unix.Kill(a.pid, 0)
					if own && rescued {
						t.Fatalf("Unref of a process-owned source did not kill its running child (the test's watchdog did after %v)", long)
					}
					if own && !errors.Is(err, unix.ESRCH) {
						t.Errorf("kill(pid, 0) right after Unref = %v, want ESRCH (killed and reaped)", err)
					}
					if !own && err != nil {
						t.Errorf("kill(pid, 0) after Unref = %v; a child not owned must live on", err)
					}
					if a.cmd != nil && own {
						ps := a.cmd.ProcessState
						if ps == nil {
							t.Fatal("cmd.ProcessState nil after Unref killed the command")
						}
						if ws := ps.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
							t.Errorf("cmd.ProcessState %v, want killed by SIGKILL", ps)
						}
					}
				})
			}
		}
	}

	// The loop frees a floating source when it is freed itself: the same
	// kill.
	t.Run("floating, loop freed", func(t *testing.T) {
		e, err := sdevent.New()
		ok(t, "New", err)
		k := spawn(t, exec.Command("sleep", "1000"))
		s, err := e.AddChild(k.pid, unix.WEXITED, nil)
		ok(t, "AddChild", err)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
		ok(t, "SetFloating", s.SetFloating(true))
		s.Unref()
		if killOnFreeWatchdog(k.kill, e.Unref) {
			t.Fatalf("freeing the loop did not kill the child of its process-owned source (the test's watchdog did after %v)", long)
		}
		if err := unix.Kill(k.pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("kill(pid, 0) after the loop was freed = %v, want ESRCH", err)
		}
	})

	// An exited child is not killed again, only reaped (the handler of a
	// ONESHOT source already ran).
	t.Run("after exit", func(t *testing.T) {
		e := newLoop(t)
		k := spawnSh(t, "exit 9")
		s := must(t)(e.AddChild(k.pid, unix.WEXITED, nil))
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
		s.SetUserdata(9)
		if code := loop(t, e); code != 9 {
			t.Errorf("Loop = %d, want 9", code)
		}
		s.Unref()
		wantReaped(t, k)
	})
}

// killOnFreeWatchdog calls free, which should kill and reap a child, and
// kills the child itself if free has not returned after long, so that a
// missing kill is a failure and not a hang. It reports whether it had to.
func killOnFreeWatchdog(kill, free func()) (rescued bool) {
	var fired atomic.Bool
	tm := time.AfterFunc(long, func() {
		fired.Store(true)
		kill()
	})
	free()
	tm.Stop()
	return fired.Load()
}

// TestChildInfo: the ChildInfo of a real exit 3, SIGTERM kill and SIGSEGV
// core dump (CLD_DUMPED or CLD_KILLED, depending on core_pattern and the
// core limit) answers Exited, ExitStatus, Signaled, Signal and String as
// waitid(2) says.
func TestChildInfo(t *testing.T) {
	for _, tc := range []struct {
		script   string
		codes    []int
		exited   bool
		status   int
		signaled bool
		signal   unix.Signal
		strs     []string
	}{
		{"exit 3", []int{sdevent.CLDExited}, true, 3, false, 0, []string{"exited 3"}},
		{"exit 0", []int{sdevent.CLDExited}, true, 0, false, 0, []string{"exited 0"}},
		{"exit 255", []int{sdevent.CLDExited}, true, 255, false, 0, []string{"exited 255"}},
		{"kill -TERM $$", []int{sdevent.CLDKilled}, false, -1, true, unix.SIGTERM, []string{"killed by SIGTERM"}},
		{"ulimit -c 0; kill -SEGV $$", []int{sdevent.CLDDumped, sdevent.CLDKilled}, false, -1, true, unix.SIGSEGV,
			[]string{"dumped core (SIGSEGV)", "killed by SIGSEGV"}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			e := newLoop(t)
			k := spawnSh(t, tc.script)
			var got *sdevent.ChildInfo
			keep(t)(e.AddChild(k.pid, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				c := *ci
				got = &c
				return s.Event().Exit(0)
			}))
			loop(t, e)
			if got == nil {
				t.Fatal("handler not called")
			}
			if i := slices.Index(tc.codes, got.Code); i < 0 {
				t.Errorf("Code %d, want one of %v", got.Code, tc.codes)
			} else if got.String() != tc.strs[i] {
				t.Errorf("String %q, want %q", got.String(), tc.strs[i])
			}
			wantStatus := tc.status
			if tc.signaled {
				wantStatus = int(tc.signal)
			}
			if got.Signo != int(unix.SIGCHLD) || got.Pid != k.pid || got.Uid != os.Getuid() || got.Status != wantStatus {
				t.Errorf("ChildInfo %+v, want Signo SIGCHLD, Pid %d, Uid %d, Status %d", *got, k.pid, os.Getuid(), wantStatus)
			}
			if got.Exited() != tc.exited || got.ExitStatus() != tc.status || got.Signaled() != tc.signaled || got.Signal() != tc.signal {
				t.Errorf("Exited %v ExitStatus %d Signaled %v Signal %v; want %v %d %v %v",
					got.Exited(), got.ExitStatus(), got.Signaled(), got.Signal(), tc.exited, tc.status, tc.signaled, tc.signal)
			}
		})
	}
}

// TestChildInfoMethods: the accessors and String of ChildInfo for every
// si_code, a nil ChildInfo and a code the kernel never sends.
func TestChildInfoMethods(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		ci       *sdevent.ChildInfo
		exited   bool
		status   int
		signaled bool
		signal   unix.Signal
		str      string
	}{
		{&sdevent.ChildInfo{Code: sdevent.CLDExited, Status: 3}, true, 3, false, 0, "exited 3"},
		{&sdevent.ChildInfo{Code: sdevent.CLDKilled, Status: 15}, false, -1, true, unix.SIGTERM, "killed by SIGTERM"},
		{&sdevent.ChildInfo{Code: sdevent.CLDDumped, Status: 11}, false, -1, true, unix.SIGSEGV, "dumped core (SIGSEGV)"},
		{&sdevent.ChildInfo{Code: sdevent.CLDTrapped, Status: 5}, false, -1, false, unix.SIGTRAP, "trapped (SIGTRAP)"},
		{&sdevent.ChildInfo{Code: sdevent.CLDStopped, Status: 19}, false, -1, false, unix.SIGSTOP, "stopped (SIGSTOP)"},
		{&sdevent.ChildInfo{Code: sdevent.CLDStopped, Status: 20}, false, -1, false, unix.SIGTSTP, "stopped (SIGTSTP)"},
		{&sdevent.ChildInfo{Code: sdevent.CLDContinued, Status: 18}, false, -1, false, unix.SIGCONT, "continued"},
		{&sdevent.ChildInfo{Code: sdevent.CLDKilled, Status: 40}, false, -1, true, 40, "killed by signal 40"},
		{&sdevent.ChildInfo{Code: 0}, false, -1, false, 0, "reaped elsewhere"},
		{&sdevent.ChildInfo{Code: 99, Status: 1}, false, -1, false, 0, "code 99 status 1"},
		{nil, false, -1, false, 0, "<nil>"},
	} {
		t.Run(tc.str, func(t *testing.T) {
			ci := tc.ci
			if ci.Exited() != tc.exited || ci.ExitStatus() != tc.status || ci.Signaled() != tc.signaled || ci.Signal() != tc.signal || ci.String() != tc.str {
				t.Errorf("Exited %v ExitStatus %d Signaled %v Signal %v String %q; want %v %d %v %v %q",
					ci.Exited(), ci.ExitStatus(), ci.Signaled(), ci.Signal(), ci.String(),
					tc.exited, tc.status, tc.signaled, tc.signal, tc.str)
			}
		})
	}
}

// TestChildHandlerSeesZombie: the handler runs while an exited child is
// still a zombie (/proc/<pid>/stat state Z); after the handler returns the
// loop has reaped it, unless WNOWAIT was given (SEMANTICS "Child", C's
// source_dispatch). The same for every way of adding, and for sources
// that learn of the exit from the pidfd and from SIGCHLD.
func TestChildHandlerSeesZombie(t *testing.T) {
	for _, how := range []string{"AddChild", "AddChildPidfd", "AddCommand"} {
		for _, options := range []int{unix.WEXITED, unix.WEXITED | unix.WSTOPPED, unix.WEXITED | unix.WCONTINUED | unix.WNOWAIT} {
			t.Run(fmt.Sprintf("%s/options=%#x", how, options), func(t *testing.T) {
				e := newLoop(t)
				var (
					pid   int
					cmd   *exec.Cmd
					state byte
					calls int
					k     kid
				)
				h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
					calls++
					state = procState(t, pid)
					checkInfo(t, ci, pid, sdevent.CLDExited, 5)
					if cmd != nil && cmd.ProcessState != nil {
						t.Error("cmd.ProcessState set before the handler returned")
					}
					return nil
				}
				var s *sdevent.Source
				switch how {
				case "AddChild":
					k = spawnSh(t, "exit 5")
					pid = k.pid
					s = keep(t)(e.AddChild(k.pid, options, h))
				case "AddChildPidfd":
					k = spawnSh(t, "exit 5")
					pid = k.pid
					s = keep(t)(e.AddChildPidfd(k.pidfd, options, h))
				case "AddCommand":
					cmd = exec.Command("/bin/sh", "-c", "exit 5")
					s = keep(t)(e.AddCommand(cmd, options, h))
					pid = cmd.Process.Pid
					t.Cleanup(func() {
						if cmd.ProcessState == nil {
							_ = cmd.Process.Kill() // best effort: it may have exited
							_ = cmd.Wait()
						}
					})
				}
				runUntil(t, e, "the exit", func() bool { return calls > 0 })
				if state != 'Z' {
					t.Errorf("child state in the handler %q, want 'Z'", state)
				}
				if en, _ := s.Enabled(); en != source.Off {
					t.Errorf("ONESHOT source is %v after its handler", en)
				}
				if options&unix.WNOWAIT != 0 {
					if st := procState(t, pid); st != 'Z' {
						t.Errorf("WNOWAIT: state after the handler %q, want 'Z' (not reaped)", st)
					}
					if cmd != nil {
						if cmd.ProcessState != nil {
							t.Error("WNOWAIT: the loop called cmd.Wait")
						}
						if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 5 {
							t.Errorf("cmd.Wait after WNOWAIT: %v, %v; want exit status 5", err, cmd.ProcessState)
						}
					} else if wr, err := waitPidfd(k.pidfd, unix.WEXITED|unix.WNOHANG); err != nil || wr.pid != pid || wr.status != 5 {
						t.Errorf("waitid after WNOWAIT: %+v, %v; want the exit of %d", wr, err, pid)
					}
					return
				}
				if st := procState(t, pid); st != 0 {
					t.Errorf("state after the handler %q, want the process gone (reaped)", st)
				}
				if cmd != nil {
					if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 5 {
						t.Errorf("cmd.ProcessState after the handler %v, want exit status 5", cmd.ProcessState)
					}
				} else {
					wantReaped(t, k)
				}
			})
		}
	}
}

// TestChildEnabledAfterExit: a source that was off when its child exited
// reports the exit once it is switched on again. For a source that learns
// of exits from its pidfd, the pidfd is readable again when it goes back
// into epoll. For one polled on SIGCHLD, C keeps the SIGCHLD pending in the
// kernel while no source needs it (it stays blocked, out of the signalfd
// mask) and reads it when the source comes back online; the port, whose
// SIGCHLD arrives through the Go runtime and is gone once taken, must poll
// the child when the source comes back online instead.
func TestChildEnabledAfterExit(t *testing.T) {
	for _, options := range []int{unix.WEXITED, unix.WEXITED | unix.WSTOPPED} {
		t.Run(fmt.Sprintf("options=%#x", options), func(t *testing.T) {
			e := newLoop(t)
			k := spawn(t, exec.Command("sleep", "1000"))
			var got *sdevent.ChildInfo
			s := keep(t)(e.AddChild(k.pid, options, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				c := *ci
				got = &c
				return nil
			}))
			for range 2 {
				run(t, e, 0)
			}
			ok(t, "SetEnabled(Off)", s.SetEnabled(source.Off))
			ok(t, "SIGKILL", unix.PidfdSendSignal(k.pidfd, unix.SIGKILL, nil, 0))
			// The test's own pidfd turns readable when the child has exited.
			fds := []unix.PollFd{{Fd: int32(k.pidfd), Events: unix.POLLIN}}
			if n, err := unix.Poll(fds, int(long/time.Millisecond)); n != 1 || err != nil {
				t.Fatalf("poll on the pidfd: %d, %v", n, err)
			}
			// Let the loop take in whatever the exit brought (its SIGCHLD).
			for range 3 {
				if run(t, e, 100*time.Millisecond) {
					t.Fatalf("something was dispatched while the child source was off: %v", got)
				}
			}
			if got != nil {
				t.Fatalf("an Off source fired: %v", got)
			}
			ok(t, "SetEnabled(OneShot)", s.SetEnabled(source.OneShot))
			runUntil(t, e, "the exit, after enabling", func() bool { return got != nil })
			checkInfo(t, got, k.pid, sdevent.CLDKilled, int(unix.SIGKILL))
			wantReaped(t, k)
		})
	}
}

// TestCommandExitStatus: AddCommand delivers the exit status to the
// handler; the loop calls cmd.Wait after the handler, so cmd.ProcessState
// is set and the output that os/exec copies into a bytes.Buffer is
// complete, and no goroutine of os/exec outlives it.
func TestCommandExitStatus(t *testing.T) {
	before := testutil.Goroutines()
	e := newLoop(t)
	const size = 300000
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("yes hello | head -c %d; echo done >&2; exit 5", size))
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	var got *sdevent.ChildInfo
	s := keep(t)(e.AddCommand(cmd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		c := *ci
		got = &c
		if cmd.ProcessState != nil {
			t.Error("cmd.ProcessState set inside the handler; the loop waits after it")
		}
		return s.Event().Exit(ci.ExitStatus())
	}))
	pid := cmd.Process.Pid
	if got, _ := s.ChildPid(); got != pid {
		t.Errorf("ChildPid %d, want %d", got, pid)
	}
	if own, _ := s.ChildPidfdOwn(); !own {
		t.Error("AddCommand's pidfd is not owned by the source")
	}
	if code := loop(t, e); code != 5 {
		t.Errorf("Loop = %d, want 5", code)
	}
	checkInfo(t, got, pid, sdevent.CLDExited, 5)
	if cmd.ProcessState == nil {
		t.Fatal("cmd.ProcessState nil after the loop; the loop should have called cmd.Wait")
	}
	if ec := cmd.ProcessState.ExitCode(); ec != 5 {
		t.Errorf("cmd.ProcessState %v, want exit status 5", cmd.ProcessState)
	}
	if stdout.Len() != size || !bytes.HasPrefix(stdout.Bytes(), []byte("hello\nhello\n")) {
		t.Errorf("stdout has %d bytes, want %d", stdout.Len(), size)
	}
	if stderr.String() != "done\n" {
		t.Errorf("stderr %q, want %q", stderr.String(), "done\n")
	}
	if err := cmd.Wait(); err == nil {
		t.Error("a second cmd.Wait succeeded: the loop did not wait")
	}
	// os/exec's copying goroutines are done once Wait returned; give them
	// the moment they need to return.
	var leaked []testutil.Goroutine
	for range 200 {
		if leaked = testutil.LeakedGoroutines(before, testutil.Goroutines(), nil); len(leaked) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, g := range leaked {
		t.Errorf("goroutine left:\n%s", g.Stack)
	}
}

// TestCommandStartFails: a command that cannot start makes AddCommand
// return its error (exec.ErrNotFound, ENOENT) and adds nothing.
func TestCommandStartFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  func() *exec.Cmd
		want error
	}{
		{"not in PATH", func() *exec.Cmd { return exec.Command("sdevent-test-no-such-command") }, exec.ErrNotFound},
		{"no such file", func() *exec.Cmd { return exec.Command("/nonexistent/sdevent-test-binary") }, unix.ENOENT},
		{"not executable", func() *exec.Cmd { return exec.Command("/proc/self/status") }, unix.EACCES},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			fds := testutil.FdCount()
			cmd := tc.cmd()
			s, err := e.AddCommand(cmd, unix.WEXITED, nil)
			if s != nil {
				s.Unref()
				t.Error("AddCommand returned a source")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("AddCommand: %v, want an error wrapping %v", err, tc.want)
			}
			if cmd.Process != nil {
				t.Errorf("cmd.Process set: %v", cmd.Process)
			}
			if cmd.SysProcAttr != nil && cmd.SysProcAttr.PidFD != nil {
				t.Error("AddCommand left its pidfd pointer in cmd.SysProcAttr")
			}
			if n := testutil.FdCount(); n != fds {
				t.Errorf("%d descriptors open after the failed AddCommand, %d before", n, fds)
			}
			// Nothing was added: with exit-on-idle the loop ends at once.
			ok(t, "SetExitOnIdle", e.SetExitOnIdle(true))
			if code := loop(t, e); code != 0 {
				t.Errorf("Loop = %d, want 0", code)
			}
		})
	}
}

// TestCommandHandlerWaits: a handler may call cmd.Wait itself; the loop
// then does not wait again, and the status is the same.
func TestCommandHandlerWaits(t *testing.T) {
	e := newLoop(t)
	var out bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", "echo bye; exit 4")
	cmd.Stdout = &out
	var waitErr error
	keep(t)(e.AddCommand(cmd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		waitErr = cmd.Wait()
		return s.Event().Exit(ci.ExitStatus())
	}))
	if code := loop(t, e); code != 4 {
		t.Errorf("Loop = %d, want 4", code)
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) || ee.ExitCode() != 4 {
		t.Errorf("cmd.Wait in the handler: %v, want exit status 4", waitErr)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 4 || out.String() != "bye\n" {
		t.Errorf("after the loop: ProcessState %v, output %q", cmd.ProcessState, out.String())
	}
}

// TestCommandOwnPidfd: a command whose caller asked os/exec for a pidfd
// (SysProcAttr.PidFD) keeps it: AddCommand watches through a duplicate, and
// the caller's pidfd stays the caller's to close.
func TestCommandOwnPidfd(t *testing.T) {
	e := newLoop(t)
	fds := testutil.FdCount()
	mine := -1
	cmd := exec.Command("/bin/sh", "-c", "exit 2")
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &mine}
	s := must(t)(e.AddCommand(cmd, unix.WEXITED, nil))
	s.SetUserdata(2)
	if mine < 0 {
		t.Fatal("the caller's PidFD was not filled in")
	}
	if fd, _ := s.ChildPidfd(); fd == mine {
		t.Errorf("the source uses the caller's pidfd %d itself", mine)
	}
	if code := loop(t, e); code != 2 {
		t.Errorf("Loop = %d, want 2", code)
	}
	s.Unref()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("ProcessState %v, want exit status 2", cmd.ProcessState)
	}
	if !testutil.FdOpen(mine) {
		t.Fatal("the caller's pidfd was closed")
	}
	unix.Close(mine)
	if n := testutil.FdCount(); n != fds {
		t.Errorf("%d descriptors open at the end, %d at the start", n, fds)
	}
}

// TestChildLeavesOtherChildrenAlone: children that the loop does not watch
// are never reaped by it (SEMANTICS "Child": never P_ALL), even while the
// loop takes in the exits of its own children at the same moment: the
// owner's cmd.Wait, concurrent or later, gets the right status.
func TestChildLeavesOtherChildrenAlone(t *testing.T) {
	e := newLoop(t)
	r, w, err := os.Pipe()
	ok(t, "pipe", err)
	defer w.Close()

	start := func(script string) *exec.Cmd {
		c := exec.Command("/bin/sh", "-c", script)
		c.Stdin = r
		return c
	}
	concurrent := start("read x; exit 7")
	later := start("read x; exit 9")
	for _, c := range []*exec.Cmd{concurrent, later} {
		ok(t, "start", c.Start())
	}
	waited := make(chan error, 1)
	go func() { waited <- concurrent.Wait() }()
	concurrentDone := false
	t.Cleanup(func() { // when the test failed half-way
		if !concurrentDone {
			_ = concurrent.Process.Kill() // best effort: it may have exited
			t.Logf("the concurrent child, killed in cleanup: %v", <-waited)
		}
		if later.ProcessState == nil {
			_ = later.Process.Kill() // best effort: it may have exited
			_ = later.Wait()
		}
	})

	const n = 12
	seen := 0
	for i := range n {
		options := unix.WEXITED
		if i%2 == 1 {
			options |= unix.WSTOPPED // the SIGCHLD-polled path
		}
		h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
			if ci.Code != sdevent.CLDExited || ci.Status != 20+i {
				t.Errorf("own child %d: %v, want exited %d", i, ci, 20+i)
			}
			if seen++; seen == n {
				return s.Event().Exit(0)
			}
			return nil
		}
		if i%3 == 0 {
			c := start(fmt.Sprintf("read x; exit %d", 20+i))
			keep(t)(e.AddCommand(c, options, h))
			t.Cleanup(func() {
				if c.ProcessState == nil {
					_ = c.Process.Kill() // best effort: it may have exited
					_ = c.Wait()
				}
			})
		} else {
			cmd := start(fmt.Sprintf("read x; exit %d", 20+i))
			k := spawn(t, cmd)
			keep(t)(e.AddChild(k.pid, options, h))
		}
	}
	r.Close()
	w.Close() // every child reads EOF and exits
	if code := loop(t, e); code != 0 {
		t.Errorf("Loop = %d, want 0", code)
	}
	var ee *exec.ExitError
	err = <-waited
	concurrentDone = true
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("concurrent cmd.Wait of a child the loop does not watch: %v, want exit status 7", err)
	}
	if err := later.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 9 {
		t.Errorf("later cmd.Wait of a child the loop does not watch: %v, want exit status 9", err)
	}
}

// TestChildSIGCHLDSignalSourceCoexists: a SIGCHLD signal source and child
// sources live in one loop: an exit makes both fire, and freeing one of
// them leaves the other working (the loop's SIGCHLD subscription is
// counted, not shared by accident).
func TestChildSIGCHLDSignalSourceCoexists(t *testing.T) {
	for _, options := range []int{unix.WEXITED, unix.WEXITED | unix.WSTOPPED} {
		t.Run(fmt.Sprintf("both/options=%#x", options), func(t *testing.T) {
			e := newLoop(t)
			k, release := spawnBlocked(t, "exit 12")
			sigs := 0
			keep(t)(e.AddSignal(unix.SIGCHLD, func(_ *sdevent.Source, si *unix.SignalfdSiginfo) error {
				if si.Signo != uint32(unix.SIGCHLD) {
					t.Errorf("signal source got %d", si.Signo)
				}
				sigs++
				return nil
			}))
			var got *sdevent.ChildInfo
			keep(t)(e.AddChild(k.pid, options, func(_ *sdevent.Source, ci *sdevent.ChildInfo) error {
				c := *ci
				got = &c
				return nil
			}))
			release() // the child exits now that both sources exist
			runUntil(t, e, "both sources", func() bool { return sigs > 0 && got != nil })
			checkInfo(t, got, k.pid, sdevent.CLDExited, 12)
			wantReaped(t, k)
		})
		t.Run(fmt.Sprintf("signal source freed/options=%#x", options), func(t *testing.T) {
			e := newLoop(t)
			k, release := spawnBlocked(t, "exit 13")
			sig := must(t)(e.AddSignal(unix.SIGCHLD, func(*sdevent.Source, *unix.SignalfdSiginfo) error { return nil }))
			var got *sdevent.ChildInfo
			keep(t)(e.AddChild(k.pid, options, func(_ *sdevent.Source, ci *sdevent.ChildInfo) error {
				c := *ci
				got = &c
				return nil
			}))
			run(t, e, 0)
			sig.Unref()
			release()
			runUntil(t, e, "the child source after the signal source was freed", func() bool { return got != nil })
			checkInfo(t, got, k.pid, sdevent.CLDExited, 13)
		})
		t.Run(fmt.Sprintf("child source freed/options=%#x", options), func(t *testing.T) {
			e := newLoop(t)
			first := spawn(t, exec.Command("sleep", "1000"))
			sigs := 0
			keep(t)(e.AddSignal(unix.SIGCHLD, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
				sigs++
				return nil
			}))
			c := must(t)(e.AddChild(first.pid, options, nil))
			run(t, e, 0)
			c.Unref()
			if sigs != 0 {
				t.Fatalf("%d SIGCHLD before any child exited", sigs)
			}
			ok(t, "kill", unix.PidfdSendSignal(first.pidfd, unix.SIGKILL, nil, 0))
			runUntil(t, e, "SIGCHLD after the child source was freed", func() bool { return sigs > 0 })
			_, err := waitPidfd(first.pidfd, unix.WEXITED)
			ok(t, "reap", err)
		})
	}
}

// TestChildThousand: 1,000 children blocked on one pipe are released at
// once; every exit status reaches the right source exactly once, none is
// left a zombie, no descriptor is left open, and the loop does not hold an
// OS thread per child (SEMANTICS "Differences from C" 5).
func TestChildThousand(t *testing.T) {
	testutil.Check(t)
	const n = 1000
	fdsBefore := testutil.FdCount()
	threadsBefore := testutil.Threads(t)

	e, err := sdevent.New()
	ok(t, "New", err)
	r, w, err := os.Pipe()
	ok(t, "pipe", err)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	ok(t, "open /dev/null", err)

	type entry struct {
		s      *sdevent.Source
		pid    int
		status int
		calls  int
		cmd    *exec.Cmd
		after  time.Duration
	}
	entries := make([]*entry, n)
	var sources []*sdevent.Source
	defer func() { // also when the test fails half-way
		w.Close()
		for _, s := range sources {
			s.Unref() // process-owned: kills and reaps what did not exit
		}
		e.Unref()
		r.Close()
		devnull.Close()
	}()

	var released time.Time
	done := 0
	maxThreads := 0
	h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		en := s.Userdata().(*entry)
		en.calls++
		en.after = time.Since(released)
		if ci.Pid != en.pid || !ci.Exited() || ci.ExitStatus() != en.status {
			t.Errorf("source of pid %d (want exit %d) got %v of pid %d", en.pid, en.status, ci, ci.Pid)
		}
		if done++; done%100 == 0 {
			maxThreads = max(maxThreads, testutil.Threads(t))
		}
		if done == n {
			return s.Event().Exit(0)
		}
		return nil
	}

	t0 := time.Now()
	forkRetries := 0
	for i := range n {
		en := &entry{status: i % 256}
		entries[i] = en
		options := unix.WEXITED
		if i%10 == 9 {
			options |= unix.WSTOPPED // a hundred on the SIGCHLD-polled path
		}
		var s *sdevent.Source
		var err error
		// The pids cgroup may be shared with other test runs: a fork that
		// finds it full (EAGAIN) is tried again, with a new Cmd, for a while.
		var cmd *exec.Cmd
		pidfd := -1
		for attempt := 0; ; attempt++ {
			cmd = exec.Command("/bin/sh", "-c", fmt.Sprintf("read x; exit %d", en.status))
			cmd.Stdin, cmd.Stdout, cmd.Stderr = r, devnull, devnull
			if i%3 == 0 {
				s, err = e.AddCommand(cmd, options, h)
			} else {
				cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
				err = cmd.Start()
			}
			if !errors.Is(err, unix.EAGAIN) || attempt == 500 {
				break
			}
			forkRetries++
			time.Sleep(10 * time.Millisecond)
		}
		switch i % 3 {
		case 0:
			en.cmd = cmd
			if err == nil {
				en.pid = cmd.Process.Pid
			}
		case 1, 2:
			if err != nil {
				break
			}
			en.pid = cmd.Process.Pid
			_ = cmd.Process.Release() // an error only on Windows
			if i%3 == 1 {
				s, err = e.AddChild(en.pid, options, h)
				unix.Close(pidfd)
			} else if s, err = e.AddChildPidfd(pidfd, options, h); err == nil {
				err = s.SetChildPidfdOwn(true)
			} else {
				unix.Close(pidfd)
			}
		}
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		sources = append(sources, s)
		en.s = s
		s.SetUserdata(en)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
	}
	startTime := time.Since(t0)
	threadsStarted := testutil.Threads(t)

	released = time.Now()
	w.Close() // all children read EOF at once
	code, err := loopErr(t, e)
	total := time.Since(released)
	if err != nil || code != 0 {
		t.Fatalf("Loop: %d, %v (%d of %d exits seen)", code, err, done, n)
	}

	// Exactly once each, and nothing more to come.
	for i, en := range entries {
		if en.calls != 1 {
			t.Errorf("child %d (pid %d): handler called %d times", i, en.pid, en.calls)
		}
	}
	zombies, err := testutil.Zombies()
	ok(t, "Zombies", err)
	if len(zombies) > 0 {
		t.Errorf("%d zombies left after the loop, e.g. %v", len(zombies), zombies[0])
	}
	for _, en := range entries {
		if en.cmd != nil && (en.cmd.ProcessState == nil || en.cmd.ProcessState.ExitCode() != en.status) {
			t.Errorf("AddCommand child %d: ProcessState %v, want exit status %d", en.pid, en.cmd.ProcessState, en.status)
		}
	}
	threadsAfterLoop := testutil.Threads(t)

	for _, s := range sources {
		s.Unref()
	}
	sources = nil
	e.Unref()
	r.Close()
	devnull.Close()
	fdsAfter := testutil.FdCount()
	threadsAfter := testutil.Threads(t)

	afters := make([]time.Duration, n)
	for i, en := range entries {
		afters[i] = en.after
	}
	slices.Sort(afters)
	t.Logf("started %d children in %v (%v each; %d forks retried after EAGAIN)", n, startTime, startTime/n, forkRetries)
	t.Logf("release → last exit handled: %v, %v per exit; first %v, median %v, p90 %v, p99 %v, last %v",
		total, total/n, afters[0], afters[n/2], afters[n*9/10], afters[n*99/100], afters[n-1])
	t.Logf("threads: before %d, children started %d, max during the loop %d, after the loop %d, at the end %d (GOMAXPROCS %d)",
		threadsBefore, threadsStarted, maxThreads, threadsAfterLoop, threadsAfter, runtime.GOMAXPROCS(0))
	t.Logf("fds: before %d, after %d", fdsBefore, fdsAfter)

	if fdsAfter != fdsBefore {
		t.Errorf("%d descriptors open at the end, %d at the start", fdsAfter, fdsBefore)
	}
	limit := max(20, threadsBefore+10)
	for _, x := range []struct {
		what string
		n    int
	}{{"during the loop", maxThreads}, {"after the loop", threadsAfterLoop}, {"at the end", threadsAfter}} {
		if x.n >= limit {
			t.Errorf("%d OS threads %s, want fewer than %d (before: %d)", x.n, x.what, limit, threadsBefore)
		}
	}
}

// blockedChildren are n shells that each wait for EOF on one pipe and
// then exit with a status of their own: they are released all at once by
// closing the pipe's write end. No os.Process exists for them, so nothing
// but a loop's child source waits for them. The test's cleanup releases
// them, and kills and reaps those that no source took over (see take).
type blockedChildren struct {
	pids    []int
	owned   []bool // not yet handed to a source
	w       int    // write end of the pipe, -1 once closed
	devnull int
}

func spawnBlockedChildren(t *testing.T, n int, status func(i int) int) *blockedChildren {
	t.Helper()
	// A blocking pipe: the children's read(2) must wait (testutil.Pipe
	// makes non-blocking ones, and the flag lives in the shared open file).
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	devnull, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		t.Fatalf("open %s: %v", os.DevNull, err)
	}
	c := &blockedChildren{w: p[1], devnull: devnull}
	t.Cleanup(func() {
		c.release()
		for i, pid := range c.pids {
			if c.owned[i] {
				// Never reaped by anyone else, so pid is still ours.
				_ = unix.Kill(pid, unix.SIGKILL) // it may have died already; the wait below reaps it
				var ws unix.WaitStatus
				for {
					if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
						break
					}
				}
			}
		}
		unix.Close(c.devnull)
	})
	defer unix.Close(p[0]) // the children hold it
	attr := &syscall.ProcAttr{Files: []uintptr{uintptr(p[0]), uintptr(devnull), uintptr(devnull)}}
	retries := 0
	var busy time.Time // when fork first said EAGAIN in a row
	for i := 0; i < n; {
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", fmt.Sprintf("read x; exit %d", status(i))}, attr)
		if err == syscall.EAGAIN {
			// The task limit (a cgroup's pids.max, RLIMIT_NPROC) is shared
			// with whatever else runs on the machine: give it a while to
			// make room; there is no descriptor to wait on for that.
			if busy.IsZero() {
				busy = time.Now()
			}
			if time.Since(busy) < 10*time.Second {
				retries++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			t.Fatalf("fork child %d of %d: %v for 10s: the process may not have %d children (%s)", i, n, err, n, taskLimits())
		}
		if err != nil {
			t.Fatalf("fork child %d of %d: %v", i, n, err)
		}
		busy = time.Time{}
		c.pids = append(c.pids, pid)
		c.owned = append(c.owned, true)
		i++
	}
	if retries > 0 {
		t.Logf("fork said EAGAIN %d times: the task limit is shared (%s)", retries, taskLimits())
	}
	return c
}

// taskLimits describes what limits the number of processes: the pids
// cgroup (v1 or v2) and RLIMIT_NPROC.
func taskLimits() string {
	var parts []string
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 || (f[1] != "pids" && f[0] != "0") {
				continue
			}
			dir := "/sys/fs/cgroup" + f[2]
			if f[1] == "pids" {
				dir = "/sys/fs/cgroup/pids" + f[2]
			}
			limit, err1 := os.ReadFile(dir + "/pids.max")
			cur, err2 := os.ReadFile(dir + "/pids.current")
			if err1 == nil && err2 == nil {
				parts = append(parts, fmt.Sprintf("%s: pids.max %s, pids.current %s", dir,
					strings.TrimSpace(string(limit)), strings.TrimSpace(string(cur))))
			}
		}
	}
	var nproc syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_NPROC, &nproc); err == nil {
		parts = append(parts, fmt.Sprintf("RLIMIT_NPROC %d", nproc.Cur))
	}
	return strings.Join(parts, "; ")
}

// take records that a source now owns child i (SetChildProcessOwn: freeing
// it kills and reaps the child if need be).
func (c *blockedChildren) take(i int) { c.owned[i] = false }

// release lets the children exit.
func (c *blockedChildren) release() {
	if c.w >= 0 {
		unix.Close(c.w)
		c.w = -1
	}
}

// TestStressChildren: 4,000 children, each with its own exit status modulo
// 256, blocked on one pipe and released at once. Every status reaches the
// source of its pid exactly once, every child is reaped (no zombie), the
// loop uses few threads, and the descriptors return to where they were.
//
// Stress test of issue 5.
func TestStressChildren(t *testing.T) {
	testutil.Check(t)
	const n = 4000
	needNofile(t, testutil.FdCount()+n+64)
	fdsBefore := testutil.FdCount()
	threadsBefore := testutil.Threads(t)

	type entry struct {
		pid, status, calls int
		s                  *sdevent.Source
	}
	var entries []*entry
	e, err := sdevent.New()
	ok(t, "New", err)
	defer func() {
		// Also when the test failed half-way: process-owned sources kill
		// and reap what has not exited.
		for _, en := range entries {
			if en.s != nil {
				en.s.Unref()
			}
		}
		if e != nil {
			e.Unref()
		}
	}()

	t0 := time.Now()
	kids := spawnBlockedChildren(t, n, func(i int) int { return i % 256 })
	spawned := time.Since(t0)

	done := 0
	maxThreads := 0
	var released time.Time
	var firstExit, lastExit time.Duration
	h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		en := s.Userdata().(*entry)
		en.calls++
		if ci.Pid != en.pid || !ci.Exited() || ci.ExitStatus() != en.status {
			t.Errorf("source of pid %d (exit %d) got %v of pid %d", en.pid, en.status, ci, ci.Pid)
		}
		lastExit = time.Since(released)
		if done == 0 {
			firstExit = lastExit
		}
		if done++; done%250 == 0 {
			maxThreads = max(maxThreads, testutil.Threads(t))
		}
		return nil
	}
	t1 := time.Now()
	for i, pid := range kids.pids {
		en := &entry{pid: pid, status: i % 256}
		s, err := e.AddChild(pid, unix.WEXITED, h)
		if err != nil {
			t.Fatalf("AddChild(%d) with %d sources: %v", pid, i, err)
		}
		en.s = s
		entries = append(entries, en)
		kids.take(i)
		s.SetUserdata(en)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
	}
	added := time.Since(t1)
	fdsWatching := testutil.FdCount()
	maxThreads = testutil.Threads(t)

	released = time.Now()
	kids.release()
	deadline := time.Now().Add(60 * time.Second)
	for done < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d exits dispatched after 60s", done, n)
		}
		run(t, e, long)
	}
	elapsed := time.Since(released)
	// Nothing more to dispatch: every source was ONESHOT and fired once.
	for range 3 {
		if run(t, e, 0) {
			t.Error("a Run after all exits dispatched something")
		}
	}
	for _, en := range entries {
		if en.calls != 1 {
			t.Errorf("pid %d: handler ran %d times, want 1", en.pid, en.calls)
		}
	}
	zombies, err := testutil.Zombies()
	ok(t, "list zombies", err)
	if len(zombies) > 0 {
		t.Errorf("%d zombies after every handler ran, first %v", len(zombies), zombies[0])
	}
	kidsLeft, err := testutil.Children(os.Getpid())
	ok(t, "list children", err)
	if len(kidsLeft) > 0 {
		t.Errorf("%d children left after every handler ran, first %v", len(kidsLeft), kidsLeft[0])
	}
	maxThreads = max(maxThreads, testutil.Threads(t))
	if maxThreads >= 30 {
		t.Errorf("the process had up to %d threads (%d before): want fewer than 30", maxThreads, threadsBefore)
	}

	for _, en := range entries {
		en.s.Unref()
		en.s = nil
	}
	e.Unref()
	e = nil
	// +1: the children's /dev/null, closed by the cleanup.
	fdsAfter := testutil.FdCount()
	if fdsAfter != fdsBefore+1 {
		t.Errorf("%d descriptors open after freeing the loop, want %d (%d before, +1 for /dev/null)", fdsAfter, fdsBefore+1, fdsBefore)
	}
	t.Logf("%d children: fork %v, AddChild %v (%v each); release → first exit %v, last %v, %v per exit; threads %d before, max %d; fds %d before, %d while watching, %d after",
		n, spawned.Round(time.Millisecond), added.Round(time.Millisecond), added/n,
		firstExit.Round(time.Microsecond), lastExit.Round(time.Millisecond), elapsed/n,
		threadsBefore, maxThreads, fdsBefore, fdsWatching, fdsAfter-1)
}
