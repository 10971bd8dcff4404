//go:build linux

package sdevent

import (
	"time"

	"github.com/go-sdevent/sdevent/source"
)

// The dispatch order, stated once: the comparison functions of the loop's
// priority queues, as sd-event's pending_prioq_compare and its siblings.
// The fields they read sit together at the start of Source.

// pendingBefore is the order in which pending sources are dispatched:
// enabled before off, not rate-limited before rate-limited, lower priority
// value first, then the one that became pending first. A defer source,
// which stays pending, counts as pending anew from each dispatch (see
// dispatch), so that sources of one priority take turns.
func pendingBefore(x, y *Source) bool {
	if xo, yo := x.enabled == source.Off, y.enabled == source.Off; xo != yo {
		return yo
	}
	if x.ratelimited != y.ratelimited {
		return y.ratelimited
	}
	if x.priority != y.priority {
		return x.priority < y.priority
	}
	// sd-event compares the iterations in which the two became pending and
	// leaves sources of one iteration to its heap; the sequence orders them
	// too, the first to become pending first.
	return x.pendingSeq < y.pendingSeq
}

// prepareBefore orders prepare callbacks: enabled, not rate-limited,
// prepared longest ago, then by priority.
func prepareBefore(x, y *Source) bool {
	if xo, yo := x.enabled == source.Off, y.enabled == source.Off; xo != yo {
		return yo
	}
	if x.ratelimited != y.ratelimited {
		return y.ratelimited
	}
	if x.prepareIter != y.prepareIter {
		return x.prepareIter < y.prepareIter
	}
	if x.priority != y.priority {
		return x.priority < y.priority
	}
	return x.serial < y.serial
}

// exitBefore orders exit sources: enabled first, then by priority, then by
// age.
func exitBefore(x, y *Source) bool {
	if xo, yo := x.enabled == source.Off, y.enabled == source.Off; xo != yo {
		return yo
	}
	if x.priority != y.priority {
		return x.priority < y.priority
	}
	return x.serial < y.serial
}

// timerCandidate: a source worth looking at when its time comes, because it
// is not pending yet or its rate limit may end.
func (s *Source) timerCandidate() bool { return !s.pending || s.ratelimited }

func timeBefore(x, y *Source, xt, yt time.Duration) bool {
	if xo, yo := x.enabled == source.Off, y.enabled == source.Off; xo != yo {
		return yo
	}
	if xc, yc := x.timerCandidate(), y.timerCandidate(); xc != yc {
		return xc
	}
	return xt < yt
}

func earliestBefore(x, y *Source) bool { return timeBefore(x, y, x.timeNext(), y.timeNext()) }

func latestBefore(x, y *Source) bool { return timeBefore(x, y, x.timeLatest(), y.timeLatest()) }
