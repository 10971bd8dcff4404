//go:build linux

package sdevent_test

// Tests of the loop itself (event.go): its states and phases, Exit and
// exit on idle, Now, Fd and embedding, Default, LoopContext, and what a
// panicking handler leaves behind.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

var allClocks = []struct {
	name  string
	clock int
	reads int // the clock Now reads it as
}{
	{"monotonic", unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC},
	{"realtime", unix.CLOCK_REALTIME, unix.CLOCK_REALTIME},
	{"boottime", unix.CLOCK_BOOTTIME, unix.CLOCK_BOOTTIME},
	{"realtime-alarm", unix.CLOCK_REALTIME_ALARM, unix.CLOCK_REALTIME},
	{"boottime-alarm", unix.CLOCK_BOOTTIME_ALARM, unix.CLOCK_BOOTTIME},
}

// TestNowCachedPerIteration ports TEST(sd_event_now): before the first poll
// Now reads the live clock (sd_event_now returns > 0 then), afterwards it
// returns the timestamp taken right after the latest poll, constant while
// that iteration's handlers run; the _ALARM clocks read as REALTIME and
// BOOTTIME; any other clock is EOPNOTSUPP.
func TestNowCachedPerIteration(t *testing.T) {
	e := newLoop(t)
	for _, c := range allClocks {
		lo := live(t, c.reads).Truncate(time.Microsecond)
		n, err := e.Now(c.clock)
		hi := live(t, c.reads)
		if err != nil || n <= 0 {
			t.Errorf("%s before the first poll: Now = %v, %v", c.name, n, err)
			continue
		}
		if n < lo || n > hi {
			t.Errorf("%s before the first poll: Now = %v, not the live clock (between %v and %v)", c.name, n, lo, hi)
		}
	}
	for _, bad := range []int{-1, 900, unix.CLOCK_PROCESS_CPUTIME_ID, unix.CLOCK_MONOTONIC_RAW} {
		_, err := e.Now(bad)
		wantErrno(t, "Now(bad clock)", err, unix.EOPNOTSUPP)
	}

	if run(t, e, 0) {
		t.Fatal("Run(0) on an empty loop dispatched something")
	}

	cached := map[int]time.Duration{}
	for _, c := range allClocks {
		n, err := e.Now(c.clock)
		ok(t, "Now after a poll", err)
		cached[c.clock] = n
	}
	if cached[unix.CLOCK_REALTIME_ALARM] != cached[unix.CLOCK_REALTIME] || cached[unix.CLOCK_BOOTTIME_ALARM] != cached[unix.CLOCK_BOOTTIME] {
		t.Errorf("alarm clocks differ from their base clocks: %v", cached)
	}
	spinPast(t, unix.CLOCK_MONOTONIC, 2*time.Millisecond)
	for _, c := range allClocks {
		if n, _ := e.Now(c.clock); n != cached[c.clock] {
			t.Errorf("%s: Now changed between polls: %v then %v", c.name, cached[c.clock], n)
		}
	}
	for _, bad := range []int{-1, 900} {
		_, err := e.Now(bad)
		wantErrno(t, "Now(bad clock) after a poll", err, unix.EOPNOTSUPP)
	}

	// Inside a handler Now is the timestamp of this iteration's poll.
	var inHandler [2]time.Duration
	keep(t)(e.AddDefer(func(s *sdevent.Source) error {
		inHandler[0], _ = s.Event().Now(unix.CLOCK_MONOTONIC)
		spinPast(t, unix.CLOCK_MONOTONIC, 2*time.Millisecond)
		inHandler[1], _ = s.Event().Now(unix.CLOCK_MONOTONIC)
		return nil
	}))
	if !run(t, e, 0) {
		t.Fatal("defer source not dispatched")
	}
	if inHandler[0] != inHandler[1] {
		t.Errorf("Now changed inside one handler: %v then %v", inHandler[0], inHandler[1])
	}
	if inHandler[0] <= cached[unix.CLOCK_MONOTONIC] {
		t.Errorf("Now did not advance with a new poll: %v, previous %v", inHandler[0], cached[unix.CLOCK_MONOTONIC])
	}
	if n, _ := e.Now(unix.CLOCK_MONOTONIC); n != inHandler[0] {
		t.Errorf("after Run returned, Now = %v, want the iteration's %v", n, inHandler[0])
	}
}

