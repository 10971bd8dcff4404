//go:build linux

package sdevent_test

// Tests of logging through log/slog (log.go): the records sd-event's
// log_debug calls would write, on real loops with real kernel objects.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// logRecord is what a recorder kept of one slog.Record.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

// recorder is a slog.Handler that keeps the records at or above level, and
// counts how often it was asked whether a level is enabled.
type recorder struct {
	level slog.Level

	mu      sync.Mutex
	recs    []logRecord
	enabled int
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enabled++
	return l >= r.level
}

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]slog.Value{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, logRecord{rec.Level, rec.Message, attrs})
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler {
	panic("the loop adds no attributes to its logger")
}
func (r *recorder) WithGroup(string) slog.Handler { panic("the loop opens no group in its logger") }

// records returns the records kept so far.
func (r *recorder) records() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRecord(nil), r.recs...)
}

// logTo gives e a logger that records what is at or above level.
func logTo(e *sdevent.Event, level slog.Level) *recorder {
	r := &recorder{level: level}
	e.SetLogger(slog.New(r))
	return r
}

// wantRecord is a record a test expects: its message and attributes, all
// at debug level. An attribute "err" is matched with errors.Is against an
// unix.Errno; "*" matches any value of an attribute that must be there.
type wantRecord struct {
	msg   string
	attrs map[string]any
}

// sourceAttrs are the attributes of a record about a source.
func sourceAttrs(desc, kind string, prio priority.Priority, err error) map[string]any {
	a := map[string]any{"source": desc, "kind": kind, "priority": int64(prio)}
	if err != nil {
		a["err"] = err
	}
	return a
}

// checkRecords fails the test unless got is want, in order.
func checkRecords(t *testing.T, got []logRecord, want ...wantRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d records, want %d:", len(got), len(want))
		for _, r := range got {
			t.Errorf("\tgot %s %q %v", r.level, r.msg, r.attrs)
		}
		for _, w := range want {
			t.Errorf("\twant %q %v", w.msg, w.attrs)
		}
		return
	}
	for i, w := range want {
		g := got[i]
		if g.level != slog.LevelDebug || g.msg != w.msg {
			t.Errorf("record %d: %s %q, want DEBUG %q", i, g.level, g.msg, w.msg)
		}
		if len(g.attrs) != len(w.attrs) {
			t.Errorf("record %d (%q): attributes %v, want %v", i, g.msg, g.attrs, w.attrs)
		}
		for k, wv := range w.attrs {
			gv, ok := g.attrs[k]
			switch {
			case !ok:
				t.Errorf("record %d (%q): no attribute %q", i, g.msg, k)
			case wv == "*":
			case k == "err":
				if err, _ := gv.Any().(error); !errors.Is(err, wv.(error)) {
					t.Errorf("record %d (%q): err = %v, want one wrapping %v", i, g.msg, gv, wv)
				}
			case gv.Any() != wv:
				t.Errorf("record %d (%q): %s = %v (%T), want %v (%T)", i, g.msg, k, gv.Any(), gv.Any(), wv, wv)
			}
		}
	}
}

// TestLoggerDefault: a new loop has no logger, and SetLogger(nil) takes it
// away again; nil and zero loops have none and take none.
func TestLoggerDefault(t *testing.T) {
	e := newLoop(t)
	if e.Logger() != nil {
		t.Fatal("a new loop has a logger")
	}
	l := slog.New(&recorder{})
	e.SetLogger(l)
	if e.Logger() != l {
		t.Fatal("Logger is not what SetLogger set")
	}
	e.SetLogger(nil)
	if e.Logger() != nil {
		t.Fatal("SetLogger(nil) left a logger")
	}
	var none *sdevent.Event
	none.SetLogger(l)
	if none.Logger() != nil {
		t.Fatal("a nil loop has a logger")
	}
}

// TestLogHandlerErrorDisablesIO: an accept handler that fails (EMFILE)
// switches its IO source off, and the loop says so, naming the source (C's
// source_dispatch: "returned error, disabling"). Issue 11's trap: the
// listener went off in silence.
func TestLogHandlerErrorDisablesIO(t *testing.T) {
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	r, w := testutil.Pipe(t)
	errAccept := fmt.Errorf("accept: %w", unix.EMFILE)
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return errAccept }))
	ok(t, "set description", s.SetDescription("listener"))
	ok(t, "set priority", s.SetPriority(5))
	writeByte(t, w)
	if !run(t, e, long) {
		t.Fatal("no dispatch")
	}
	if m := enabledOf(t, s); m != "off" {
		t.Fatalf("source %s after its handler failed, want off", m)
	}
	checkRecords(t, rec.records(), wantRecord{"event source handler failed, disabling source",
		sourceAttrs("listener", "io", 5, unix.EMFILE)})
}

