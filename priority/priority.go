// Package priority holds the priority type of event sources and its named
// levels, mirroring SD_EVENT_PRIORITY_IMPORTANT, _NORMAL and _IDLE of sd-event.
//
// Priorities are ordered numerically: a lower value is dispatched first. Any
// int64 is a valid priority; the named levels are conventions.
package priority

import "strconv"

// Priority orders pending sources: among pending sources the one with the
// lowest value is dispatched first.
type Priority int64

// The named levels of sd-event.
const (
	Important Priority = -100 // SD_EVENT_PRIORITY_IMPORTANT
	Normal    Priority = 0    // SD_EVENT_PRIORITY_NORMAL
	Idle      Priority = 100  // SD_EVENT_PRIORITY_IDLE
)

// String returns the level's name for the named levels, else the number,
// as "normal+5" for values near a named level would be ambiguous.
func (p Priority) String() string {
	switch p {
	case Important:
		return "important"
	case Normal:
		return "normal"
	case Idle:
		return "idle"
	}
	return strconv.FormatInt(int64(p), 10)
}
