package sdevent_test

// Error paths and state transitions of the loop and of the IO, time, defer,
// post and exit sources, as SEMANTICS.md lists them from sd-event.c.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// TestStateValues pins the C values of the states (sd_event_get_state).
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

// TestExitSourcesOnePerIteration: after Exit, exit sources run one per
// iteration in priority order in state Exiting; regular sources never run
// again; when none is left the loop is Finished.
func TestExitSourcesOnePerIteration(t *testing.T) {
	e := newLoop(t)
	var got []string
	var iters []uint64
	for _, x := range []struct {
		name string
		prio priority.Priority
	}{{"late", 10}, {"first", -5}, {"middle", 0}, {"off", -50}} {
		s := keep(t)(e.AddExit(func(s *sdevent.Source) error {
			if st := s.Event().State(); st != sdevent.Exiting {
				t.Errorf("exit source %s runs in state %v", x.name, st)
			}
			got = append(got, x.name)
			iters = append(iters, s.Event().Iteration())
			return nil
		}))
		ok(t, "priority", s.SetPriority(x.prio))
		if x.name == "off" {
			ok(t, "off", s.SetEnabled(source.Off))
		}
	}
	regular := 0
	d := keep(t)(e.AddDefer(func(s *sdevent.Source) error {
		regular++
		return s.Event().Exit(0)
	}))
	ok(t, "on", d.SetEnabled(source.On))

	run(t, e, 0) // the defer source asks to exit
	for i := 0; e.State() != sdevent.Finished; i++ {
		if i > 10 {
			t.Fatalf("not finished after %d iterations; ran %v", i, got)
		}
		before := len(got)
		run(t, e, 0)
		if n := len(got) - before; n > 1 {
			t.Fatalf("one iteration dispatched %d exit sources", n)
		}
	}
	if want := []string{"first", "middle", "late"}; !slices.Equal(got, want) {
		t.Errorf("exit sources ran %v, want %v", got, want)
	}
	if len(iters) == 3 && !(iters[0] < iters[1] && iters[1] < iters[2]) {
		t.Errorf("exit sources ran in iterations %v, want one each", iters)
	}
	if regular != 1 {
		t.Errorf("the ON defer source ran %d times, want 1 (none after Exit)", regular)
	}
}

// TestAddErrors: the argument checks of the Add* calls and of Now.
func TestAddErrors(t *testing.T) {
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	nopIO := func(*sdevent.Source, int, uint32) error { return nil }
	nopTime := func(*sdevent.Source, time.Duration) error { return nil }
	file, err := os.CreateTemp(t.TempDir(), "regular")
	ok(t, "temp file", err)
	t.Cleanup(func() { file.Close() })
	regular := int(file.Fd())

	for _, tc := range []struct {
		name string
		add  func() (*sdevent.Source, error)
		want unix.Errno
	}{
		{"io fd -1", func() (*sdevent.Source, error) { return e.AddIO(-1, unix.EPOLLIN, nopIO) }, unix.EBADF},
		{"io EPOLLONESHOT", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLIN|unix.EPOLLONESHOT, nopIO) }, unix.EINVAL},
		{"io EPOLLEXCLUSIVE", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, nopIO) }, unix.EINVAL},
		{"io EPOLLWAKEUP", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLWAKEUP, nopIO) }, unix.EINVAL},
		{"io unknown bit", func() (*sdevent.Source, error) { return e.AddIO(r, 1<<20, nopIO) }, unix.EINVAL},
		{"io regular file", func() (*sdevent.Source, error) { return e.AddIO(regular, unix.EPOLLIN, nopIO) }, unix.EPERM},
		{"time unknown clock", func() (*sdevent.Source, error) { return e.AddTime(900, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time clock -1", func() (*sdevent.Source, error) { return e.AddTime(-1, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time CPU clock", func() (*sdevent.Source, error) { return e.AddTime(unix.CLOCK_PROCESS_CPUTIME_ID, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"relative unknown clock", func() (*sdevent.Source, error) { return e.AddTimeRelative(900, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time accuracy Infinity", func() (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, 0, sdevent.Infinity, nopTime)
		}, unix.EINVAL},
		{"relative accuracy Infinity", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, sdevent.Infinity, nopTime)
		}, unix.EINVAL},
		{"relative overflow", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, sdevent.Infinity-1, 0, nopTime)
		}, unix.EOVERFLOW},
		{"relative Infinity", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, nopTime)
		}, unix.EOVERFLOW},
		{"exit nil handler", func() (*sdevent.Source, error) { return e.AddExit(nil) }, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.add()
			if s != nil {
				s.Unref()
				t.Errorf("got a source, want an error")
			}
			wantErrno(t, tc.name, err, tc.want)
		})
	}

	// The same fd twice in one loop: the error epoll_ctl gives (EEXIST).
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, nopIO))
	_ = s
	s2, err := e.AddIO(r, unix.EPOLLIN, nopIO)
	if s2 != nil {
		s2.Unref()
	}
	wantErrno(t, "same fd twice", err, unix.EEXIST)
}

