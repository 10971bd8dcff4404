//go:build linux

package sdevent_test

// Tests of the Go-style timers and of Float (timer.go).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// TestTimerErrors: the argument checks of AddTimer, AddPeriodic, Reset,
// Stop and Float, run as TestErrors runs its rows: an *Error naming the
// call, wrapping the errno of the package's other time calls for the same
// input, and nothing changed.
func TestTimerErrors(t *testing.T) {
	testutil.Check(t)
	nopTime := func(*sdevent.Source, time.Duration) error { return nil }
	addTimer := func(clock int, acc time.Duration) func(e *sdevent.Event) error {
		return addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddTimer(clock, acc, nopTime) })
	}
	addPeriodic := func(clock int, period, acc time.Duration) func(e *sdevent.Event) error {
		return addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddPeriodic(clock, period, acc, nopTime)
		})
	}
	reset := func(d time.Duration) func(s *sdevent.Source) error {
		return func(s *sdevent.Source) error { return s.Reset(d) }
	}
	stop := func(s *sdevent.Source) error { return s.Stop() }
	float := func(s *sdevent.Source) error { return sdevent.Float(s, nil) }
	const mono = unix.CLOCK_MONOTONIC
	for _, tc := range []errCase{
		{"AddTimer nil", "add timer 1", "", unix.EINVAL, nilLoop(addTimer(mono, 0))},
		{"AddTimer zero Event", "add timer 1", "", unix.EINVAL, zeroLoop(addTimer(mono, 0))},
		{"AddTimer negative accuracy", "add timer 1", "", unix.EINVAL, idle(addTimer(mono, -1))},
		{"AddTimer accuracy Infinity", "add timer 1", "", unix.EINVAL, idle(addTimer(mono, sdevent.Infinity))},
		{"AddTimer unknown clock", "add timer 11", "", unix.EOPNOTSUPP, idle(addTimer(unix.CLOCK_TAI, 0))},
		{"AddTimer finished", "add timer 0", "", unix.ESTALE, finished(addTimer(unix.CLOCK_REALTIME, 0))},

		{"AddPeriodic nil", "add periodic 1", "", unix.EINVAL, nilLoop(addPeriodic(mono, time.Second, 0))},
		{"AddPeriodic zero Event", "add periodic 1", "", unix.EINVAL, zeroLoop(addPeriodic(mono, time.Second, 0))},
		{"AddPeriodic period 0", "add periodic 1", "", unix.EINVAL, idle(addPeriodic(mono, 0, 0))},
		{"AddPeriodic negative period", "add periodic 1", "", unix.EINVAL, idle(addPeriodic(mono, -time.Second, 0))},
		{"AddPeriodic negative accuracy", "add periodic 1", "", unix.EINVAL, idle(addPeriodic(mono, time.Second, -1))},
		{"AddPeriodic accuracy Infinity", "add periodic 7", "", unix.EINVAL, idle(addPeriodic(unix.CLOCK_BOOTTIME, time.Second, sdevent.Infinity))},
		{"AddPeriodic unknown clock", "add periodic 11", "", unix.EOPNOTSUPP, idle(addPeriodic(unix.CLOCK_TAI, time.Second, 0))},
		{"AddPeriodic overflow", "add periodic 1", "", unix.EOVERFLOW, idle(addPeriodic(mono, sdevent.Infinity-1, 0))},
		{"AddPeriodic period Infinity", "add periodic 1", "", unix.EOVERFLOW, idle(addPeriodic(mono, sdevent.Infinity, 0))},
		{"AddPeriodic finished", "add periodic 1", "", unix.ESTALE, finished(addPeriodic(mono, time.Second, 0))},

		{"Reset nil", "reset", "", unix.EINVAL, nilSource(reset(time.Second))},
		{"Reset defer", "reset", "", unix.EDOM, onSource(newDefer, reset(time.Second))},
		{"Reset negative", "reset", "", unix.EINVAL, onSource(newTimer, reset(-1))},
		{"Reset overflow", "reset", "", unix.EOVERFLOW, onSource(newTimer, reset(sdevent.Infinity-1))},
		{"Reset finished", "reset", "", unix.ESTALE, onSource(thenFinished(newTimer), reset(time.Second))},
		{"Reset disconnected", "reset", "", unix.ESTALE, disconnectedTimer(reset(time.Second))},
		{"Reset periodic 0", "reset", "", unix.EINVAL, onSource(newPeriodic, reset(0))},
		{"Reset periodic negative", "reset", "", unix.EINVAL, onSource(newPeriodic, reset(-time.Second))},
		{"Reset periodic Infinity", "reset", "", unix.EOVERFLOW, onSource(newPeriodic, reset(sdevent.Infinity))},
		{"Reset periodic finished", "reset", "", unix.ESTALE, onSource(thenFinished(newPeriodic), reset(time.Second))},

		{"Stop nil", "stop", "", unix.EINVAL, nilSource(stop)},
		{"Stop defer", "stop", "", unix.EDOM, onSource(newDefer, stop)},
		{"Stop IO", "stop", "", unix.EDOM, onSource(newIO, stop)},

		{"Float nil", "float", "", unix.EINVAL, nilSource(float)},
		{"Float disconnected", "float", "", unix.ESTALE, disconnected(float)},
	} {
		t.Run(tc.name, tc.check)
	}
}

