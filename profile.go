//go:build linux

package sdevent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// Profiles of the loop: the histogram of iteration delays that sd-event
// keeps under SD_EVENT_PROFILE_DELAYS, and go-sdevent's own profile labels
// and trace regions by source.

// profileDelays is sd-event's profile_delays state (sd_event's
// last_run_usec, last_log_usec and delays[] fields): the log2 histogram of
// the time from one iteration's poll returning to the next iteration's
// start, written to the log every 5 s.
type profileDelays struct {
	on        bool
	announced bool          // the "profiling enabled" record was written
	lastRun   time.Duration // CLOCK_MONOTONIC when the last poll returned; 0: none yet
	lastLog   time.Duration // CLOCK_MONOTONIC of the last record; 0 at first, as in C
	delays    [64]uint32    // since the last record, as C's unsigned delays[]
	total     [64]uint64    // since profiling began, for Snapshot
}

// profileDelaysPeriod is how often the histogram is written, as in
// sd_event_run.
const profileDelaysPeriod = 5 * time.Second

// profileDelaysStderr is where the histogram goes when the loop has no
// logger; a variable so that the test can read what is written.
var profileDelaysStderr io.Writer = os.Stderr

// profileDelaysFromEnv switches profiling on when SD_EVENT_PROFILE_DELAYS
// is set, as sd_event_new does, read as its secure_getenv. C takes any
// value, "" too; here "" counts as unset, as for systemd's other variables
// (environ.go: "VAR=" is how Go code clears one).
func (e *Event) profileDelaysFromEnv() {
	if v, ok := secureLookupEnv("SD_EVENT_PROFILE_DELAYS"); ok && v != "" {
		e.observe().delays.on = true
	}
}

// SetProfileDelays switches on or off what SD_EVENT_PROFILE_DELAYS switches
// on in sd-event (which New reads, as sd_event_new does): Run, and so Loop,
// counts the time from one iteration's poll to the next iteration's start
// in a histogram of powers of two of microseconds, and every 5 s writes it
// as sd_event_run does, then starts it afresh. The record goes to the
// loop's logger at slog.LevelDebug, message "event loop iterations", the 64
// counts in "delays"; with no logger (SetLogger) it is written to standard
// error as C's line, "Event loop iterations: 0 3 ...". Snapshot has the
// counts since profiling began. Prepare, Wait and Dispatch called one by
// one count nothing, as in C. Each Run reads CLOCK_MONOTONIC twice.
//
// Unlike C, which logs at sd_event_new that profiling is on, the loop
// writes that record at the first Run, when its logger is set; and whereas
// libsystemd.so compiles its debug records out (its delay records are
// seen only from systemd's own programs), the loop writes them.
func (e *Event) SetProfileDelays(on bool) error {
	if !e.valid() {
		return opErr("set profile delays", unix.EINVAL)
	}
	if on {
		if o := e.observe(); !o.delays.on {
			o.delays = profileDelays{on: true}
		}
		return nil
	}
	if e.obs != nil {
		e.obs.delays = profileDelays{}
		e.unobserve()
	}
	return nil
}

// ProfileDelays reports whether the delay histogram is kept.
func (e *Event) ProfileDelays() bool { return e != nil && e.obs != nil && e.obs.delays.on }

// profilingDelays reports whether Run counts iteration delays.
func (e *Event) profilingDelays() bool { return e.obs != nil && e.obs.delays.on }

// delayRunStart is the start of a Run under profiling, as sd_event_run's:
// the time since the last poll returned goes into the histogram, which is
// written when 5 s passed since it last was.
func (e *Event) delayRunStart() {
	p := &e.obs.delays
	if !p.announced {
		p.announced = true
		e.writeProfile("event loop profiling enabled",
			"Event loop profiling enabled. Logarithmic histogram of event loop iterations in the range 2^0 ... 2^63 us will be logged every 5s.")
	}
	if p.lastRun == 0 {
		return
	}
	now := sys.Monotonic()
	l := delayBucket(now - p.lastRun)
	p.delays[l]++
	p.total[l]++
	if now-p.lastLog >= profileDelaysPeriod {
		e.logDelays(p)
		p.lastLog = now
	}
}

