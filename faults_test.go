//go:build linux

package sdevent_test

// Fault tests (issue 5): running out of descriptors, interrupted waits,
// panicking handlers, and a loop embedded in another poller.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// faultHelperEnv makes TestFaultEMFILE run its body in the process that
// TestFaultEMFILE started (the re-exec pattern of os/signal's tests): the
// descriptor limit is the whole process's, so it is lowered in a child.
const faultHelperEnv = "SDEVENT_FAULT_TEST_HELPER"

// faultResult is how the helper process reports a case that passed.
const faultResult = "EMFILE-CASE-OK "

// faultEMFILECases are the cases the helper must report, in order.
var faultEMFILECases = []string{
	"New/0", "New/1", "AddTime", "AddChild", "AddCommand", "AddInotify/0", "AddInotify/1", "AddSignal",
}

// TestFaultEMFILE: when the process runs out of descriptors, each call
// that needs a new one (New: an epoll fd and an eventfd; AddTime on a new
// clock: a timerfd; AddChild: a pidfd; AddCommand: os/exec's; AddInotify:
// an O_PATH fd and an inotify fd; the first AddSignal: an eventfd) returns
// an error wrapping EMFILE, changes nothing (no descriptor kept, no source,
// no iteration, nothing pending) and leaves the loop usable: with
// descriptors to spare again, the same call works and its source is
// dispatched.
func TestFaultEMFILE(t *testing.T) {
	if os.Getenv(faultHelperEnv) == "emfile" {
		faultEMFILEHelper(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultEMFILE$", "-test.count=1", "-test.v")
	// Under -race, a process that exits 0 sleeps 1s at exit unless told not to.
	cmd.Env = append(os.Environ(), faultHelperEnv+"=emfile",
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	passed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, found := strings.CutPrefix(line, faultResult); found {
			passed[strings.TrimSpace(name)] = true
		}
	}
	for _, name := range faultEMFILECases {
		if !passed[name] {
			t.Errorf("the helper did not report case %s as passed", name)
		}
	}
	if t.Failed() {
		t.Logf("helper output:\n%s", out)
	}
}

// exhaustFds leaves the process with exactly free descriptors to spare:
// it lowers the soft RLIMIT_NOFILE to a little above the highest open
// descriptor and fills every free number below it with duplicates of
// /dev/null. The returned function closes them and restores the limit.
func exhaustFds(t *testing.T, free int) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	ok(t, "getrlimit", syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	fds, err := testutil.OpenFds()
	ok(t, "list fds", err)
	highest := 0
	for fd := range fds {
		highest = max(highest, fd)
	}
	null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	ok(t, "open /dev/null", err)
	lim := syscall.Rlimit{Cur: uint64(max(highest, null)) + 1 + 16, Max: old.Max}
	ok(t, "setrlimit", syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	fillers := []int{null}
	restore = func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil || len(fillers) > int(lim.Cur) {
			restore()
			t.Fatalf("filling the descriptor table: %d fillers, %v", len(fillers), err)
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) < free {
		restore()
		t.Fatalf("only %d fillers", len(fillers))
	}
	for range free {
		unix.Close(fillers[len(fillers)-1])
		fillers = fillers[:len(fillers)-1]
	}
	return restore
}

// noFdKept fails the test unless the process has the same descriptors
// as in before.
func noFdKept(t *testing.T, what string, before testutil.FdTable) {
	t.Helper()
	after, err := testutil.OpenFds()
	ok(t, "list fds", err)
	if leaked := before.Leaked(after, nil); len(leaked) > 0 || len(after) != len(before) {
		t.Errorf("%s: failed with EMFILE but changed the descriptors: %d before, %d after, new %v", what, len(before), len(after), leaked)
	}
}

// wantUnchanged checks that a loop on which a call failed is as it was:
// between iterations, in the same iteration, nothing pending.
func wantUnchanged(t *testing.T, what string, e *sdevent.Event, iter uint64) {
	t.Helper()
	if st := e.State(); st != sdevent.Initial {
		t.Errorf("%s: state %v after the failure, want initial", what, st)
	}
	if it := e.Iteration(); it != iter {
		t.Errorf("%s: iteration %d after the failure, want %d", what, it, iter)
	}
	if run(t, e, 0) {
		t.Errorf("%s: a Run after the failure dispatched something", what)
	}
}

// wantEMFILE fails the test unless s is nil and err wraps EMFILE and
// says what failed.
func wantEMFILE(t *testing.T, what string, s *sdevent.Source, err error) {
	t.Helper()
	if s != nil {
		t.Errorf("%s: returned a source along with error %v", what, err)
		s.Unref()
	}
	if !errors.Is(err, unix.EMFILE) {
		t.Errorf("%s with no descriptor to spare: got %v, want an error wrapping EMFILE", what, err)
		return
	}
	t.Logf("%s: %v", what, err)
}

// faultEMFILEHelper is the body of TestFaultEMFILE in the helper process.
func faultEMFILEHelper(t *testing.T) {
	pass := func(t *testing.T, name string) {
		if !t.Failed() {
			fmt.Printf("%s%s\n", faultResult, name)
		}
	}

	for _, free := range []int{0, 1} { // epoll_create1 fails; eventfd fails
		name := fmt.Sprintf("New/%d", free)
		t.Run(name, func(t *testing.T) {
			before, err := testutil.OpenFds()
			ok(t, "list fds", err)
			restore := exhaustFds(t, free)
			e, err := sdevent.New()
			restore()
			if e != nil {
				t.Errorf("New returned a loop along with %v", err)
				e.Unref()
			}
			if !errors.Is(err, unix.EMFILE) {
				t.Fatalf("New with %d descriptors to spare: got %v, want an error wrapping EMFILE", free, err)
			}
			t.Logf("New: %v", err)
			noFdKept(t, "New", before)
			e = newLoop(t)
			ran := false
			keep(t)(e.AddDefer(func(*sdevent.Source) error { ran = true; return nil }))
			if !run(t, e, 0) || !ran {
				t.Error("the loop made once descriptors were back did not dispatch")
			}
			pass(t, name)
		})
	}

	t.Run("AddTime", func(t *testing.T) {
		e := newLoop(t)
		var fired []string
		h := func(name string) sdevent.TimeHandler {
			return func(*sdevent.Source, time.Duration) error { fired = append(fired, name); return nil }
		}
		// The monotonic clock has its timerfd already.
		keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, h("hour")))
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		now := live(t, unix.CLOCK_BOOTTIME)
		boot, bootErr := e.AddTime(unix.CLOCK_BOOTTIME, now, time.Microsecond, h("boottime"))
		mono, monoErr := e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Millisecond, time.Microsecond, h("monotonic"))
		restore()
		wantEMFILE(t, "AddTime(CLOCK_BOOTTIME)", boot, bootErr)
		// A clock that has its timerfd needs no descriptor.
		if monoErr != nil {
			t.Errorf("AddTime on the monotonic clock, whose timerfd exists, failed: %v", monoErr)
		} else {
			t.Cleanup(mono.Unref)
			mono.SetEnabled(source.Off)
		}
		noFdKept(t, "AddTime", before)
		wantUnchanged(t, "AddTime", e, iter)
		keep(t)(e.AddTime(unix.CLOCK_BOOTTIME, live(t, unix.CLOCK_BOOTTIME)+time.Millisecond, time.Microsecond, h("boottime")))
		if !run(t, e, long) || strings.Join(fired, " ") != "boottime" {
			t.Errorf("after AddTime(CLOCK_BOOTTIME) worked, the loop ran %v, want [boottime]", fired)
		}
		pass(t, "AddTime")
	})

	t.Run("AddChild", func(t *testing.T) {
		e := newLoop(t)
		kids := spawnBlockedChildren(t, 1, func(int) int { return 7 })
		pid := kids.pids[0]
		var got []*sdevent.ChildInfo
		h := func(_ *sdevent.Source, ci *sdevent.ChildInfo) error { c := *ci; got = append(got, &c); return nil }
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddChild(pid, unix.WEXITED, h)
		restore()
		wantEMFILE(t, "AddChild", s, err)
		noFdKept(t, "AddChild", before)
		wantUnchanged(t, "AddChild", e, iter)
		s = keep(t)(e.AddChild(pid, unix.WEXITED, h)) // not EBUSY: nothing was kept
		kids.take(0)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
		kids.release()
		if !run(t, e, long) || len(got) != 1 || got[0].Pid != pid || got[0].ExitStatus() != 7 {
			t.Errorf("after AddChild worked: handler got %v, want exit 7 of pid %d", got, pid)
		}
		pass(t, "AddChild")
	})

	t.Run("AddCommand", func(t *testing.T) {
		e := newLoop(t)
		var got []string
		h := func(_ *sdevent.Source, ci *sdevent.ChildInfo) error { got = append(got, ci.String()); return nil }
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddCommand(exec.Command("/bin/sh", "-c", "exit 9"), unix.WEXITED, h)
		restore()
		wantEMFILE(t, "AddCommand", s, err)
		noFdKept(t, "AddCommand", before)
		wantUnchanged(t, "AddCommand", e, iter)
		if kids, err := testutil.Children(os.Getpid()); err != nil || len(kids) > 0 {
			t.Errorf("children after the failed AddCommand: %v (%v)", kids, err)
		}
		keep(t)(e.AddCommand(exec.Command("/bin/sh", "-c", "exit 9"), unix.WEXITED, h))
		if !run(t, e, long) || strings.Join(got, " ") != "exited 9" {
			t.Errorf("after AddCommand worked: handler got %v, want [exited 9]", got)
		}
		pass(t, "AddCommand")
	})

	for _, free := range []int{0, 1} { // opening the path fails; inotify_init1 fails
		name := fmt.Sprintf("AddInotify/%d", free)
		t.Run(name, func(t *testing.T) {
			e := newLoop(t)
			dir := t.TempDir()
			var got []string
			h := func(_ *sdevent.Source, ev *sdevent.InotifyEvent) error { got = append(got, ev.Name); return nil }
			iter := e.Iteration()
			before, err := testutil.OpenFds()
			ok(t, "list fds", err)
			restore := exhaustFds(t, free)
			s, err := e.AddInotify(dir, unix.IN_CREATE, h)
			restore()
			wantEMFILE(t, "AddInotify", s, err)
			noFdKept(t, "AddInotify", before)
			wantUnchanged(t, "AddInotify", e, iter)
			keep(t)(e.AddInotify(dir, unix.IN_CREATE, h))
			f, err := os.Create(filepath.Join(dir, "new"))
			ok(t, "create", err)
			f.Close()
			if !run(t, e, long) || strings.Join(got, " ") != "new" {
				t.Errorf("after AddInotify worked: handler got %q, want [new]", got)
			}
			pass(t, name)
		})
	}

	t.Run("AddSignal", func(t *testing.T) {
		e := newLoop(t)
		var got []unix.Signal
		h := func(_ *sdevent.Source, si *unix.SignalfdSiginfo) error {
			got = append(got, unix.Signal(si.Signo))
			return nil
		}
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddSignal(unix.SIGUSR1, h)
		restore()
		wantEMFILE(t, "AddSignal", s, err)
		noFdKept(t, "AddSignal", before)
		wantUnchanged(t, "AddSignal", e, iter)
		keep(t)(e.AddSignal(unix.SIGUSR1, h)) // not EBUSY: nothing was kept
		ok(t, "kill", unix.Kill(os.Getpid(), unix.SIGUSR1))
		if !run(t, e, long) || len(got) != 1 || got[0] != unix.SIGUSR1 {
			t.Errorf("after AddSignal worked: handler got %v, want [SIGUSR1]", got)
		}
		pass(t, "AddSignal")
	})
}