// TestSourceSetterErrors: the argument checks of the setters.
func TestSourceSetterErrors(t *testing.T) {
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	io := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil }))
	tm := keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, func(*sdevent.Source, time.Duration) error { return nil }))
	def := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	post := keep(t)(e.AddPost(func(*sdevent.Source) error { return nil }))
	exit := keep(t)(e.AddExit(func(*sdevent.Source) error { return nil }))

	for _, tc := range []struct {
		name string
		call func() error
		want unix.Errno
	}{
		{"SetEnabled(2)", func() error { return def.SetEnabled(2) }, unix.EINVAL},
		{"SetEnabled(-2)", func() error { return io.SetEnabled(-2) }, unix.EINVAL},
		{"SetIOEvents(EPOLLONESHOT)", func() error { return io.SetIOEvents(unix.EPOLLIN | unix.EPOLLONESHOT) }, unix.EINVAL},
		{"SetIOEvents(1<<20)", func() error { return io.SetIOEvents(1 << 20) }, unix.EINVAL},
		{"SetIOFd(-1)", func() error { return io.SetIOFd(-1) }, unix.EBADF},
		{"SetTimeAccuracy(Infinity)", func() error { return tm.SetTimeAccuracy(sdevent.Infinity) }, unix.EINVAL},
		{"SetTimeRelative overflow", func() error { return tm.SetTimeRelative(sdevent.Infinity - 1) }, unix.EOVERFLOW},
		{"SetRatelimit(-1s, 5)", func() error { return io.SetRatelimit(-time.Second, 5) }, unix.EINVAL},
		{"SetRatelimit on post", func() error { return post.SetRatelimit(time.Second, 5) }, unix.EDOM},
		{"SetRatelimit on exit", func() error { return exit.SetRatelimit(time.Second, 5) }, unix.EDOM},
	} {
		wantErrno(t, tc.name, tc.call(), tc.want)
	}
	// A zero interval or burst is no limit, as in C (sd_event_source_set_ratelimit
	// accepts it; sd_event_source_get_ratelimit then gives ENOEXEC).
	for _, l := range []struct {
		interval time.Duration
		burst    uint
	}{{0, 5}, {time.Second, 0}} {
		ok(t, "set a limit", io.SetRatelimit(time.Second, 5))
		ok(t, "SetRatelimit(half zero)", io.SetRatelimit(l.interval, l.burst))
		if _, _, err := io.Ratelimit(); !errors.Is(err, unix.ENOEXEC) {
			t.Errorf("Ratelimit after SetRatelimit(%v, %d): %v, want ENOEXEC", l.interval, l.burst, err)
		}
	}
	ok(t, "SetRatelimit(0, 0)", io.SetRatelimit(0, 0))
	ok(t, "SetRatelimit on defer", def.SetRatelimit(time.Second, 5))
	ok(t, "SetRatelimit on time", tm.SetRatelimit(time.Second, 5))

	_, _, err := io.Ratelimit()
	wantErrno(t, "Ratelimit() unset", err, unix.ENOEXEC)
	if iv, b, err := def.Ratelimit(); err != nil || iv != time.Second || b != 5 {
		t.Errorf("Ratelimit() = %v, %d, %v; want 1s, 5", iv, b, err)
	}
	ok(t, "clear", def.SetRatelimit(0, 0))
	_, _, err = def.Ratelimit()
	wantErrno(t, "Ratelimit() after (0, 0)", err, unix.ENOEXEC)

	_, err = io.Description()
	wantErrno(t, "Description unset", err, unix.ENXIO)
	ok(t, "SetDescription", io.SetDescription("pipe"))
	if d, err := io.Description(); err != nil || d != "pipe" {
		t.Errorf("Description = %q, %v; want pipe", d, err)
	}

	_, err = io.IORevents()
	wantErrno(t, "IORevents when not pending", err, unix.ENODATA)

	// Defaults: IO and post start ON, time, defer and exit ONESHOT.
	for _, d := range []struct {
		name string
		s    *sdevent.Source
		want source.Enabled
	}{{"io", io, source.On}, {"post", post, source.On}, {"time", tm, source.OneShot}, {"defer", def, source.OneShot}, {"exit", exit, source.OneShot}} {
		if m, err := d.s.Enabled(); err != nil || m != d.want {
			t.Errorf("%s source starts %v, %v; want %v", d.name, m, err, d.want)
		}
	}
}

