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

// ran records the handlers that ran, by name, in order.
type ran []string

func (r *ran) handler(name string) sdevent.Handler {
	return func(*sdevent.Source) error {
		*r = append(*r, name)
		return nil
	}
}

func (r *ran) io(name string) sdevent.IOHandler {
	return func(*sdevent.Source, int, uint32) error {
		*r = append(*r, name)
		return nil
	}
}

func (r ran) String() string { return strings.Join(r, " ") }

// runWant runs n iterations and fails the test unless the handlers that
// have run are want; why says why.
func runWant(t *testing.T, e *sdevent.Event, n int, order *ran, want, why string) {
	t.Helper()
	for range n {
		run(t, e, 0)
	}
	if order.String() != want {
		t.Fatalf("after %d more iterations: ran %q, want %q%s", n, order, want, why)
	}
}

// TestPendingOrderByIteration: among pending sources of one priority the
// one that became pending first goes first, whether or not it was
// dispatched before, as in sd-event 262's pending_prioq_compare (a probe
// against libsystemd 262.1 dispatches a, as here). a, readable all along,
// runs in iteration 1 and is pending again from iteration 2, while a
// higher-priority defer source runs; b becomes readable for iteration 3 and
// was never dispatched. Found by FuzzDifferential against 262: the port had
// taken the source dispatched longest ago (or never) first, and ran b.
func TestPendingOrderByIteration(t *testing.T) {
	e := newLoop(t)
	var order ran
	ar, aw := testutil.Pipe(t)
	br, bw := testutil.Pipe(t)
	writeByte(t, aw)
	keep(t)(e.AddIO(ar, unix.EPOLLIN, order.io("a")))
	keep(t)(e.AddIO(br, unix.EPOLLIN, order.io("b")))
	runWant(t, e, 1, &order, "a", "")
	y := keep(t)(e.AddDefer(order.handler("y")))
	ok(t, "priority", y.SetPriority(-1))
	runWant(t, e, 1, &order, "a y", "")
	writeByte(t, bw)
	runWant(t, e, 2, &order, "a y a b", ": a, pending since iteration 2, before b, pending since 3")
}

// TestDeferPendingFromItsDispatch: a defer source counts as pending from
// its latest dispatch, as sd-event 262's source_dispatch stamps it, also
// when it is ONESHOT and switched back on later; 252 kept the iteration it
// first became pending in. The defer source d, pending since it was added,
// runs in iteration 2 and is switched On; the IO source x, pending since
// iteration 1, goes before it. (A probe against libsystemd 262.1 runs x,
// 252 runs d.)
func TestDeferPendingFromItsDispatch(t *testing.T) {
	e := newLoop(t)
	var order ran
	d := keep(t)(e.AddDefer(order.handler("d")))
	y := keep(t)(e.AddDefer(order.handler("y")))
	ok(t, "priority", y.SetPriority(-1))
	xr, xw := testutil.Pipe(t)
	writeByte(t, xw)
	keep(t)(e.AddIO(xr, unix.EPOLLIN, order.io("x")))
	runWant(t, e, 2, &order, "y d", "")
	ok(t, "on", d.SetEnabled(source.On))
	runWant(t, e, 1, &order, "y d x", ": x, pending since iteration 1, before d, dispatched in 2")
}

// TestDeferSourcesTakeTurns: On defer sources of one priority alternate,
// each pending anew from its dispatch, as in sd-event 262 (252 runs the
// first one forever).
func TestDeferSourcesTakeTurns(t *testing.T) {
	e := newLoop(t)
	var order ran
	for _, name := range []string{"a", "b"} {
		d := keep(t)(e.AddDefer(order.handler(name)))
		ok(t, "on", d.SetEnabled(source.On))
	}
	runWant(t, e, 4, &order, "a b a b", "")
}
