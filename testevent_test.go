package sdevent_test

// The scenarios of systemd's src/libsystemd/sd-event/test-event.c, ported to
// the Go API with real pipes, eventfds and timers. The signal, child, inotify
// and pidfd scenarios belong to their own files.

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
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

// TestRatelimitIO ports the IO half of TEST(ratelimit): a source dispatched
// more slowly than its limit is never limited; dispatched back to back it
// is limited after burst dispatches within the interval.
func TestRatelimitIO(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	count := 0
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		count++
		return nil
	}))
	ok(t, "description", s.SetDescription("test-ratelimit-io"))
	const interval = 200 * time.Millisecond
	ok(t, "set ratelimit", s.SetRatelimit(interval, 5))
	if iv, burst, err := s.Ratelimit(); err != nil || iv != interval || burst != 5 {
		t.Fatalf("Ratelimit() = %v, %d, %v; want %v, 5", iv, burst, err, interval)
	}
	writeByte(t, w) // never read: the pipe stays readable

	// At most 4 dispatches fit in any window of the interval (the C test
	// sleeps a quarter of a second with a one second limit). The sleeps let
	// time pass; there is nothing to wait on.
	for i := range 10 {
		if !run(t, e, long) {
			t.Fatalf("slow iteration %d dispatched nothing", i)
		}
		time.Sleep(interval/4 + 10*time.Millisecond)
	}
	if s.IsRatelimited() || count != 10 {
		t.Fatalf("slow loop: ratelimited=%v count=%d, want false 10", s.IsRatelimited(), count)
	}

	ok(t, "clear ratelimit", s.SetRatelimit(0, 0))
	ok(t, "set ratelimit", s.SetRatelimit(300*time.Millisecond, 5))
	count = 0
	sawLimited := false
	for range 10 {
		run(t, e, long)
		sawLimited = sawLimited || s.IsRatelimited()
	}
	if count >= 10 || count < 5 || !sawLimited {
		t.Errorf("fast loop: count=%d (want 5..9), ratelimited seen=%v (want true)", count, sawLimited)
	}
}

// TestRatelimitTime ports the time half of TEST(ratelimit): a timer that
// re-arms itself 1ms ahead is limited after burst dispatches; setting (0, 0)
// ends the limited state at once; the expire callback runs when the window
// ends, in an iteration that dispatches nothing else.
func TestRatelimitTime(t *testing.T) {
	e := newLoop(t)
	count := 0
	s := keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Millisecond, time.Microsecond, func(s *sdevent.Source, usec time.Duration) error {
		if err := s.SetEnabled(source.On); err != nil {
			t.Errorf("re-enable: %v", err)
		}
		if err := s.SetTime(usec + time.Millisecond); err != nil {
			t.Errorf("re-arm: %v", err)
		}
		count++
		return nil
	}))
	const interval = 500 * time.Millisecond
	ok(t, "set ratelimit", s.SetRatelimit(interval, 10))

	runUntilLimited := func() {
		t.Helper()
		for i := 0; !s.IsRatelimited(); i++ {
			if i > 1000 {
				t.Fatalf("never ratelimited; count=%d", count)
			}
			if !run(t, e, 5*time.Second) {
				t.Fatalf("iteration %d dispatched nothing; count=%d", i, count)
			}
		}
	}
	runUntilLimited()
	if count != 10 {
		t.Fatalf("ratelimited after %d dispatches, want 10", count)
	}

	// Leaving the limit takes clearing it.
	ok(t, "clear ratelimit", s.SetRatelimit(0, 0))
	if s.IsRatelimited() {
		t.Fatal("still ratelimited after SetRatelimit(0, 0)")
	}
	ok(t, "set ratelimit", s.SetRatelimit(interval, 10))
	expired := 0
	ok(t, "expire callback", s.SetRatelimitExpireCallback(func(s *sdevent.Source) error {
		if s.IsRatelimited() {
			t.Error("expire callback runs while the source is still ratelimited")
		}
		expired++
		return nil
	}))
	runUntilLimited()
	if count != 20 {
		t.Fatalf("ratelimited again after %d dispatches in all, want 20", count)
	}
	if expired != 0 {
		t.Fatalf("expire callback ran %d times before the window ended", expired)
	}

	// The next iteration waits for the end of the window and runs the
	// callback, and nothing else.
	run(t, e, 5*time.Second)
	if expired != 1 || count != 20 {
		t.Fatalf("after the window: expired=%d count=%d, want 1 20", expired, count)
	}
	if s.IsRatelimited() {
		t.Fatal("still ratelimited after the window ended")
	}
	// Back online, the timer (ON, due) fires again.
	run(t, e, 5*time.Second)
	if count != 21 {
		t.Errorf("after leaving the limit: count=%d, want 21", count)
	}
}

