//go:build linux

package sdevent_test

// Tests of dispatch order (which pending source runs next): priorities
// and the order of kinds within one iteration.

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestBasicOrdering ports TEST(basic) without its signal and child part:
// a source may free itself in its handler; a ONESHOT source is off when its
// handler runs and may re-arm itself; among pending sources the lowest
// priority value is dispatched first, one per iteration; prepare callbacks
// run once per iteration for enabled sources; post sources run after
// another source was dispatched; exit sources run when the loop exits.
func TestBasicOrdering(t *testing.T) {
	e := newLoop(t)
	if _, err := e.Now(unix.CLOCK_MONOTONIC); err != nil {
		t.Fatalf("Now before the first iteration: %v", err)
	}

	// A source that drops its only reference inside its own handler.
	kr, kw := testutil.Pipe(t)
	gotUnref := false
	if _, err := e.AddIO(kr, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		s.Unref()
		gotUnref = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	writeByte(t, kw)
	if !run(t, e, long) || !gotUnref {
		t.Fatalf("self-unref source: dispatched=%v", gotUnref)
	}

	// A ONESHOT IO source that re-arms itself once.
	dr, dw := testutil.Pipe(t)
	gotD := 0
	w := keep(t)(e.AddIO(dr, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		if got := enabledOf(t, s); got != "off" {
			t.Errorf("ONESHOT IO source: Enabled() in its handler = %s, want off", got)
		}
		gotD++
		next := source.OneShot
		if gotD >= 2 {
			next = source.Off
		}
		return s.SetEnabled(next)
	}))
	ok(t, "set oneshot", w.SetEnabled(source.OneShot))
	writeByte(t, dw)
	if !run(t, e, long) || gotD != 1 {
		t.Fatalf("first oneshot: gotD=%d, want 1", gotD)
	}
	writeByte(t, dw)
	if !run(t, e, long) || gotD != 2 {
		t.Fatalf("re-armed oneshot: gotD=%d, want 2", gotD)
	}

	ar, aw := testutil.Pipe(t)
	br, bw := testutil.Pipe(t)
	var order []string
	prepared := map[string]int{}
	prepare := func(name string) sdevent.Handler {
		return func(s *sdevent.Source) error {
			if st := s.Event().State(); st != sdevent.Preparing {
				t.Errorf("prepare callback of %s runs in state %v, want Preparing", name, st)
			}
			prepared[name]++
			return nil
		}
	}
	x := must(t)(e.AddIO(ar, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		order = append(order, "a")
		return s.SetEnabled(source.Off)
	}))
	y := must(t)(e.AddIO(br, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		order = append(order, "b")
		return nil
	}))
	doQuit := false
	var z *sdevent.Source
	var deferD, deferE *sdevent.Source
	z = keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, func(s *sdevent.Source, usec time.Duration) error {
		if !doQuit {
			order = append(order, "c")
			return nil
		}
		// The C test goes on through a defer, a signal and a child source
		// before it exits; here a defer source adds a second one that exits,
		// so that the exit still comes two iterations later.
		var err error
		deferD, err = s.Event().AddDefer(func(d *sdevent.Source) error {
			var err error
			deferE, err = d.Event().AddDefer(func(f *sdevent.Source) error {
				if err := f.Event().Exit(0); err != nil {
					return err
				}
				f.Unref()
				return nil
			})
			d.Unref()
			return err
		})
		return err
	}))
	gotExit := false
	q := keep(t)(e.AddExit(func(s *sdevent.Source) error {
		if st := s.Event().State(); st != sdevent.Exiting {
			t.Errorf("exit handler runs in state %v, want Exiting", st)
		}
		gotExit = true
		return nil
	}))

	ok(t, "set priority x", x.SetPriority(99))
	if p, err := x.Priority(); err != nil || p != 99 {
		t.Fatalf("Priority() = %v, %v; want 99", p, err)
	}
	ok(t, "oneshot y", y.SetEnabled(source.OneShot))
	ok(t, "prepare x", x.SetPrepare(prepare("x")))
	ok(t, "priority z", z.SetPriority(50))
	ok(t, "oneshot z", z.SetEnabled(source.OneShot))
	ok(t, "prepare z", z.SetPrepare(prepare("z")))

	writeByte(t, aw)
	writeByte(t, bw)
	if len(order) != 0 {
		t.Fatalf("handlers ran before the loop: %v", order)
	}
	// Priorities: y (0) before z (50) before x (99), one per iteration.
	for i, want := range []string{"b", "b c", "b c a"} {
		if !run(t, e, long) {
			t.Fatalf("iteration %d dispatched nothing", i)
		}
		if got := strings.Join(order, " "); got != want {
			t.Fatalf("after iteration %d: dispatched %q, want %q", i, got, want)
		}
	}
	// x was enabled in all three iterations, z (ONESHOT) in the first two.
	if prepared["x"] != 3 || prepared["z"] != 2 {
		t.Errorf("prepare callbacks ran x=%d z=%d times, want 3 and 2", prepared["x"], prepared["z"])
	}

	x.Unref()
	y.Unref()

	doQuit = true
	gotPost := false
	post := keep(t)(e.AddPost(func(s *sdevent.Source) error {
		gotPost = true
		return nil
	}))
	_ = post
	now, err := e.Now(unix.CLOCK_MONOTONIC)
	ok(t, "Now", err)
	ok(t, "set time", z.SetTime(now+200*time.Millisecond))
	ok(t, "oneshot z", z.SetEnabled(source.OneShot))

	if code := loop(t, e); code != 0 {
		t.Errorf("Loop returned %d, want 0", code)
	}
	if !gotPost || !gotExit {
		t.Errorf("post handler ran: %v, exit handler ran: %v; want both", gotPost, gotExit)
	}
	if deferD == nil || deferE == nil {
		t.Errorf("the defer chain did not run: %v %v", deferD, deferE)
	}
	_ = q
}

