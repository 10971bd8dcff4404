//go:build linux

package sdevent

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/source"
)

// Timers the way Go code uses time.Timer and time.Ticker, built on the time
// sources of time.go: a timer created disarmed, re-armed and stopped in one
// call each, and a periodic timer. And Float, a floating source in one call.

// exactAccuracy is what an accuracy of 0 means to AddTimer and AddPeriodic:
// a coalescing window of one nanosecond, which sleepBetween turns into the
// timer's own time. TimeAccuracy reports it, and it means the same when it
// is handed back to SetTimeAccuracy, where 0 means 250ms.
const exactAccuracy = time.Nanosecond

func exact(accuracy time.Duration) time.Duration {
	if accuracy == 0 {
		return exactAccuracy
	}
	return accuracy
}

// AddTimer adds a time source that is disarmed: Off, at Infinity, waiting
// for Reset, like a time.Timer that was stopped. accuracy is how late it
// may fire to share a wake-up with other timers of the system; 0 means as
// exactly as the loop can (no window, reported by TimeAccuracy as 1ns), not
// AddTime's 250ms. Infinity or a negative accuracy is EINVAL. clock and h
// are as for AddTime: an unknown clock gives EOPNOTSUPP, a finished loop
// ESTALE, and a nil h installs the default handler, which exits the loop
// with the source's userdata as code (sd-event's rule for a NULL callback),
// so that a disarmed timer can serve as a timeout that Reset arms.
//
// C has no such call: code using sd-event adds the timer at USEC_INFINITY
// (sd_event_add_time) and switches it off (sd_event_source_set_enabled with
// SD_EVENT_OFF).
func (e *Event) AddTimer(clock int, accuracy time.Duration, h TimeHandler) (*Source, error) {
	s, err := e.addTime(clock, Infinity, exact(accuracy), h)
	if err != nil {
		return nil, opErr(fmt.Sprintf("add timer %d", clock), err)
	}
	_ = e.setEnabled(s, source.Off) // switching a time source off cannot fail
	return s, nil
}

// AddPeriodic adds a time source that fires every period, like a
// time.Ticker: it starts On, first at period after the loop's Now(clock),
// then at each multiple of period after that. The handler gets the tick it
// runs for, never called before the clock reached it. Ticks missed while
// the loop was busy (or the source rate-limited) are skipped: a late tick
// fires once, and the next is the first on the grid after the time the
// late one ran, so a blocked loop never sees a burst. The grid stays where
// it was: ticks do not drift by how late handlers run.
//
// period must be positive (else EINVAL); EOVERFLOW when the first tick would
// be at or past Infinity. accuracy, clock and h are as for AddTimer.
//
// Reset(d) restarts the ticker with period d from now, Stop switches it off,
// and SetTime or SetTimeRelative move its next tick (the grid follows).
// SetEnabled(source.On) after Off keeps its time: a tick that fell due
// meanwhile fires at once, then the grid goes on; Reset starts afresh.
// A handler's error switches it off, as for every source.
//
// C has no periodic timer: a handler moves its own timer forward
// (sd_event_source_set_time) and enables it again
// (sd_event_source_set_enabled with SD_EVENT_ONESHOT), which drifts by
// however late it ran unless it adds to the scheduled time it got, and then
// bursts after the loop was blocked.
func (e *Event) AddPeriodic(clock int, period, accuracy time.Duration, h TimeHandler) (*Source, error) {
	s, err := e.addPeriodic(clock, period, accuracy, h)
	if err != nil {
		return nil, opErr(fmt.Sprintf("add periodic %d", clock), err)
	}
	return s, nil
}

func (e *Event) addPeriodic(clock int, period, accuracy time.Duration, h TimeHandler) (*Source, error) {
	if period <= 0 {
		return nil, unix.EINVAL
	}
	s, err := e.addTimeRelative(clock, period, exact(accuracy), h)
	if err != nil {
		return nil, err
	}
	s.ext().periodic = periodic{period: period}
	_ = e.setEnabled(s, source.On) // OneShot to On: a time source has nothing to register
	return s, nil
}