func newPeriodic(t *testing.T, e *sdevent.Event) *sdevent.Source {
	return keep(t)(e.AddPeriodic(unix.CLOCK_MONOTONIC, time.Hour, 0, nil))
}

// disconnectedTimer: the call on a time source whose loop was freed while
// the caller held a reference to it.
func disconnectedTimer(call func(s *sdevent.Source) error) prepareFunc {
	return func(t *testing.T, _ *sdevent.Event) (func() error, func(*testing.T)) {
		e, err := sdevent.New()
		ok(t, "New", err)
		s := must(t)(e.AddTimer(unix.CLOCK_MONOTONIC, 0, nil))
		ok(t, "SetFloating", s.SetFloating(true))
		e.Unref() // frees the loop, which drops its reference; ours stays
		t.Cleanup(s.Unref)
		was := settingsOf(s)
		return func() error { return call(s) }, func(t *testing.T) {
			if now := settingsOf(s); now != was || s.Event() != nil {
				t.Errorf("the source changed: %+v, was %+v", now, was)
			}
		}
	}
}

// TestStopOnFinishedLoop: Stop, like SetEnabled(Off), succeeds on a source
// whose loop has finished or is gone.
//
// From SEMANTICS.md, "The loop": Finished loop.
func TestStopOnFinishedLoop(t *testing.T) {
	_, _, tm := finishedLoop(t)
	ok(t, "Stop on a finished loop", tm.Stop())

	e, err := sdevent.New()
	ok(t, "New", err)
	s := must(t)(e.AddPeriodic(unix.CLOCK_MONOTONIC, time.Hour, 0, nil))
	ok(t, "SetFloating", s.SetFloating(true))
	e.Unref()
	defer s.Unref()
	ok(t, "Stop on a disconnected source", s.Stop())
	if m := enabledOf(t, s); m != "off" {
		t.Errorf("Enabled() = %s after Stop, want off", m)
	}
}

// TestAddTimerDisarmed: AddTimer makes a source that is off, at Infinity,
// with the accuracy given (0: exact, reported as 1ns), and that dispatches
// nothing until Reset.
func TestAddTimerDisarmed(t *testing.T) {
	for _, tc := range []struct {
		acc, want time.Duration
	}{{0, time.Nanosecond}, {time.Microsecond, time.Microsecond}, {time.Second, time.Second}} {
		t.Run(tc.acc.String(), func(t *testing.T) {
			e := newLoop(t)
			fired := 0
			s := keep(t)(e.AddTimer(unix.CLOCK_MONOTONIC, tc.acc, func(*sdevent.Source, time.Duration) error {
				fired++
				return nil
			}))
			if m := enabledOf(t, s); m != "off" {
				t.Errorf("Enabled() = %s, want off", m)
			}
			if at, err := s.Time(); err != nil || at != sdevent.Infinity {
				t.Errorf("Time() = %v, %v; want Infinity", at, err)
			}
			if a, err := s.TimeAccuracy(); err != nil || a != tc.want {
				t.Errorf("TimeAccuracy() = %v, %v; want %v", a, err, tc.want)
			}
			if run(t, e, 10*time.Millisecond) || fired != 0 {
				t.Error("a disarmed timer was dispatched")
			}
			// The accuracy a timer reports means the same when set again.
			a, _ := s.TimeAccuracy()
			ok(t, "SetTimeAccuracy", s.SetTimeAccuracy(a))
			if b, _ := s.TimeAccuracy(); b != a {
				t.Errorf("TimeAccuracy() = %v after SetTimeAccuracy(%v)", b, a)
			}
		})
	}
}