// TestFaultEINTRIsNoDispatch: signals that interrupt the loop's wait
// (SIGURG, which the Go runtime uses to preempt, and a SIGUSR1 the process
// catches with signal.Notify), sent at the very thread that waits and at the
// process, never end a wait early and are never reported as a dispatch: Run
// and Wait with a 300ms timeout and nothing ready return (false, nil) only
// once the timeout has passed, and no handler (not even a post source) runs.
func TestFaultEINTRIsNoDispatch(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// The loop waits on this thread, so that tgkill interrupts its wait.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := os.Getpid(), unix.Gettid()
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, unix.SIGUSR1)
	defer signal.Stop(caught)

	e := newLoop(t)
	var ran []string
	r, _ := testutil.Pipe(t)
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { ran = append(ran, "io"); return nil }))
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, time.Microsecond, func(*sdevent.Source, time.Duration) error {
		ran = append(ran, "time")
		return nil
	}))
	keep(t)(e.AddPost(func(*sdevent.Source) error { ran = append(ran, "post"); return nil }))

	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sig := unix.SIGURG
			if i%2 == 1 {
				sig = unix.SIGUSR1
			}
			if i%5 == 4 {
				unix.Kill(pid, sig)
			} else {
				unix.Tgkill(pid, tid, sig)
			}
			sent.Add(1)
			time.Sleep(200 * time.Microsecond) // pacing, not synchronisation
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	check := func(how string, dispatched bool, err error, before time.Duration) {
		t.Helper()
		if dispatched || err != nil {
			t.Errorf("%s with nothing ready: (%v, %v), want (false, nil)", how, dispatched, err)
		}
		now, nerr := e.Now(unix.CLOCK_MONOTONIC)
		ok(t, "Now", nerr)
		if now < before+timeout {
			t.Errorf("%s(%v) returned after %v: before its timeout", how, timeout, now-before)
		}
		if st := e.State(); st != sdevent.Initial {
			t.Errorf("%s: state %v afterwards, want initial", how, st)
		}
	}
	for range 3 {
		iter := e.Iteration()
		s0 := sent.Load()
		before := live(t, unix.CLOCK_MONOTONIC)
		dispatched, err := e.Run(timeout)
		check("Run", dispatched, err, before)
		if it := e.Iteration(); it != iter+1 {
			t.Errorf("Run: iteration %d → %d, want one iteration", iter, it)
		}
		t.Logf("Run(%v): %d signals sent meanwhile", timeout, sent.Load()-s0)
	}
	for range 2 {
		pending, err := e.Prepare()
		if pending || err != nil {
			t.Fatalf("Prepare with nothing ready: (%v, %v)", pending, err)
		}
		s0 := sent.Load()
		before := live(t, unix.CLOCK_MONOTONIC)
		dispatched, err := e.Wait(timeout)
		check("Wait", dispatched, err, before)
		t.Logf("Wait(%v): %d signals sent meanwhile", timeout, sent.Load()-s0)
	}
	if len(ran) > 0 {
		t.Errorf("handlers ran with nothing ready: %v", ran)
	}
}