// delayRunPolled notes when the poll of a Run returned (sd_event_run's
// last_run_usec).
func (e *Event) delayRunPolled() { e.obs.delays.lastRun = sys.Monotonic() }

// delayBucket is log2 of d in whole microseconds, 0 for 0 and 1 µs, as
// sd-event's log2u64.
func delayBucket(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us <= 1 {
		return 0
	}
	return bits.Len64(us) - 1
}

// logDelays writes the histogram and starts it afresh, as sd-event's
// event_log_delays.
func (e *Event) logDelays(p *profileDelays) {
	if e.logger != nil && !e.debugOn() {
		p.delays = [64]uint32{} // nobody reads it: no line made
		return
	}
	var b strings.Builder
	for i, n := range p.delays {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	p.delays = [64]uint32{}
	// C's line ends each count with a space.
	e.writeProfile("event loop iterations", "Event loop iterations: "+b.String()+" ", slog.String("delays", b.String()))
}

// writeProfile writes a profiling record: to the logger at debug level,
// or, when the loop has none, C's line to standard error.
func (e *Event) writeProfile(msg, line string, attrs ...slog.Attr) {
	if e.logger == nil {
		_, _ = fmt.Fprintln(profileDelaysStderr, line) // as C's log to the console, nobody to tell of a failed write
		return
	}
	if e.debugOn() {
		e.logLoop(msg, attrs...)
	}
}

// SetProfileLabels makes each dispatch of a source run under pprof labels
// naming it, "sdevent_source" (its description, "" when it has none) and
// "sdevent_kind" (sd-event's name of its kind), added to those of base,
// and inside a runtime/trace region of type "sdevent <kind> <description>"
// in base's trace task. Then a CPU profile splits the handlers' time by
// source (go tool pprof -tagfocus sdevent_source=NAME), and go tool trace
// shows each dispatch on the loop's goroutine. After each handler the
// goroutine's labels are set to base's; a nil base is
// context.Background(). Switched off, the loop leaves the goroutine's labels
// alone. It is go-sdevent's own, and like the statistics it reads the clock
// twice per dispatch; the labels of a source are made once per
// description, so steady dispatches allocate nothing unless a trace is
// being recorded.
func (e *Event) SetProfileLabels(base context.Context, on bool) error {
	if !e.valid() {
		return opErr("set profile labels", unix.EINVAL)
	}
	if base == nil {
		base = context.Background()
	}
	if on {
		o := e.observe()
		o.labels, o.base = true, base
		for s := e.sources; s != nil; s = s.next {
			if o := s.observed(); o != nil {
				o.labelled = false // made anew from the new base
			}
		}
		return nil
	}
	if e.obs != nil {
		e.obs.labels, e.obs.base = false, context.Background()
		e.unobserve()
	}
	return nil
}

// ProfileLabels reports whether SetProfileLabels switched labels on.
func (e *Event) ProfileLabels() bool { return e != nil && e.obs != nil && e.obs.labels }

// runLabelled runs the handler of s under its labels and trace region; a
// panicking handler leaves the goroutine with base's labels too.
func (e *Event) runLabelled(s *Source, o *sourceObs) error {
	desc := s.descriptionOrEmpty()
	base := e.obs.base
	if !o.labelled || o.labelDesc != desc {
		kind := s.kind().String()
		o.ctx = pprof.WithLabels(base, pprof.Labels("sdevent_source", desc, "sdevent_kind", kind))
		o.region = "sdevent " + kind + " " + desc
		o.labelDesc, o.labelled = desc, true
	}
	pprof.SetGoroutineLabels(o.ctx)
	region := trace.StartRegion(o.ctx, o.region)
	defer func() {
		region.End()
		pprof.SetGoroutineLabels(base)
	}()
	return e.runHandler(s)
}