// TestExitOnIdle ports TEST(exit_on_idle): with exit-on-idle the loop exits
// with 0 once no enabled source but post and exit sources is left.
func TestExitOnIdle(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	if !e.ExitOnIdle() {
		t.Fatal("ExitOnIdle() = false after SetExitOnIdle(true)")
	}
	dc := 0
	d := keep(t)(e.AddDefer(func(s *sdevent.Source) error {
		if dc >= 2 {
			t.Errorf("defer handler called a third time")
		}
		dc++
		if dc == 2 {
			return s.SetEnabled(source.Off)
		}
		return nil
	}))
	ok(t, "on", d.SetEnabled(source.On))
	pc := 0
	p := keep(t)(e.AddPost(func(*sdevent.Source) error {
		if pc >= 2 {
			t.Errorf("post handler called a third time")
		}
		pc++
		return nil
	}))
	ok(t, "on", p.SetEnabled(source.On))
	ok(t, "priority", p.SetPriority(priority.Important))
	keep(t)(e.AddExit(func(*sdevent.Source) error { return nil }))

	if code := loop(t, e); code != 0 {
		t.Errorf("Loop = %d, want 0", code)
	}
	if dc != 2 || pc != 2 {
		t.Errorf("defer ran %d times, post %d times; want 2 and 2", dc, pc)
	}
}

// TestExitOnIdleNoSources ports TEST(exit_on_idle_no_sources): an idle loop
// without sources returns at once.
func TestExitOnIdleNoSources(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	done := make(chan int, 1)
	go func() {
		code, _ := e.Loop()
		done <- code
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("Loop = %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		// Wake the loop so that the goroutine ends before the test does.
		if err := e.Invoke(func() { _ = e.Exit(1) }); err != nil {
			t.Fatalf("Loop with exit-on-idle and no sources did not return, and Invoke to end it failed: %v", err)
		}
		<-done
		t.Fatal("Loop with exit-on-idle and no sources did not return")
	}
}

// TestExitOnIdleBeforePrepare: an idle exit-on-idle loop exits at the very
// start of Prepare, before the iteration count moves and before any prepare
// callback, as sd-event 262's sd_event_prepare checks it (5a5cb6ba50). A
// post source that is not pending does not count, one that is pending does.
func TestExitOnIdleBeforePrepare(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	p := keep(t)(e.AddPost(func(*sdevent.Source) error { return nil }))
	prepared := 0
	ok(t, "prepare", p.SetPrepare(func(*sdevent.Source) error {
		prepared++
		return nil
	}))
	if !run(t, e, 0) || e.State() != sdevent.Finished {
		t.Fatalf("Run on an idle loop: state %v, want Finished", e.State())
	}
	if it := e.Iteration(); it != 0 || prepared != 0 {
		t.Errorf("the idle loop exited in iteration %d after %d prepare callbacks, want 0 and 0", it, prepared)
	}

	// A pending post source keeps the loop: d makes q pending and turns
	// itself off, and q still runs.
	e2 := newLoop(t)
	ok(t, "exit on idle", e2.SetExitOnIdle(true))
	ran := false
	keep(t)(e2.AddPost(func(*sdevent.Source) error {
		ran = true
		return nil
	}))
	keep(t)(e2.AddDefer(func(*sdevent.Source) error { return nil }))
	if code := loop(t, e2); code != 0 || !ran {
		t.Errorf("Loop = %d, post source ran %v; want 0, true", code, ran)
	}
}

// TestSimpleTimeout ports TEST(simple_timeout): Wait may sleep longer than
// its timeout but never shorter.
func TestSimpleTimeout(t *testing.T) {
	for _, d := range []time.Duration{
		0,
		time.Microsecond,
		1234 * time.Microsecond,
		(time.Duration(rand.Int64N(int64(300*time.Millisecond))) / time.Microsecond) * time.Microsecond,
	} {
		t.Run(d.String(), func(t *testing.T) {
			e := newLoop(t)
			pending, err := e.Prepare()
			if err != nil || pending {
				t.Fatalf("Prepare on an empty loop = %v, %v; want false, nil", pending, err)
			}
			f := live(t, unix.CLOCK_MONOTONIC)
			pending, err = e.Wait(d)
			end := live(t, unix.CLOCK_MONOTONIC)
			if err != nil || pending {
				t.Fatalf("Wait(%v) = %v, %v; want false, nil", d, pending, err)
			}
			if end-f < d {
				t.Errorf("Wait(%v) returned after %v", d, end-f)
			}
			if st := e.State(); st != sdevent.Initial {
				t.Errorf("state after an empty Wait = %v, want Initial", st)
			}
		})
	}
}

// TestStateValues pins the C values of the states (sd_event_get_state).
//
// From SEMANTICS.md, "The loop": States.
func TestStateValues(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		st   sdevent.State
		want int
	}{
		{sdevent.Initial, 0}, {sdevent.Armed, 1}, {sdevent.Pending, 2}, {sdevent.Running, 3},
		{sdevent.Exiting, 4}, {sdevent.Finished, 5}, {sdevent.Preparing, 6},
	} {
		if int(tc.st) != tc.want {
			t.Errorf("state %v = %d, want %d", tc.st, int(tc.st), tc.want)
		}
	}
}