// TestTimerReset: Reset arms a timer once, d after Now, on every clock; it
// fires once, never early, with the time it was set for, and again after
// the next Reset. Reset of a pending timer replaces its time: the old one
// is not dispatched.
func TestTimerReset(t *testing.T) {
	for _, c := range allClocks[:3] {
		t.Run(c.name, func(t *testing.T) {
			e := newLoop(t)
			var got []time.Duration
			s := keep(t)(e.AddTimer(c.clock, 0, func(s *sdevent.Source, at time.Duration) error {
				now, err := s.Event().Now(c.clock)
				if err != nil {
					return err
				}
				if now < at || live(t, c.reads) < at {
					t.Errorf("fired early: at %v, Now %v", at, now)
				}
				got = append(got, at)
				return nil
			}))
			run(t, e, 0) // Now is that iteration's time from here on
			for round := 1; round <= 2; round++ {
				now, err := e.Now(c.clock)
				ok(t, "Now", err)
				ok(t, "Reset", s.Reset(5*time.Millisecond))
				at, err := s.Time()
				ok(t, "Time", err)
				if at != now+5*time.Millisecond {
					t.Errorf("Time() = %v after Reset(5ms) at Now %v", at, now)
				}
				if m := enabledOf(t, s); m != "oneshot" {
					t.Errorf("Enabled() = %s after Reset, want oneshot", m)
				}
				runUntil(t, e, "the timer", func() bool { return len(got) == round })
				if got[round-1] != at {
					t.Errorf("handler got %v, want %v", got[round-1], at)
				}
				if m := enabledOf(t, s); m != "off" {
					t.Errorf("Enabled() = %s after firing, want off", m)
				}
			}
			if run(t, e, 10*time.Millisecond) {
				t.Error("a fired timer was dispatched again")
			}

			// Reset while pending: the pending dispatch is dropped.
			ok(t, "Reset(0)", s.Reset(0))
			if p, err := e.Prepare(); err != nil || !p {
				t.Fatalf("Prepare = %v, %v with a timer due", p, err)
			}
			ok(t, "Reset(1h)", s.Reset(time.Hour))
			if p, err := s.Pending(); err != nil || p {
				t.Errorf("Pending() = %v, %v after Reset", p, err)
			}
			if _, err := e.Dispatch(); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Errorf("the timer fired for its old time after Reset: %v", got)
			}
		})
	}
}

// TestTimerResetOnSelf: a handler re-arms its own timer with Reset, as with
// time.AfterFunc; Reset(Infinity) leaves it armed for a time that never
// comes.
func TestTimerResetOnSelf(t *testing.T) {
	e := newLoop(t)
	n := 0
	s := keep(t)(e.AddTimer(unix.CLOCK_MONOTONIC, 0, func(s *sdevent.Source, _ time.Duration) error {
		if n++; n < 3 {
			return s.Reset(time.Millisecond)
		}
		return s.Reset(sdevent.Infinity)
	}))
	ok(t, "Reset", s.Reset(0))
	runUntil(t, e, "three dispatches", func() bool { return n == 3 })
	if at, err := s.Time(); err != nil || at != sdevent.Infinity {
		t.Errorf("Time() = %v, %v after Reset(Infinity)", at, err)
	}
	if m := enabledOf(t, s); m != "oneshot" {
		t.Errorf("Enabled() = %s after Reset(Infinity), want oneshot", m)
	}
	if run(t, e, 10*time.Millisecond) || n != 3 {
		t.Errorf("a timer reset to Infinity fired (%d dispatches)", n)
	}
}

// TestTimerStop: Stop disarms an armed timer and drops a pending dispatch;
// Reset arms it again.
func TestTimerStop(t *testing.T) {
	e := newLoop(t)
	fired := 0
	s := keep(t)(e.AddTimer(unix.CLOCK_MONOTONIC, 0, func(*sdevent.Source, time.Duration) error {
		fired++
		return nil
	}))
	ok(t, "Reset", s.Reset(0))
	if p, err := e.Prepare(); err != nil || !p {
		t.Fatalf("Prepare = %v, %v with a timer due", p, err)
	}
	ok(t, "Stop", s.Stop())
	if p, err := s.Pending(); err != nil || p {
		t.Errorf("Pending() = %v, %v after Stop", p, err)
	}
	if m := enabledOf(t, s); m != "off" {
		t.Errorf("Enabled() = %s after Stop, want off", m)
	}
	if _, err := e.Dispatch(); err != nil {
		t.Fatal(err)
	}
	if run(t, e, 10*time.Millisecond) || fired != 0 {
		t.Fatal("a stopped timer fired")
	}
	ok(t, "Reset", s.Reset(time.Millisecond))
	runUntil(t, e, "the timer reset after Stop", func() bool { return fired == 1 })
}

