//go:build linux

package sdevent_test

// Tests of rate limits (SetRatelimit, LeaveRatelimit and the expire
// callback).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

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

// TestRatelimitEndedBetweenRunsDoesNotSleep: when a source's rate limit
// window ends before the next Prepare could arm a kernel timer for it, that
// iteration runs its expire callback and the next Wait must not block: the
// source is pending again (an On defer source), with no timer armed.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestRatelimitEndedBetweenRunsDoesNotSleep(t *testing.T) {
	e := newLoop(t)
	var order []string
	d := limitedDefer(t, e, "defer", &order)
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
	// As in sd-event 262, the iteration that ran the expire callback
	// dispatches nothing more; the source runs in the next one, whose
	// Prepare must find it pending without waiting.
	if _, err := e.Dispatch(); err != nil {
		t.Fatal(err)
	}
	if want := "expire"; strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
	pending, err = e.Prepare()
	ok(t, "prepare", err)
	if !pending {
		t.Fatalf("the next Prepare reports nothing pending (state %v): %v", e.State(), order)
	}
	if _, err := e.Dispatch(); err != nil {
		t.Fatal(err)
	}
	if want := "expire defer"; strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
}

// TestRatelimitExpirePhases: the phase whose poll ran a rate limit's expire
// callback reports something pending (state Pending), and the Dispatch that
// follows runs nothing, not even an exit source the callback asked for, and
// reports true; the source runs in the next iteration. This is what
// libsystemd 262's sd_event_prepare, sd_event_wait and sd_event_dispatch do
// (checked with a C program against it); 252 reported nothing pending.
func TestRatelimitExpirePhases(t *testing.T) {
	for _, exit := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "exit in callback"}[exit], func(t *testing.T) {
			e := newLoop(t)
			var order []string
			d := limitedDefer(t, e, "defer", &order)
			if exit {
				keep(t)(e.AddExit(func(*sdevent.Source) error {
					order = append(order, "exit source")
					return nil
				}))
				ok(t, "expire", d.SetRatelimitExpireCallback(func(s *sdevent.Source) error {
					order = append(order, "expire")
					return s.Event().Exit(5)
				}))
			}
			runUntil(t, e, "the defer source to be rate-limited", d.IsRatelimited)
			order = order[:0]
			pending, err := e.Prepare()
			ok(t, "prepare", err)
			phase := "Prepare"
			if !pending {
				// The window had not ended yet: Wait sees it end.
				pending, err = e.Wait(long)
				ok(t, "wait", err)
				phase = "Wait"
			}
			if !pending || e.State() != sdevent.Pending || strings.Join(order, " ") != "expire" {
				t.Fatalf("%s after the window ended = %v, state %v, ran %v; want true, pending, [expire]",
					phase, pending, e.State(), order)
			}
			dispatched, err := e.Dispatch()
			ok(t, "dispatch", err)
			if !dispatched || e.State() != sdevent.Initial || strings.Join(order, " ") != "expire" {
				t.Fatalf("Dispatch after %s = %v, state %v, ran %v; want true, initial, [expire]",
					phase, dispatched, e.State(), order)
			}
			if exit {
				if code := loop(t, e); code != 5 || strings.Join(order, " ") != "expire exit source" {
					t.Fatalf("Loop = %d, ran %v; want 5, [expire exit source]", code, order)
				}
				return
			}
			if !run(t, e, 0) || strings.Join(order, " ") != "expire defer" {
				t.Fatalf("the next Run ran %v, want [expire defer]", order)
			}
		})
	}
}

// limitedDefer adds an ON defer source limited to one dispatch per 20 ms,
// whose handler appends name to order and whose expire callback "expire".
func limitedDefer(t *testing.T, e *sdevent.Event, name string, order *[]string) *sdevent.Source {
	t.Helper()
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		*order = append(*order, name)
		return nil
	}))
	ok(t, "on", d.SetEnabled(source.On))
	ok(t, "ratelimit", d.SetRatelimit(20*time.Millisecond, 1))
	ok(t, "expire", d.SetRatelimitExpireCallback(func(*sdevent.Source) error {
		*order = append(*order, "expire")
		return nil
	}))
	return d
}

