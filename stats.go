//go:build linux

package sdevent

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// What the loop can tell about itself, all of it go-sdevent's own but the
// delay histogram of SD_EVENT_PROFILE_DELAYS (profile.go): per-source
// statistics, a report of slow handlers, and profiles by source. All of it
// is off by default; the loop then keeps e.obs nil and every source's
// record (sourceExtra.obs) nil, and the dispatch and prepare paths read no clock (hotpath_test.go),
// unless the watchdog is on and a logger set, for the half-period check.
// Each observed dispatch reads its clock twice, before and after the
// handler.

// observer is what of the loop's observation is switched on; e.obs is nil
// when nothing is.
type observer struct {
	stats  bool          // SetStatistics
	slow   time.Duration // SetSlowHandlerThreshold; 0: none
	delays profileDelays // SetProfileDelays, SD_EVENT_PROFILE_DELAYS
	labels bool          // SetProfileLabels
	base   context.Context
}

// off reports whether nothing is observed any more.
func (o *observer) off() bool {
	return !o.stats && o.slow == 0 && !o.delays.on && !o.labels
}

// sourceObs is what the loop keeps of one source while observing it:
// sourceExtra.obs, made at the source's first observed dispatch (with the
// source's extra part, if it had none: few sources are observed, so the
// pointer stays out of Source) and freed with the source, so that nothing
// outlives the sources it describes.
type sourceObs struct {
	dispatches uint64
	errors     uint64
	total      time.Duration
	longest    time.Duration
	last       time.Duration // start of the last dispatch, on the source's clock
	lateness   time.Duration // time sources: of the last dispatch
	worstLate  time.Duration

	// The profile labels and trace region of the source, made once per
	// description (profile.go).
	labelDesc string
	labelled  bool
	ctx       context.Context
	region    string
}

// observe returns the loop's observer, making it.
func (e *Event) observe() *observer {
	if e.obs == nil {
		e.obs = &observer{base: context.Background()}
	}
	return e.obs
}

// unobserve drops the observer and what it kept of every source once
// nothing is observed any more.
func (e *Event) unobserve() {
	if e.obs == nil || !e.obs.off() {
		return
	}
	e.obs = nil
	for s := e.sources; s != nil; s = s.next {
		if s.extra != nil {
			s.extra.obs = nil
		}
	}
}

// SetStatistics switches the per-source statistics on or off: from then on
// each dispatch of a source counts, with its handler's time and error, and
// for a time source how late it ran; Snapshot returns them. Switched off,
// the statistics gathered so far are dropped. It is go-sdevent's own;
// sd-event keeps no such statistics. A nil or zero loop: EINVAL.
//
// On, each dispatch reads the clock twice (CLOCK_MONOTONIC, or a time
// source's own clock) and allocates nothing but, once per source, the
// record it keeps (and the source's part for rarely set fields, if it had
// none); off, the loop reads no clock for it.
func (e *Event) SetStatistics(on bool) error {
	if !e.valid() {
		return opErr("set statistics", unix.EINVAL)
	}
	if on {
		e.observe().stats = true
		return nil
	}
	if e.obs != nil && e.obs.stats {
		e.obs.stats = false
		for s := e.sources; s != nil; s = s.next {
			if o := s.observed(); o != nil {
				*o = sourceObs{labelDesc: o.labelDesc, labelled: o.labelled, ctx: o.ctx, region: o.region}
			}
		}
		e.unobserve()
	}
	return nil
}

// Statistics reports whether SetStatistics switched statistics on.
func (e *Event) Statistics() bool { return e != nil && e.obs != nil && e.obs.stats }

// SetSlowHandlerThreshold makes the loop report every handler, prepare
// callback or rate limit expire callback that runs longer than d, with a
// record at slog.LevelWarn to the loop's logger (SetLogger) naming the
// source (description, kind, priority) and the duration; 0 switches it off,
// a negative d is EINVAL. It is go-sdevent's own.
//
// Independently of it, a loop whose watchdog is on (SetWatchdog) and which
// has a logger reports a callback that ran longer than half the watchdog
// period: the loop pings only between callbacks, so such a callback brings
// the service manager's watchdog close to firing. That record has the
// period as "watchdog_period". Either check reads the clock twice per
// dispatch.
func (e *Event) SetSlowHandlerThreshold(d time.Duration) error {
	if !e.valid() || d < 0 {
		return opErr("set slow handler threshold", unix.EINVAL)
	}
	if d > 0 {
		e.observe().slow = d
		return nil
	}
	if e.obs != nil {
		e.obs.slow = 0
		e.unobserve()
	}
	return nil
}

// SlowHandlerThreshold returns what SetSlowHandlerThreshold set, 0 for none.
func (e *Event) SlowHandlerThreshold() time.Duration {
	if e == nil || e.obs == nil {
		return 0
	}
	return e.obs.slow
}

// Snapshot returns the statistics of every live source of the loop and
// the histogram of iteration delays. Statistics of a freed source are gone
// with it. Call it on the loop's goroutine, from a handler or between
// iterations; another goroutine calls it through Invoke. It is
// go-sdevent's own. A nil or zero loop: EINVAL.
func (e *Event) Snapshot() (Snapshot, error) {
	if !e.valid() {
		return Snapshot{}, opErr("snapshot", unix.EINVAL)
	}
	snap := Snapshot{Iteration: e.iteration, Sources: make([]SourceStatistics, 0, e.nSources)}
	if o := e.obs; o != nil {
		snap.Statistics = o.stats
		snap.ProfileDelays = o.delays.on
		snap.Delays = o.delays.total
	}
	for s := e.sources; s != nil; s = s.next {
		snap.Sources = append(snap.Sources, s.statistics())
	}
	return snap, nil
}