// panicValue is the value the panicking handlers panic with.
type panicValue struct{ who string }

// TestPanicLeavesSourceAsItWas: after a handler panicked, the panic comes
// out of Run unchanged; the loop is between iterations and usable; the
// source is as it was when the handler began (a ONESHOT source already off,
// an ON one still on); and the next Runs dispatch other sources and, once
// it is enabled again, the source itself. (regress_test.go covers a
// panicking prepare callback and a plain defer handler.)
func TestPanicLeavesSourceAsItWas(t *testing.T) {
	type fixture struct {
		s     *sdevent.Source
		again func() // makes the source ready again, if need be
	}
	cases := []struct {
		name string
		// add adds the source under test with handler h, ready to run.
		add  func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture
		want source.Enabled // its enablement after the panic
	}{
		{"defer oneshot", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			return fixture{s: keep(t)(e.AddDefer(h))}
		}, source.Off},
		{"defer on", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			s := keep(t)(e.AddDefer(h))
			ok(t, "SetEnabled", s.SetEnabled(source.On))
			return fixture{s: s}
		}, source.On},
		{"io on", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			r, w := testutil.Pipe(t)
			writeByte(t, w) // stays readable: the handler does not read
			return fixture{s: keep(t)(e.AddIO(r, unix.EPOLLIN, func(s *sdevent.Source, _ int, _ uint32) error { return h(s) }))}
		}, source.On},
		{"io oneshot edge", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			r, w := testutil.Pipe(t)
			writeByte(t, w)
			s := keep(t)(e.AddIO(r, unix.EPOLLIN|unix.EPOLLET, func(s *sdevent.Source, _ int, _ uint32) error { return h(s) }))
			ok(t, "SetEnabled", s.SetEnabled(source.OneShot))
			return fixture{s: s}
		}, source.Off},
		{"time", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			s := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, 1, time.Microsecond, func(s *sdevent.Source, _ time.Duration) error { return h(s) }))
			return fixture{s: s}
		}, source.Off},
		{"signal", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			s := keep(t)(e.AddSignal(unix.SIGUSR2, func(s *sdevent.Source, _ *unix.SignalfdSiginfo) error { return h(s) }))
			raise := func() { ok(t, "kill", unix.Kill(os.Getpid(), unix.SIGUSR2)) }
			raise()
			return fixture{s: s, again: raise}
		}, source.On},
		{"child", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			kids := spawnBlockedChildren(t, 1, func(int) int { return 3 })
			s := keep(t)(e.AddChild(kids.pids[0], unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
				if ci.ExitStatus() != 3 {
					t.Errorf("child handler got %v, want exit 3", ci)
				}
				return h(s)
			}))
			kids.take(0)
			ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
			kids.release()
			return fixture{s: s}
		}, source.Off},
		{"post", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source) error) fixture {
			s := keep(t)(e.AddPost(h))
			// Something else must be dispatched for a post source to run.
			d := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
			ok(t, "SetPriority", d.SetPriority(priority.Important))
			run(t, e, 0)
			again := func() { ok(t, "SetEnabled", d.SetEnabled(source.OneShot)); run(t, e, 0) }
			return fixture{s: s, again: again}
		}, source.On},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newLoop(t)
			calls := 0
			boom := &panicValue{c.name}
			f := c.add(t, e, func(s *sdevent.Source) error {
				if calls++; calls == 1 {
					panic(boom)
				}
				// An ON source would stay pending and keep the other out.
				return s.SetEnabled(source.Off)
			})
			iter := e.Iteration()
			if v := runPanics(t, e, long); v != boom {
				t.Fatalf("Run panicked with %v, want the handler's %v", v, boom)
			}
			if calls != 1 {
				t.Fatalf("handler ran %d times before the panic", calls)
			}
			if st := e.State(); st != sdevent.Initial {
				t.Errorf("state after the panic %v, want initial", st)
			}
			if it := e.Iteration(); it != iter+1 {
				t.Errorf("iteration %d → %d over the panicking Run", iter, it)
			}
			if got := enabledOf(t, f.s); got != c.want.String() {
				t.Errorf("after the panic the source is %s, want %v", got, c.want)
			}
			if f.s.Event() != e {
				t.Error("the source left its loop")
			}
			// The loop goes on: another source runs, and so does the source
			// (re-enabled if it was ONESHOT, made ready again if need be).
			otherRan := false
			other := keep(t)(e.AddDefer(func(*sdevent.Source) error { otherRan = true; return nil }))
			ok(t, "SetPriority", other.SetPriority(priority.Idle))
			if c.want == source.Off {
				ok(t, "SetEnabled", f.s.SetEnabled(source.OneShot))
			}
			if f.again != nil {
				f.again()
			}
			for i := 0; i < 10 && (calls < 2 || !otherRan); i++ {
				run(t, e, long)
			}
			if calls != 2 || !otherRan {
				t.Errorf("after the panic: handler ran %d times in all (want 2), other source ran %v", calls, otherRan)
			}
		})
	}
}

