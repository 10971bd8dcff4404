//go:build linux

package sdevent

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// AddMemoryPressure calls h when the service is under memory pressure, read
// from the kernel's pressure stall information (sd_event_add_memory_pressure,
// systemd 254+). What is watched: $MEMORY_PRESSURE_WATCH (a PSI file, FIFO,
// character device or AF_UNIX socket) with the trigger in
// $MEMORY_PRESSURE_WRITE (base64), as systemd sets them for units with
// MemoryPressureWatch=; else the cgroup's memory.pressure (cgroup v2); else
// /proc/pressure/memory. The default trigger is "some 200ms per 2s"; change it
// before the first iteration with SetMemoryPressureType and
// SetMemoryPressurePeriod. A nil h releases memory to the system
// (debug.FreeOSMemory, the analogue of sd_event_trim_memory) and tells the
// loop's logger (SetLogger) how long that took and how much it gave back,
// as C logs it. The source starts On. Errors: $MEMORY_PRESSURE_WATCH empty or /dev/null EHOSTDOWN
// (explicitly off); not an absolute, normalized path EBADMSG; no PSI in the
// kernel EOPNOTSUPP; a regular file outside procfs and cgroupfs ENOTTY; a
// directory EISDIR. As in C, a PSI file named by $MEMORY_PRESSURE_WATCH
// without $MEMORY_PRESSURE_WRITE gets no trigger, and the kernel reports a
// PSI file without a trigger as always ready: the source then fires at
// every iteration. As C reads the variables with secure_getenv, a
// set-user-ID or set-group-ID program ignores them.
func (e *Event) AddMemoryPressure(h Handler) (*Source, error) {
	if h == nil {
		h = trimMemory
	}
	return e.addPressure("add memory pressure", memoryPressure, h)
}

// SetMemoryPressureType sets the pressure kind of the trigger, "some" or
// "full" (sd_event_source_set_memory_pressure_type). It reports whether it
// changed anything. Once the trigger was written, or when what is watched
// came from $MEMORY_PRESSURE_WATCH (with or without $MEMORY_PRESSURE_WRITE),
// it gives EBUSY; on a source that is not a memory pressure source, EDOM.
func (s *Source) SetMemoryPressureType(ty string) (bool, error) {
	return s.setPressureType("set memory pressure type", memoryPressure.kind, ty)
}

// SetMemoryPressurePeriod sets the trigger's threshold: pressure of
// threshold within window (sd_event_source_set_memory_pressure_period). Both
// must be at least a microsecond and the window below Infinity (ERANGE), and
// threshold <= window (EINVAL); EBUSY and EDOM as SetMemoryPressureType. It
// reports whether it changed anything.
func (s *Source) SetMemoryPressurePeriod(threshold, window time.Duration) (bool, error) {
	return s.setPressurePeriod("set memory pressure period", memoryPressure.kind, threshold, window)
}

// trimMemory is the default handler of memory pressure sources, the
// analogue of sd_event_trim_memory: it returns what memory it can to the
// system and, as C, logs what that took and gave back.
func trimMemory(s *Source) error {
	e := s.e
	if e == nil || !e.debugOn() {
		debug.FreeOSMemory()
		return nil
	}
	before := heapReleased()
	start := sys.Monotonic()
	debug.FreeOSMemory()
	took := sys.Monotonic() - start
	var released uint64
	if after := heapReleased(); after > before {
		released = after - before
	}
	e.logSource("memory pressure, released memory to the system", s, nil,
		slog.Duration("took", took), slog.Uint64("released_bytes", released))
	return nil
}

// heapReleased is how much of the heap the Go runtime has returned to the
// system.
func heapReleased() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