// TestTypeMismatchEDOM: a type-specific method on a source of another kind
// returns EDOM.
func TestTypeMismatchEDOM(t *testing.T) {
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	kinds := map[string]*sdevent.Source{
		"io":    keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil })),
		"time":  keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, func(*sdevent.Source, time.Duration) error { return nil })),
		"defer": keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil })),
		"post":  keep(t)(e.AddPost(func(*sdevent.Source) error { return nil })),
		"exit":  keep(t)(e.AddExit(func(*sdevent.Source) error { return nil })),
	}
	methods := []struct {
		name string
		kind string
		call func(s *sdevent.Source) error
	}{
		{"IOFd", "io", func(s *sdevent.Source) error { _, err := s.IOFd(); return err }},
		{"SetIOFd", "io", func(s *sdevent.Source) error { return s.SetIOFd(r) }},
		{"IOFdOwn", "io", func(s *sdevent.Source) error { _, err := s.IOFdOwn(); return err }},
		{"SetIOFdOwn", "io", func(s *sdevent.Source) error { return s.SetIOFdOwn(false) }},
		{"IOEvents", "io", func(s *sdevent.Source) error { _, err := s.IOEvents(); return err }},
		{"SetIOEvents", "io", func(s *sdevent.Source) error { return s.SetIOEvents(unix.EPOLLIN) }},
		{"IORevents", "io", func(s *sdevent.Source) error { _, err := s.IORevents(); return err }},
		{"Time", "time", func(s *sdevent.Source) error { _, err := s.Time(); return err }},
		{"SetTime", "time", func(s *sdevent.Source) error { return s.SetTime(sdevent.Infinity) }},
		{"SetTimeRelative", "time", func(s *sdevent.Source) error { return s.SetTimeRelative(time.Hour) }},
		{"TimeAccuracy", "time", func(s *sdevent.Source) error { _, err := s.TimeAccuracy(); return err }},
		{"SetTimeAccuracy", "time", func(s *sdevent.Source) error { return s.SetTimeAccuracy(time.Millisecond) }},
		{"TimeClock", "time", func(s *sdevent.Source) error { _, err := s.TimeClock(); return err }},
	}
	for _, m := range methods {
		for kind, s := range kinds {
			err := m.call(s)
			if kind == m.kind {
				if errors.Is(err, unix.EDOM) {
					t.Errorf("%s on a %s source: EDOM", m.name, kind)
				}
				continue
			}
			wantErrno(t, fmt.Sprintf("%s on a %s source", m.name, kind), err, unix.EDOM)
		}
	}
}

// TestOneShotOffBeforeHandler: a ONESHOT source is switched off before its
// handler runs (source_dispatch does so before the callback), so the
// handler sees Off and may re-enable itself.
func TestOneShotOffBeforeHandler(t *testing.T) {
	type kind struct {
		name string
		add  func(t *testing.T, e *sdevent.Event, h func(s *sdevent.Source)) *sdevent.Source
	}
	for _, k := range []kind{
		{"defer", func(t *testing.T, e *sdevent.Event, h func(s *sdevent.Source)) *sdevent.Source {
			return keep(t)(e.AddDefer(func(s *sdevent.Source) error { h(s); return nil }))
		}},
		{"time", func(t *testing.T, e *sdevent.Event, h func(s *sdevent.Source)) *sdevent.Source {
			return keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, 1, 0, func(s *sdevent.Source, _ time.Duration) error { h(s); return nil }))
		}},
		{"io", func(t *testing.T, e *sdevent.Event, h func(s *sdevent.Source)) *sdevent.Source {
			r, w := testutil.Pipe(t)
			writeByte(t, w)
			s := keep(t)(e.AddIO(r, unix.EPOLLIN, func(s *sdevent.Source, _ int, _ uint32) error { h(s); return nil }))
			ok(t, "oneshot", s.SetEnabled(source.OneShot))
			return s
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			e := newLoop(t)
			var seen []string
			k.add(t, e, func(s *sdevent.Source) {
				seen = append(seen, enabledOf(t, s))
				if len(seen) == 1 {
					if err := s.SetEnabled(source.OneShot); err != nil {
						t.Errorf("re-enable: %v", err)
					}
				}
			})
			run(t, e, time.Second)
			run(t, e, time.Second)
			if run(t, e, 0) {
				t.Error("a ONESHOT source that did not re-enable itself ran again")
			}
			if want := []string{"off", "off"}; !slices.Equal(seen, want) {
				t.Errorf("Enabled() inside the handler: %v, want %v", seen, want)
			}
		})
	}
	t.Run("exit", func(t *testing.T) {
		e := newLoop(t)
		var seen string
		keep(t)(e.AddExit(func(s *sdevent.Source) error {
			seen = enabledOf(t, s)
			return nil
		}))
		ok(t, "Exit", e.Exit(0))
		loop(t, e)
		if seen != "off" {
			t.Errorf("exit source saw %q, want off", seen)
		}
	})
}

