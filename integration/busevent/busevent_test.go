package busevent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/integration/busevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	calcName  = "org.gosdevent.Test"
	calcPath  = dbus.ObjectPath("/org/gosdevent/Calc")
	calcIface = "org.gosdevent.Calc"
)

// calc is an object whose methods check that they run on the loop.
type calc struct {
	e *sdevent.Event
	l *loop

	offLoop atomic.Int32 // calls that ran elsewhere; any goroutine
	calls   int          // loop only
}

func (c *calc) enter() {
	if !c.l.onLoop() {
		c.offLoop.Add(1)
		return
	}
	if c.e.State() != sdevent.Running {
		c.offLoop.Add(1)
	}
	c.calls++
}

func (c *calc) Add(a, b int32) (int32, *dbus.Error) {
	c.enter()
	return a + b, nil
}

func (c *calc) Fail() *dbus.Error {
	c.enter()
	return &dbus.Error{Name: "org.gosdevent.Error.Nope", Body: []any{"nope from the loop"}}
}

func (c *calc) Whoami(sender dbus.Sender) (string, *dbus.Error) {
	c.enter()
	return string(sender), nil
}

// exportCalc exports a calc on b under calcName.
func exportCalc(t *testing.T, e *sdevent.Event, l *loop, b *busevent.Bus) *calc {
	t.Helper()
	c := &calc{e: e, l: l}
	if err := b.Export(c, calcPath, calcIface); err != nil {
		t.Fatalf("export: %v", err)
	}
	reply, err := b.Conn().RequestName(calcName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request name: %v %v", reply, err)
	}
	return c
}

// TestExportedMethodRunsOnLoop calls an exported method with busctl and
// dbus-send: it runs on the loop goroutine, in a dispatch, and the reply
// (or the D-Bus error it returned) reaches the client.
func TestExportedMethodRunsOnLoop(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d)
	l := newLoop()
	c := exportCalc(t, e, l, b)
	l.start(t, e)

	out, err := run(t, "busctl", "--address="+d.addr, "call", calcName, string(calcPath), calcIface, "Add", "ii", "2", "3")
	if err != nil || strings.TrimSpace(out) != "i 5" {
		t.Errorf("busctl call Add 2 3: %q, %v; want \"i 5\"", out, err)
	}
	out, err = run(t, "dbus-send", "--bus="+d.addr, "--print-reply", "--dest="+calcName, string(calcPath), calcIface+".Add", "int32:40", "int32:2")
	if err != nil || !strings.Contains(out, "int32 42") {
		t.Errorf("dbus-send Add 40 2: %q, %v; want int32 42", out, err)
	}
	out, err = run(t, "busctl", "--address="+d.addr, "call", calcName, string(calcPath), calcIface, "Fail")
	if err == nil || !strings.Contains(out, "nope from the loop") {
		t.Errorf("busctl call Fail: %q, %v; want the method's error", out, err)
	}
	out, err = run(t, "dbus-send", "--bus="+d.addr, "--print-reply", "--dest="+calcName, string(calcPath), calcIface+".Whoami")
	if err != nil || !strings.Contains(out, `string ":1.`) {
		t.Errorf("dbus-send Whoami: %q, %v; want the caller's unique name", out, err)
	}

	exit(t, e)
	l.wait(t)
	if n := c.offLoop.Load(); n != 0 {
		t.Errorf("%d method calls ran off the loop goroutine or outside a dispatch", n)
	}
	if c.calls != 4 {
		t.Errorf("the loop ran %d calls, want 4", c.calls)
	}
	// The loop's exit closed the bus through the bridge's exit source.
	if b.Source() != nil || b.Conn().Connected() {
		t.Errorf("after the loop exited: source %v, connected %v; want nil, false", b.Source(), b.Conn().Connected())
	}
}