// TestRatelimitExpireEndsIteration: as sd_event_run of systemd 262 does,
// the Run whose poll ran a rate limit's expire callback reports a dispatch
// and ends there: a source that is pending all along (an ON defer source)
// waits for the next Run (the difftest scenarios ratelimit-expire and
// ratelimit-busy hold libsystemd's side).
func TestRatelimitExpireEndsIteration(t *testing.T) {
	e := newLoop(t)
	var order []string
	d := limitedDefer(t, e, "d", &order)
	runUntil(t, e, "the defer source to be rate-limited", d.IsRatelimited)
	other := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		order = append(order, "other")
		return nil
	}))
	ok(t, "other on", other.SetEnabled(source.On))
	for deadline := time.Now().Add(long); ; {
		if time.Now().After(deadline) {
			t.Fatal("the rate limit's window never ended")
		}
		before := len(order)
		if !run(t, e, long) {
			t.Fatal("a Run with an ON defer source pending reported no dispatch")
		}
		ran := strings.Join(order[before:], " ")
		if strings.Contains(ran, "expire") {
			if ran != "expire" {
				t.Fatalf("the Run that ran the expire callback ran %q, want only the callback", ran)
			}
			break
		}
		if ran != "other" {
			t.Fatalf("a Run ran %q, want other", ran)
		}
	}
	before := len(order)
	if !run(t, e, 0) || len(order) != before+1 {
		t.Fatalf("the next Run ran %v, want one dispatch", order[before:])
	}
}

// TestSetRatelimitExpireCallbackAnyKind: as in C, any source takes an expire
// callback (sd_event_source_set_ratelimit_expire_callback checks only the
// source), though only those that can be rate-limited ever run it.
func TestSetRatelimitExpireCallbackAnyKind(t *testing.T) {
	e := newLoop(t)
	for _, s := range []*sdevent.Source{
		keep(t)(e.AddPost(func(*sdevent.Source) error { return nil })),
		keep(t)(e.AddExit(func(*sdevent.Source) error { return nil })),
	} {
		ok(t, "SetRatelimitExpireCallback", s.SetRatelimitExpireCallback(func(*sdevent.Source) error { return nil }))
	}
}

// TestRatelimitOnBoottime: rate limits run on CLOCK_BOOTTIME, as in
// sd-event 262 (a window counts the time the machine was suspended): the
// end of a window is watched by a CLOCK_BOOTTIME timerfd in the loop's
// epoll, made only once a source is held back, none before (libsystemd 262
// does the same; 252 used CLOCK_MONOTONIC).
func TestRatelimitOnBoottime(t *testing.T) {
	e := newLoop(t)
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "on", d.SetEnabled(source.On))
	ok(t, "ratelimit", d.SetRatelimit(time.Hour, 1))
	run(t, e, 0)
	if clocks := timerClocks(t, e.Fd()); len(clocks) != 0 {
		t.Fatalf("timerfds of clocks %v in the loop before any rate limit was hit, want none", clocks)
	}
	run(t, e, 0)
	if !d.IsRatelimited() {
		t.Fatal("the second dispatch within the window was not held back")
	}
	if clocks := timerClocks(t, e.Fd()); len(clocks) != 1 || clocks[0] != unix.CLOCK_BOOTTIME {
		t.Errorf("timerfds of clocks %v in the loop, want one of CLOCK_BOOTTIME (%d)", clocks, unix.CLOCK_BOOTTIME)
	}
}

// timerClocks returns the clocks of the timerfds in the epoll set of epfd,
// as their fdinfo tells.
func timerClocks(t *testing.T, epfd int) []int {
	t.Helper()
	var clocks []int
	for _, l := range fdinfo(t, epfd) {
		var fd int
		if _, err := fmt.Sscanf(l, "tfd: %d", &fd); err != nil {
			continue
		}
		for _, m := range fdinfo(t, fd) {
			var clock int
			if _, err := fmt.Sscanf(m, "clockid: %d", &clock); err == nil {
				clocks = append(clocks, clock)
			}
		}
	}
	return clocks
}

// fdinfo returns the lines of /proc/self/fdinfo/fd.
func fdinfo(t *testing.T, fd int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}