// TestNonFloatingSourceKeepsLoopAlive: a source holds a reference on its
// loop, so the loop outlives the caller's Unref until the source goes.
func TestNonFloatingSourceKeepsLoopAlive(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	ok(t, "New", err)
	epfd := e.Fd()
	ran := false
	s, err := e.AddDefer(func(*sdevent.Source) error { ran = true; return nil })
	if err != nil {
		e.Unref()
		t.Fatal(err)
	}
	e.Unref()
	if !testutil.FdOpen(epfd) {
		s.Unref()
		t.Fatal("the loop was freed while a non-floating source still referenced it")
	}
	if s.Event() == nil {
		t.Fatal("Event() of a live source is nil")
	}
	if !run(t, s.Event(), 0) || !ran {
		t.Error("the loop kept alive by its source does not run")
	}
	s.Unref()
	if testutil.FdOpen(epfd) {
		t.Errorf("epoll fd %d still open after the last reference went", epfd)
	}
}

// TestDestroyCallback: freed outside its handler, a source's destroy
// callback runs at once with its userdata; a source that drops its last
// reference inside its handler is freed after the handler returns.
func TestDestroyCallback(t *testing.T) {
	e := newLoop(t)
	var log []string
	s := must(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	s.SetUserdata("outside")
	ok(t, "destroy cb", s.SetDestroyCallback(func(u any) { log = append(log, fmt.Sprint("destroy ", u)) }))
	s.Unref()
	if want := []string{"destroy outside"}; !slices.Equal(log, want) {
		t.Fatalf("log %v, want %v", log, want)
	}

	log = nil
	s = must(t)(e.AddDefer(func(s *sdevent.Source) error {
		log = append(log, "handler")
		s.Unref()
		log = append(log, "unref returned")
		return nil
	}))
	s.SetUserdata("inside")
	ok(t, "destroy cb", s.SetDestroyCallback(func(u any) { log = append(log, fmt.Sprint("destroy ", u)) }))
	run(t, e, 0)
	if want := []string{"handler", "unref returned", "destroy inside"}; !slices.Equal(log, want) {
		t.Errorf("log %v, want %v", log, want)
	}
}

// TestFloatingReleasedNewestFirst: floating sources are owned by the loop and
// are released newest first when it is freed (event_free walks e->sources,
// to which sources are prepended).
func TestFloatingReleasedNewestFirst(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	ok(t, "New", err)
	epfd := e.Fd()
	var log []string
	for _, name := range []string{"a", "b", "c"} {
		s, err := e.AddDefer(func(*sdevent.Source) error { return nil })
		ok(t, "AddDefer", err)
		s.SetUserdata(name)
		ok(t, "destroy cb", s.SetDestroyCallback(func(u any) { log = append(log, u.(string)) }))
		ok(t, "floating", s.SetFloating(true))
		if !s.Floating() {
			t.Error("Floating() = false after SetFloating(true)")
		}
		s.Unref() // the loop holds the source now
	}
	if len(log) != 0 {
		t.Fatalf("floating sources destroyed before the loop: %v", log)
	}
	e.Unref()
	if want := []string{"c", "b", "a"}; !slices.Equal(log, want) {
		t.Errorf("destroyed %v, want %v", log, want)
	}
	if testutil.FdOpen(epfd) {
		t.Errorf("loop not freed: epoll fd %d open", epfd)
	}
}

// TestSetFloating: SetFloating(true) gives the loop a reference on the source
// and drops the source's reference on the loop; SetFloating(false) undoes
// it; once the loop is gone the source is disconnected and SetFloating is
// ESTALE.
func TestSetFloating(t *testing.T) {
	testutil.Check(t)
	t.Run("back-to-non-floating", func(t *testing.T) {
		e, err := sdevent.New()
		ok(t, "New", err)
		epfd := e.Fd()
		s, err := e.AddDefer(func(*sdevent.Source) error { return nil })
		ok(t, "AddDefer", err)
		ok(t, "floating", s.SetFloating(true))
		ok(t, "floating again", s.SetFloating(true))
		ok(t, "not floating", s.SetFloating(false))
		if s.Floating() {
			t.Error("Floating() = true after SetFloating(false)")
		}
		e.Unref()
		if !testutil.FdOpen(epfd) {
			t.Fatal("loop freed although a non-floating source references it")
		}
		s.Unref()
		if testutil.FdOpen(epfd) {
			t.Error("loop not freed after its last source went")
		}
	})
	t.Run("disconnected", func(t *testing.T) {
		e, err := sdevent.New()
		ok(t, "New", err)
		epfd := e.Fd()
		s, err := e.AddDefer(func(*sdevent.Source) error { return nil })
		ok(t, "AddDefer", err)
		destroyed := false
		ok(t, "destroy cb", s.SetDestroyCallback(func(any) { destroyed = true }))
		ok(t, "floating", s.SetFloating(true))
		e.Unref() // no non-floating source: the loop goes, s is disconnected
		if testutil.FdOpen(epfd) {
			t.Error("loop not freed: only a floating source was left")
		}
		if destroyed {
			t.Fatal("source destroyed although the caller still holds a reference")
		}
		wantErrno(t, "SetFloating(false) disconnected", s.SetFloating(false), unix.ESTALE)
		s.Unref()
		if !destroyed {
			t.Error("destroy callback did not run on the last Unref")
		}
	})
}

// TestDefaultHandlerExits: a nil handler exits the loop with the source's
// userdata when that is an int, else with 0.
func TestDefaultHandlerExits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		userdata any
		want     int
		add      func(t *testing.T, e *sdevent.Event) *sdevent.Source
	}{
		{"defer int", 7, 7, func(t *testing.T, e *sdevent.Event) *sdevent.Source { return keep(t)(e.AddDefer(nil)) }},
		{"defer string", "x", 0, func(t *testing.T, e *sdevent.Event) *sdevent.Source { return keep(t)(e.AddDefer(nil)) }},
		{"defer nil", nil, 0, func(t *testing.T, e *sdevent.Event) *sdevent.Source { return keep(t)(e.AddDefer(nil)) }},
		{"time", 4, 4, func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			return keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Millisecond, time.Microsecond, nil))
		}},
		{"io", -int(unix.ENOANO), -int(unix.ENOANO), func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			r, w := testutil.Pipe(t)
			writeByte(t, w)
			return keep(t)(e.AddIO(r, unix.EPOLLIN, nil))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			s := tc.add(t, e)
			s.SetUserdata(tc.userdata)
			if u := s.Userdata(); u != tc.userdata {
				t.Fatalf("Userdata() = %v, want %v", u, tc.userdata)
			}
			code, _ := loopErr(t, e)
			if code != tc.want {
				t.Errorf("Loop = %d, want %d", code, tc.want)
			}
		})
	}
}

