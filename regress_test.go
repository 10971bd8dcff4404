package sdevent_test

// Regression tests for problems found in review of the core, each named
// after the rule it keeps.

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// TestRatelimitEndedBetweenRunsDoesNotSleep: when a source's rate limit
// window ends before the next Prepare could arm a kernel timer for it, that
// iteration runs its expire callback and the next Wait must not block: the
// source is pending again (an On defer source), with no timer armed.
func TestRatelimitEndedBetweenRunsDoesNotSleep(t *testing.T) {
	e := newLoop(t)
	var order []string
	d := keep(t)(e.AddDefer(func(s *sdevent.Source) error {
		order = append(order, "defer")
		return nil
	}))
	ok(t, "on", d.SetEnabled(source.On))
	ok(t, "ratelimit", d.SetRatelimit(20*time.Millisecond, 1))
	ok(t, "expire", d.SetRatelimitExpireCallback(func(*sdevent.Source) error {
		order = append(order, "expire")
		return nil
	}))
	// Dispatched, then over the limit: rate-limited. A Run that comes
	// after the window ended (a busy machine) dispatches again and begins
	// a new window, so run until the source is limited.
	runUntil(t, e, "the defer source to be rate-limited", d.IsRatelimited)
	if len(order) == 0 || strings.Contains(strings.Join(order, " "), "expire") {
		t.Fatalf("before the limit: %v, want only dispatches", order)
	}
	order = order[:0]
	// The caller is busy elsewhere until the window has ended.
	spinPast(t, unix.CLOCK_MONOTONIC, 40*time.Millisecond)
	pending, err := e.Prepare()
	ok(t, "prepare", err)
	if !pending {
		t.Fatalf("Prepare reports nothing pending after the limit ended (state %v): %v", e.State(), order)
	}
	if _, err := e.Dispatch(); err != nil {
		t.Fatal(err)
	}
	if want := "expire defer"; strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
}

// TestPanicInPrepareLeavesLoopUsable: a prepare callback that panics leaves
// the loop between iterations, and a source it unreferenced is freed.
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

// TestExitOnIdleRunsQueuedInvokes: functions queued with Invoke are work:
// an exit-on-idle loop runs them before it exits.
func TestExitOnIdleRunsQueuedInvokes(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	ran := false
	ok(t, "invoke", e.Invoke(func() { ran = true }))
	loop(t, e)
	if !ran {
		t.Fatal("the loop exited on idle with an Invoke queued")
	}
}

// TestCheckOrder: SetTimeAccuracy checks the accuracy (EINVAL) before the
// kind of source (EDOM), as sd_event_source_set_time_accuracy does.
func TestCheckOrder(t *testing.T) {
	e := newLoop(t)
	d := keep(t)(e.AddDefer(nil))
	wantErrno(t, "SetTimeAccuracy(Infinity) on a defer source", d.SetTimeAccuracy(sdevent.Infinity), unix.EINVAL)
	wantErrno(t, "SetTimeAccuracy(1s) on a defer source", d.SetTimeAccuracy(time.Second), unix.EDOM)
}

// TestZeroEvent: an Event not made by New is refused, never a panic.
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
	e.Run(timeout)
	return nil
}
