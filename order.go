//go:build linux

package sdevent

import (
	"time"

	"github.com/go-sdevent/sdevent/source"
)

// The dispatch order, stated once: the comparison functions of the loop's
// priority queues, as sd-event's pending_prioq_compare and its siblings.
// The fields they read sit together at the start of Source.

// pendingBefore is the order in which pending sources are dispatched, as
// sd-event's pending_prioq_compare: enabled before off, not rate-limited
// before rate-limited, lower priority value first, then the one pending
// since the earliest iteration (defer and exit sources, always pending,
// count from their latest dispatch). Nothing else: equal sources go in the
// order the queue holds them, and since internal/prioq moves its elements
// exactly as sd-event's prioq does, and the loop puts, removes and
// reshuffles where sd-event does, that is libsystemd's order.
func pendingBefore(x, y *Source) bool {
	if xo, yo := x.enabled() == source.Off, y.enabled() == source.Off; xo != yo {
		return yo
	}
	if x.ratelimited != y.ratelimited {
		return y.ratelimited
	}
	if x.priority != y.priority {
		return x.priority < y.priority
	}
	return x.pendingIter < y.pendingIter
}

// prepareBefore orders prepare callbacks as sd-event's
// prepare_prioq_compare: enabled, not rate-limited, prepared longest ago,
// then by priority; ties as the queue holds them, as for pendingBefore.
func prepareBefore(x, y *Source) bool {
	if xo, yo := x.enabled() == source.Off, y.enabled() == source.Off; xo != yo {
		return yo
	}
	if x.ratelimited != y.ratelimited {
		return y.ratelimited
	}
	// Sources in the prepare queue have a prepare callback, so an extra part.
	if x.extra.prepareIter != y.extra.prepareIter {
		return x.extra.prepareIter < y.extra.prepareIter
	}
	return x.priority < y.priority
}

// exitBefore orders exit sources as sd-event's exit_prioq_compare: enabled
// first, then by priority; ties as the queue holds them, as for
// pendingBefore.
func exitBefore(x, y *Source) bool {
	if xo, yo := x.enabled() == source.Off, y.enabled() == source.Off; xo != yo {
		return yo
	}
	return x.priority < y.priority
}

// timerCandidate: a source worth looking at when its time comes, because it
// is not pending yet or its rate limit may end.
func (s *Source) timerCandidate() bool { return !s.pending || s.ratelimited }

func timeBefore(x, y *Source, xt, yt time.Duration) bool {
	if xo, yo := x.enabled() == source.Off, y.enabled() == source.Off; xo != yo {
		return yo
	}
	if xc, yc := x.timerCandidate(), y.timerCandidate(); xc != yc {
		return xc
	}
	return xt < yt
}

func earliestBefore(x, y *Source) bool { return timeBefore(x, y, x.timeNext(), y.timeNext()) }

func latestBefore(x, y *Source) bool { return timeBefore(x, y, x.timeLatest(), y.timeLatest()) }
