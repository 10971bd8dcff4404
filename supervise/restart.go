package supervise

import (
	"math"
	"time"
)

// Backoff returns the delay before the nth automatic restart (n >= 1) of
// a service with RestartSec=delay, RestartSteps=steps and
// RestartMaxDelaySec=maxDelay (Spec's RestartDelay, RestartSteps and
// RestartMaxDelay), as systemd 254 computes it
// (service_restart_usec_next): delay for the first restart, then growing
// geometrically, delay·(maxDelay/delay)^((n-1)/steps), so that the
// (steps+1)th and every later restart wait maxDelay. steps or maxDelay
// zero or sdevent.Infinity, or maxDelay not above delay: always delay.
//
// Like systemd it computes in whole microseconds and truncates. systemd
// does so in long double; a float64 result within 1e-12 (relative) of a
// whole microsecond is taken as that microsecond, so that both give the
// same table (1µs·10⁶^(1/3) is 100µs, not 99).
//
// The count n is the restarts since the last start asked for (Restart);
// systemd keeps it while the unit is up, so a service that ran a week
// before it failed still waits the longest delay once it got there.
func Backoff(delay, maxDelay time.Duration, steps, n int) time.Duration {
	r0 := float64(delay / time.Microsecond)
	if n <= 1 || steps <= 0 || r0 <= 0 || maxDelay <= delay || maxDelay == math.MaxInt64 {
		return delay
	}
	if n > steps {
		return maxDelay
	}
	rn := float64(maxDelay / time.Microsecond)
	v := r0 * math.Pow(rn/r0, float64(n-1)/float64(steps))
	if w := math.Round(v); math.Abs(v-w) < 1e-12*v {
		v = w
	}
	return time.Duration(v) * time.Microsecond
}

// startLimit is a unit's start rate limit (ratelimit_below in systemd's
// src/basic/ratelimit.c): a window opens at the first start after the
// previous window ended, and counts the starts in it.
type startLimit struct {
	interval time.Duration // 0: no limit
	burst    int
	begin    time.Duration // 0: no window yet
	num      int
}

// below counts a start at now and reports whether it is allowed.
func (l *startLimit) below(now time.Duration) bool {
	if l.interval <= 0 || l.burst <= 0 {
		return true
	}
	if l.begin <= 0 || now-l.begin > l.interval {
		l.begin, l.num = now, 1
		return true
	}
	l.num++
	return l.num <= l.burst
}

// reset forgets the window (systemctl reset-failed).
func (l *startLimit) reset() { l.begin, l.num = 0, 0 }
