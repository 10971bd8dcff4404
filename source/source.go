// Package source holds the vocabulary of an event source that needs no
// loop: its enablement and its kind. It makes no system calls.
package source

import "strconv"

// Enabled is the enablement of a source, mirroring SD_EVENT_OFF, SD_EVENT_ON
// and SD_EVENT_ONESHOT with their C values.
type Enabled int

// The enablement states of sd-event.
const (
	Off     Enabled = 0  // SD_EVENT_OFF: never dispatched, not registered with the kernel
	On      Enabled = 1  // SD_EVENT_ON: dispatched whenever it is pending
	OneShot Enabled = -1 // SD_EVENT_ONESHOT: switched to Off just before its handler runs
)

// String returns "off", "on" or "oneshot".
func (m Enabled) String() string {
	switch m {
	case Off:
		return "off"
	case On:
		return "on"
	case OneShot:
		return "oneshot"
	}
	return "Enabled(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is one of Off, On and OneShot.
func (m Enabled) Valid() bool { return m == Off || m == On || m == OneShot }

// Type is the kind of a source, with the names sd-event uses in its logs
// ("io", "monotonic", "signal", ...).
type Type int

// The kinds of source, in the order of sd-event's EventSourceType.
const (
	IO Type = iota
	TimeRealtime
	TimeBoottime
	TimeMonotonic
	TimeRealtimeAlarm
	TimeBoottimeAlarm
	Signal
	Child
	Defer
	Post
	Exit
	Watchdog
	Inotify
	MemoryPressure
	CPUPressure
	IOPressure
)

var typeNames = [...]string{
	IO:                "io",
	TimeRealtime:      "realtime",
	TimeBoottime:      "boottime",
	TimeMonotonic:     "monotonic",
	TimeRealtimeAlarm: "realtime-alarm",
	TimeBoottimeAlarm: "boottime-alarm",
	Signal:            "signal",
	Child:             "child",
	Defer:             "defer",
	Post:              "post",
	Exit:              "exit",
	Watchdog:          "watchdog",
	Inotify:           "inotify",
	MemoryPressure:    "memory-pressure",
	CPUPressure:       "cpu-pressure",
	IOPressure:        "io-pressure",
}

// String returns sd-event's name of the kind.
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// IsTime reports whether t is one of the five time kinds.
func (t Type) IsTime() bool { return t >= TimeRealtime && t <= TimeBoottimeAlarm }

// CanRatelimit reports whether sources of kind t accept a rate limit: child,
// post, exit and watchdog sources do not.
func (t Type) CanRatelimit() bool {
	switch t {
	case IO, TimeRealtime, TimeBoottime, TimeMonotonic, TimeRealtimeAlarm, TimeBoottimeAlarm,
		Signal, Defer, Inotify, MemoryPressure, CPUPressure, IOPressure:
		return true
	}
	return false
}
