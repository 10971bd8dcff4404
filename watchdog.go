//go:build linux

package sdevent

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// watchdogState is the state of the service watchdog pings.
type watchdogState struct {
	fd     int
	period time.Duration
	last   time.Duration // CLOCK_MONOTONIC of the last ping
}

// SetWatchdog makes the loop keep systemd's service watchdog fed
// (sd_event_set_watchdog). Turned on, it reads WATCHDOG_USEC and
// WATCHDOG_PID as sd_watchdog_enabled does: when systemd asked for no
// watchdog, or for one of another process, it reports false and no error;
// a value sd_watchdog_enabled refuses is an error wrapping its errno
// (EINVAL, ERANGE). A period longer than a time.Duration holds (292 years)
// is taken as the longest one. Otherwise it sends WATCHDOG=1 at once, and from then on after
// every poll that comes at least a quarter period after the previous ping
// (so at most every period/4 while busy), and, while idle, from a timer of
// its own that fires within [1/2, 3/4] of the period after the last ping,
// aligned like other timers. It reports whether the watchdog is on. The
// loop's logger (SetLogger) gets a debug record when the watchdog is turned
// on, when systemd asked for none, and for each ping that cannot be sent.
func (e *Event) SetWatchdog(on bool) (bool, error) {
	const op = "set watchdog"
	if !e.valid() {
		return false, opErr(op, unix.EINVAL)
	}
	if e.watchdog == on {
		return on, nil
	}
	if !on {
		e.closeWatchdog()
		return false, nil
	}
	if e.state == Finished {
		return false, opErr(op, unix.ESTALE)
	}
	period, err := watchdogPeriod()
	if err != nil {
		return false, opErr(op, err)
	}
	if period == 0 {
		if e.debugOn() {
			e.logLoop("watchdog not requested by the service manager")
		}
		return false, nil
	}
	fd, err := sys.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if fd, err = e.pollNew(fd, err, "timerfd", tagWatchdog); err != nil {
		return false, opErr(op, err)
	}
	e.wd = watchdogState{fd: fd, period: period}
	e.watchdog = true
	if err := e.pingWatchdog(sys.Monotonic()); err != nil {
		e.closeWatchdog()
		return false, opErr(op, err)
	}
	if e.debugOn() {
		e.logLoop("watchdog enabled", slog.Duration("period", period))
	}
	return true, nil
}

// Watchdog reports whether the loop pings the service watchdog
// (sd_event_get_watchdog).
func (e *Event) Watchdog() bool { return e != nil && e.watchdog }

// watchdogPeriod is sd_watchdog_enabled(false) of libsystemd 252: 0 when
// WATCHDOG_USEC is unset or WATCHDOG_PID names another process; WATCHDOG_USEC
// is parsed first, as an unsigned number that is neither 0 nor 2^64-1
// (USEC_INFINITY), then WATCHDOG_PID as a pid. The period saturates at
// Infinity instead of overflowing (2^63 µs and more would otherwise wrap
// into a tiny or negative period).
func watchdogPeriod() (time.Duration, error) {
	s, ok := getenv("WATCHDOG_USEC")
	if !ok {
		return 0, nil
	}
	usec, err := parseUint64(s)
	if err == nil && (usec == 0 || usec == math.MaxUint64) {
		err = unix.EINVAL
	}
	if err != nil {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: %w", s, err)
	}
	if p, ok := getenv("WATCHDOG_PID"); ok {
		pid, err := parsePid(p)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: %w", p, err)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	if usec > uint64(Infinity/time.Microsecond) {
		return Infinity, nil
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// pingWatchdog sends WATCHDOG=1 and arms the idle timer for the next one.
// A ping that cannot be sent is not the loop's failure (sd-event ignores it
// too): the manager will act on the missing ping. Unlike sd-event, the
// loop's logger hears of it.
func (e *Event) pingWatchdog(now time.Duration) error {
	if _, err := notify("WATCHDOG=1"); err != nil && e.debugOn() {
		e.logLoop("watchdog ping failed", slog.Any("err", err))
	}
	e.wd.last = now
	// period/4*3, not period*3/4, which overflows for periods over 97 years.
	t := sleepBetween(addSat(now, e.wd.period/2), addSat(now, e.wd.period/4*3))
	return sys.SetTimer(e.wd.fd, t)
}

// processWatchdog pings after a poll when a quarter period has passed since
// the last ping.
func (e *Event) processWatchdog() error {
	if !e.watchdog {
		return nil
	}
	if now := e.timestamp(clockMonotonic); addSat(e.wd.last, e.wd.period/4) <= now {
		return e.pingWatchdog(now)
	}
	return nil
}

func (e *Event) closeWatchdog() {
	if e.wd.fd >= 0 {
		// The close removes it from the epoll anyway.
		_ = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, e.wd.fd, nil)
		_ = sys.Close(e.wd.fd)
	}
	e.wd = watchdogState{fd: -1}
	e.watchdog = false
}
