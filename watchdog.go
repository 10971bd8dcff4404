//go:build linux

package sdevent

import (
	"os"
	"strconv"
)

// watchdogRequested reports whether systemd asked this process for watchdog
// pings: WATCHDOG_USEC is set and WATCHDOG_PID, if set, names this process.
func watchdogRequested() bool {
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec == 0 {
		return false
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return false
		}
	}
	return true
}

// AddMemoryPressure watches the memory pressure of the service's cgroup
// (sd_event_add_memory_pressure). Not built yet: EOPNOTSUPP.
func (e *Event) AddMemoryPressure(h Handler) (*Source, error) {
	return nil, errNotYet("add memory pressure")
}