// TestTimerExact: accuracy 0 asks for no coalescing: the clock's timerfd is
// armed for the timer's own time, where AddTime's default of 250ms lets
// the loop pick a later, aligned point. Seen from outside through the
// timerfd the loop arms, found in /proc/self/fdinfo.
func TestTimerExact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		add   func(e *sdevent.Event) (*sdevent.Source, error)
		exact bool
	}{
		{"AddTimer", func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddTimer(unix.CLOCK_MONOTONIC, 0, nil) }, true},
		{"AddPeriodic", func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddPeriodic(unix.CLOCK_MONOTONIC, time.Hour, 0, nil)
		}, true},
		{"AddTime", func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, nil)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			before := timerfds(t)
			s := keep(t)(tc.add(e))
			if _, err := s.Time(); err != nil {
				t.Fatal(err)
			}
			// An hour and 123456789ns from now: an odd time, which no
			// coalescing would pick.
			ok(t, "SetTimeRelative", s.SetTimeRelative(time.Hour+123456789))
			ok(t, "on", s.SetEnabled(source.On))
			at, _ := s.Time()
			if p, err := e.Prepare(); err != nil || p {
				t.Fatalf("Prepare = %v, %v", p, err)
			}
			var armed []span
			for fd, v := range timerfds(t) {
				if _, old := before[fd]; !old {
					armed = append(armed, v)
				}
			}
			if _, err := e.Wait(0); err != nil {
				t.Fatal(err)
			}
			if len(armed) != 1 {
				t.Fatalf("%d new armed timerfds, want 1", len(armed))
			}
			a := armed[0]
			if got := a.lo <= at && at <= a.hi; got != tc.exact {
				t.Errorf("timerfd armed for [%v, %v], timer at %v: exact %v, want %v", a.lo, a.hi, at, got, tc.exact)
			}
			if a.hi < at || a.lo > at+250*time.Millisecond {
				t.Errorf("timerfd armed for [%v, %v], outside [%v, +250ms]", a.lo, a.hi, at)
			}
		})
	}
}

// span is a time known to lie in [lo, hi].
type span struct{ lo, hi time.Duration }

// timerfds returns when each armed monotonic timerfd of the process
// expires, by fd, from /proc/self/fdinfo. The kernel shows the time left
// (it_value) as of the read, so the expiry lies between the clock before
// the read plus that and the clock after it plus that.
func timerfds(t *testing.T) map[string]span {
	t.Helper()
	dir := "/proc/self/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]span{}
	for _, ent := range ents {
		lo := live(t, unix.CLOCK_MONOTONIC)
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		hi := live(t, unix.CLOCK_MONOTONIC)
		if err != nil {
			continue // closed meanwhile
		}
		var clockid, ticks, settime int
		var sec, nsec int64
		var flags, pos, mnt, ino string
		n, _ := fmt.Sscanf(string(b), "pos:\t%s\nflags:\t%s\nmnt_id:\t%s\nino:\t%s\nclockid: %d\nticks: %d\nsettime flags: %d\nit_value: (%d, %d)",
			&pos, &flags, &mnt, &ino, &clockid, &ticks, &settime, &sec, &nsec)
		if n != 9 || clockid != unix.CLOCK_MONOTONIC || sec == 0 && nsec == 0 {
			continue
		}
		left := time.Duration(sec)*time.Second + time.Duration(nsec)
		out[ent.Name()] = span{lo + left, hi + left}
	}
	return out
}

// tick is one dispatch of a periodic source: the tick it got and the
// loop's Now when it ran.
type tick struct{ at, now time.Duration }

// nextTick is where a periodic timer must go after the tick at, dispatched
// at now: the first point of its grid later than now.
func nextTick(at, now, period time.Duration) time.Duration {
	next := at + period
	for next <= now {
		next += period
	}
	return next
}