// TestPanicAfterSelfUnref: a handler that drops the last reference to its
// own source and then panics: the source is freed by the time the panic
// comes out of Run (destroy callback run, disconnected, an owned fd
// closed), and the loop dispatches other sources afterwards.
func TestPanicAfterSelfUnref(t *testing.T) {
	cases := []struct {
		name string
		add  func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source)) (s *sdevent.Source, freed func() string)
	}{
		{"defer", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source)) (*sdevent.Source, func() string) {
			return must(t)(e.AddDefer(func(s *sdevent.Source) error { h(s); return nil })), nil
		}},
		{"io owning its fd", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source)) (*sdevent.Source, func() string) {
			r, w := testutil.Pipe(t)
			writeByte(t, w)
			s := must(t)(e.AddIO(r, unix.EPOLLIN, func(s *sdevent.Source, _ int, _ uint32) error { h(s); return nil }))
			ok(t, "SetIOFdOwn", s.SetIOFdOwn(true))
			testutil.Disown(t, r)
			return s, func() string {
				if testutil.FdOpen(r) {
					return fmt.Sprintf("its fd %d is still open", r)
				}
				return ""
			}
		}},
		{"time", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source)) (*sdevent.Source, func() string) {
			return must(t)(e.AddTime(unix.CLOCK_MONOTONIC, 1, time.Microsecond, func(s *sdevent.Source, _ time.Duration) error { h(s); return nil })), nil
		}},
		{"child owning its process", func(t *testing.T, e *sdevent.Event, h func(*sdevent.Source)) (*sdevent.Source, func() string) {
			kids := spawnBlockedChildren(t, 1, func(int) int { return 0 })
			pid := kids.pids[0]
			s := must(t)(e.AddChild(pid, unix.WEXITED, func(s *sdevent.Source, _ *sdevent.ChildInfo) error { h(s); return nil }))
			kids.take(0)
			ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
			kids.release()
			return s, func() string {
				if z, err := testutil.Zombies(); err != nil || len(z) > 0 {
					return fmt.Sprintf("zombies %v (%v)", z, err)
				}
				return ""
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newLoop(t)
			boom := &panicValue{c.name}
			destroyed := 0
			s, freed := c.add(t, e, func(s *sdevent.Source) {
				s.Unref()
				if destroyed != 0 {
					t.Error("the destroy callback ran inside the handler")
				}
				panic(boom)
			})
			ok(t, "SetDestroyCallback", s.SetDestroyCallback(func(any) { destroyed++ }))

			if v := runPanics(t, e, long); v != boom {
				t.Fatalf("Run panicked with %v, want the handler's %v", v, boom)
			}
			if destroyed != 1 {
				t.Errorf("destroy callback ran %d times, want once", destroyed)
			}
			if s.Event() != nil {
				t.Error("the freed source is still connected to its loop")
			}
			if freed != nil {
				if msg := freed(); msg != "" {
					t.Errorf("the source was not freed: %s", msg)
				}
			}
			if st := e.State(); st != sdevent.Initial {
				t.Errorf("state after the panic %v, want initial", st)
			}
			otherRan := false
			keep(t)(e.AddDefer(func(*sdevent.Source) error { otherRan = true; return nil }))
			for i := 0; i < 3 && !otherRan; i++ {
				run(t, e, long)
			}
			if !otherRan {
				t.Error("the loop did not dispatch another source after the panic")
			}
			if destroyed != 1 {
				t.Errorf("destroy callback ran %d times in all, want once", destroyed)
			}
		})
	}
}