// TestPriorityBoundaries: any int64 is a priority; the extremes order.
//
// From SEMANTICS.md, "Sources, in general": Priority.
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

// trail records which callbacks ran, in order.
type trail []string

// h returns a Handler that records name.
func (tr *trail) h(name string) sdevent.Handler {
	return func(*sdevent.Source) error {
		*tr = append(*tr, name)
		return nil
	}
}

// io returns an IOHandler that reads the byte writeByte wrote to the other
// end of its pipe and records name.
func (tr *trail) io(t *testing.T, name string) sdevent.IOHandler {
	return func(s *sdevent.Source, fd int, revents uint32) error {
		if n, err := unix.Read(fd, make([]byte, 1)); n != 1 || err != nil {
			t.Errorf("read fd %d: %d, %v", fd, n, err)
		}
		*tr = append(*tr, name)
		return nil
	}
}

// want fails the test unless the callbacks ran as want, names separated by
// spaces.
func (tr *trail) want(t *testing.T, want string) {
	t.Helper()
	if got := strings.Join(*tr, " "); got != want {
		t.Errorf("callbacks ran as %q, want %q", got, want)
	}
}

// TestPendingOldestFirst: among pending sources of one priority the one
// that became pending in the earliest iteration goes first, whenever it was
// last dispatched (sd-event's pending_prioq_compare, pending_iteration). IO
// source a, dispatched in iteration 1 and pending again since iteration 2,
// goes before b, pending since iteration 3 and never dispatched; a defer
// source of a higher priority holds both back meanwhile.
func TestPendingOldestFirst(t *testing.T) {
	e := newLoop(t)
	var tr trail
	ar, aw := testutil.Pipe(t)
	br, bw := testutil.Pipe(t)
	keep(t)(e.AddIO(ar, unix.EPOLLIN, tr.io(t, "a")))
	keep(t)(e.AddIO(br, unix.EPOLLIN, tr.io(t, "b")))
	h := keep(t)(e.AddDefer(tr.h("h")))
	ok(t, "priority", h.SetPriority(-10))
	ok(t, "off", h.SetEnabled(source.Off))

	writeByte(t, aw)
	run(t, e, 0) // 1: a
	ok(t, "on", h.SetEnabled(source.On))
	writeByte(t, aw)
	run(t, e, 0) // 2: a pending, h
	writeByte(t, bw)
	run(t, e, 0) // 3: b pending, h
	ok(t, "off", h.SetEnabled(source.Off))
	run(t, e, 0)
	run(t, e, 0)
	tr.want(t, "a h h a b")
}

