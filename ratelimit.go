//go:build linux

package sdevent

import (
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// ratelimit allows at most burst dispatches in each window of interval, a
// window beginning with the first dispatch after the previous one ended.
type ratelimit struct {
	interval time.Duration
	burst    uint
	begin    time.Duration
	num      uint
}

func (r *ratelimit) configured() bool { return r != nil && r.interval > 0 && r.burst > 0 }

// below counts a dispatch attempt on the live CLOCK_BOOTTIME, as sd-event
// 262 does (so that a window counts time the machine was suspended), and
// reports whether it is within the limit.
func (r *ratelimit) below() bool {
	if !r.configured() {
		return true
	}
	now, _ := sys.Now(unix.CLOCK_BOOTTIME) // cannot fail: CLOCK_BOOTTIME exists since Linux 2.6.39
	if r.begin <= 0 || now-r.begin > r.interval {
		r.begin, r.num = now, 1
		return true
	}
	if r.num < ^uint(0) {
		r.num++
	}
	return r.num <= r.burst
}

func (r *ratelimit) reset() {
	if r != nil {
		r.begin, r.num = 0, 0
	}
}

// end is when the current window closes.
func (r *ratelimit) end() time.Duration { return addSat(r.begin, r.interval) }

// SetRatelimit allows at most burst dispatches per interval
// (sd_event_source_set_ratelimit). A zero interval or burst means no limit,
// as in C: (0, 0) removes it. Setting it starts afresh, not rate-limited.
// Child, post and exit sources: EDOM; a negative interval: EINVAL.
func (s *Source) SetRatelimit(interval time.Duration, burst uint) error {
	const op = "set ratelimit"
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if !s.kind().CanRatelimit() {
		return opErr(op, unix.EDOM)
	}
	if interval < 0 {
		return opErr(op, unix.EINVAL)
	}
	if s.e == nil {
		return opErr(op, unix.ESTALE)
	}
	if _, err := s.e.leaveRatelimit(s, false); err != nil {
		return opErr(op, err)
	}
	s.ext().rl = ratelimit{interval: interval, burst: burst} // out of line: most sources never have one
	return nil
}

// Ratelimit returns the rate limit (sd_event_source_get_ratelimit); ENOEXEC
// when none is set, EDOM for kinds that take none.
func (s *Source) Ratelimit() (interval time.Duration, burst uint, err error) {
	const op = "ratelimit"
	if s == nil {
		return 0, 0, opErr(op, unix.EINVAL)
	}
	if !s.kind().CanRatelimit() {
		return 0, 0, opErr(op, unix.EDOM)
	}
	rl := s.rl()
	if !rl.configured() {
		return 0, 0, opErr(op, unix.ENOEXEC)
	}
	return rl.interval, rl.burst, nil
}

// IsRatelimited reports whether the source is held back by its rate limit
// (sd_event_source_is_ratelimited).
func (s *Source) IsRatelimited() bool {
	return s != nil && s.kind().CanRatelimit() && s.rl().configured() && s.ratelimited
}

// SetRatelimitExpireCallback sets a callback run when the source leaves its
// rate limit because the window ended
// (sd_event_source_set_ratelimit_expire_callback). As in C, any kind of
// source takes one, though only those that can be rate-limited run it.
func (s *Source) SetRatelimitExpireCallback(h Handler) error {
	if s == nil {
		return opErr("set ratelimit expire callback", unix.EINVAL)
	}
	if h != nil || s.extra != nil {
		s.ext().expireFn = h
	}
	return nil
}

// LeaveRatelimit ends the rate-limited state early, without calling the
// expire callback, and reports whether the source was rate-limited
// (sd_event_source_leave_ratelimit).
func (s *Source) LeaveRatelimit() (bool, error) {
	const op = "leave ratelimit"
	if s == nil {
		return false, opErr(op, unix.EINVAL)
	}
	if !s.kind().CanRatelimit() || !s.rl().configured() || !s.ratelimited || s.e == nil {
		return false, nil
	}
	if _, err := s.e.leaveRatelimit(s, false); err != nil {
		return false, opErr(op, err)
	}
	return true, nil
}

// enterRatelimited takes the source offline until its window ends, keeping
// its enablement and pending state; the end of the window is watched like a
// CLOCK_BOOTTIME timer, as in sd-event 262, whose timerfd is made the first
// time a source is held back.
func (e *Event) enterRatelimited(s *Source) error {
	if s.ratelimited {
		return nil
	}
	boot := &e.clocks[clockRatelimit]
	if err := e.setupClock(boot); err != nil {
		return err
	}
	if s.kind().IsTime() {
		e.timeRemove(s)
	}
	e.timePut(s, clockRatelimit)
	e.offline(s, s.enabled(), true)
	e.ppReshuffle(s)
	if e.debugOn() {
		// As event_source_enter_ratelimited.
		e.logSource("event source entered rate limit", s, nil,
			slog.Duration("interval", s.rl().interval), slog.Uint64("burst", uint64(s.rl().burst)))
	}
	return nil
}

// leaveRatelimit brings the source back online; with runCallback (the
// window ended) it calls the expire callback and reports that it did.
func (e *Event) leaveRatelimit(s *Source, runCallback bool) (bool, error) {
	if !s.ratelimited {
		return false, nil
	}
	e.timeRemove(s)
	if s.kind().IsTime() {
		e.timePut(s, typeClockIndex(s.kind()))
	}
	if err := e.online(s, s.enabled(), false); err != nil {
		// Stay rate-limited; the next iteration may do better.
		if s.kind().IsTime() {
			e.timeRemove(s)
		}
		e.timePut(s, clockRatelimit)
		return false, err
	}
	e.ppReshuffle(s)
	s.rl().reset()
	if e.debugOn() {
		// As event_source_leave_ratelimit, also when called to end it early.
		e.logSource("event source left rate limit", s, nil)
	}
	if !runCallback || s.extra.expireFn == nil {
		return false, nil
	}
	e.afterCallback(s, callbackExpire, e.runCallback(s, callbackExpire, s.extra.expireFn))
	return true, nil
}