// TestPanicInExitHandlerAndInvoke: a panic out of Loop, from an exit
// handler and from a function run by Invoke, leaves a loop that carries on:
// the remaining exit sources run and Loop returns the exit code; the next
// invoked function runs.
func TestPanicInExitHandlerAndInvoke(t *testing.T) {
	t.Run("exit", func(t *testing.T) {
		e := newLoop(t)
		boom := &panicValue{"exit"}
		var ran []string
		keep(t)(e.AddExit(func(*sdevent.Source) error { ran = append(ran, "first"); panic(boom) }))
		second := keep(t)(e.AddExit(func(*sdevent.Source) error { ran = append(ran, "second"); return nil }))
		ok(t, "SetPriority", second.SetPriority(priority.Idle))
		ok(t, "Exit", e.Exit(4))
		func() {
			defer func() {
				if v := recover(); v != boom {
					t.Fatalf("Loop panicked with %v, want %v", v, boom)
				}
			}()
			e.Loop()
		}()
		if st := e.State(); st != sdevent.Initial {
			t.Errorf("state after the panic %v, want initial", st)
		}
		if code := loop(t, e); code != 4 {
			t.Errorf("Loop after the panic returned %d, want 4", code)
		}
		if strings.Join(ran, " ") != "first second" {
			t.Errorf("exit handlers ran %v, want [first second]", ran)
		}
	})
	t.Run("invoke", func(t *testing.T) {
		e := newLoop(t)
		boom := &panicValue{"invoke"}
		var ran []string
		ok(t, "Invoke", e.Invoke(func() { ran = append(ran, "first"); panic(boom) }))
		ok(t, "Invoke", e.Invoke(func() { ran = append(ran, "second") }))
		if v := runPanics(t, e, long); v != boom {
			t.Fatalf("Run panicked with %v, want %v", v, boom)
		}
		if st := e.State(); st != sdevent.Initial {
			t.Errorf("state after the panic %v, want initial", st)
		}
		run(t, e, long)
		ok(t, "Invoke", e.Invoke(func() { ran = append(ran, "third") }))
		run(t, e, long)
		if strings.Join(ran, " ") != "first second third" {
			t.Errorf("invoked functions ran %v, want [first second third]", ran)
		}
	})
}

