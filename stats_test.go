//go:build linux

package sdevent_test

// Tests of what the loop tells about itself (stats.go, profile.go): the
// per-source statistics of a Snapshot, the slow handler records, the
// profile labels and trace regions by source. All of it is go-sdevent's
// own but SD_EVENT_PROFILE_DELAYS (stats_internal_test.go).

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

func monotonic(t *testing.T) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// record returns the snapshot's record of the source described desc.
func record(t *testing.T, snap sdevent.Snapshot, desc string) (sdevent.SourceStatistics, bool) {
	t.Helper()
	for _, r := range snap.Sources {
		if r.Description == desc {
			return r, true
		}
	}
	return sdevent.SourceStatistics{}, false
}

func snapshot(t *testing.T, e *sdevent.Event) sdevent.Snapshot {
	t.Helper()
	snap, err := e.Snapshot()
	ok(t, "Snapshot", err)
	return snap
}

// TestStatisticsCounts: with statistics on, each dispatch of a real defer
// and a real IO source counts, with the handler errors, the handler time
// and the time of the last dispatch; dispatches before they were switched
// on do not, switching them off drops them, and a freed source leaves the
// snapshot. Every live source is listed, dispatched or not, with its
// description, kind, priority and enablement.
func TestStatisticsCounts(t *testing.T) {
	e := newLoop(t)
	if e.Statistics() {
		t.Fatal("statistics on in a new loop")
	}
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "describe defer", d.SetDescription("ticker"))
	ok(t, "enable defer", d.SetEnabled(source.On))
	ok(t, "prioritise defer", d.SetPriority(priority.Important))

	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	ok(t, "eventfd", err)
	t.Cleanup(func() { unix.Close(fd) })
	fail := errors.New("refused")
	io := keep(t)(e.AddIO(fd, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return fail }))
	ok(t, "describe io", io.SetDescription("reader"))
	idle := keep(t)(e.AddDefer(nil))
	ok(t, "describe idle", idle.SetDescription("never"))
	ok(t, "disable idle", idle.SetEnabled(source.Off))

	for range 3 { // not counted
		run(t, e, 0)
	}
	ok(t, "SetStatistics", e.SetStatistics(true))
	if !e.Statistics() {
		t.Fatal("Statistics() false after SetStatistics(true)")
	}
	before := monotonic(t)
	const n = 5
	for range n {
		run(t, e, 0)
	}
	after := monotonic(t)
	// The eventfd becomes readable; its handler fails at once, which
	// disables the source, so it runs once (priority Normal, after the
	// defer, which is always pending: it must be turned off first).
	if _, err := unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	ok(t, "disable defer", d.SetEnabled(source.Off))
	run(t, e, time.Second)

	snap := snapshot(t, e)
	if !snap.Statistics || snap.Iteration != e.Iteration() || len(snap.Sources) != 3 {
		t.Fatalf("snapshot: statistics %v, iteration %d (loop %d), %d sources, want true, equal, 3",
			snap.Statistics, snap.Iteration, e.Iteration(), len(snap.Sources))
	}
	r, found := record(t, snap, "ticker")
	if !found {
		t.Fatal("no record of the defer source")
	}
	if r.Kind != source.Defer || r.Priority != priority.Important || r.Enabled != source.Off || !r.Pending {
		t.Errorf("defer record: kind %v priority %v enabled %v pending %v", r.Kind, r.Priority, r.Enabled, r.Pending)
	}
	if r.Dispatches != n || r.Errors != 0 {
		t.Errorf("defer record: %d dispatches, %d errors, want %d, 0", r.Dispatches, r.Errors, n)
	}
	if r.Clock != unix.CLOCK_MONOTONIC || r.LastDispatch < before || r.LastDispatch > after {
		t.Errorf("defer record: last dispatch %v on clock %d, want within [%v, %v] on CLOCK_MONOTONIC", r.LastDispatch, r.Clock, before, after)
	}
	if r.LongestHandler <= 0 || r.LongestHandler > r.HandlerTime || r.HandlerTime > after-before {
		t.Errorf("defer record: longest %v, total %v, in a window of %v", r.LongestHandler, r.HandlerTime, after-before)
	}
	if r.Lateness != 0 || r.WorstLateness != 0 {
		t.Errorf("defer record: lateness %v, worst %v, want 0 for a defer source", r.Lateness, r.WorstLateness)
	}
	r, _ = record(t, snap, "reader")
	if r.Kind != source.IO || r.Dispatches != 1 || r.Errors != 1 || r.Enabled != source.Off {
		t.Errorf("IO record: kind %v, %d dispatches, %d errors, enabled %v; want io, 1, 1, off (disabled by its error)",
			r.Kind, r.Dispatches, r.Errors, r.Enabled)
	}
	r, _ = record(t, snap, "never")
	if r.Dispatches != 0 || r.LastDispatch != 0 || r.Enabled != source.Off {
		t.Errorf("never dispatched: %+v", r)
	}

	// A freed source leaves the snapshot.
	io.Unref()
	if _, found := record(t, snapshot(t, e), "reader"); found {
		t.Error("the freed IO source is still in the snapshot")
	}
	ok(t, "SetStatistics(false)", e.SetStatistics(false))
	snap = snapshot(t, e)
	if r, _ := record(t, snap, "ticker"); snap.Statistics || r.Dispatches != 0 {
		t.Errorf("statistics off: snapshot says on %v, defer has %d dispatches, want false, 0", snap.Statistics, r.Dispatches)
	}
}