// TestLeaveRatelimit ports TEST(leave_ratelimit): a pipe whose write end is
// closed reports EPOLLHUP forever; with a limit of 5 per 5 minutes the sixth
// dispatch attempt is limited (and still counts as a dispatch);
// LeaveRatelimit returns false when not limited, true when it ended the
// limit, after which the source is dispatched again.
func TestLeaveRatelimit(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	c := 0
	s, err := e.AddIO(r, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		if revents != unix.EPOLLHUP {
			t.Errorf("revents = %#x, want EPOLLHUP", revents)
		}
		c++
		return nil
	})
	ok(t, "add io", err)
	ok(t, "own fd", s.SetIOFdOwn(true))
	testutil.Disown(t, r)
	ok(t, "set ratelimit", s.SetRatelimit(5*time.Minute, 5))
	testutil.Close(t, w)

	expectLimit, leftManually := false, false
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatalf("no end after %d iterations; c=%d", i, c)
		}
		pending, err := e.Prepare()
		ok(t, "Prepare", err)
		if !pending {
			pending, err = e.Wait(10 * time.Second)
			ok(t, "Wait", err)
			if !pending {
				t.Fatalf("iteration %d: Wait found nothing pending", i)
			}
		}
		dispatched, err := e.Dispatch()
		ok(t, "Dispatch", err)
		if !dispatched {
			t.Fatalf("iteration %d: Dispatch returned false", i)
		}

		limited := s.IsRatelimited()
		if c < 5 {
			if limited {
				t.Fatalf("limited after %d dispatches", c)
			}
		} else if c == 5 {
			if !expectLimit {
				if limited {
					t.Fatal("limited right after the fifth dispatch")
				}
				left, err := s.LeaveRatelimit()
				if err != nil || left {
					t.Fatalf("LeaveRatelimit when not limited = %v, %v; want false, nil", left, err)
				}
				expectLimit = true
			} else {
				if !limited {
					t.Fatal("sixth attempt did not limit the source")
				}
				left, err := s.LeaveRatelimit()
				if err != nil || !left {
					t.Fatalf("LeaveRatelimit when limited = %v, %v; want true, nil", left, err)
				}
				if s.IsRatelimited() {
					t.Fatal("still limited after LeaveRatelimit")
				}
				leftManually = true
			}
		} else {
			break
		}
	}
	if !leftManually || c != 6 {
		t.Errorf("left the limit manually: %v, dispatches %d; want true, 6", leftManually, c)
	}
	s.Unref()
	if testutil.FdOpen(r) {
		t.Errorf("owned fd %d still open after the source was freed", r)
	}
}

// TestDeferAddPost ports TEST(defer_add_post): a post source added inside a
// defer handler is dispatched in the next iteration.
func TestDeferAddPost(t *testing.T) {
	e := newLoop(t)
	dispatchedPost := false
	var post *sdevent.Source
	keep(t)(e.AddDefer(func(s *sdevent.Source) error {
		var err error
		post, err = s.Event().AddPost(func(*sdevent.Source) error {
			dispatchedPost = true
			return nil
		})
		return err
	}))
	t.Cleanup(func() {
		if post != nil {
			post.Unref()
		}
	})
	if !run(t, e, long) {
		t.Fatal("defer source not dispatched")
	}
	if post == nil {
		t.Fatal("AddPost in the handler failed")
	}
	if dispatchedPost {
		t.Fatal("post source ran in the iteration that added it")
	}
	if !run(t, e, 0) || !dispatchedPost {
		t.Fatalf("next iteration: post dispatched = %v, want true", dispatchedPost)
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
		e.Invoke(func() { e.Exit(1) })
		<-done
		t.Fatal("Loop with exit-on-idle and no sources did not return")
	}
}

// TestDeferFairScheduling ports TEST(defer_fair_scheduling): ON defer sources
// of equal priority take turns, so each has run 5 times when the first one
// asks to exit.
func TestDeferFairScheduling(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	var counters [5]int
	for i := range counters {
		s := keep(t)(e.AddDefer(func(s *sdevent.Source) error {
			if counters[i] >= 5 {
				return s.Event().Exit(0)
			}
			counters[i]++
			return nil
		}))
		ok(t, "on", s.SetEnabled(source.On))
	}
	loop(t, e)
	for i, n := range counters {
		if n != 5 {
			t.Errorf("defer source %d ran %d times, want 5 (all: %v)", i, n, counters)
		}
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

// TestSetIOFd ports TEST(sd_event_source_set_io_fd): an owning IO source
// closes the fd that SetIOFd replaces and, when freed, the one it holds.
func TestSetIOFd(t *testing.T) {
	e := newLoop(t)
	ar, _ := testutil.Pipe(t)
	br, _ := testutil.Pipe(t)
	s, err := e.AddIO(ar, unix.EPOLLIN, nil)
	ok(t, "add io", err)
	s.SetUserdata(-int(unix.ENOANO))
	ok(t, "own", s.SetIOFdOwn(true))
	testutil.Disown(t, ar)
	if own, err := s.IOFdOwn(); err != nil || !own {
		t.Errorf("IOFdOwn = %v, %v; want true", own, err)
	}
	ok(t, "set io fd", s.SetIOFd(br))
	testutil.Disown(t, br)
	if fd, err := s.IOFd(); err != nil || fd != br {
		t.Errorf("IOFd = %d, %v; want %d", fd, err, br)
	}
	if testutil.FdOpen(ar) {
		t.Errorf("replaced owned fd %d still open", ar)
	}
	s.Unref()
	if testutil.FdOpen(br) {
		t.Errorf("owned fd %d still open after the source was freed", br)
	}
}