// TestPhaseTransitions walks Prepare/Wait/Dispatch through their states;
// a phase called in the wrong state is EBUSY (sd_event_prepare wants
// INITIAL, sd_event_wait ARMED, sd_event_dispatch PENDING, sd_event_run and
// sd_event_loop INITIAL).
//
// From SEMANTICS.md, "The loop": States.
func TestPhaseTransitions(t *testing.T) {
	t.Run("nothing-pending", func(t *testing.T) {
		e := newLoop(t)
		if st := e.State(); st != sdevent.Initial {
			t.Fatalf("new loop in state %v", st)
		}
		_, err := e.Wait(0)
		wantErrno(t, "Wait in Initial", err, unix.EBUSY)
		_, err = e.Dispatch()
		wantErrno(t, "Dispatch in Initial", err, unix.EBUSY)

		pending, err := e.Prepare()
		if err != nil || pending {
			t.Fatalf("Prepare = %v, %v; want false, nil", pending, err)
		}
		if st := e.State(); st != sdevent.Armed {
			t.Fatalf("after Prepare: state %v, want Armed", st)
		}
		_, err = e.Prepare()
		wantErrno(t, "Prepare in Armed", err, unix.EBUSY)
		_, err = e.Dispatch()
		wantErrno(t, "Dispatch in Armed", err, unix.EBUSY)
		_, err = e.Run(0)
		wantErrno(t, "Run in Armed", err, unix.EBUSY)
		_, err = e.Loop()
		wantErrno(t, "Loop in Armed", err, unix.EBUSY)

		pending, err = e.Wait(0)
		if err != nil || pending {
			t.Fatalf("Wait(0) = %v, %v; want false, nil", pending, err)
		}
		if st := e.State(); st != sdevent.Initial {
			t.Fatalf("after an empty Wait: state %v, want Initial", st)
		}
	})
	t.Run("pending", func(t *testing.T) {
		e := newLoop(t)
		ran := 0
		keep(t)(e.AddDefer(func(*sdevent.Source) error { ran++; return nil }))
		it := e.Iteration()
		pending, err := e.Prepare()
		if err != nil || !pending {
			t.Fatalf("Prepare with a defer source = %v, %v; want true, nil", pending, err)
		}
		if st := e.State(); st != sdevent.Pending {
			t.Fatalf("state %v, want Pending", st)
		}
		if e.Iteration() != it+1 {
			t.Errorf("Prepare moved the iteration from %d to %d, want +1", it, e.Iteration())
		}
		_, err = e.Prepare()
		wantErrno(t, "Prepare in Pending", err, unix.EBUSY)
		_, err = e.Wait(0)
		wantErrno(t, "Wait in Pending", err, unix.EBUSY)
		_, err = e.Run(0)
		wantErrno(t, "Run in Pending", err, unix.EBUSY)
		dispatched, err := e.Dispatch()
		if err != nil || !dispatched || ran != 1 {
			t.Fatalf("Dispatch = %v, %v, handler ran %d times; want true, nil, 1", dispatched, err, ran)
		}
		if st := e.State(); st != sdevent.Initial {
			t.Fatalf("after Dispatch: state %v, want Initial", st)
		}
	})
}