// checkTicks checks what a periodic source's handler saw: never a tick
// before the clock reached it, every tick on the grid of the first, and each
// the first of the grid later than the dispatch before it (no missed tick
// made up for, none skipped that was not missed).
func checkTicks(t *testing.T, ticks []tick, period time.Duration) {
	t.Helper()
	for i, k := range ticks {
		if k.now < k.at {
			t.Errorf("tick %d at %v ran early, at %v", i, k.at, k.now)
		}
		if (k.at-ticks[0].at)%period != 0 {
			t.Errorf("tick %d at %v is off the grid of %v every %v", i, k.at, ticks[0].at, period)
		}
		if i > 0 {
			if want := nextTick(ticks[i-1].at, ticks[i-1].now, period); k.at != want {
				t.Errorf("tick %d at %v after tick %v ran at %v, want %v", i, k.at, ticks[i-1].at, ticks[i-1].now, want)
			}
		}
	}
}

// recordTicks adds a periodic timer on clock whose handler records each
// tick it gets with the loop's Now, checks that the live clock has reached
// it, then calls then (if not nil) with the ticks so far. It returns the
// source and the record.
func recordTicks(t *testing.T, e *sdevent.Event, clock int, period time.Duration, then func(s *sdevent.Source, ticks []tick) error) (*sdevent.Source, *[]tick) {
	t.Helper()
	reads := clock
	for _, c := range allClocks {
		if c.clock == clock {
			reads = c.reads
		}
	}
	var ticks []tick
	s := keep(t)(e.AddPeriodic(clock, period, 0, func(s *sdevent.Source, at time.Duration) error {
		now, err := s.Event().Now(clock)
		if err != nil {
			return err
		}
		if live(t, reads) < at {
			t.Errorf("tick %v ran before the live clock reached it", at)
		}
		ticks = append(ticks, tick{at, now})
		if then == nil {
			return nil
		}
		return then(s, ticks)
	}))
	return s, &ticks
}

// TestPeriodic: a periodic timer starts On, first fires one period after
// Now, then every period on the same grid, never early, and its handler
// gets the tick.
func TestPeriodic(t *testing.T) {
	for _, c := range allClocks[:3] {
		t.Run(c.name, func(t *testing.T) {
			const period = 5 * time.Millisecond
			e := newLoop(t)
			run(t, e, 0) // Now is that iteration's time from here on
			now0, err := e.Now(c.clock)
			ok(t, "Now", err)
			s, record := recordTicks(t, e, c.clock, period, nil)
			if m := enabledOf(t, s); m != "on" {
				t.Errorf("Enabled() = %s, want on", m)
			}
			if at, err := s.Time(); err != nil || at != now0+period {
				t.Errorf("Time() = %v, %v; want Now+period = %v", at, err, now0+period)
			}
			if a, err := s.TimeAccuracy(); err != nil || a != time.Nanosecond {
				t.Errorf("TimeAccuracy() = %v, %v; want 1ns", a, err)
			}
			runUntil(t, e, "10 ticks", func() bool { return len(*record) == 10 })
			ticks := *record
			if ticks[0].at != now0+period {
				t.Errorf("first tick at %v, want %v", ticks[0].at, now0+period)
			}
			checkTicks(t, ticks, period)
			if at, _ := s.Time(); at != nextTick(ticks[9].at, ticks[9].now, period) {
				t.Errorf("Time() = %v after the last tick, want the next on the grid", at)
			}
		})
	}
}

// TestPeriodicSkipsMissedTicks: a handler that blocks the loop for three
// and a half periods is followed by one late dispatch (the tick that fell
// due while it ran), and the one after that is the next tick of the grid
// after that dispatch: no burst of the missed ticks.
func TestPeriodicSkipsMissedTicks(t *testing.T) {
	for _, c := range allClocks[:3] {
		t.Run(c.name, func(t *testing.T) {
			const period = 20 * time.Millisecond
			e := newLoop(t)
			s, record := recordTicks(t, e, c.clock, period, func(_ *sdevent.Source, ticks []tick) error {
				if len(ticks) == 2 {
					spinPast(t, c.reads, 3*period+period/2) // the loop is busy
				}
				return nil
			})
			runUntil(t, e, "4 ticks", func() bool { return len(*record) == 4 })
			ticks := *record
			checkTicks(t, ticks, period)
			late, after := ticks[2], ticks[3]
			if late.now-late.at < 2*period {
				t.Errorf("the dispatch after the blocking one ran %v after its tick, want the 2.5 periods it was kept waiting", late.now-late.at)
			}
			if after.at <= late.now {
				t.Errorf("a second missed tick (%v) was dispatched after the late one ran at %v", after.at, late.now)
			}
			if at, _ := s.Time(); at != nextTick(after.at, after.now, period) {
				t.Errorf("Time() = %v, want the next on the grid", at)
			}
		})
	}
}