// TestStatisticsLateness: a timer due while a handler of higher priority
// blocks the loop for d is dispatched at least d late, and the snapshot
// says so, also when the timer's handler sets it anew for later; the
// blocking handler's own time is at least d.
func TestStatisticsLateness(t *testing.T) {
	const d = 30 * time.Millisecond
	e := newLoop(t)
	ok(t, "SetStatistics", e.SetStatistics(true))
	var scheduled time.Duration
	timer := keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, 1, func(s *sdevent.Source, at time.Duration) error {
		return s.SetTime(at + time.Hour) // the lateness is against the time the handler was given
	}))
	ok(t, "describe timer", timer.SetDescription("late"))
	blocker := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		// Due now, with an accuracy of 1 ns: only the block makes it late.
		scheduled = monotonic(t)
		if err := timer.SetTime(scheduled); err != nil {
			return err
		}
		testutil.BlockFor(t, d)
		return nil
	}))
	ok(t, "describe blocker", blocker.SetDescription("blocker"))
	ok(t, "prioritise blocker", blocker.SetPriority(priority.Important))
	run(t, e, 0)           // the blocker
	run(t, e, time.Second) // the timer

	snap := snapshot(t, e)
	r, _ := record(t, snap, "late")
	if r.Dispatches != 1 || r.Kind != source.TimeMonotonic {
		t.Fatalf("timer record: %d dispatches, kind %v, want 1, monotonic", r.Dispatches, r.Kind)
	}
	if r.Lateness < d || r.WorstLateness != r.Lateness {
		t.Errorf("timer lateness %v, worst %v; want >= %v (the block) and equal", r.Lateness, r.WorstLateness, d)
	}
	if r.LastDispatch-scheduled != r.Lateness {
		t.Errorf("timer dispatched at %v, scheduled %v, lateness %v: not the difference", r.LastDispatch, scheduled, r.Lateness)
	}
	if b, _ := record(t, snap, "blocker"); b.LongestHandler < d || b.HandlerTime != b.LongestHandler {
		t.Errorf("blocker: longest handler %v, total %v; want >= %v, equal", b.LongestHandler, b.HandlerTime, d)
	}
}

// TestStatisticsSnapshotFromInvoke: another goroutine reads the snapshot
// through Invoke while the loop runs, as a daemon's status endpoint does;
// a handler reads it too, and sees its own dispatch not yet counted.
func TestStatisticsSnapshotFromInvoke(t *testing.T) {
	e := newLoop(t)
	ok(t, "SetStatistics", e.SetStatistics(true))
	n := 0
	var inHandler sdevent.Snapshot
	third := make(chan struct{})
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		if n++; n == 3 {
			var err error
			inHandler, err = e.Snapshot()
			close(third)
			return err
		}
		return nil
	}))
	ok(t, "enable", d.SetEnabled(source.On))
	got := make(chan sdevent.Snapshot, 1)
	invoked := make(chan error, 1)
	go func() {
		<-third
		invoked <- e.Invoke(func() {
			snap, err := e.Snapshot()
			if err == nil {
				got <- snap
			}
			_ = e.Exit(0)
		})
	}()
	loop(t, e)
	ok(t, "Invoke", <-invoked)
	close(got)
	snap, ready := <-got
	if !ready || len(snap.Sources) != 1 || snap.Sources[0].Kind != source.Defer || snap.Sources[0].Dispatches < 3 {
		t.Fatalf("snapshot through Invoke: %+v (received %v), want the defer source dispatched 3 times or more", snap, ready)
	}
	if len(inHandler.Sources) != 1 || inHandler.Sources[0].Dispatches != 2 {
		t.Errorf("snapshot in the third dispatch: %+v, want 2 dispatches counted", inHandler.Sources)
	}
}