// TestHandlerErrorDisablesSource: an error from a handler switches its
// source off and goes no further: Run reports the dispatch, not the error,
// and the loop does not exit.
func TestHandlerErrorDisablesSource(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		add  func(t *testing.T, e *sdevent.Event) *sdevent.Source
	}{
		{"defer", func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			return keep(t)(e.AddDefer(func(*sdevent.Source) error { return boom }))
		}},
		{"io", func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			r, w := testutil.Pipe(t)
			writeByte(t, w)
			return keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return boom }))
		}},
		{"time", func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			return keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, 1, 0, func(*sdevent.Source, time.Duration) error { return boom }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			s := tc.add(t, e)
			ok(t, "on", s.SetEnabled(source.On))
			dispatched, err := e.Run(time.Second)
			if err != nil || !dispatched {
				t.Fatalf("Run = %v, %v; want true, nil (the handler's error stays inside)", dispatched, err)
			}
			if got := enabledOf(t, s); got != "off" {
				t.Errorf("after a failing handler the source is %s, want off", got)
			}
			if _, err := e.ExitCode(); !errors.Is(err, unix.ENODATA) {
				t.Errorf("the loop was asked to exit: ExitCode error %v", err)
			}
			if run(t, e, 0) {
				t.Error("the disabled source ran again")
			}
		})
	}
}

// TestExitOnFailure: with SetExitOnFailure a failing handler makes the loop
// exit with the negated errno, and Loop returns an error wrapping the
// handler's.
func TestExitOnFailure(t *testing.T) {
	handlerErr := fmt.Errorf("handler failed: %w", unix.ENOANO)
	e := newLoop(t)
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return handlerErr }))
	if s.ExitOnFailure() {
		t.Error("ExitOnFailure() = true by default")
	}
	ok(t, "exit on failure", s.SetExitOnFailure(true))
	if !s.ExitOnFailure() {
		t.Error("ExitOnFailure() = false after SetExitOnFailure(true)")
	}
	code, err := loopErr(t, e)
	if code != -int(unix.ENOANO) {
		t.Errorf("Loop code = %d, want %d (-ENOANO)", code, -int(unix.ENOANO))
	}
	if !errors.Is(err, handlerErr) || !errors.Is(err, unix.ENOANO) {
		t.Errorf("Loop error = %v, want one wrapping the handler's error", err)
	}
	if got := enabledOf(t, s); got != "off" {
		t.Errorf("the failing source is %s, want off", got)
	}

	// A plain error (no errno) still exits with a negative code.
	plain := errors.New("plain")
	e2 := newLoop(t)
	s2 := keep(t)(e2.AddDefer(func(*sdevent.Source) error { return plain }))
	ok(t, "exit on failure", s2.SetExitOnFailure(true))
	code, err = loopErr(t, e2)
	if code >= 0 || !errors.Is(err, plain) {
		t.Errorf("plain error: Loop = %d, %v; want a negative code and the error", code, err)
	}
}