// TestPeriodicStopAndRestart: a stopped periodic timer fires no more;
// switched On again it fires the tick that fell due while it was off once,
// at once, and goes on on its grid; Reset makes its argument the period and
// restarts the grid from Now.
func TestPeriodicStopAndRestart(t *testing.T) {
	const period = 10 * time.Millisecond
	e := newLoop(t)
	s, record := recordTicks(t, e, unix.CLOCK_MONOTONIC, period, nil)
	runUntil(t, e, "a tick", func() bool { return len(*record) == 1 })
	ok(t, "Stop", s.Stop())
	if m := enabledOf(t, s); m != "off" {
		t.Errorf("Enabled() = %s after Stop, want off", m)
	}
	stale, _ := s.Time()
	if run(t, e, 4*period) || len(*record) != 1 {
		t.Fatalf("a stopped periodic timer fired: %v", *record)
	}

	ok(t, "on", s.SetEnabled(source.On))
	runUntil(t, e, "3 ticks", func() bool { return len(*record) == 3 })
	ticks := *record
	checkTicks(t, ticks, period)
	if ticks[1].at != stale {
		t.Errorf("re-enabled, it fired for %v, want the tick it stopped at, %v", ticks[1].at, stale)
	}
	if ticks[2].at <= ticks[1].now {
		t.Errorf("re-enabled, it fired a second missed tick %v after running at %v", ticks[2].at, ticks[1].now)
	}

	// Reset(d): period d, the grid from Now.
	const period2 = 3 * period
	ok(t, "Stop", s.Stop())
	now, _ := e.Now(unix.CLOCK_MONOTONIC)
	ok(t, "Reset", s.Reset(period2))
	if m := enabledOf(t, s); m != "on" {
		t.Errorf("Enabled() = %s after Reset, want on", m)
	}
	if at, _ := s.Time(); at != now+period2 {
		t.Errorf("Time() = %v after Reset(%v) at %v", at, period2, now)
	}
	*record = nil
	runUntil(t, e, "3 ticks", func() bool { return len(*record) == 3 })
	ticks = *record
	if ticks[0].at != now+period2 {
		t.Errorf("first tick after Reset at %v, want %v", ticks[0].at, now+period2)
	}
	checkTicks(t, ticks, period2)
}

// TestPeriodicInHandler: what a periodic timer's handler does to its own
// source stands: Reset moves the grid, SetTime the next tick, Stop ends
// it, and an error switches it off as for every source.
func TestPeriodicInHandler(t *testing.T) {
	const period = 5 * time.Millisecond
	for _, tc := range []struct {
		name string
		act  func(s *sdevent.Source, at, now time.Duration) error
		want func(at, now time.Duration) time.Duration // Time() after it
		on   string
	}{
		{"Reset", func(s *sdevent.Source, _, _ time.Duration) error { return s.Reset(7 * period) },
			func(_, now time.Duration) time.Duration { return now + 7*period }, "on"},
		{"SetTime", func(s *sdevent.Source, at, _ time.Duration) error { return s.SetTime(at + 9*period) },
			func(at, _ time.Duration) time.Duration { return at + 9*period }, "on"},
		{"Stop", func(s *sdevent.Source, _, _ time.Duration) error { return s.Stop() },
			func(at, now time.Duration) time.Duration { return nextTick(at, now, period) }, "off"},
		{"error", func(*sdevent.Source, time.Duration, time.Duration) error { return errors.New("failed") },
			func(at, now time.Duration) time.Duration { return nextTick(at, now, period) }, "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			s, record := recordTicks(t, e, unix.CLOCK_MONOTONIC, period, func(s *sdevent.Source, ticks []tick) error {
				return tc.act(s, ticks[0].at, ticks[0].now)
			})
			runUntil(t, e, "a tick", func() bool { return len(*record) == 1 })
			ticks := *record
			if at, _ := s.Time(); at != tc.want(ticks[0].at, ticks[0].now) {
				t.Errorf("Time() = %v, want %v", at, tc.want(ticks[0].at, ticks[0].now))
			}
			if m := enabledOf(t, s); m != tc.on {
				t.Errorf("Enabled() = %s, want %s", m, tc.on)
			}
		})
	}
}

