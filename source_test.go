//go:build linux

package sdevent_test

// Tests of what every source has (source.go): enablement and ONESHOT,
// reference counting and floating, destroy callbacks, the default handler,
// handler errors and exit on failure, type mismatches.

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestTypeMismatchEDOM: a type-specific method on a source of another kind
// returns EDOM.
//
// From SEMANTICS.md, "Sources, in general": Type mismatch.
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
//
// From SEMANTICS.md, "Sources, in general": ONESHOT.
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
//
// From SEMANTICS.md, "Sources, in general": Reference counting.
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
//
// From SEMANTICS.md, "Sources, in general": Unref to zero outside the handler.
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
//
// From SEMANTICS.md, "Sources, in general": Reference counting.
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
//
// From SEMANTICS.md, "Sources, in general": Reference counting.
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
//
// From SEMANTICS.md, "Sources, in general": Nil handler.
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
//
// From SEMANTICS.md, "The loop": Handler errors.
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
//
// From SEMANTICS.md, "The loop": Handler errors.
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

// TestPendingCleared: switching a source off clears its pending state
// (except for defer sources, which are pending while they exist), and so do
// SetIOEvents, SetTime and SetTimeAccuracy.
//
// From SEMANTICS.md, "Sources, in general": Off.
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
