//go:build linux

package sdevent

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// tagWatchdog is the epoll user data of the watchdog's timerfd.
const tagWatchdog = tagSignal + 1

// watchdog is the state of the service watchdog pings.
type watchdogState struct {
	fd     int
	period time.Duration
	last   time.Duration // CLOCK_MONOTONIC of the last ping
}

// SetWatchdog makes the loop keep systemd's service watchdog fed
// (sd_event_set_watchdog). Turned on, it reads WATCHDOG_USEC and
// WATCHDOG_PID (through go-systemd's daemon package): when systemd asked
// for no watchdog, or for one of another process, it reports false and no
// error. Otherwise it sends WATCHDOG=1 at once, and from then on after
// every poll that comes at least a quarter period after the previous ping
// (so at most every period/4 while busy), and, while idle, from a timer of
// its own that fires within [1/2, 3/4] of the period after the last ping,
// aligned like other timers. It reports whether the watchdog is on.
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
	period, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return false, opErr(op, fmt.Errorf("%w: %w", err, unix.EINVAL))
	}
	if period <= 0 {
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
	return true, nil
}

// Watchdog reports whether the loop pings the service watchdog
// (sd_event_get_watchdog).
func (e *Event) Watchdog() bool { return e != nil && e.watchdog }

// pingWatchdog sends WATCHDOG=1 and arms the idle timer for the next one.
// A ping that cannot be sent is not the loop's failure (sd-event ignores it
// too): the manager will act on the missing ping.
func (e *Event) pingWatchdog(now time.Duration) error {
	daemon.SdNotify(false, daemon.SdNotifyWatchdog)
	e.wd.last = now
	t := sleepBetween(now+e.wd.period/2, now+e.wd.period*3/4)
	return sys.SetTimer(e.wd.fd, t)
}

// processWatchdog pings after a poll when a quarter period has passed since
// the last ping.
func (e *Event) processWatchdog() error {
	if !e.watchdog {
		return nil
	}
	if now := e.timestamp(clockMonotonic); e.wd.last+e.wd.period/4 <= now {
		return e.pingWatchdog(now)
	}
	return nil
}

func (e *Event) closeWatchdog() {
	if e.wd.fd >= 0 {
		unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, e.wd.fd, nil)
		sys.Close(e.wd.fd)
	}
	e.wd = watchdogState{fd: -1}
	e.watchdog = false
}