// TestPeriodicRatelimited: a periodic timer held back by its rate limit
// fires once when the limit ends, not once per tick it missed.
func TestPeriodicRatelimited(t *testing.T) {
	const period = 2 * time.Millisecond
	e := newLoop(t)
	s, record := recordTicks(t, e, unix.CLOCK_MONOTONIC, period, nil)
	ok(t, "SetRatelimit", s.SetRatelimit(20*period, 1))
	runUntil(t, e, "3 ticks", func() bool { return len(*record) == 3 })
	ticks := *record
	checkTicks(t, ticks, period)
	for i := 1; i < len(ticks); i++ {
		if d := ticks[i].now - ticks[i-1].now; d < 20*period {
			t.Errorf("ticks %d and %d ran %v apart, within one rate limit window", i-1, i, d)
		}
	}
}

// TestTimerNilHandler: a nil handler is sd-event's default handler, as for
// AddTime: it exits the loop with the userdata as code.
func TestTimerNilHandler(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(e *sdevent.Event) (*sdevent.Source, error)
	}{
		{"AddTimer", func(e *sdevent.Event) (*sdevent.Source, error) {
			s, err := e.AddTimer(unix.CLOCK_MONOTONIC, 0, nil)
			if err == nil {
				err = s.Reset(time.Millisecond)
			}
			return s, err
		}},
		{"AddPeriodic", func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddPeriodic(unix.CLOCK_MONOTONIC, time.Millisecond, 0, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			s := keep(t)(tc.add(e))
			s.SetUserdata(7)
			if code := loop(t, e); code != 7 {
				t.Errorf("Loop = %d, want 7", code)
			}
		})
	}
}

// TestPeriodicAllocatesNothing: a periodic timer's dispatch, the move to
// its next tick included, allocates nothing in steady state.
func TestPeriodicAllocatesNothing(t *testing.T) {
	e := newLoop(t)
	n := 0
	keep(t)(e.AddPeriodic(unix.CLOCK_MONOTONIC, time.Microsecond, time.Microsecond, func(*sdevent.Source, time.Duration) error {
		n++
		return nil
	}))
	step := func() {
		for want := n + 1; n < want; {
			if _, err := e.Run(long); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 100 {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Errorf("%v allocations per periodic dispatch, want 0", allocs)
	}
}

// TestFloat: Float(e.AddX(...)) hands the new source of every kind to the
// loop: the caller holds no reference, the source holds none on the loop,
// it still dispatches, and it is freed with the loop.
func TestFloat(t *testing.T) {
	testutil.Check(t)
	r, w := testutil.Pipe(t)
	dir := t.TempDir()
	h := func(*sdevent.Source) error { return nil }
	for _, tc := range []struct {
		name string
		add  func(e *sdevent.Event, dispatched func()) (*sdevent.Source, error)
	}{
		{"io", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			return e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { d(); return nil })
		}},
		{"time", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, func(*sdevent.Source, time.Duration) error { d(); return nil })
		}},
		{"timer", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			s, err := e.AddTimer(unix.CLOCK_BOOTTIME, 0, func(*sdevent.Source, time.Duration) error { d(); return nil })
			if err == nil {
				err = s.Reset(0)
			}
			return s, err
		}},
		{"periodic", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			return e.AddPeriodic(unix.CLOCK_REALTIME, time.Millisecond, 0, func(*sdevent.Source, time.Duration) error { d(); return nil })
		}},
		{"signal", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			s, err := e.AddSignal(unix.SIGUSR2, func(*sdevent.Source, *unix.SignalfdSiginfo) error { d(); return nil })
			if err == nil {
				err = unix.Kill(os.Getpid(), unix.SIGUSR2)
			}
			return s, err
		}},
		{"child", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			return e.AddCommand(exec.Command("true"), unix.WEXITED, func(*sdevent.Source, *sdevent.ChildInfo) error { d(); return nil })
		}},
		{"inotify", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			s, err := e.AddInotify(dir, unix.IN_CREATE, func(*sdevent.Source, *sdevent.InotifyEvent) error { d(); return nil })
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, "f"), nil, 0o600)
			}
			return s, err
		}},
		{"defer", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			return e.AddDefer(func(*sdevent.Source) error { d(); return nil })
		}},
		{"post", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			if err := sdevent.Float(e.AddDefer(h)); err != nil {
				return nil, err
			}
			return e.AddPost(func(*sdevent.Source) error { d(); return nil })
		}},
		{"exit", func(e *sdevent.Event, d func()) (*sdevent.Source, error) {
			s, err := e.AddExit(func(*sdevent.Source) error { d(); return nil })
			if err == nil {
				err = e.Exit(0)
			}
			return s, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeByte(t, w)
			defer func() {
				var b [8]byte
				_, _ = unix.Read(r, b[:]) // empty again for the next kind
			}()
			e, err := sdevent.New()
			ok(t, "New", err)
			epfd := e.Fd()
			dispatched := false
			s, err := tc.add(e, func() { dispatched = true })
			destroyed := false
			if err == nil {
				err = s.SetDestroyCallback(func(any) { destroyed = true })
			}
			if err := sdevent.Float(s, err); err != nil {
				e.Unref()
				t.Fatal(err)
			}
			if !s.Floating() {
				t.Error("Floating() = false after Float")
			}
			runUntil(t, e, "the floating source's dispatch", func() bool { return dispatched })
			if destroyed {
				t.Fatal("the floating source was freed before its loop")
			}
			e.Unref() // the caller's only reference: the loop goes, and s with it
			if !destroyed {
				t.Error("the floating source was not freed with its loop")
			}
			if testutil.FdOpen(epfd) {
				t.Error("the loop was not freed: the floating source holds a reference to it")
			}
		})
	}
}