// TestLogExitOnFailure: with exit-on-failure the record says the loop
// exits; a source without a description is named "".
func TestLogExitOnFailure(t *testing.T) {
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return unix.ENOENT }))
	ok(t, "set exit on failure", s.SetExitOnFailure(true))
	code, err := loopErr(t, e)
	if code != -int(unix.ENOENT) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Loop = %d, %v; want -ENOENT", code, err)
	}
	checkRecords(t, rec.records(), wantRecord{"event source handler failed, exiting loop",
		sourceAttrs("", "defer", priority.Normal, unix.ENOENT)})
}

// TestLogPrepareError: a failing prepare callback disables its source
// (C's event_prepare) and is logged as such, by kind.
func TestLogPrepareError(t *testing.T) {
	for _, exit := range []bool{false, true} {
		t.Run(fmt.Sprintf("exit=%v", exit), func(t *testing.T) {
			e := newLoop(t)
			rec := logTo(e, slog.LevelDebug)
			s := keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, nil))
			ok(t, "set description", s.SetDescription("tick"))
			ok(t, "set priority", s.SetPriority(priority.Idle))
			ok(t, "set exit on failure", s.SetExitOnFailure(exit))
			ok(t, "set prepare", s.SetPrepare(func(*sdevent.Source) error { return unix.EPERM }))
			if _, err := e.Prepare(); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			msg := "prepare callback failed, disabling source"
			if exit {
				msg = "prepare callback failed, exiting loop"
			}
			checkRecords(t, rec.records(), wantRecord{msg, sourceAttrs("tick", "monotonic", priority.Idle, unix.EPERM)})
			if m := enabledOf(t, s); m != "off" {
				t.Fatalf("source %s after its prepare callback failed, want off", m)
			}
		})
	}
}

// TestLogRatelimit: a source entering its rate limit and leaving it when
// the window ends is logged, and so is its failing expire callback (C's
// event_source_enter_ratelimited and event_source_leave_ratelimit); ended
// early by LeaveRatelimit, it is logged as leaving too.
func TestLogRatelimit(t *testing.T) {
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	ok(t, "set description", s.SetDescription("busy"))
	ok(t, "set enabled", s.SetEnabled(source.On))
	const interval = 20 * time.Millisecond
	ok(t, "set ratelimit", s.SetRatelimit(interval, 2))
	ok(t, "set expire callback", s.SetRatelimitExpireCallback(func(*sdevent.Source) error { return unix.EIO }))
	attrs := func(extra map[string]any) map[string]any {
		a := sourceAttrs("busy", "defer", priority.Normal, nil)
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	entered := wantRecord{"event source entered rate limit", attrs(map[string]any{"interval": interval, "burst": uint64(2)})}
	left := wantRecord{"event source left rate limit", attrs(nil)}

	runUntil(t, e, "the rate limit", s.IsRatelimited)
	checkRecords(t, rec.records(), entered)
	runUntil(t, e, "the end of the rate limit", func() bool { return !s.IsRatelimited() })
	checkRecords(t, rec.records(), entered, left,
		wantRecord{"rate limit expire callback failed, disabling source", attrs(map[string]any{"err": unix.EIO})})

	ok(t, "set enabled", s.SetEnabled(source.On))
	runUntil(t, e, "the rate limit again", s.IsRatelimited)
	if left, err := s.LeaveRatelimit(); !left || err != nil {
		t.Fatalf("LeaveRatelimit = %v, %v", left, err)
	}
	checkRecords(t, rec.records()[3:], entered, left)
}

// TestLogWatchdog: turning the watchdog on is logged with its period, and
// so is finding that systemd asked for none; a ping that cannot be sent,
// which sd-event ignores in silence, is logged too.
func TestLogWatchdog(t *testing.T) {
	const period = 30 * time.Second
	t.Run("on", func(t *testing.T) {
		next := notifySocket(t)
		t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
		t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
		e := newLoop(t)
		rec := logTo(e, slog.LevelDebug)
		if on, err := e.SetWatchdog(true); !on || err != nil {
			t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
		}
		if got := next(long); got != "WATCHDOG=1" {
			t.Fatalf("manager got %q, want the first ping", got)
		}
		checkRecords(t, rec.records(), wantRecord{"watchdog enabled", map[string]any{"period": period}})
	})
	t.Run("not requested", func(t *testing.T) {
		t.Setenv("WATCHDOG_USEC", "")
		e := newLoop(t)
		rec := logTo(e, slog.LevelDebug)
		if on, err := e.SetWatchdog(true); on || err != nil {
			t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
		}
		checkRecords(t, rec.records(), wantRecord{"watchdog not requested by the service manager", map[string]any{}})
	})
	t.Run("ping fails", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", t.TempDir()+"/nobody")
		t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
		t.Setenv("WATCHDOG_PID", "")
		e := newLoop(t)
		rec := logTo(e, slog.LevelDebug)
		if on, err := e.SetWatchdog(true); !on || err != nil {
			t.Fatalf("SetWatchdog(true) = %v, %v; a failed ping is not the loop's failure", on, err)
		}
		checkRecords(t, rec.records(),
			wantRecord{"watchdog ping failed", map[string]any{"err": unix.ENOENT}},
			wantRecord{"watchdog enabled", map[string]any{"period": period}})
	})
}