// TestTimerNeverEarly: the handler gets the scheduled time, and both Now and
// the live clock are at or past it.
func TestTimerNeverEarly(t *testing.T) {
	for _, c := range allClocks[:3] {
		for _, acc := range []time.Duration{time.Microsecond, 10 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%v", c.name, acc), func(t *testing.T) {
				e := newLoop(t)
				var got, now, liveAt time.Duration
				fired := false
				s := keep(t)(e.AddTimeRelative(c.clock, 15*time.Millisecond, acc, func(s *sdevent.Source, usec time.Duration) error {
					fired = true
					got = usec
					now, _ = s.Event().Now(c.clock)
					liveAt = live(t, c.clock)
					return nil
				}))
				scheduled, err := s.Time()
				ok(t, "Time", err)
				if a, err := s.TimeAccuracy(); err != nil || a != acc {
					t.Errorf("TimeAccuracy = %v, %v; want %v", a, err, acc)
				}
				if cl, err := s.TimeClock(); err != nil || cl != c.clock {
					t.Errorf("TimeClock = %d, %v; want %d", cl, err, c.clock)
				}
				for i := 0; !fired; i++ {
					if i > 100 {
						t.Fatal("timer never fired")
					}
					run(t, e, 5*time.Second)
				}
				if got != scheduled {
					t.Errorf("handler got %v, want the scheduled %v", got, scheduled)
				}
				if now < scheduled || liveAt < scheduled {
					t.Errorf("fired early: scheduled %v, Now %v, live %v", scheduled, now, liveAt)
				}
			})
		}
	}
}

// TestTimerInPastFiresEveryIteration: an ON timer whose time has passed is
// pending in every iteration.
func TestTimerInPastFiresEveryIteration(t *testing.T) {
	e := newLoop(t)
	var got []time.Duration
	s := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, time.Microsecond, 0, func(_ *sdevent.Source, usec time.Duration) error {
		got = append(got, usec)
		return nil
	}))
	ok(t, "on", s.SetEnabled(source.On))
	for i := range 5 {
		if !run(t, e, 0) {
			t.Fatalf("iteration %d: the due ON timer did not fire", i)
		}
	}
	if len(got) != 5 || got[0] != time.Microsecond {
		t.Errorf("fired with %v, want 5 times 1µs", got)
	}
}

// TestTimerInfinityNeverFires: a timer at Infinity never fires, and the
// loop waits its whole timeout.
func TestTimerInfinityNeverFires(t *testing.T) {
	e := newLoop(t)
	fired := 0
	s := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, func(*sdevent.Source, time.Duration) error {
		fired++
		return nil
	}))
	ok(t, "on", s.SetEnabled(source.On))
	start := live(t, unix.CLOCK_MONOTONIC)
	if run(t, e, 30*time.Millisecond) || fired != 0 {
		t.Fatal("a timer at Infinity fired")
	}
	if d := live(t, unix.CLOCK_MONOTONIC) - start; d < 30*time.Millisecond {
		t.Errorf("Run(30ms) returned after %v", d)
	}
	// Moving an armed timer to Infinity disarms it.
	ok(t, "set time", s.SetTimeRelative(time.Millisecond))
	ok(t, "set time", s.SetTime(sdevent.Infinity))
	if run(t, e, 20*time.Millisecond) || fired != 0 {
		t.Error("a timer moved to Infinity fired")
	}
}

// TestTimerFiresWhileBusy: Now and the timers advance even when every
// iteration has something pending (Prepare then polls with a zero timeout,
// and sd_event's process_epoll takes the timestamp on every poll).
func TestTimerFiresWhileBusy(t *testing.T) {
	e := newLoop(t)
	busy := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "on", busy.SetEnabled(source.On))
	fired := false
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 5*time.Millisecond, time.Microsecond, func(*sdevent.Source, time.Duration) error {
		fired = true
		return nil
	}))
	deadline := live(t, unix.CLOCK_MONOTONIC) + 5*time.Second
	for !fired && live(t, unix.CLOCK_MONOTONIC) < deadline {
		run(t, e, sdevent.Infinity)
	}
	if !fired {
		now, _ := e.Now(unix.CLOCK_MONOTONIC)
		t.Errorf("a 5ms timer did not fire in 5s of busy iterations (Now = %v, live %v)", now, live(t, unix.CLOCK_MONOTONIC))
	}
}