// TestEmbedPollFd: the loop driven by an outer poll(2) on Fd, with no
// goroutine: Prepare, poll Fd, Wait(0), Dispatch. A defer source runs
// first; then a pipe becomes readable while the loop is armed, and the IO
// source on it arms a timer, which exits the loop: all three run, in that
// order, the timer not before its time, and the outer poll is what wakes
// for the pipe and for the timer.
func TestEmbedPollFd(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	var order []string
	tm := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, time.Microsecond, func(_ *sdevent.Source, at time.Duration) error {
		order = append(order, "time")
		if now, _ := e.Now(unix.CLOCK_MONOTONIC); now < at {
			t.Errorf("timer for %v ran at %v", at, now)
		}
		return e.Exit(7)
	}))
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(_ *sdevent.Source, fd int, _ uint32) error {
		order = append(order, "io")
		unix.Read(fd, make([]byte, 8))
		ok(t, "SetTimeRelative", tm.SetTimeRelative(30*time.Millisecond))
		return tm.SetEnabled(source.OneShot)
	}))
	keep(t)(e.AddDefer(func(*sdevent.Source) error {
		order = append(order, "defer")
		return nil
	}))

	polls, written := 0, false
	for i := 0; e.State() != sdevent.Finished; i++ {
		if i > 100 {
			t.Fatalf("not finished after 100 iterations: %v", order)
		}
		pending, err := e.Prepare()
		ok(t, "Prepare", err)
		if !pending {
			if len(order) == 0 {
				t.Fatal("Prepare reports nothing pending with a defer source on")
			}
			if !written {
				// The loop is armed and about to be polled: the pipe
				// becomes readable now, under the outer poll's eyes.
				writeByte(t, w)
				written = true
			}
			pollReadable(t, e.Fd())
			polls++
			if pending, err = e.Wait(0); err != nil {
				t.Fatalf("Wait(0): %v", err)
			}
		}
		if pending {
			if _, err := e.Dispatch(); err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
		}
	}
	if strings.Join(order, " ") != "defer io time" {
		t.Errorf("handlers ran %v, want [defer io time]", order)
	}
	if code, err := e.ExitCode(); code != 7 || err != nil {
		t.Errorf("exit code %d, %v; want 7", code, err)
	}
	if polls < 2 {
		t.Errorf("%d outer polls: the pipe and the timer should each have woken one", polls)
	}
	t.Logf("%d outer polls", polls)
}