// TestSlowHandler: a handler, or a prepare callback, that runs longer than
// the threshold is reported at warning level with the source's
// description, kind, priority and the time it took; a fast one is not.
func TestSlowHandler(t *testing.T) {
	const threshold, block = 5 * time.Millisecond, 20 * time.Millisecond
	e := newLoop(t)
	rec := logTo(e, slog.LevelWarn)
	wantErrno(t, "negative threshold", e.SetSlowHandlerThreshold(-1), unix.EINVAL)
	ok(t, "SetSlowHandlerThreshold", e.SetSlowHandlerThreshold(threshold))
	if got := e.SlowHandlerThreshold(); got != threshold {
		t.Fatalf("SlowHandlerThreshold() = %v", got)
	}
	slow := true
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		if slow {
			testutil.BlockFor(t, block)
		}
		return nil
	}))
	ok(t, "describe", s.SetDescription("sluggish"))
	ok(t, "prioritise", s.SetPriority(7))
	run(t, e, 0)
	slow = false
	ok(t, "enable", s.SetEnabled(source.OneShot))
	run(t, e, 0) // fast: no record
	ok(t, "enable", s.SetEnabled(source.OneShot))
	ok(t, "prepare", s.SetPrepare(func(*sdevent.Source) error { testutil.BlockFor(t, block); return nil }))
	run(t, e, 0)

	recs := rec.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(recs), recs)
	}
	for i, msg := range []string{"slow event source handler", "slow prepare callback"} {
		r := recs[i]
		if r.level != slog.LevelWarn || r.msg != msg {
			t.Errorf("record %d: %v %q, want WARN %q", i, r.level, r.msg, msg)
		}
		if r.attrs["source"].String() != "sluggish" || r.attrs["kind"].String() != "defer" || r.attrs["priority"].Int64() != 7 {
			t.Errorf("record %d names source %v kind %v priority %v", i, r.attrs["source"], r.attrs["kind"], r.attrs["priority"])
		}
		if d := r.attrs["duration"].Duration(); d < block {
			t.Errorf("record %d: duration %v, want >= %v", i, d, block)
		}
		if th := r.attrs["threshold"].Duration(); th != threshold {
			t.Errorf("record %d: threshold %v", i, th)
		}
	}
	ok(t, "threshold off", e.SetSlowHandlerThreshold(0))
	ok(t, "enable", s.SetEnabled(source.OneShot))
	run(t, e, 0)
	if n := len(rec.records()); n != 2 {
		t.Errorf("%d records with the threshold off, want still 2", n)
	}
}

// TestSlowExpireCallback: a rate limit expire callback slower than the
// threshold is reported too, with its own message.
func TestSlowExpireCallback(t *testing.T) {
	const threshold, block = 5 * time.Millisecond, 20 * time.Millisecond
	e := newLoop(t)
	rec := logTo(e, slog.LevelWarn)
	ok(t, "SetSlowHandlerThreshold", e.SetSlowHandlerThreshold(threshold))
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "describe", s.SetDescription("limited"))
	ok(t, "enable", s.SetEnabled(source.On))
	ok(t, "ratelimit", s.SetRatelimit(10*time.Millisecond, 1))
	expired := false
	ok(t, "expire callback", s.SetRatelimitExpireCallback(func(*sdevent.Source) error {
		expired = true
		testutil.BlockFor(t, block)
		return nil
	}))
	for i := 0; !expired; i++ { // one dispatch, the limit, the window's end
		if i == 10 {
			t.Fatal("the expire callback did not run")
		}
		run(t, e, 5*time.Second)
	}
	recs := rec.records()
	if len(recs) != 1 || recs[0].msg != "slow rate limit expire callback" ||
		recs[0].attrs["source"].String() != "limited" || recs[0].attrs["duration"].Duration() < block {
		t.Fatalf("records %+v, want one slow expire callback record of %q, %v or more", recs, "limited", block)
	}
}