// TestDeferPendingSinceDispatch: a defer source stays pending, and counts as
// pending since its latest dispatch, as sd-event 262's source_dispatch
// stamps it, so that it goes behind what became pending meanwhile and ahead
// of what became pending later. ON defer source d runs in iteration 1; IO
// source x becomes pending in iteration 2, while h runs; in iteration 3 d
// (pending since 1) goes before x (since 2), in iteration 4 x before d (since
// 3).
func TestDeferPendingSinceDispatch(t *testing.T) {
	e := newLoop(t)
	var tr trail
	h := keep(t)(e.AddDefer(tr.h("h")))
	ok(t, "priority", h.SetPriority(-10))
	ok(t, "off", h.SetEnabled(source.Off))
	d := keep(t)(e.AddDefer(tr.h("d")))
	ok(t, "on", d.SetEnabled(source.On))
	xr, xw := testutil.Pipe(t)
	keep(t)(e.AddIO(xr, unix.EPOLLIN, tr.io(t, "x")))

	run(t, e, 0) // 1: d
	ok(t, "oneshot", h.SetEnabled(source.OneShot))
	writeByte(t, xw)
	run(t, e, 0) // 2: x pending, h
	run(t, e, 0) // 3
	run(t, e, 0) // 4
	tr.want(t, "d h d x")
}

// TestPendingTiesAsSdEvent: sources of one priority pending since the same
// iteration are in no order sd-event states; it takes whichever its
// priority queue holds first, and so does the loop, whose queue moves its
// elements exactly as sd-event's prioq does. Switching d0 off moves it down
// the queue, and back on it stays behind d1, as in libsystemd (the difftest
// scenario pending-tie-queue holds its side).
func TestPendingTiesAsSdEvent(t *testing.T) {
	e := newLoop(t)
	var tr trail
	d0 := keep(t)(e.AddDefer(tr.h("d0")))
	keep(t)(e.AddDefer(tr.h("d1")))
	ok(t, "off", d0.SetEnabled(source.Off))
	ok(t, "on", d0.SetEnabled(source.OneShot))
	run(t, e, 0)
	run(t, e, 0)
	tr.want(t, "d1 d0")
}

// TestExitTiesAsSdEvent: exit sources of one priority go as sd-event's exit
// queue holds them, which exit_prioq_compare (enabled, priority) leaves to
// its moves. x3 runs and is off; x0, x1 and x2 added then run as x0, x2,
// x1, as in libsystemd (the difftest scenario exit-tie-queue holds its
// side).
func TestExitTiesAsSdEvent(t *testing.T) {
	e := newLoop(t)
	var tr trail
	keep(t)(e.AddExit(tr.h("x3")))
	ok(t, "exit", e.Exit(0))
	run(t, e, 0)
	for _, name := range []string{"x0", "x1", "x2"} {
		keep(t)(e.AddExit(tr.h(name)))
	}
	for range 4 {
		run(t, e, 0)
	}
	tr.want(t, "x3 x0 x2 x1")
}

// TestPrepareTiesAsSdEvent: prepare callbacks of one priority, prepared in
// the same iteration, go as sd-event's prepare queue holds them, which
// prepare_prioq_compare (enabled, not rate-limited, prepared longest ago,
// priority) leaves to its moves: four run as a b d c, then c b a d, as in
// libsystemd (the difftest scenario prepare-tie-queue holds its side).
func TestPrepareTiesAsSdEvent(t *testing.T) {
	e := newLoop(t)
	var tr trail
	for _, name := range []string{"a", "b", "c", "d"} {
		s := keep(t)(e.AddPost(func(*sdevent.Source) error { return nil }))
		ok(t, "prepare", s.SetPrepare(tr.h(name)))
	}
	run(t, e, 0)
	tr = append(tr, "|")
	run(t, e, 0)
	tr.want(t, "a b d c | c b a d")
}