// TestEmbedNestedEpoll: the loop's Fd registered in another epoll instance
// makes that instance report readiness when a pipe the loop watches becomes
// readable or a timer of the loop is due, and not while nothing is ready.
func TestEmbedNestedEpoll(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	var got []string
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(_ *sdevent.Source, fd int, _ uint32) error {
		got = append(got, "io")
		unix.Read(fd, make([]byte, 8))
		return nil
	}))
	tm := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, time.Microsecond, func(*sdevent.Source, time.Duration) error {
		got = append(got, "time")
		return nil
	}))
	outer, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	ok(t, "epoll_create1", err)
	defer unix.Close(outer)
	ok(t, "epoll_ctl", unix.EpollCtl(outer, unix.EPOLL_CTL_ADD, e.Fd(), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e.Fd())}))
	evs := make([]unix.EpollEvent, 4)
	outerWait := func(ms int) int {
		for {
			n, err := unix.EpollWait(outer, evs, ms)
			if err == unix.EINTR {
				continue
			}
			ok(t, "epoll_wait", err)
			for _, ev := range evs[:n] {
				if ev.Fd != int32(e.Fd()) || ev.Events&unix.EPOLLIN == 0 {
					t.Errorf("outer epoll reported %+v", ev)
				}
			}
			return n
		}
	}
	steps := []struct {
		name string
		make func() // makes something ready
		// armed: make runs once the loop is armed (between Prepare and
		// the outer wait), else before Prepare, which arms the timer.
		armed bool
	}{
		{"io", func() { writeByte(t, w) }, true},
		{"time", func() {
			ok(t, "SetTimeRelative", tm.SetTimeRelative(20*time.Millisecond))
			ok(t, "SetEnabled", tm.SetEnabled(source.OneShot))
		}, false},
		{"io", func() { writeByte(t, w) }, true},
	}
	for i, step := range steps {
		if !step.armed {
			step.make()
		}
		pending, err := e.Prepare()
		ok(t, "Prepare", err)
		if pending {
			t.Fatalf("step %d (%s): Prepare reports pending before anything is ready", i, step.name)
		}
		if n := outerWait(0); n != 0 {
			t.Errorf("step %d (%s): outer epoll reports the loop ready before anything is", i, step.name)
		}
		if step.armed {
			step.make()
		}
		if n := outerWait(int(long / time.Millisecond)); n != 1 {
			t.Fatalf("step %d (%s): outer epoll reported %d events, want the loop's fd", i, step.name, n)
		}
		if pending, err = e.Wait(0); !pending || err != nil {
			t.Fatalf("step %d (%s): Wait(0) after the outer epoll woke: (%v, %v)", i, step.name, pending, err)
		}
		if _, err := e.Dispatch(); err != nil {
			t.Fatalf("step %d (%s): Dispatch: %v", i, step.name, err)
		}
		if len(got) != i+1 || got[i] != step.name {
			t.Fatalf("step %d: handlers ran %v, want %s last", i, got, step.name)
		}
	}
	// Nothing ready: one more iteration finds nothing, and the outer epoll
	// does not report the loop.
	if pending, err := e.Prepare(); pending || err != nil {
		t.Fatalf("Prepare with nothing ready: (%v, %v)", pending, err)
	}
	if n := outerWait(0); n != 0 {
		t.Error("outer epoll reports the loop ready with nothing ready")
	}
	if pending, err := e.Wait(0); pending || err != nil {
		t.Fatalf("Wait(0) with nothing ready: (%v, %v)", pending, err)
	}
	ok(t, "epoll_ctl del", unix.EpollCtl(outer, unix.EPOLL_CTL_DEL, e.Fd(), nil))
}