// statistics is the source's record in a Snapshot.
func (s *Source) statistics() SourceStatistics {
	r := SourceStatistics{
		Kind: s.kind(), Priority: s.priority, Enabled: s.enabled(),
		Ratelimited: s.ratelimited, Pending: s.pending, Clock: unix.CLOCK_MONOTONIC,
	}
	r.Description = s.descriptionOrEmpty()
	if i := typeClockIndex(s.kind()); i >= 0 {
		r.Clock = clockIDs[i]
	}
	if o := s.observed(); o != nil {
		r.Dispatches, r.Errors = o.dispatches, o.errors
		r.HandlerTime, r.LongestHandler, r.LastDispatch = o.total, o.longest, o.last
		r.Lateness, r.WorstLateness = o.lateness, o.worstLate
	}
	return r
}

// observing reports whether dispatches are timed: something is observed,
// or the watchdog is on, whose half period bounds a handler's time, and
// there is a logger to report a slower one to.
func (e *Event) observing() bool { return e.obs != nil || (e.watchdog && e.logger != nil) }

// runHandlerObserved is runHandler with the observation that is on: the
// clock read before and after, the profile labels around the handler, then
// the statistics and the slow handler check. A time source's lateness is
// taken against the time its handler is given, read before the handler,
// which may set another.
func (e *Event) runHandlerObserved(s *Source) error {
	var o *sourceObs
	if e.obs != nil && (e.obs.stats || e.obs.labels) {
		o = e.sourceObs(s) // not for the watchdog's check alone
	}
	clock, fired := -1, time.Duration(0) // -1: CLOCK_MONOTONIC, read inline
	if s.kind().IsTime() {
		clock, fired = clockIDs[typeClockIndex(s.kind())], s.timeFired()
	}
	start := readClock(clock)
	var err error
	if o != nil && e.obs.labels {
		err = e.runLabelled(s, o)
	} else {
		err = e.runHandler(s)
	}
	d := max(readClock(clock)-start, 0) // REALTIME may step back
	if o != nil && e.obs != nil && e.obs.stats {
		o.dispatches++
		if err != nil {
			o.errors++
		}
		o.total += d
		o.longest = max(o.longest, d)
		o.last = start
		if fired != 0 { // 0 is "at once", with no lateness to speak of
			o.lateness = max(start-fired, 0)
			o.worstLate = max(o.worstLate, o.lateness)
		}
	}
	if e.slow(d) {
		e.reportSlow(s, callbackHandler, d)
	}
	return err
}

// readClock reads clock, CLOCK_MONOTONIC for -1 without sys.Now's switch:
// the common case of a dispatch timed for statistics.
func readClock(clock int) time.Duration {
	if clock < 0 {
		return sys.Monotonic()
	}
	t, _ := sys.Now(clock) // only unsupported clocks fail, and no source has one
	return t
}

// callbackObserved is callback, for a prepare or expire callback, timed
// for the slow handler check.
func (e *Event) callbackObserved(s *Source, cb callbackKind, fn Handler) error {
	start := sys.Monotonic()
	err := e.callback(s, fn)
	if d := sys.Monotonic() - start; e.slow(d) {
		e.reportSlow(s, cb, d)
	}
	return err
}

// sourceObs returns what the loop keeps of s, making it at the first
// observed dispatch.
func (e *Event) sourceObs(s *Source) *sourceObs {
	x := s.ext()
	if x.obs == nil {
		x.obs = &sourceObs{}
	}
	return x.obs
}

// slowMessages are the messages of the slow callback records, by kind of
// callback.
var slowMessages = [...]string{
	callbackHandler: "slow event source handler",
	callbackPrepare: "slow prepare callback",
	callbackExpire:  "slow rate limit expire callback",
}

// slow reports whether a callback that ran for d is to be reported: longer
// than the threshold or than half the watchdog period.
func (e *Event) slow(d time.Duration) bool {
	return (e.obs != nil && e.obs.slow > 0 && d > e.obs.slow) || (e.watchdog && d > e.wd.period/2)
}

// reportSlow writes the record of a callback of s that ran for d, which
// slow found too long.
func (e *Event) reportSlow(s *Source, cb callbackKind, d time.Duration) {
	var threshold time.Duration
	if e.obs != nil {
		threshold = e.obs.slow
	}
	overThreshold := threshold > 0 && d > threshold
	overWatchdog := e.watchdog && d > e.wd.period/2
	if e.logger == nil || !e.logger.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	attrs := []slog.Attr{slog.Duration("duration", d)}
	if overThreshold {
		attrs = append(attrs, slog.Duration("threshold", threshold))
	}
	if overWatchdog {
		attrs = append(attrs, slog.Duration("watchdog_period", e.wd.period))
	}
	e.logSourceAt(slog.LevelWarn, slowMessages[cb], s, nil, attrs...)
}

// descriptionOrEmpty is the source's description, "" when it has none.
func (s *Source) descriptionOrEmpty() string {
	if s.hasDesc {
		return s.description
	}
	return ""
}

// runCallback runs a prepare or rate limit expire callback, timed when
// dispatches are.
func (e *Event) runCallback(s *Source, cb callbackKind, fn Handler) error {
	if e.observing() {
		return e.callbackObserved(s, cb, fn)
	}
	return e.callback(s, fn)
}
