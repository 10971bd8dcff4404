//go:build linux

package sdevent

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// AddTime calls h once the clock reaches t (sd_event_add_time). clock is
// one of CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
// CLOCK_REALTIME_ALARM and CLOCK_BOOTTIME_ALARM (others: EOPNOTSUPP; the
// _ALARM clocks give EOPNOTSUPP too where clock_gettime cannot read them, on
// a machine without a wake-up capable RTC, and need CAP_WAKE_ALARM: EPERM).
// The wake-up is coalesced with other timers of the system inside [t,
// t+accuracy]; accuracy 0 means 250ms, Infinity is EINVAL. t = Infinity
// never fires. The source starts OneShot. The handler gets t, never called
// before the clock reached it.
func (e *Event) AddTime(clock int, t, accuracy time.Duration, h TimeHandler) (*Source, error) {
	s, err := e.addTime(clock, t, accuracy, h)
	if err != nil {
		return nil, opErr(fmt.Sprintf("add time %d", clock), err)
	}
	return s, nil
}

// AddTimeRelative is AddTime at d after the loop's Now(clock)
// (sd_event_add_time_relative); EOVERFLOW when that is past Infinity.
func (e *Event) AddTimeRelative(clock int, d, accuracy time.Duration, h TimeHandler) (*Source, error) {
	s, err := e.addTimeRelative(clock, d, accuracy, h)
	if err != nil {
		return nil, opErr(fmt.Sprintf("add time relative %d", clock), err)
	}
	return s, nil
}

// addTimeRelative checks in sd_event_add_time_relative's order: what
// sd_event_now refuses, the overflow, then what sd_event_add_time refuses.
func (e *Event) addTimeRelative(clock int, d, accuracy time.Duration, h TimeHandler) (*Source, error) {
	if d < 0 {
		return nil, unix.EINVAL
	}
	now, err := e.now(clock)
	if err != nil {
		return nil, err
	}
	if d >= Infinity-now {
		return nil, unix.EOVERFLOW
	}
	return e.addTime(clock, now+d, accuracy, h)
}

func (e *Event) addTime(clock int, t, accuracy time.Duration, h TimeHandler) (*Source, error) {
	switch {
	case !e.valid():
		return nil, unix.EINVAL
	case accuracy == Infinity || accuracy < 0 || t < 0:
		return nil, unix.EINVAL
	case e.state == Finished:
		return nil, unix.ESTALE
	}
	i := clockIndex(clock)
	if i < 0 || !sys.ClockReadable(clock) {
		return nil, unix.EOPNOTSUPP
	}
	d := &e.clocks[i]
	if err := e.setupClock(d); err != nil {
		return nil, err
	}
	s := e.newSource(clockTypes[i], source.OneShot)
	s.time.next = t
	s.time.accuracy = accuracy
	if accuracy == 0 {
		s.time.accuracy = defaultAccuracy
	}
	s.handler = h
	e.timePut(s, i)
	return s, nil
}

// timeSource is a time source's part of Source; the dispatch order reads
// next and accuracy.
type timeSource struct {
	next, accuracy time.Duration
}

