//go:build linux

package sdevent_test

// Tests of time sources (time.go).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestTimerNeverEarly: the handler gets the scheduled time, and both Now and
// the live clock are at or past it.
//
// From SEMANTICS.md, "Kinds": Time.
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
//
// From SEMANTICS.md, "Kinds": Time.
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
//
// From SEMANTICS.md, "Kinds": Time.
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
//
// From SEMANTICS.md, "Kinds": Time.
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

// TestCheckOrder: SetTimeAccuracy checks the accuracy (EINVAL) before the
// kind of source (EDOM), as sd_event_source_set_time_accuracy does.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestCheckOrder(t *testing.T) {
	e := newLoop(t)
	d := keep(t)(e.AddDefer(nil))
	wantErrno(t, "SetTimeAccuracy(Infinity) on a defer source", d.SetTimeAccuracy(sdevent.Infinity), unix.EINVAL)
	wantErrno(t, "SetTimeAccuracy(1s) on a defer source", d.SetTimeAccuracy(time.Second), unix.EDOM)
}

// TestStressTimers: 100,000 monotonic timers with accuracy 1µs (10,000
// under -race), spread over 300ms and added in random order. Every handler
// runs exactly once, never before its time (by the loop's own clock), and
// never while a timer that was due at an earlier poll waits: equal-priority
// timers go by the iteration in which they became pending. (Among those
// that became pending at one poll the order is sd-event's queue's, not
// their times: libsystemd runs five timers due together as 1 5 4 3 2.)
//
// Stress test of issue 5.
func TestStressTimers(t *testing.T) {
	const (
		n      = stressTimers // 100,000; 10,000 under -race
		spread = 300 * time.Millisecond
		margin = 500 * time.Millisecond // for adding them all, under -race too
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	e := newLoop(t)
	sources := make([]*sdevent.Source, n)
	defer func() {
		for _, s := range sources {
			s.Unref()
		}
	}()
	base := live(t, unix.CLOCK_MONOTONIC) + margin
	at := func(i int) time.Duration { return base + spread*time.Duration(i)/n }
	calls := make([]int32, n)
	fired := 0
	first := 0                // the earliest timer not run yet
	var polls []time.Duration // the times of the polls seen in handlers, rising
	var lateMax time.Duration
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	t0 := time.Now()
	for _, i := range rng.Perm(n) {
		s, err := e.AddTime(unix.CLOCK_MONOTONIC, at(i), time.Microsecond, func(s *sdevent.Source, tt time.Duration) error {
			calls[i]++
			fired++
			now, err := e.Now(unix.CLOCK_MONOTONIC)
			if err != nil {
				report("Now: %v", err)
			}
			for first < n && calls[first] > 0 {
				first++
			}
			// The latest poll seen before i was due: a timer due by then
			// has been pending since an earlier iteration than i.
			k, _ := slices.BinarySearch(polls, tt)
			switch {
			case tt != at(i):
				report("timer %d got t=%v, scheduled %v", i, tt, at(i))
			case now < tt:
				report("timer %d ran at %v, %v before its time %v", i, now, tt-now, tt)
			case k > 0 && first < n && at(first) <= polls[k-1]:
				report("timer %d (t=%v) ran while timer %d (t=%v), due at the poll of %v, waits", i, tt, first, at(first), polls[k-1])
			}
			if len(polls) == 0 || now > polls[len(polls)-1] {
				polls = append(polls, now)
			}
			lateMax = max(lateMax, now-tt)
			return nil
		})
		if err != nil {
			t.Fatalf("AddTime #%d: %v", i, err)
		}
		sources[i] = s
	}
	setup := time.Since(t0)

	iter0 := e.Iteration()
	t1 := time.Now()
	deadline := t1.Add(margin + spread + 30*time.Second)
	for fired < n && time.Now().Before(deadline) {
		run(t, e, long)
	}
	elapsed := time.Since(t1)
	if fired != n {
		t.Fatalf("%d of %d timers fired", fired, n)
	}
	if run(t, e, 0) {
		t.Error("a Run after every timer fired dispatched something")
	}
	for i, c := range calls {
		if c != 1 {
			report("timer %d ran %d times", i, c)
		}
	}
	t.Logf("%d timers: added in %v (%v each); all fired %v after the loop started (first due after %v), %d iterations; latest handler %v after its time",
		n, setup.Round(time.Millisecond), setup/n, elapsed.Round(time.Millisecond), max(0, margin-setup).Round(time.Millisecond),
		e.Iteration()-iter0, lateMax)
}

// TestAddTimeAlarmClockReadable: sd_event_add_time refuses a clock that
// clock_gettime cannot read (clock_supported) with EOPNOTSUPP, even where
// timerfd_create accepts it: the _ALARM clocks on a machine without a
// wake-up capable RTC. Where the clock can be read, the timer is added (as
// root, which has CAP_WAKE_ALARM; else EPERM). Now reads them as their base
// clocks either way, as sd_event_now does.
func TestAddTimeAlarmClockReadable(t *testing.T) {
	for _, clock := range []int{unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM} {
		t.Run(strconv.Itoa(clock), func(t *testing.T) {
			var ts unix.Timespec
			readable := unix.ClockGettime(int32(clock), &ts) == nil
			e := newLoop(t)
			if _, err := e.Now(clock); err != nil {
				t.Errorf("Now(%d): %v", clock, err)
			}
			for _, add := range []struct {
				name, op string
				call     func() (*sdevent.Source, error)
			}{
				{"AddTime", "add time " + strconv.Itoa(clock), func() (*sdevent.Source, error) { return e.AddTime(clock, sdevent.Infinity, 0, nil) }},
				{"AddTimeRelative", "add time relative " + strconv.Itoa(clock), func() (*sdevent.Source, error) {
					return e.AddTimeRelative(clock, time.Hour, 0, nil)
				}},
			} {
				before := testutil.FdCount()
				s, err := add.call()
				switch {
				case readable && os.Geteuid() != 0:
					wantErrno(t, add.name, err, unix.EPERM)
				case readable:
					if err != nil {
						t.Errorf("%s on a readable clock: %v", add.name, err)
					}
				default:
					want := "sdevent: " + add.op + ": " + unix.EOPNOTSUPP.Error()
					if !errors.Is(err, unix.EOPNOTSUPP) || err.Error() != want {
						t.Errorf("%s on an unreadable clock: %v, want %q", add.name, err, want)
					}
					if after := testutil.FdCount(); after != before {
						t.Errorf("%s: %d fds before, %d after (a timerfd made for nothing)", add.name, before, after)
					}
				}
				if s != nil {
					s.Unref()
				}
			}
		})
	}
}
