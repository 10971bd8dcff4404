package sdevent

// The types of Event.Snapshot, in a file of its own without a build tag:
// they carry no kernel object, and the API off Linux has them too.

import (
	"time"

	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// Snapshot is what the loop tells about itself at one moment: see
// Event.Snapshot.
type Snapshot struct {
	Iteration     uint64             // Iteration
	Statistics    bool               // whether SetStatistics is on
	ProfileDelays bool               // whether the delay histogram is kept
	Sources       []SourceStatistics // every source of the loop, newest first
	// Delays is the histogram of SD_EVENT_PROFILE_DELAYS (SetProfileDelays),
	// counted since it was switched on: Delays[i] iterations began between
	// 2^i and 2^(i+1) µs after the previous one's poll returned (Delays[0]
	// also holds those under 1 µs).
	Delays [64]uint64
}

// SourceStatistics is one source's part of a Snapshot: what it is now, and
// since SetStatistics switched statistics on (or since the source was
// added, if later), what its dispatches did.
type SourceStatistics struct {
	Description string // "" when it has none
	Kind        source.Type
	Priority    priority.Priority
	Enabled     source.Enabled
	Ratelimited bool // in its rate limit now
	Pending     bool

	Dispatches     uint64        // handler calls
	Errors         uint64        // handler calls that returned an error
	HandlerTime    time.Duration // the handlers' time, summed
	LongestHandler time.Duration // the longest handler call
	// LastDispatch is when the last handler call began, on Clock: a time
	// source's own clock, else CLOCK_MONOTONIC; 0 before the first.
	LastDispatch time.Duration
	Clock        int
	// Lateness is, for a time source, how late its last dispatch began
	// against the time it was set to (the time its handler was given):
	// the accuracy's slack, the wait for handlers before it, a busy loop.
	// WorstLateness is the greatest so far. Both are 0 for other kinds.
	Lateness      time.Duration
	WorstLateness time.Duration
}