// TestPhasesInsideHandlerEBUSY: a handler that calls a phase, Run or Loop
// on its own loop gets EBUSY (the loop is Running, not Initial).
//
// From SEMANTICS.md, "The loop": States.
func TestPhasesInsideHandlerEBUSY(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(e *sdevent.Event) error
	}{
		{"Run", func(e *sdevent.Event) error { _, err := e.Run(0); return err }},
		{"Loop", func(e *sdevent.Event) error { _, err := e.Loop(); return err }},
		{"Prepare", func(e *sdevent.Event) error { _, err := e.Prepare(); return err }},
		{"Wait", func(e *sdevent.Event) error { _, err := e.Wait(0); return err }},
		{"Dispatch", func(e *sdevent.Event) error { _, err := e.Dispatch(); return err }},
		{"LoopContext", func(e *sdevent.Event) error { _, err := e.LoopContext(context.Background()); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			var got error
			var st sdevent.State
			called := false
			keep(t)(e.AddDefer(func(s *sdevent.Source) error {
				called = true
				st = s.Event().State()
				got = tc.call(s.Event())
				return nil
			}))
			if !run(t, e, 0) || !called {
				t.Fatal("handler did not run")
			}
			if st != sdevent.Running {
				t.Errorf("state inside a handler = %v, want Running", st)
			}
			wantErrno(t, tc.name+" inside a handler", got, unix.EBUSY)
		})
	}
}

// finishedLoop returns a loop that ran to its end with code 3, and an IO and
// a time source made before that.
func finishedLoop(t *testing.T) (*sdevent.Event, *sdevent.Source, *sdevent.Source) {
	t.Helper()
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	io := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil }))
	tm := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, func(*sdevent.Source, time.Duration) error { return nil }))
	ok(t, "Exit", e.Exit(3))
	if code := loop(t, e); code != 3 {
		t.Fatalf("Loop = %d, want 3", code)
	}
	if st := e.State(); st != sdevent.Finished {
		t.Fatalf("state after Loop = %v, want Finished", st)
	}
	return e, io, tm
}