// TestFloatPassesErrors: Float returns an error of the Add call it wraps
// unchanged and does nothing else.
func TestFloatPassesErrors(t *testing.T) {
	e := newLoop(t)
	_, want := e.AddTime(unix.CLOCK_TAI, 0, 0, nil)
	if want == nil {
		t.Fatal("AddTime with CLOCK_TAI succeeded")
	}
	if got := sdevent.Float(e.AddTime(unix.CLOCK_TAI, 0, 0, nil)); got == nil || got.Error() != want.Error() {
		t.Errorf("Float = %v, want %v", got, want)
	}
	sentinel := errors.New("sentinel")
	d := keep(t)(e.AddDefer(nil))
	if got := sdevent.Float(d, sentinel); got != sentinel { //nolint:errorlint // the very error, not one wrapping it
		t.Errorf("Float(s, sentinel) = %v, want the sentinel itself", got)
	}
	if d.Floating() {
		t.Error("Float with an error made the source floating")
	}
}

// TestFloatReferences: Float moves the caller's reference to the loop; on
// an already floating source it drops the caller's reference only; on a
// disconnected source (ESTALE) the caller keeps its reference.
func TestFloatReferences(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	ok(t, "New", err)
	destroyed := 0
	s := must(t)(e.AddDefer(nil))
	ok(t, "destroy cb", s.SetDestroyCallback(func(any) { destroyed++ }))
	s.Ref() // a second reference of the caller's
	ok(t, "Float", sdevent.Float(s, nil))
	ok(t, "Float again", sdevent.Float(s, nil)) // drops the second
	if destroyed != 0 || !s.Floating() {
		t.Fatalf("destroyed %d times, floating %v, after two Floats", destroyed, s.Floating())
	}
	s.Ref()
	e.Unref() // the loop goes and drops its reference; ours stays
	if destroyed != 0 {
		t.Fatal("freed while the caller holds a reference")
	}
	wantErrno(t, "Float disconnected", sdevent.Float(s, nil), unix.ESTALE)
	if destroyed != 0 {
		t.Fatal("a failed Float dropped the caller's reference")
	}
	s.Unref()
	if destroyed != 1 {
		t.Errorf("destroyed %d times after the last Unref, want 1", destroyed)
	}
}

// BenchmarkAddFloatingTimers adds 200,000 floating one-shot timers, spread
// over 200ms with accuracy 1µs as in the timers workload of internal/bench,
// with AddTime and Float: C's sd_event_add_time(e, NULL, ...). The loop is
// freed outside the measured time.
func BenchmarkAddFloatingTimers(b *testing.B) {
	const n = 200000
	h := func(*sdevent.Source, time.Duration) error { return nil }
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		e, err := sdevent.New()
		if err != nil {
			b.Fatal(err)
		}
		base, _ := e.Now(unix.CLOCK_MONOTONIC)
		x := uint64(1)
		b.StartTimer()
		for range n {
			x = x*6364136223846793005 + 1442695040888963407
			at := base + time.Millisecond + time.Duration((x>>33)%200000)*time.Microsecond
			if err := sdevent.Float(e.AddTime(unix.CLOCK_MONOTONIC, at, time.Microsecond, h)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		e.Unref()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/timer")
}