// TestIOReventsORed: revents reported by a later poll are ORed into a source
// that is still pending (process_io).
func TestIOReventsORed(t *testing.T) {
	e := newLoop(t)
	efd := testutil.Eventfd(t)
	var got []uint32
	s := keep(t)(e.AddIO(efd, unix.EPOLLIN|unix.EPOLLOUT, func(_ *sdevent.Source, _ int, revents uint32) error {
		got = append(got, revents)
		return nil
	}))
	ok(t, "priority", s.SetPriority(10))
	_, err := s.IORevents()
	wantErrno(t, "IORevents before any poll", err, unix.ENODATA)

	// A more important source takes the first iteration; the eventfd
	// (counter 0) is writable only.
	blocker := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	run(t, e, 0)
	if len(got) != 0 {
		t.Fatal("the IO source ran before the more important defer source")
	}
	if rev, err := s.IORevents(); err != nil || rev != unix.EPOLLOUT {
		t.Fatalf("pending IORevents = %#x, %v; want EPOLLOUT", rev, err)
	}
	if p, err := s.Pending(); err != nil || !p {
		t.Fatalf("Pending() = %v, %v; want true", p, err)
	}
	ok(t, "off", blocker.SetEnabled(source.Off))

	// Counter at its maximum: readable, no longer writable.
	testutil.Write(t, efd, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	run(t, e, 0)
	if len(got) != 1 || got[0] != unix.EPOLLIN|unix.EPOLLOUT {
		t.Errorf("handler got revents %#x, want EPOLLIN|EPOLLOUT", got)
	}
	_, err = s.IORevents()
	wantErrno(t, "IORevents after dispatch", err, unix.ENODATA)
}

// TestIOTriggering: a level-triggered source fires every iteration while its
// fd is ready; with EPOLLET only when new data arrives.
func TestIOTriggering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events uint32
		want   []int // calls after each of four Run(0), a byte written before the 4th
	}{
		{"level", unix.EPOLLIN, []int{1, 2, 3, 4}},
		{"edge", unix.EPOLLIN | unix.EPOLLET, []int{1, 1, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			r, w := testutil.Pipe(t)
			calls := 0
			s := keep(t)(e.AddIO(r, tc.events, func(*sdevent.Source, int, uint32) error { calls++; return nil }))
			if ev, err := s.IOEvents(); err != nil || ev != tc.events {
				t.Errorf("IOEvents = %#x, %v; want %#x", ev, err, tc.events)
			}
			writeByte(t, w)
			var seen []int
			for i := range 4 {
				if i == 3 {
					writeByte(t, w)
				}
				run(t, e, 0)
				seen = append(seen, calls)
			}
			if !slices.Equal(seen, tc.want) {
				t.Errorf("calls after each iteration %v, want %v", seen, tc.want)
			}
		})
	}
}

// TestIOFdOwn: with SetIOFdOwn(true) the fd is closed when the source is
// freed; without, it is left open.
func TestIOFdOwn(t *testing.T) {
	e := newLoop(t)
	for _, own := range []bool{true, false} {
		r, _ := testutil.Pipe(t)
		s, err := e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil })
		ok(t, "AddIO", err)
		ok(t, "own", s.SetIOFdOwn(own))
		if got, err := s.IOFdOwn(); err != nil || got != own {
			t.Errorf("IOFdOwn = %v, %v; want %v", got, err, own)
		}
		if own {
			testutil.Disown(t, r)
		}
		s.Unref()
		if testutil.FdOpen(r) == own {
			t.Errorf("own=%v: after Unref fd open = %v", own, testutil.FdOpen(r))
		}
	}
}

// TestInvoke: Invoke from another goroutine wakes the loop and runs fn there,
// in a dispatch (state Running).
func TestInvoke(t *testing.T) {
	e := newLoop(t)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.Loop()
		done <- result{code, err}
	}()
	var st sdevent.State
	ok(t, "Invoke", e.Invoke(func() {
		st = e.State()
		e.Exit(42)
	}))
	select {
	case r := <-done:
		if r.err != nil || r.code != 42 {
			t.Errorf("Loop = %d, %v; want 42", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not wake the loop")
	}
	if st != sdevent.Running {
		t.Errorf("fn ran in state %v, want Running", st)
	}
}

// TestInvokeMany: every fn given to Invoke runs once, also when many
// goroutines call it at the same time.
func TestInvokeMany(t *testing.T) {
	e := newLoop(t)
	const n = 50
	count := 0
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- e.Invoke(func() {
				count++
				if count == n {
					e.Exit(0)
				}
			})
		}()
	}
	if code := loop(t, e); code != 0 || count != n {
		t.Errorf("Loop = %d with %d calls, want 0 and %d", code, count, n)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Invoke: %v", err)
		}
	}
}