// TestLogEpollRemoveFails: a source whose fd was closed before the source
// was switched off cannot be taken out of epoll (EBADF); as C's
// source_io_unregister, the loop carries on and says so.
func TestLogEpollRemoveFails(t *testing.T) {
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	r, _ := testutil.Pipe(t)
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, nil))
	ok(t, "set description", s.SetDescription("early close"))
	testutil.Close(t, r)
	ok(t, "set enabled", s.SetEnabled(source.Off))
	checkRecords(t, rec.records(), wantRecord{"removing fd from epoll failed, ignoring",
		map[string]any{"source": "early close", "kind": "io", "priority": int64(0), "err": unix.EBADF, "fd": int64(r)}})
}

// TestLogPressureTriggerRefused: a trigger the kernel refuses (here
// /dev/full: ENOSPC) switches the pressure source off, as a failing
// handler would, and is logged (C's source_memory_pressure_write).
func TestLogPressureTriggerRefused(t *testing.T) {
	unsetPressureEnv(t)
	t.Setenv("MEMORY_PRESSURE_WATCH", "/dev/full")
	t.Setenv("MEMORY_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("some 100000 1000000")))
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	s := keep(t)(e.AddMemoryPressure(func(*sdevent.Source) error { return nil }))
	if _, err := e.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if m := enabledOf(t, s); m != "off" {
		t.Fatalf("source %s after its trigger was refused, want off", m)
	}
	checkRecords(t, rec.records(), wantRecord{"writing pressure trigger failed, disabling source",
		sourceAttrs("", "memory-pressure", priority.Normal, unix.ENOSPC)})
}

// TestLogMemoryTrim: the default memory pressure handler, Go's
// sd_event_trim_memory, logs what releasing memory took and gave back.
func TestLogMemoryTrim(t *testing.T) {
	unsetPressureEnv(t)
	pressureFifo(t, "MEMORY")
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	keep(t)(e.AddMemoryPressure(nil))
	// The trigger the loop writes into the FIFO makes it readable: that is
	// the pressure event here.
	runUntil(t, e, "the record", func() bool { return len(rec.records()) > 0 })
	a := sourceAttrs("", "memory-pressure", priority.Normal, nil)
	a["took"], a["released_bytes"] = "*", "*"
	checkRecords(t, rec.records(), wantRecord{"memory pressure, released memory to the system", a})
}

// TestLogChildReapedElsewhere: a child that other code reaped first (here
// cmd.Wait) reaches its handler with no status; the loop says why.
func TestLogChildReapedElsewhere(t *testing.T) {
	e := newLoop(t)
	rec := logTo(e, slog.LevelDebug)
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got *sdevent.ChildInfo
	s := keep(t)(e.AddChild(cmd.Process.Pid, unix.WEXITED, func(_ *sdevent.Source, ci *sdevent.ChildInfo) error {
		c := *ci
		got = &c
		return nil
	}))
	ok(t, "set description", s.SetDescription("worker"))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	runUntil(t, e, "the child's handler", func() bool { return got != nil })
	if got.Code != 0 {
		t.Fatalf("handler got %v, want no status (Code 0)", got)
	}
	a := sourceAttrs("worker", "child", priority.Normal, nil)
	a["pid"] = int64(cmd.Process.Pid)
	checkRecords(t, rec.records(), wantRecord{"child was reaped by someone else, its status is lost", a})
}

// TestLogDisabledAllocatesNothing: with no logger, and with one that takes
// only info and above, a failing handler costs no allocation: the loop asks
// whether a debug record is wanted before it makes any part of one (so it
// reads no clock either), and the handler is handed nothing.
func TestLogDisabledAllocatesNothing(t *testing.T) {
	for _, name := range []string{"nil", "info"} {
		t.Run(name, func(t *testing.T) {
			e := newLoop(t)
			var rec *recorder
			if name == "info" {
				rec = logTo(e, slog.LevelInfo)
			}
			errFail := errors.New("fail")
			s := keep(t)(e.AddDefer(func(*sdevent.Source) error { return errFail }))
			var failed error
			iteration := func() {
				if err := s.SetEnabled(source.OneShot); err != nil {
					failed = err
				}
				if d, err := e.Run(long); err != nil || !d {
					failed = fmt.Errorf("Run = %v: %w", d, err)
				}
			}
			for i := 0; i < 100; i++ {
				iteration()
			}
			if allocs := testing.AllocsPerRun(1000, iteration); allocs != 0 {
				t.Errorf("%v allocations per failing dispatch, want 0", allocs)
			}
			if failed != nil {
				t.Fatal(failed)
			}
			if m := enabledOf(t, s); m != "off" {
				t.Fatalf("source %s after its handler failed, want off", m)
			}
			if rec != nil {
				if n := len(rec.records()); n != 0 {
					t.Fatalf("%d records handed to an info-level handler", n)
				}
				if rec.enabled == 0 {
					t.Fatal("the loop never asked whether debug records are wanted")
				}
			}
		})
	}
}