// Reset arms a time source to fire d after the loop's Now on its clock,
// once: it sets the time and switches the source to OneShot, as
// time.Timer.Reset does, whatever state it was in (pending, fired, off).
// d = Infinity leaves it armed for a time that never comes. On a periodic
// source (AddPeriodic) it makes d the period and restarts the ticks from
// now, first at d from now, and switches the source On, as
// time.Ticker.Reset; d must then be positive.
//
// Errors: EDOM for a source of another kind; EINVAL for a negative d (or
// 0 on a periodic source); EOVERFLOW when the time would be at or past
// Infinity; ESTALE when the source's loop is gone or has finished. On an
// error the source is left as it was.
//
// C has no such call; code using sd-event calls
// sd_event_source_set_time_relative and then sd_event_source_set_enabled
// with SD_EVENT_ONESHOT, as systemd's internal event_reset_time_relative
// (src/libsystemd/sd-event/event-util.c) does.
func (s *Source) Reset(d time.Duration) error {
	const op = "reset"
	if err := s.timeOnly(op); err != nil {
		return err
	}
	ticker := s.periodic() != nil
	if d < 0 || d == 0 && ticker {
		return opErr(op, unix.EINVAL)
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	t := Infinity
	if d != Infinity || ticker {
		now, err := e.now(clockIDs[typeClockIndex(s.kind())])
		if err != nil {
			return opErr(op, err)
		}
		if d >= Infinity-now {
			return opErr(op, unix.EOVERFLOW)
		}
		t = now + d
	}
	s.setTime(e, t)
	if ticker {
		s.extra.periodic.period = d
		_ = e.setEnabled(s, source.On) // enabling a time source cannot fail
	} else {
		_ = e.setEnabled(s, source.OneShot) // nor can this
	}
	return nil
}

// Stop disarms a time source, periodic or not: it switches it Off and
// clears pending, like time.Timer.Stop; Reset arms it again. It keeps its
// time. As SetEnabled(source.Off), it also succeeds on a source whose loop
// has finished or is gone. EDOM for a source of another kind.
//
// It is sd_event_source_set_enabled with SD_EVENT_OFF, for time sources
// only.
func (s *Source) Stop() error {
	if err := s.timeOnly("stop"); err != nil {
		return err
	}
	return s.SetEnabled(source.Off) // cannot fail: s is not nil and Off is valid
}

// Float hands a newly added source to its loop in one call, so that
//
//	err := sdevent.Float(e.AddDefer(h))
//
// is C's sd_event_add_defer(e, NULL, h, userdata): a floating source,
// owned by the loop and freed with it (or when it unrefs itself in its
// handler), with no reference left to the caller. It works for every kind.
// Float makes s floating (SetFloating(true)) and drops the caller's
// reference (Unref), without the loop reference that SetFloating takes and
// gives back. A non-nil err is returned unchanged, and nothing is done; a nil
// s with a nil err is EINVAL; a source no longer connected to a loop is
// ESTALE, and the caller keeps its reference. On an already floating source
// Float drops the caller's reference only.
func Float(s *Source, err error) error {
	const op = "float"
	switch {
	case err != nil:
		return err
	case s == nil:
		return opErr(op, unix.EINVAL)
	case s.e == nil:
		return opErr(op, unix.ESTALE)
	case s.floating:
		s.Unref()
	default:
		// SetFloating(true) then Unref, less the reference those would
		// add to s and drop again. The loop reference s held goes: it may
		// be the loop's last, and then the loop frees s with itself.
		s.floating = true
		s.e.Unref()
	}
	return nil
}

// periodic is the part of Source of a periodic time source: its period,
// and the tick its handler runs for, time.next being the one after already.
type periodic struct {
	period, fired time.Duration
}

// periodicTick moves a periodic source, about to be dispatched for the
// tick s.time.next, to its next tick: the first multiple of the period
// after it that is later than the iteration's Now, so that ticks missed
// while the loop was busy are skipped. It runs before the handler, so that
// what the handler does to the source (Reset, SetTime, Stop) stands; the
// handler gets the tick it runs for from timeFired.
func (e *Event) periodicTick(s *Source) {
	p, t := s.extra.periodic.period, s.time.next
	s.extra.periodic.fired = t
	now := e.timestamp(typeClockIndex(s.kind()))
	next := addSat(t, p)
	if next <= now {
		// now+p bounds the next tick: compute it only when that is finite.
		next = addSat(now, p)
		if next != Infinity {
			next = t + ((now-t)/p+1)*p
		}
	}
	s.setTime(e, next)
}

// timeFired is the time a time source's handler gets: the tick it runs for.
func (s *Source) timeFired() time.Duration {
	if s.periodic() != nil {
		return s.extra.periodic.fired
	}
	return s.time.next
}