// drainBusSignals runs the loop until the daemon's NameAcquired signal
// for each bridge was handled, so that only the test's signals remain.
func drainBusSignals(t *testing.T, e *sdevent.Event, bs ...*busevent.Bus) {
	t.Helper()
	seen := 0
	for _, b := range bs {
		b.OnSignal(func(s *dbus.Signal) {
			if s.Name == "org.freedesktop.DBus.NameAcquired" {
				seen++
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for seen < len(bs) {
		if time.Now().After(deadline) {
			t.Fatal("NameAcquired never arrived")
		}
		if _, err := e.Run(100 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bs {
		if st := b.Stats(); st.Signals != 0 {
			t.Fatalf("signals left after NameAcquired: %+v", st)
		}
		b.OnSignal(nil)
	}
}

// TestSignalsInOrderOnLoop emits signals from another connection: each is
// handled on the loop goroutine, in a dispatch, in the order sent.
func TestSignalsInOrderOnLoop(t *testing.T) {
	checkLeaks(t)
	const n = 2000
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueLen(n+16))
	if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.gosdevent.Seq")); err != nil {
		t.Fatal(err)
	}
	drainBusSignals(t, e, b)
	emitter := d.connect(t)

	l := newLoop()
	var (
		got     []uint32
		seqs    []dbus.Sequence
		offLoop int
	)
	b.OnSignal(func(s *dbus.Signal) {
		if s.Name != "org.gosdevent.Seq.Tick" {
			return
		}
		if !l.onLoop() || e.State() != sdevent.Running {
			offLoop++
		}
		got = append(got, s.Body[0].(uint32))
		seqs = append(seqs, s.Sequence)
		if len(got) == n {
			if err := e.Exit(0); err != nil {
				t.Error(err)
			}
		}
	})
	l.start(t, e)
	for i := range n {
		if err := emitter.Emit("/org/gosdevent/Seq", "org.gosdevent.Seq.Tick", uint32(i)); err != nil {
			t.Fatalf("emit %d: %v", i, err)
		}
	}
	l.wait(t)

	if offLoop != 0 {
		t.Errorf("%d signals handled off the loop goroutine", offLoop)
	}
	for i, v := range got {
		if v != uint32(i) {
			t.Fatalf("signal %d carries %d: not in order", i, v)
		}
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Errorf("godbus sequence numbers not increasing: %v", seqs)
	}
	if st := b.Stats(); st.Dropped != 0 {
		t.Errorf("dropped %d signals with room for all", st.Dropped)
	}
}

// TestBridgePriorities queues the same signals in three bridges of
// different priorities before the loop runs: the most important bridge's
// are all dispatched first, then the next one's.
func TestBridgePriorities(t *testing.T) {
	checkLeaks(t)
	const n = 40
	d := startDaemon(t)
	e := newEvent(t)
	prios := []priority.Priority{priority.Idle, priority.Important, priority.Normal}
	var buses []*busevent.Bus
	for _, p := range prios {
		b := attach(t, e, d, busevent.WithPriority(p))
		if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.gosdevent.Prio")); err != nil {
			t.Fatal(err)
		}
		buses = append(buses, b)
	}
	drainBusSignals(t, e, buses...)

	type delivery struct {
		prio priority.Priority
		i    uint32
	}
	var got []delivery
	for k, b := range buses {
		b.OnSignal(func(s *dbus.Signal) {
			if s.Name == "org.gosdevent.Prio.Tick" {
				got = append(got, delivery{prios[k], s.Body[0].(uint32)})
			}
		})
	}
	emitter := d.connect(t)
	for i := range n {
		if err := emitter.Emit("/org/gosdevent/Prio", "org.gosdevent.Prio.Tick", uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every bridge to queue every signal", func() bool {
		for _, b := range buses {
			if b.Stats().Signals < n {
				return false
			}
		}
		return true
	})
	for len(got) < len(buses)*n {
		if _, err := e.Run(time.Second); err != nil {
			t.Fatal(err)
		}
	}

	var want []delivery
	for _, p := range []priority.Priority{priority.Important, priority.Normal, priority.Idle} {
		for i := range uint32(n) {
			want = append(want, delivery{p, i})
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("dispatch order:\n got %v\nwant %v", got, want)
	}
}

// TestFloodDoesNotStarveTimer floods the bridge with 20,000 signals from
// another connection while a timer of the same priority is due every
// millisecond: the timer keeps firing while signals wait in the queue, no
// dispatch handles more than a batch, the queue never holds more than its
// bound, and every signal is either handled, in order, or counted as
// dropped.
func TestFloodDoesNotStarveTimer(t *testing.T) {
	checkLeaks(t)
	const (
		total    = 20000
		bound    = 512
		minTicks = 10
	)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueLen(bound))
	if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.gosdevent.Flood")); err != nil {
		t.Fatal(err)
	}
	drainBusSignals(t, e, b)

	l := newLoop()
	var (
		received, outOfOrder, offLoop int
		last                          = -1
		perDispatch                   = map[uint64]int{}
		ticks, ticksInFlood           int
		maxQueued                     int
	)
	b.OnSignal(func(s *dbus.Signal) {
		if s.Name != "org.gosdevent.Flood.Tick" {
			return
		}
		if !l.onLoop() {
			offLoop++
		}
		i := int(s.Body[0].(uint32))
		if i <= last {
			outOfOrder++
		}
		last = i
		received++
		perDispatch[e.Iteration()]++
		// A handler that does some work, so that the flood outruns it.
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; { //nolint:revive // busy on purpose
		}
		if i == total-1 { // the newest signal is never the one dropped
			if err := e.Exit(0); err != nil {
				t.Error(err)
			}
		}
	})
	timer, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Millisecond, time.Microsecond,
		func(s *sdevent.Source, _ time.Duration) error {
			ticks++
			st := b.Stats()
			maxQueued = max(maxQueued, st.Signals)
			if st.Signals > 0 {
				ticksInFlood++
			}
			if err := s.SetTimeRelative(time.Millisecond); err != nil {
				return err
			}
			return s.SetEnabled(source.OneShot)
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(timer.Unref)

	emitter := d.connect(t)
	l.start(t, e)
	emitted := make(chan error, 1)
	go func() {
		for i := range total {
			if err := emitter.Emit("/org/gosdevent/Flood", "org.gosdevent.Flood.Tick", uint32(i)); err != nil {
				emitted <- fmt.Errorf("emit %d: %w", i, err)
				return
			}
		}
		emitted <- nil
	}()
	if err := <-emitted; err != nil {
		t.Fatal(err)
	}
	l.wait(t)

	st := b.Stats()
	t.Logf("received %d, dropped %d, peak %d of %d; timer fired %d times, %d with signals queued",
		received, st.Dropped, st.Peak, bound, ticks, ticksInFlood)
	if offLoop != 0 || outOfOrder != 0 {
		t.Errorf("%d signals off the loop, %d out of order", offLoop, outOfOrder)
	}
	if uint64(received)+st.Dropped != total {
		t.Errorf("received %d + dropped %d != emitted %d", received, st.Dropped, total)
	}
	if st.Peak > bound || maxQueued > bound {
		t.Errorf("queue held %d (peak %d) signals, bound %d", maxQueued, st.Peak, bound)
	}
	for it, n := range perDispatch {
		if n > busevent.DefaultBatch {
			t.Errorf("iteration %d handled %d signals, more than a batch (%d)", it, n, busevent.DefaultBatch)
		}
	}
	if ticksInFlood < minTicks {
		t.Errorf("the timer fired %d times while signals waited, want at least %d: starved", ticksInFlood, minTicks)
	}
}

// TestDropOldest overfills a queue while the loop does not run: the
// oldest signals are dropped and counted, the newest are handled in order.
func TestDropOldest(t *testing.T) {
	checkLeaks(t)
	const (
		total = 1000
		bound = 100
	)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueLen(bound))
	flood(t, e, d, b, total)
	waitFor(t, "the flood to reach the bridge", func() bool {
		return b.Stats().Dropped == total-bound
	})
	if st := b.Stats(); st.Signals != bound || st.Peak != bound {
		t.Fatalf("stats %+v, want %d queued, peak %d", st, bound, bound)
	}
	handleNewest(t, e, b, total, bound)
}

// flood has b receive total signals org.gosdevent.Drop.Tick while the
// loop does not run, numbered from 0 by their first argument, with more
// after it.
func flood(t *testing.T, e *sdevent.Event, d *daemon, b *busevent.Bus, total int, more ...any) {
	t.Helper()
	if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.gosdevent.Drop")); err != nil {
		t.Fatal(err)
	}
	drainBusSignals(t, e, b)
	emitter := d.connect(t)
	for i := range total {
		if err := emitter.Emit("/org/gosdevent/Drop", "org.gosdevent.Drop.Tick", append([]any{uint32(i)}, more...)...); err != nil {
			t.Fatal(err)
		}
	}
}

// handleNewest runs the loop until it has handled kept signals and checks
// that they are the newest of total, numbered by their first argument, in
// order.
func handleNewest(t *testing.T, e *sdevent.Event, b *busevent.Bus, total, kept int) {
	t.Helper()
	var got []uint32
	b.OnSignal(func(s *dbus.Signal) { got = append(got, s.Body[0].(uint32)) })
	for len(got) < kept {
		if _, err := e.Run(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range got {
		if v != uint32(total-kept+k) {
			t.Fatalf("handled %v, want %d..%d", got, total-kept, total-1)
		}
	}
}

// TestDropOldestBytes overfills a queue by bytes, not by count, while the
// loop does not run: 40 signals of 100 KiB against a bound of 1 MiB and
// the default count bound. The oldest are dropped until the rest fit, and
// the newest are handled in order.
func TestDropOldestBytes(t *testing.T) {
	checkLeaks(t)
	const (
		total   = 40
		payload = 16 << 10
		bound   = 128 << 10
	)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueBytes(bound))
	flood(t, e, d, b, total, make([]byte, payload))
	waitFor(t, "the flood to reach the bridge", func() bool {
		st := b.Stats()
		return st.Dropped+uint64(st.Signals) == total
	})
	st := b.Stats()
	if st.SignalBytes > bound || st.SignalBytes < st.Signals*payload || st.Signals < bound/payload-1 || st.Signals > bound/payload {
		t.Fatalf("stats %+v: want about %d signals queued, %d bytes at most", st, bound/payload, bound)
	}
	handleNewest(t, e, b, total, st.Signals)
	if st := b.Stats(); st.Signals != 0 || st.SignalBytes != 0 {
		t.Errorf("stats %+v once all were handled, want nothing waiting", st)
	}
}

// TestCallQueueBytes fills the call queue by bytes while the loop does not
// run: a call alone is taken however large, one that does not fit beside
// it is refused with LimitsExceeded at once, as at the count bound.
func TestCallQueueBytes(t *testing.T) {
	checkLeaks(t)
	const bound = 64 << 10
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueBytes(bound))
	err := b.ExportMethodTable(map[string]any{
		"Store": func(p []byte) (int32, *dbus.Error) { return int32(len(p)), nil },
	}, "/org/gosdevent/Store", "org.gosdevent.Store")
	if err != nil {
		t.Fatal(err)
	}
	caller := d.connect(t)
	obj := caller.Object(b.Conn().Names()[0], "/org/gosdevent/Store")
	big := obj.Go("org.gosdevent.Store.Store", 0, nil, make([]byte, 2*bound))
	waitFor(t, "the big call to be queued", func() bool { return b.Stats().Calls == 1 })
	small := obj.Go("org.gosdevent.Store.Store", 0, nil, []byte("x"))
	select {
	case <-small.Done:
	case <-time.After(30 * time.Second):
		b.Close() // answers it with Disconnected
		<-small.Done
	}
	var derr dbus.Error
	if !errors.As(small.Err, &derr) || derr.Name != "org.freedesktop.DBus.Error.LimitsExceeded" {
		t.Errorf("a call beside %d queued bytes: %v, want LimitsExceeded", 2*bound, small.Err)
	}
	if st := b.Stats(); st.Calls != 1 || st.Refused != 1 || st.CallBytes < 2*bound {
		t.Errorf("stats %+v, want the big call queued, 1 refused", st)
	}
	for b.Stats().Calls > 0 {
		if _, err := e.Run(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	<-big.Done
	var n int32
	if err := big.Store(&n); err != nil || n != 2*bound {
		t.Errorf("the big call: %d, %v; want %d", n, err, 2*bound)
	}
	if st := b.Stats(); st.CallBytes != 0 {
		t.Errorf("stats %+v once the call ran, want no bytes waiting", st)
	}
}

// TestDaemonGone kills the bus daemon: the loop is told through the close
// callback, on the loop goroutine, after the bridge freed its sources.
func TestDaemonGone(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d)
	l := newLoop()
	var (
		calls     int
		closeErr  error
		onLoop    bool
		srcFreed  bool
		connected bool
	)
	b.OnClose(func(err error) {
		calls++
		closeErr, onLoop = err, l.onLoop()
		srcFreed, connected = b.Source() == nil, b.Conn().Connected()
		if err := e.Exit(0); err != nil {
			t.Error(err)
		}
	})
	l.start(t, e)
	d.kill()
	l.wait(t)

	if calls != 1 || !errors.Is(closeErr, busevent.ErrDisconnected) {
		t.Errorf("close callback: %d calls, error %v; want one with ErrDisconnected", calls, closeErr)
	}
	if !onLoop {
		t.Error("the close callback ran off the loop goroutine")
	}
	if !srcFreed || connected {
		t.Errorf("in the close callback: source freed %v, connected %v; want true, false", srcFreed, connected)
	}
	b.Close() // idempotent
}

// TestContextEnds ends the connection through the context given to
// godbus: the close callback gets its cause.
func TestContextEnds(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	cause := errors.New("the test is done with the bus")
	ctx, cancel := context.WithCancelCause(context.Background())
	b, err := busevent.Attach(e, func(opts ...dbus.ConnOption) (*dbus.Conn, error) {
		return dbus.Connect(d.addr, append(opts, dbus.WithContext(ctx))...)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var closeErr error
	b.OnClose(func(err error) { closeErr = err })
	cancel(cause)
	for b.Source() != nil {
		if _, err := e.Run(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if !errors.Is(closeErr, busevent.ErrDisconnected) || !errors.Is(closeErr, cause) {
		t.Errorf("close callback got %v, want ErrDisconnected and the context's cause", closeErr)
	}
}

// startCall starts busctl calling Add on calc without waiting for it.
func startCall(t *testing.T, d *daemon) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(program(t, "busctl"), "--address="+d.addr, "--timeout=60", "call", calcName, string(calcPath), calcIface, "Add", "ii", "1", "1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, &out
}

// TestCallQueueBound fills the call queue while the loop does not run: a
// call beyond the bound is refused with LimitsExceeded at once, and Close
// answers the waiting one, whose method never runs.
func TestCallQueueBound(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d, busevent.WithQueueLen(1))
	c := exportCalc(t, e, newLoop(), b)

	waiting, waitingOut := startCall(t, d)
	waitFor(t, "the first call to be queued", func() bool { return b.Stats().Calls == 1 })
	refused, refusedOut := startCall(t, d)
	if err := refused.Wait(); err == nil || !strings.Contains(refusedOut.String(), "too many method calls") {
		t.Errorf("second call: %q, %v; want LimitsExceeded", refusedOut, err)
	}
	if st := b.Stats(); st.Calls != 1 || st.Refused != 1 {
		t.Errorf("stats %+v, want 1 call queued, 1 refused", st)
	}

	if err := b.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := waiting.Wait(); err == nil {
		t.Errorf("the call waiting at Close succeeded: %q", waitingOut)
	}
	if c.calls != 0 || c.offLoop.Load() != 0 {
		t.Errorf("the method ran %d (+%d) times, want never", c.calls, c.offLoop.Load())
	}
}

// TestHandlerClosesBus closes the bridge from its own signal handler in
// the middle of a batch: nothing more is handled and nothing leaks.
func TestHandlerClosesBus(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d)
	if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.gosdevent.Close")); err != nil {
		t.Fatal(err)
	}
	drainBusSignals(t, e, b)
	emitter := d.connect(t)
	for i := range 10 {
		if err := emitter.Emit("/org/gosdevent/Close", "org.gosdevent.Close.Tick", uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the signals to be queued", func() bool { return b.Stats().Signals == 10 })
	handled := 0
	b.OnSignal(func(*dbus.Signal) {
		handled++
		if handled == 3 {
			b.Close()
		}
	})
	closed := false
	b.OnClose(func(error) { closed = true })
	for range 5 {
		if _, err := e.Run(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if handled != 3 || closed || b.Source() != nil {
		t.Errorf("handled %d, close callback %v, source %v; want 3, false, nil", handled, closed, b.Source())
	}
}

// TestAttachErrors: bad options and a dialer that drops the bridge's
// options are refused, leaving nothing behind.
func TestAttachErrors(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	for _, o := range []busevent.Option{busevent.WithBatch(0), busevent.WithQueueLen(-1), busevent.WithQueueBytes(0)} {
		if _, err := busevent.Attach(e, d.dialer(), o); !errors.Is(err, unix.EINVAL) {
			t.Errorf("bad option: %v, want EINVAL", err)
		}
	}
	if _, err := busevent.Attach(e, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil dialer: %v, want EINVAL", err)
	}
	_, err := busevent.Attach(e, func(...dbus.ConnOption) (*dbus.Conn, error) {
		return dbus.Connect(d.addr) // drops the options
	})
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("a dialer that ignores the options: %v, want EINVAL", err)
	}
	_, err = busevent.Attach(e, func(opts ...dbus.ConnOption) (*dbus.Conn, error) {
		return dbus.Connect("unix:path=/nonexistent/bus", opts...)
	})
	if err == nil {
		t.Error("a dialer that fails did not fail Attach")
	}
	if err := e.SetExitOnIdle(true); err != nil { // nothing of the failed attaches may remain
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, err := e.LoopContext(ctx); code != 0 || err != nil {
		t.Errorf("loop: %d, %v", code, err)
	}
}