// TestFinishedLoopESTALE: once Finished, phases, Exit, every Add* and the
// setters that would arm something are ESTALE, SetEnabled(Off) succeeds,
// getters work, and Loop is EBUSY (sd_event_loop checks only for INITIAL).
//
// From SEMANTICS.md, "The loop": Finished loop.
func TestFinishedLoopESTALE(t *testing.T) {
	e, io, tm := finishedLoop(t)
	r, _ := testutil.Pipe(t)
	nopIO := func(*sdevent.Source, int, uint32) error { return nil }
	nopTime := func(*sdevent.Source, time.Duration) error { return nil }
	nop := func(*sdevent.Source) error { return nil }
	addErr := func(s *sdevent.Source, err error) error {
		if s != nil {
			s.Unref()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Prepare", func() error { _, err := e.Prepare(); return err }},
		{"Wait", func() error { _, err := e.Wait(0); return err }},
		{"Dispatch", func() error { _, err := e.Dispatch(); return err }},
		{"Run", func() error { _, err := e.Run(0); return err }},
		{"Exit", func() error { return e.Exit(1) }},
		{"AddIO", func() error { return addErr(e.AddIO(r, unix.EPOLLIN, nopIO)) }},
		{"AddTime", func() error { return addErr(e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, nopTime)) }},
		{"AddTimeRelative", func() error { return addErr(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, 0, nopTime)) }},
		{"AddDefer", func() error { return addErr(e.AddDefer(nop)) }},
		{"AddPost", func() error { return addErr(e.AddPost(nop)) }},
		{"AddExit", func() error { return addErr(e.AddExit(nop)) }},
		{"SetEnabled(OneShot)", func() error { return io.SetEnabled(source.OneShot) }},
		{"SetEnabled(On)", func() error { return tm.SetEnabled(source.On) }},
		{"SetTime", func() error { return tm.SetTime(0) }},
		{"SetTimeRelative", func() error { return tm.SetTimeRelative(time.Second) }},
		// sd_event_set_signal_exit checks for FINISHED before it looks at
		// b, so turning it off is ESTALE too (C 252 and 262).
		{"SetSignalExit(true)", func() error { _, err := e.SetSignalExit(true); return err }},
		{"SetSignalExit(false)", func() error { _, err := e.SetSignalExit(false); return err }},
	} {
		wantErrno(t, tc.name+" on a finished loop", tc.call(), unix.ESTALE)
	}
	_, err := e.Loop()
	wantErrno(t, "Loop on a finished loop", err, unix.EBUSY)

	ok(t, "SetEnabled(Off) on a finished loop", io.SetEnabled(source.Off))
	ok(t, "SetEnabled(Off) on a finished loop", tm.SetEnabled(source.Off))
	// sd_event_source_set_enabled returns 0 on a finished loop for OFF
	// without touching the source, so Enabled() need not say off.
	if _, err := io.Enabled(); err != nil {
		t.Errorf("Enabled() on a finished loop: %v", err)
	}
	if code, err := e.ExitCode(); err != nil || code != 3 {
		t.Errorf("ExitCode() = %d, %v; want 3", code, err)
	}
	if _, err := e.Now(unix.CLOCK_MONOTONIC); err != nil {
		t.Errorf("Now on a finished loop: %v", err)
	}
	if _, err := tm.Time(); err != nil {
		t.Errorf("Time() on a finished loop: %v", err)
	}
	if st := e.State(); st != sdevent.Finished {
		t.Errorf("state = %v, want Finished", st)
	}
}

// TestExitCode: ExitCode is ENODATA before any Exit; a later Exit replaces
// the code, also from an exit handler while the loop is exiting.
//
// From SEMANTICS.md, "The loop": Exit(code).
func TestExitCode(t *testing.T) {
	e := newLoop(t)
	_, err := e.ExitCode()
	wantErrno(t, "ExitCode before Exit", err, unix.ENODATA)

	ok(t, "Exit(3)", e.Exit(3))
	if code, err := e.ExitCode(); err != nil || code != 3 {
		t.Fatalf("ExitCode = %d, %v; want 3", code, err)
	}
	ok(t, "Exit(5)", e.Exit(5))
	if code, err := e.ExitCode(); err != nil || code != 5 {
		t.Fatalf("ExitCode after a second Exit = %d, %v; want 5", code, err)
	}
	keep(t)(e.AddExit(func(s *sdevent.Source) error {
		return s.Event().Exit(9)
	}))
	if code := loop(t, e); code != 9 {
		t.Errorf("Loop = %d, want 9 (set by the exit handler)", code)
	}
}