// TestLoopContext: a done context ends LoopContext with an error wrapping
// ctx.Err(), and the loop can run on.
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

// TestPriorityBoundaries: any int64 is a priority; the extremes order.
func TestPriorityBoundaries(t *testing.T) {
	e := newLoop(t)
	var order []string
	for _, x := range []struct {
		name string
		p    priority.Priority
	}{{"max", math.MaxInt64}, {"min", math.MinInt64}, {"idle", priority.Idle}, {"important", priority.Important}} {
		s := keep(t)(e.AddDefer(func(*sdevent.Source) error { order = append(order, x.name); return nil }))
		ok(t, "priority", s.SetPriority(x.p))
		if p, err := s.Priority(); err != nil || p != x.p {
			t.Errorf("Priority() = %v, %v; want %v", p, err, x.p)
		}
	}
	for range 4 {
		run(t, e, 0)
	}
	if want := []string{"min", "important", "idle", "max"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
}

// TestPendingCleared: switching a source off clears its pending state
// (except for defer sources, which are pending while they exist), and so do
// SetIOEvents, SetTime and SetTimeAccuracy.
func TestPendingCleared(t *testing.T) {
	// pendingIO and pendingTime return a source made pending by one
	// iteration in which a more important defer source was dispatched.
	pendingIO := func(t *testing.T, e *sdevent.Event) *sdevent.Source {
		efd := testutil.Eventfd(t)
		testutil.Write(t, efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		return keep(t)(e.AddIO(efd, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil }))
	}
	pendingTime := func(t *testing.T, e *sdevent.Event) *sdevent.Source {
		return keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, time.Microsecond, 0, func(*sdevent.Source, time.Duration) error { return nil }))
	}
	for _, tc := range []struct {
		name   string
		make   func(t *testing.T, e *sdevent.Event) *sdevent.Source
		change func(s *sdevent.Source) error
		want   bool
	}{
		{"io off", pendingIO, func(s *sdevent.Source) error { return s.SetEnabled(source.Off) }, false},
		{"io events", pendingIO, func(s *sdevent.Source) error { return s.SetIOEvents(unix.EPOLLIN | unix.EPOLLOUT) }, false},
		{"io priority", pendingIO, func(s *sdevent.Source) error { return s.SetPriority(5) }, true},
		{"time off", pendingTime, func(s *sdevent.Source) error { return s.SetEnabled(source.Off) }, false},
		{"time set", pendingTime, func(s *sdevent.Source) error { return s.SetTime(2 * time.Microsecond) }, false},
		{"time accuracy", pendingTime, func(s *sdevent.Source) error { return s.SetTimeAccuracy(time.Millisecond) }, false},
		{"defer off", func(t *testing.T, e *sdevent.Event) *sdevent.Source {
			return keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
		}, func(s *sdevent.Source) error { return s.SetEnabled(source.Off) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			s := tc.make(t, e)
			ok(t, "priority", s.SetPriority(10))
			blocker := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
			ok(t, "priority", blocker.SetPriority(-10))
			if !run(t, e, 0) {
				t.Fatal("the blocker did not run")
			}
			if p, err := s.Pending(); err != nil || !p {
				t.Fatalf("Pending() = %v, %v before the change; want true", p, err)
			}
			ok(t, tc.name, tc.change(s))
			if p, err := s.Pending(); err != nil || p != tc.want {
				t.Errorf("Pending() = %v, %v after %s; want %v", p, err, tc.name, tc.want)
			}
		})
	}
}

// TestOneShotToOn: switching an enabled IO source between ONESHOT and ON
// takes effect at once; no stale EPOLLONESHOT registration is left behind
// (a bug of sd-event 252).
func TestOneShotToOn(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	calls := 0
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { calls++; return nil }))
	ok(t, "oneshot", s.SetEnabled(source.OneShot))
	if run(t, e, 0) {
		t.Fatal("dispatched with nothing to read")
	}
	ok(t, "on", s.SetEnabled(source.On))
	writeByte(t, w)
	for range 3 {
		run(t, e, 0)
	}
	if calls != 3 {
		t.Fatalf("ON after ONESHOT: %d calls in 3 iterations of a readable pipe, want 3", calls)
	}
	ok(t, "oneshot", s.SetEnabled(source.OneShot))
	for range 3 {
		run(t, e, 0)
	}
	if calls != 4 {
		t.Errorf("ONESHOT after ON: %d calls in all, want 4", calls)
	}
	if got := enabledOf(t, s); got != "off" {
		t.Errorf("after its one shot the source is %s, want off", got)
	}
}