// TestSlowHandlerWatchdog: with the watchdog on and no threshold, a handler
// that runs longer than half the watchdog period is reported.
func TestSlowHandlerWatchdog(t *testing.T) {
	m := testutil.NewManager(t)
	t.Setenv("NOTIFY_SOCKET", m.Path)
	const period = 40 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	e := newLoop(t)
	rec := logTo(e, slog.LevelWarn)
	if on, err := e.SetWatchdog(true); !on || err != nil {
		t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
	}
	t.Cleanup(func() { _, _ = e.SetWatchdog(false) })
	keep(t)(e.AddDefer(func(*sdevent.Source) error { testutil.BlockFor(t, period/2+5*time.Millisecond); return nil }))
	run(t, e, 0)
	recs := rec.records()
	if len(recs) != 1 || recs[0].msg != "slow event source handler" || recs[0].attrs["watchdog_period"].Duration() != period {
		t.Fatalf("records %+v, want one slow handler record with watchdog_period %v", recs, period)
	}
	if _, has := recs[0].attrs["threshold"]; has {
		t.Error("the record names a threshold, none was set")
	}
}

// goroutineLabels returns the goroutine profile at debug level 1, where
// each group of goroutines shows its pprof labels.
func goroutineLabels(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestProfileLabels: with profile labels on, the handler runs under labels
// naming its source and kind, on top of the base context's, read back from
// runtime/pprof's goroutine profile; after the handler the goroutine has
// base's labels again, and a runtime/trace being recorded holds the
// dispatch's region.
func TestProfileLabels(t *testing.T) {
	e := newLoop(t)
	base := pprof.WithLabels(context.Background(), pprof.Labels("daemon", "test"))
	ok(t, "SetProfileLabels", e.SetProfileLabels(base, true))
	if !e.ProfileLabels() {
		t.Fatal("ProfileLabels() false")
	}
	var inside string
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		inside = goroutineLabels(t)
		return nil
	}))
	ok(t, "describe", s.SetDescription("labelled"))

	var tr bytes.Buffer
	ok(t, "trace.Start", trace.Start(&tr))
	run(t, e, 0)
	trace.Stop()
	after := goroutineLabels(t)

	want := `"daemon":"test", "sdevent_kind":"defer", "sdevent_source":"labelled"`
	if !strings.Contains(inside, "# labels: {"+want+"}") {
		t.Errorf("goroutine profile during the handler has no labels {%s}:\n%s", want, inside)
	}
	if strings.Contains(after, "sdevent_source") || !strings.Contains(after, `# labels: {"daemon":"test"}`) {
		t.Errorf("goroutine profile after the handler, want base's labels only:\n%s", after)
	}
	if !bytes.Contains(tr.Bytes(), []byte("sdevent defer labelled")) {
		t.Error("the execution trace has no region \"sdevent defer labelled\"")
	}
	pprof.SetGoroutineLabels(context.Background())

	// Off: the handler runs under whatever labels the goroutine has.
	ok(t, "SetProfileLabels(false)", e.SetProfileLabels(context.Background(), false))
	ok(t, "enable", s.SetEnabled(source.OneShot))
	run(t, e, 0)
	if strings.Contains(inside, "sdevent_source") {
		t.Errorf("labels with profile labels off:\n%s", inside)
	}
}

// TestObserveBadLoop: the observation methods on a nil loop are EINVAL and
// change nothing.
func TestObserveBadLoop(t *testing.T) {
	testutil.Check(t)
	var e *sdevent.Event
	wantErrno(t, "SetStatistics", e.SetStatistics(true), unix.EINVAL)
	wantErrno(t, "SetSlowHandlerThreshold", e.SetSlowHandlerThreshold(time.Second), unix.EINVAL)
	wantErrno(t, "SetProfileDelays", e.SetProfileDelays(true), unix.EINVAL)
	wantErrno(t, "SetProfileLabels", e.SetProfileLabels(context.Background(), true), unix.EINVAL)
	_, err := e.Snapshot()
	wantErrno(t, "Snapshot", err, unix.EINVAL)
	if e.Statistics() || e.ProfileDelays() || e.ProfileLabels() || e.SlowHandlerThreshold() != 0 {
		t.Error("a nil loop reports something on")
	}
}