// TestLoopContext: a done context ends LoopContext with an error wrapping
// ctx.Err(), and the loop can run on.
//
// From SEMANTICS.md, "The loop": LoopContext(ctx).
func TestLoopContext(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		e := newLoop(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.LoopContext(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("LoopContext(cancelled) = %v, want an error wrapping context.Canceled", err)
		}
		if st := e.State(); st != sdevent.Initial {
			t.Fatalf("state after LoopContext = %v, want Initial", st)
		}
		s := keep(t)(e.AddDefer(nil))
		s.SetUserdata(5)
		if code := loop(t, e); code != 5 {
			t.Errorf("Loop after LoopContext = %d, want 5", code)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		e := newLoop(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := e.LoopContext(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LoopContext = %v, want an error wrapping context.DeadlineExceeded", err)
		}
		ran := false
		keep(t)(e.AddDefer(func(*sdevent.Source) error { ran = true; return nil }))
		if !run(t, e, 0) || !ran {
			t.Error("the loop does not run after LoopContext returned")
		}
	})
	t.Run("exit", func(t *testing.T) {
		e := newLoop(t)
		s := keep(t)(e.AddDefer(nil))
		s.SetUserdata(6)
		code, err := e.LoopContext(context.Background())
		if err != nil || code != 6 {
			t.Errorf("LoopContext = %d, %v; want 6, nil", code, err)
		}
	})
}

// TestFdReadable: the loop's fd polls readable when a watched fd is ready, so
// that the loop can be embedded in another one: Prepare, poll Fd, Wait(0),
// Dispatch.
//
// From SEMANTICS.md, "The loop": Wait.
func TestFdReadable(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	ran := false
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { ran = true; return nil }))
	pending, err := e.Prepare()
	if err != nil || pending {
		t.Fatalf("Prepare = %v, %v; want false", pending, err)
	}
	pfd := []unix.PollFd{{Fd: int32(e.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 0); err != nil || n != 0 {
		t.Fatalf("loop fd ready (%d, %v) with nothing to do", n, err)
	}
	writeByte(t, w)
	if n, err := unix.Poll(pfd, 10000); err != nil || n != 1 || pfd[0].Revents&unix.POLLIN == 0 {
		t.Fatalf("loop fd not readable after the pipe became readable: %d, %v, revents %#x", n, err, pfd[0].Revents)
	}
	pending, err = e.Wait(0)
	if err != nil || !pending {
		t.Fatalf("Wait(0) = %v, %v; want true", pending, err)
	}
	if d, err := e.Dispatch(); err != nil || !d || !ran {
		t.Fatalf("Dispatch = %v, %v, handler ran %v", d, err, ran)
	}
}

// TestDefaultLoop: Default returns one reference-counted loop per process.
//
// From SEMANTICS.md, "The loop": Threads.
func TestDefaultLoop(t *testing.T) {
	testutil.Check(t)
	a, err := sdevent.Default()
	ok(t, "Default", err)
	b, err := sdevent.Default()
	ok(t, "Default", err)
	if a != b {
		t.Error("two Default() calls gave different loops")
	}
	epfd := a.Fd()
	a.Unref()
	if !testutil.FdOpen(epfd) {
		t.Fatal("default loop freed while a reference remains")
	}
	b.Unref()
	if testutil.FdOpen(epfd) {
		t.Error("default loop not freed after its last reference went")
	}
}

// TestPanicInPrepareLeavesLoopUsable: a prepare callback that panics leaves
// the loop between iterations, and a source it unreferenced is freed.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestPanicInPrepareLeavesLoopUsable(t *testing.T) {
	e := newLoop(t)
	s := must(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	destroyed := false
	ok(t, "destroy", s.SetDestroyCallback(func(any) { destroyed = true }))
	ok(t, "prepare", s.SetPrepare(func(x *sdevent.Source) error {
		x.Unref()
		panic("boom")
	}))
	runPanics(t, e, 0)
	if st := e.State(); st != sdevent.Initial {
		t.Fatalf("state after panic %v, want initial", st)
	}
	if !destroyed {
		t.Fatal("the source unreferenced in its prepare callback was not freed")
	}
	if _, err := e.Run(0); err != nil {
		t.Fatalf("Run after the panic: %v", err)
	}
}

// TestPanicInHandlerLeavesLoopUsable: the same for a handler.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestPanicInHandlerLeavesLoopUsable(t *testing.T) {
	e := newLoop(t)
	keep(t)(e.AddDefer(func(*sdevent.Source) error { panic("boom") }))
	runPanics(t, e, 0)
	if st := e.State(); st != sdevent.Initial {
		t.Fatalf("state after panic %v, want initial", st)
	}
	ran := false
	keep(t)(e.AddDefer(func(*sdevent.Source) error { ran = true; return nil }))
	run(t, e, long)
	if !ran {
		t.Fatal("the loop did not dispatch after a panic")
	}
}