// setupClock creates the clock's timerfd on first use.
func (e *Event) setupClock(d *clockData) error {
	if d.fd >= 0 {
		return nil
	}
	fd, err := sys.TimerfdCreate(d.clock, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if fd, err = e.pollNew(fd, err, "timerfd", tagTimer+uint64(clockIndex(d.clock))); err != nil {
		return err
	}
	d.fd = fd
	return nil
}

// timeNext is the earliest time the source wants to run: the end of its
// rate limit window while it is rate-limited, else its timer.
func (s *Source) timeNext() time.Duration {
	if s.ratelimited {
		return s.rl().end()
	}
	if s.kind().IsTime() {
		return s.time.next
	}
	return Infinity
}

// timeLatest is the latest time it may run; rate limits get no slack.
func (s *Source) timeLatest() time.Duration {
	if s.ratelimited {
		return s.rl().end()
	}
	if s.kind().IsTime() {
		return addSat(s.time.next, s.time.accuracy)
	}
	return Infinity
}

func (e *Event) timePut(s *Source, clock int) {
	d := &e.clocks[clock]
	d.earliest.Put(s)
	d.latest.Put(s)
	s.tclock = int8(clock)
	d.needsRearm = true
}

func (e *Event) timeRemove(s *Source) {
	if s.tclock < 0 {
		return
	}
	d := &e.clocks[s.tclock]
	d.earliest.Remove(s)
	d.latest.Remove(s)
	s.tclock = -1
	d.needsRearm = true
}

// disconnectTime takes a time source out of its clock's queues; while
// rate-limited it sits in the monotonic queues instead, which disconnect
// leaves.
func (e *Event) disconnectTime(s *Source) {
	if !s.ratelimited {
		e.timeRemove(s)
	}
}

// timeReshuffle re-sorts the source in its time queues after its time,
// accuracy, pending, enablement or rate-limit state changed.
func (e *Event) timeReshuffle(s *Source) {
	if s.tclock < 0 {
		return
	}
	d := &e.clocks[s.tclock]
	d.earliest.Reshuffle(s)
	d.latest.Reshuffle(s)
	d.needsRearm = true
}

// armTimers programs each clock's timerfd for the coalesced next wake-up.
// A wake-up that is already due arms nothing: it reports due, and the
// iteration polls without blocking.
func (e *Event) armTimers() (due bool, err error) {
	for i := range e.clocks {
		d := &e.clocks[i]
		if !d.needsRearm {
			continue
		}
		d.needsRearm = false
		a, ok := d.earliest.Peek()
		if !ok || a.enabled() == source.Off || a.timeNext() == Infinity {
			if d.fd >= 0 && d.next != Infinity {
				if err := sys.DisarmTimer(d.fd); err != nil {
					return false, err
				}
				d.next = Infinity
			}
			continue
		}
		b, _ := d.latest.Peek()
		t := sleepBetween(a.timeNext(), b.timeLatest())
		now, err := sys.Now(d.clock)
		if err != nil {
			return false, err
		}
		if t <= now {
			d.needsRearm = true // look again next iteration
			due = true
			continue
		}
		if d.next == t {
			continue
		}
		if err := sys.SetTimer(d.fd, t); err != nil {
			return false, err
		}
		d.next = t
	}
	return due, nil
}

// addSat is a+b, saturated at Infinity.
func addSat(a, b time.Duration) time.Duration {
	if b >= Infinity-a {
		return Infinity
	}
	return a + b
}

// sleepBetween picks the wake-up inside [a, b]: the latest point aligned on
// the minute, else 10s, 1s or 250ms, each shifted by the per-boot offset, so
// that loops all over the system wake together; else b.
func sleepBetween(a, b time.Duration) time.Duration {
	if a <= 0 {
		return 0
	}
	if a >= Infinity {
		return Infinity
	}
	if b <= a+1 {
		return a
	}
	p := sys.Perturb()
	for _, unit := range [...]time.Duration{time.Minute, 10 * time.Second, time.Second, 250 * time.Millisecond} {
		c := b/unit*unit + p%unit
		if c >= b {
			if c < unit {
				return b
			}
			c -= unit
		}
		if c >= a {
			return c
		}
	}
	return b
}

// processTimers processes the timers of every clock that has some, in
// sd-event's order. It reports whether a rate limit ended (on
// clockRatelimit) and its expire callback ran; the clocks after it are
// processed all the same, as in sd-event 262, since their timerfds may have
// been read already.
func (e *Event) processTimers() (bool, error) {
	called := false
	for i := range e.clocks {
		d := &e.clocks[i]
		if d.earliest.Len() == 0 {
			continue
		}
		expired, err := e.processTimer(d, e.timestamp(i))
		if err != nil {
			return false, err
		}
		called = called || expired && i == clockRatelimit
	}
	return called, nil
}

// processTimer marks the timers of d that are due at now pending, and lets
// sources whose rate limit window ended back online. It reports whether an
// expire callback ran.
func (e *Event) processTimer(d *clockData, now time.Duration) (bool, error) {
	called := false
	for {
		s, ok := d.earliest.Peek()
		if !ok || s.timeNext() > now {
			return called, nil
		}
		if s.ratelimited {
			c, err := e.leaveRatelimit(s, true)
			if err != nil {
				return called, err
			}
			called = called || c
			continue
		}
		if s.enabled() == source.Off || s.pending {
			return called, nil
		}
		e.setPending(s, true)
	}
}

func (s *Source) timeOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if !s.kind().IsTime() {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// Time returns the time the source is scheduled for
// (sd_event_source_get_time).
func (s *Source) Time() (time.Duration, error) {
	if err := s.timeOnly("time"); err != nil {
		return 0, err
	}
	return s.time.next, nil
}

// SetTime schedules the source for t and clears pending
// (sd_event_source_set_time). It does not enable it.
func (s *Source) SetTime(t time.Duration) error {
	const op = "set time"
	if err := s.timeOnly(op); err != nil {
		return err
	}
	if t < 0 {
		return opErr(op, unix.EINVAL)
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	s.setTime(e, t)
	return nil
}

func (s *Source) setTime(e *Event, t time.Duration) {
	e.setPending(s, false)
	s.time.next = t
	e.timeReshuffle(s)
}

// SetTimeRelative schedules the source d after the loop's Now
// (sd_event_source_set_time_relative); EOVERFLOW past Infinity.
func (s *Source) SetTimeRelative(d time.Duration) error {
	const op = "set time relative"
	if err := s.timeOnly(op); err != nil {
		return err
	}
	if d < 0 {
		return opErr(op, unix.EINVAL)
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	t := Infinity
	if d != Infinity {
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
	return nil
}

// TimeAccuracy returns the accuracy (sd_event_source_get_time_accuracy).
func (s *Source) TimeAccuracy() (time.Duration, error) {
	if err := s.timeOnly("time accuracy"); err != nil {
		return 0, err
	}
	return s.time.accuracy, nil
}

// SetTimeAccuracy sets how late the source may run to share a wake-up
// (sd_event_source_set_time_accuracy); 0 means 250ms, Infinity is EINVAL.
// It clears pending.
func (s *Source) SetTimeAccuracy(a time.Duration) error {
	const op = "set time accuracy"
	if s != nil && (a == Infinity || a < 0) {
		return opErr(op, unix.EINVAL) // checked before the kind, as in C
	}
	if err := s.timeOnly(op); err != nil {
		return err
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	e.setPending(s, false)
	if a == 0 {
		a = defaultAccuracy
	}
	s.time.accuracy = a
	e.timeReshuffle(s)
	return nil
}

// TimeClock returns the source's clock (sd_event_source_get_time_clock).
func (s *Source) TimeClock() (int, error) {
	if err := s.timeOnly("time clock"); err != nil {
		return -1, err
	}
	return clockIDs[typeClockIndex(s.kind())], nil
}