// TestWakeAloneIsNoDispatch: the wake-up LoopContext sends when its context
// ends is not a dispatch, so post sources do not run for it.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestWakeAloneIsNoDispatch(t *testing.T) {
	e := newLoop(t)
	posts := 0
	keep(t)(e.AddPost(func(*sdevent.Source) error { posts++; return nil }))
	// Something to keep the loop waiting.
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, nil))
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if _, err := e.LoopContext(ctx); err == nil {
		t.Fatal("LoopContext returned no error for a cancelled context")
	}
	for i := 0; i < 3; i++ {
		if d := run(t, e, 0); d {
			t.Fatal("Run(0) dispatched with nothing ready")
		}
	}
	if posts != 0 {
		t.Fatalf("post source ran %d times for a bare wake-up", posts)
	}
}

// TestZeroEvent: an Event not made by New is refused, never a panic.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestZeroEvent(t *testing.T) {
	testutil.Check(t)
	var z sdevent.Event
	_, err := z.AddDefer(nil)
	wantErrno(t, "AddDefer", err, unix.EINVAL)
	_, err = z.AddIO(0, unix.EPOLLIN, nil)
	wantErrno(t, "AddIO", err, unix.EINVAL)
	_, err = z.AddTime(unix.CLOCK_MONOTONIC, 0, 0, nil)
	wantErrno(t, "AddTime", err, unix.EINVAL)
	_, err = z.Run(0)
	wantErrno(t, "Run", err, unix.EINVAL)
	_, err = z.Loop()
	wantErrno(t, "Loop", err, unix.EINVAL)
	wantErrno(t, "Invoke", z.Invoke(func() {}), unix.EINVAL)
}

// runPanics runs an iteration that must panic, with timeout, and returns
// what it panicked with.
func runPanics(t *testing.T, e *sdevent.Event, timeout time.Duration) (v any) {
	t.Helper()
	defer func() {
		v = recover()
		if v == nil {
			t.Fatal("the iteration did not panic")
		}
	}()
	_, _ = e.Run(timeout) // panics: the deferred recover has the value
	return nil
}

// TestFaultEINTRIsNoDispatch: signals that interrupt the loop's wait
// (SIGURG, which the Go runtime uses to preempt, and a SIGUSR1 the process
// catches with signal.Notify), sent at the very thread that waits and at the
// process, never end a wait early and are never reported as a dispatch: Run
// and Wait with a 300ms timeout and nothing ready return (false, nil) only
// once the timeout has passed, and no handler (not even a post source) runs.
//
// Fault test of issue 5.
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
			var err error
			if i%5 == 4 {
				err = unix.Kill(pid, sig)
			} else {
				err = unix.Tgkill(pid, tid, sig)
			}
			if err != nil {
				t.Errorf("send %v: %v", sig, err)
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
// it is enabled again, the source itself. (TestPanicInPrepareLeavesLoopUsable
// and TestPanicInHandlerLeavesLoopUsable cover a panicking prepare callback
// and a plain defer handler.)
//
// Fault test of issue 5.
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
//
// Fault test of issue 5.
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
//
// Fault test of issue 5.
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
			_, _ = e.Loop() // panics: the deferred recover checks with what
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
//
// Fault test of issue 5.
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
		_, err := unix.Read(fd, make([]byte, 8))
		ok(t, "read", err)
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
//
// Fault test of issue 5.
func TestEmbedNestedEpoll(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	var got []string
	keep(t)(e.AddIO(r, unix.EPOLLIN, func(_ *sdevent.Source, fd int, _ uint32) error {
		got = append(got, "io")
		_, err := unix.Read(fd, make([]byte, 8))
		ok(t, "read", err)
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
