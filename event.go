//go:build linux

package sdevent

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/prioq"
	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// Infinity stands for sd-event's USEC_INFINITY: a time that never comes, a
// timeout that never ends.
const Infinity time.Duration = math.MaxInt64

// defaultAccuracy is what an accuracy of 0 means, as in sd-event.
const defaultAccuracy = 250 * time.Millisecond

// Epoll user data: what each kind of fd in the loop's epoll is tagged with.
// Data below tagTimer is the slot, in e.slots, of the source whose fd it is
// (IO, child pidfd, pressure, the invoke eventfd).
const (
	tagTimer    = uint64(1) << 40    // + clock index: that clock's timerfd
	tagSignal   = tagTimer + nClocks // the eventfd the signal hub wakes
	tagWatchdog = tagSignal + 1      // the watchdog's timerfd
	tagInotify  = tagTimer + 1<<20   // + index in e.inotifyTable: an inotify fd
)

// clockData is the per-clock timer machinery: one timerfd, the sources of
// that clock ordered by their earliest and by their latest acceptable
// wake-up, and what the timerfd is armed for.
type clockData struct {
	clock      int
	fd         int
	earliest   prioq.Queue[*Source]
	latest     prioq.Queue[*Source]
	next       time.Duration // armed wake-up, Infinity when disarmed
	needsRearm bool
}

// Clock indices, in the order sd-event processes the clocks after a poll.
const (
	clockRealtime = iota
	clockBoottime
	clockRealtimeAlarm
	clockBoottimeAlarm
	clockMonotonic
	nClocks

	// clockRatelimit is the clock rate limits run on: CLOCK_BOOTTIME, as in
	// sd-event 262 (252 used CLOCK_MONOTONIC).
	clockRatelimit = clockBoottime
)

var clockIDs = [nClocks]int{unix.CLOCK_REALTIME, unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM, unix.CLOCK_MONOTONIC}

var clockTypes = [nClocks]source.Type{source.TimeRealtime, source.TimeBoottime, source.TimeRealtimeAlarm, source.TimeBoottimeAlarm, source.TimeMonotonic}

func clockIndex(clock int) int {
	for i, c := range clockIDs {
		if c == clock {
			return i
		}
	}
	return -1
}

func typeClockIndex(t source.Type) int {
	for i, ct := range clockTypes {
		if ct == t {
			return i
		}
	}
	return -1
}

// Event is an event loop, the analogue of sd_event. It belongs to one
// goroutine at a time; only Invoke may be called from others.
//
// The kernel objects the loop owns, each in one field, opened and closed in
// one place (destroy closes what is left):
//   - epfd, the epoll fd: New; destroy. From the first wait that may
//     block on, parker owns it (it is in the Go runtime's poller) and
//     destroy closes it through parker.
//   - inv.fd, the eventfd behind Invoke: setupInvoke, from New;
//     closeInvoke, from destroy.
//   - clocks[i].fd, one timerfd per clock: setupClock, at the first time
//     source or rate limit of the clock; destroy.
//   - sig.fd, the eventfd the signal hub wakes: setupSignals, at the first
//     signal source or child source that watches stops; closeSignals.
//   - wd.fd, the watchdog's timerfd: SetWatchdog(true); closeWatchdog.
//   - inotify[p].fd (also in inotifyTable), one inotify fd per priority:
//     inotifyFor; gcInotify, when its last watched inode goes.
//   - inodeData.fd, an O_PATH fd per newly watched inode: addInotify and
//     moveInotify; closeInodeFds, at the next Prepare, or gcInode.
//
// Sources own theirs, closed when the source is freed: a pressure
// source its fd (openPressure; releasePressure), a child source
// the pidfd AddChild or AddCommand opened, or any after SetChildPidfdOwn
// (releaseChild), an IO source its fd after SetIOFdOwn (releaseIO).
type Event struct {
	nref  atomic.Int32
	epfd  int
	state State

	parker   *sys.Parker   // nil until the first wait that may block
	noParker bool          // NewParker failed: block in the kernel
	yielded  time.Duration // when Run last yielded to the Go scheduler (yield)

	yieldChecked time.Duration // when yield last read the clock
	yieldNext    uint64        // the iteration at which Run calls yield
	yieldStep    uint32        // iterations from one yield call to the next

	iteration     uint64
	exitRequested bool
	exitCode      int
	exitErr       error
	exitOnIdle    bool
	nKeepAlive    int // enabled sources that keep an exit-on-idle loop running

	pending   prioq.Queue[*Source]
	prepare   prioq.Queue[*Source]
	exit      prioq.Queue[*Source]
	clocks    [nClocks]clockData
	post      []*Source
	expireRan bool // this iteration's poll ran a rate limit's expire callback: Dispatch runs nothing

	sources  *Source // newest first
	nSources int
	slots    []*Source // IO-like sources by epoll slot
	free     []int32   // unused slots

	events  []unix.EpollEvent
	look    sys.Lookahead // whether a wait that may block looks first
	current *Source       // the source whose handler runs

	// ts is the time of this iteration: a clock is read right after the
	// poll when a timer (or the watchdog) needs it, else at its first Now.
	ts struct {
		clock [nClocks]time.Duration
		have  [nClocks]bool
		set   bool
	}

	inv struct {
		mu     sync.Mutex
		queue  []func()
		closed bool
		fd     int
		src    *Source
	}

	sig             signals
	sigint, sigterm *Source // SetSignalExit's sources
	needChild       bool    // child sources that watch stops must be polled
	children        map[int]*Source
	childPoll       []*Source // child sources that watch stops and continues

	inotify       map[priority.Priority]*inotifyData
	inotifyTable  []*inotifyData // by epoll index
	inodesToClose []*inodeData
	nBuffered     int // inotify fds with events read and not yet dispatched

	pressureWrite []*Source // pressure sources whose trigger is to be written

	isDefault bool
	watchdog  bool
	wd        watchdogState

	logger *slog.Logger // SetLogger's; nil: silent
	obs    *observer    // statistics and profiles (stats.go); nil: none
}

// New returns a new loop with one reference, the caller's; it mirrors
// sd_event_new. It creates an epoll fd and an eventfd that Invoke uses.
func New() (*Event, error) {
	epfd, err := sys.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, opErr("new", fmt.Errorf("create epoll fd: %w", err))
	}
	e := &Event{epfd: epfd, events: make([]unix.EpollEvent, 16)}
	e.sig.fd = -1
	e.wd.fd = -1
	e.nref.Store(1)
	e.pending = prioq.Queue[*Source]{Less: pendingBefore, Index: func(s *Source) *int32 { return &s.pendingIdx }}
	e.prepare = prioq.Queue[*Source]{Less: prepareBefore, Index: func(s *Source) *int32 { return &s.prepareIdx }}
	e.exit = prioq.Queue[*Source]{Less: exitBefore, Index: func(s *Source) *int32 { return &s.slot }}
	for i := range e.clocks {
		d := &e.clocks[i]
		d.clock, d.fd, d.next = clockIDs[i], -1, Infinity
		d.earliest = prioq.Queue[*Source]{Less: earliestBefore, Index: func(s *Source) *int32 { return &s.earliestIdx }}
		d.latest = prioq.Queue[*Source]{Less: latestBefore, Index: func(s *Source) *int32 { return &s.latestIdx }}
	}
	if err := e.setupInvoke(); err != nil {
		e.inv.closed = true
		_ = sys.Close(e.epfd)
		return nil, opErr("new", err)
	}
	e.profileDelaysFromEnv()
	return e, nil
}

var defaultLoop struct {
	sync.Mutex
	e *Event
}

// Default returns the process-wide default loop with a new reference,
// creating it when there is none; it mirrors sd_event_default. Unlike C, the
// default loop is per process, not per thread. Default is goroutine-safe.
func Default() (*Event, error) {
	defaultLoop.Lock()
	defer defaultLoop.Unlock()
	if d := defaultLoop.e; d != nil {
		for {
			n := d.nref.Load()
			if n <= 0 {
				break
			}
			if d.nref.CompareAndSwap(n, n+1) {
				return d, nil
			}
		}
	}
	e, err := New()
	if err != nil {
		return nil, err
	}
	e.isDefault = true
	defaultLoop.e = e
	return e, nil
}

// Ref adds a reference to the loop and returns it (sd_event_ref).
func (e *Event) Ref() *Event {
	if e != nil && e.nref.Load() > 0 {
		e.nref.Add(1)
	}
	return e
}

// Unref drops a reference (sd_event_unref). When the last one goes, the loop
// releases its floating sources, newest first, and closes its fds. A
// non-floating source holds a reference on its loop, so a loop with such
// sources outlives the caller's last Unref.
func (e *Event) Unref() {
	if e == nil {
		return
	}
	switch n := e.nref.Add(-1); {
	case n == 0:
		e.destroy()
	case n < 0: // one Unref too many: ignored
		e.nref.Add(1)
	}
}

func (e *Event) destroy() {
	if e.isDefault {
		defaultLoop.Lock()
		if defaultLoop.e == e {
			defaultLoop.e = nil
		}
		defaultLoop.Unlock()
	}
	e.sigint.Unref()
	e.sigterm.Unref()
	e.sigint, e.sigterm = nil, nil
	// Every source still connected is floating (the others hold a loop
	// reference); release them newest first, as sd-event does.
	for s := e.sources; s != nil; s = e.sources {
		e.disconnect(s)
		s.Unref()
	}
	e.closeSignals()
	e.closeInodeFds()
	e.closeWatchdog()
	e.closeInvoke()
	// close(2) releases the fd even when it reports an error, and a loop
	// being freed has nobody to report one to.
	for i := range e.clocks {
		if d := &e.clocks[i]; d.fd >= 0 {
			_ = sys.Close(d.fd)
			d.fd = -1
		}
	}
	if e.parker != nil {
		_ = e.parker.Close()
		e.parker = nil
	} else {
		_ = sys.Close(e.epfd)
	}
	e.epfd = -1
	e.state = Finished
}

// valid reports whether e was made by New or Default (a zero Event was not).
func (e *Event) valid() bool { return e != nil && e.pending.Less != nil }

// protect keeps the loop alive while handlers run that may drop the last
// reference; Unref releases it.
func (e *Event) protect() { e.nref.Add(1) }

// phase checks that a phase may run: ESTALE on a finished loop, EBUSY in any
// state but want.
func (e *Event) phase(op string, want State) error {
	if !e.valid() {
		return opErr(op, unix.EINVAL)
	}
	if e.state == Finished {
		return opErr(op, unix.ESTALE)
	}
	if e.state != want {
		return opErr(op, unix.EBUSY)
	}
	return nil
}

// phaseTimeout is phase for the phases that wait: a negative timeout is
// EINVAL.
func (e *Event) phaseTimeout(op string, want State, timeout time.Duration) error {
	if err := e.phase(op, want); err != nil {
		return err
	}
	if timeout < 0 {
		return opErr(op, unix.EINVAL)
	}
	return nil
}

// Prepare runs the first phase of an iteration (sd_event_prepare): it
// increments the iteration counter, runs prepare callbacks, arms the
// timers and reports whether something is already pending. Then it is
// either Pending (call Dispatch) or Armed (call Wait).
//
// Unlike C, a timer whose coalesced wake-up is already due counts as pending
// here: no kernel timer is armed for it, and an embedding poller on Fd needs
// no kernel wake-up to learn of it.
func (e *Event) Prepare() (bool, error) {
	if err := e.phase("prepare", Initial); err != nil {
		return false, err
	}
	e.protect()
	defer e.Unref()
	return e.prepareIteration()
}

// prepareIteration is the prepare phase, ending Armed when nothing is
// pending.
func (e *Event) prepareIteration() (bool, error) {
	p, err := e.prepareSources()
	return e.endPhase("prepare", p, err, Armed)
}

// endPhase is the one exit of the prepare and wait phases, as C's finish:
// label: it sets the state the phase leaves (Pending, idle when nothing is
// pending, Initial on error) and wraps the error.
func (e *Event) endPhase(op string, pending bool, err error, idle State) (bool, error) {
	switch {
	case err != nil:
		e.state = Initial
		return false, opErr(op, err)
	case pending:
		e.state = Pending
	default:
		e.state = idle
	}
	return pending, nil
}

// prepareSources runs the prepare callbacks, arms the timers and reports
// whether something is pending. When something may be ready already, it
// polls without blocking, as C's sd_event_prepare does at its pending
// label, in state Armed, which an expire callback run by that poll sees.
func (e *Event) prepareSources() (bool, error) {
	if !e.exitRequested && e.exitOnIdle && e.idle() {
		// Checked first, before the iteration count and the prepare
		// callbacks, as sd-event 262's sd_event_prepare does.
		e.requestExit(0, nil)
	}
	if !e.exitRequested {
		e.iteration++
		e.state = Preparing
		e.runPrepare()
		e.state = Initial
		if err := e.writePressureTriggers(); err != nil {
			return false, err
		}
		due, err := e.armTimers()
		if err != nil {
			return false, err
		}
		e.closeInodeFds()
		if !due && !e.needChild && e.nBuffered == 0 && e.nextPending() == nil {
			return false, nil
		}
	}
	e.state = Armed
	return e.waitSources(0)
}

// idle reports whether the loop has nothing left to do, as sd-event's
// event_loop_idle: no enabled source but exit sources and post sources not
// pending, and, the port's own, no function queued by Invoke.
func (e *Event) idle() bool {
	if e.nKeepAlive > 0 || e.invokeQueued() {
		return false
	}
	for _, p := range e.post {
		if p.pending && p.enabled() != source.Off {
			return false
		}
	}
	return true
}

// Wait polls the kernel for at most timeout (Infinity: no limit) and turns
// what it reports into pending sources (sd_event_wait). Interruptions of the
// wait (EINTR) are retried, so it returns before the timeout only when the
// kernel reported something: a source became pending (true), or the loop's
// own machinery woke it (a rate limit ended without an expire callback, a
// watchdog ping, a signal or inotify event no enabled source takes, a
// SIGCHLD with nothing to report, LoopContext's wake-up), and then it
// reports false, as C does. A poll that ran a rate limit's expire callback
// reports true, and the Dispatch that follows runs nothing, as
// sd_event_wait and sd_event_dispatch of systemd 262 do. A negative timeout
// is EINVAL.
func (e *Event) Wait(timeout time.Duration) (bool, error) {
	if err := e.phaseTimeout("wait", Armed, timeout); err != nil {
		return false, err
	}
	e.protect()
	defer e.Unref()
	return e.wait(timeout)
}

// wait is the wait phase, ending Initial when nothing is pending.
func (e *Event) wait(timeout time.Duration) (bool, error) {
	p, err := e.waitSources(timeout)
	return e.endPhase("wait", p, err, Initial)
}

// waitSources polls for at most timeout and turns what the kernel reported
// into pending sources, in sd_event_wait's order: children, the watchdog,
// inotify, then the timers of each clock. It reports whether a source is
// pending.
func (e *Event) waitSources(timeout time.Duration) (bool, error) {
	if e.exitRequested {
		return true, nil
	}
	timeout, err := e.pollTimeout(timeout)
	if err != nil {
		return false, err
	}
	if err := e.poll(timeout); err != nil {
		return false, err
	}
	if e.needChild {
		if err := e.processChildren(); err != nil {
			return false, err
		}
	}
	if err := e.processWatchdog(); err != nil {
		return false, err
	}
	if e.nBuffered > 0 {
		if err := e.processInotify(); err != nil {
			return false, err
		}
	}
	if ended, err := e.processTimers(); err != nil || ended {
		// A rate limit ended and its expire callback ran. As in sd-event
		// 262 the phase reports pending and the Dispatch that follows
		// runs nothing: what the callback changed counts from the next
		// iteration, which an embedding poller then begins at once.
		e.expireRan = ended && err == nil
		return e.expireRan, err
	}
	return e.nextPending() != nil, nil
}

// pollTimeout is how long the poll may block: not at all when something is
// ready already, -1 for no limit.
func (e *Event) pollTimeout(timeout time.Duration) (time.Duration, error) {
	if timeout != 0 {
		// Code run since Prepare (the caller's, between the phases) may
		// have made a source pending or a timer due: then do not block.
		due, err := e.armTimers()
		if err != nil {
			return 0, err
		}
		if due || e.nextPending() != nil {
			timeout = 0
		}
	}
	if e.nBuffered > 0 {
		return 0, nil // buffered inotify events are ready now
	}
	if timeout == Infinity {
		return -1, nil
	}
	return timeout, nil
}

// poll waits once on the epoll fd and marks what it reports; when the event
// buffer filled up it grows it and polls again without waiting, as sd-event.
func (e *Event) poll(timeout time.Duration) error {
	for first := true; ; first = false {
		n, err := e.epollWait(timeout)
		if err != nil {
			return err
		}
		if first {
			e.takeTimestamp()
		}
		for i := range e.events[:n] {
			if err := e.processEvent(&e.events[i]); err != nil {
				return err
			}
		}
		if first && e.parker != nil && e.parker.TakeKick() {
			// The signal hub woke the parked loop without its eventfd.
			if err := e.processSignalMask(); err != nil {
				return err
			}
		}
		if n < len(e.events) || len(e.events) >= 10*max(e.nSources, 1) {
			return nil
		}
		e.events = make([]unix.EpollEvent, 2*len(e.events))
		timeout = 0
	}
}

// epollWait waits on the epoll fd for at most timeout (negative: no limit).
// With one P (GOMAXPROCS=1) a wait that may block parks the goroutine in
// the Go runtime's poller (sys.Parker): blocked in epoll_pwait2, as C
// blocks, it would hold the only P until sysmon takes it away, 20 µs or
// more later, and every goroutine that wakes the loop (os/signal's, the
// signal hub's, an Invoke caller) and then the woken loop itself would wait
// for that hand-off, a thread wake-up each. With more Ps the kernel wait
// costs less: a goroutine that wakes the loop runs on a free P, and the
// loop's thread resumes with its P, where the runtime's poller takes
// another thread and a scheduling round to hand it the wake-up.
//
// Parking costs two more epoll_wait calls per blocking wait and a trip
// through the scheduler, and once the epoll fd is in the runtime's poller
// every event the kernel queues on it is queued on the poller's too. It
// pays only when another goroutine may need the P: with the loop's the only
// goroutine of the process (runtime.NumGoroutine counts neither the
// runtime's own nor those that ended), nothing waits for the hand-off, and
// the loop waits in the kernel as C does.
func (e *Event) epollWait(timeout time.Duration) (int, error) {
	if timeout == 0 || runtime.GOMAXPROCS(0) > 1 || runtime.NumGoroutine() == 1 {
		return e.look.Wait(e.epfd, e.events, timeout)
	}
	if e.parker == nil && !e.noParker {
		p, err := sys.NewParker(e.epfd)
		if err != nil {
			// The kernel wait works all the same.
			e.noParker = true
			if e.debugOn() {
				e.logLoop("waiting in the kernel: cannot park in the Go runtime's poller", slog.Any("err", err))
			}
		}
		e.parker = p
		e.sig.parker.Store(p)
	}
	if e.parker == nil {
		return e.look.Wait(e.epfd, e.events, timeout)
	}
	return e.parker.Wait(e.events, timeout)
}

func (e *Event) processEvent(ev *unix.EpollEvent) error {
	data := sys.Data(ev)
	if data >= tagInotify {
		if d := e.inotifyTable[data-tagInotify]; d != nil {
			return e.readInotify(d)
		}
		return nil
	}
	if data == tagSignal {
		return e.processSignals()
	}
	if data == tagWatchdog {
		return sys.ReadCounter(e.wd.fd)
	}
	if data >= tagTimer {
		d := &e.clocks[data-tagTimer]
		d.next = Infinity // the timerfd fired and is now disarmed
		return sys.ReadCounter(d.fd)
	}
	if data >= uint64(len(e.slots)) {
		return nil
	}
	if s := e.slots[data]; s != nil {
		return e.ready(s, ev.Events)
	}
	return nil
}

// markReady makes s pending with the events a poll reported. A source that
// is still pending collects them, so that readability and writability seen
// in different polls both reach it.
func (e *Event) markReady(s *Source, revents *uint32, events uint32) {
	if s.pending {
		*revents |= events
	} else {
		*revents = events
	}
	e.setPending(s, true)
}

// takeTimestamp starts the time of the iteration that follows a poll: what
// Now returns until the next poll. The clocks that timers (or the watchdog)
// need are read now; any other is read when Now first asks for it, a few
// microseconds later at most, and kept for the rest of the iteration.
func (e *Event) takeTimestamp() {
	e.ts.set = true
	e.ts.have = [nClocks]bool{}
	for i := range e.clocks {
		if e.clocks[i].earliest.Len() > 0 || (i == clockMonotonic && e.watchdog) {
			e.timestamp(i)
		}
	}
}

// timestamp returns clock i's time of this iteration.
func (e *Event) timestamp(i int) time.Duration {
	if !e.ts.have[i] {
		e.ts.clock[i], _ = sys.Now(clockIDs[i])
		e.ts.have[i] = true
		// The _ALARM clocks read as their base clocks.
		switch i {
		case clockRealtime, clockRealtimeAlarm:
			e.ts.clock[clockRealtime], e.ts.clock[clockRealtimeAlarm] = e.ts.clock[i], e.ts.clock[i]
			e.ts.have[clockRealtime], e.ts.have[clockRealtimeAlarm] = true, true
		case clockBoottime, clockBoottimeAlarm:
			e.ts.clock[clockBoottime], e.ts.clock[clockBoottimeAlarm] = e.ts.clock[i], e.ts.clock[i]
			e.ts.have[clockBoottime], e.ts.have[clockBoottimeAlarm] = true, true
		}
	}
	return e.ts.clock[i]
}

// Dispatch runs the second phase (sd_event_dispatch): it calls the handler
// of the pending source that comes first, or, once Exit was called, the
// next exit source; after a Prepare or Wait whose poll ran a rate limit's
// expire callback it runs nothing, as in systemd 262. It reports false only
// when exiting has finished.
func (e *Event) Dispatch() (bool, error) {
	if err := e.phase("dispatch", Pending); err != nil {
		return false, err
	}
	return e.dispatchIteration()
}

// dispatchIteration is the dispatch phase: it runs the next pending source,
// or once Exit was called the next exit source, and sets the state the
// phase leaves. It reports false only when exiting has finished.
func (e *Event) dispatchIteration() (bool, error) {
	if e.expireRan {
		// The poll ran a rate limit's expire callback: this iteration
		// ends here, even when the callback asked the loop to exit.
		e.expireRan = false
		e.state = Initial
		return true, nil
	}
	s, state := e.nextDispatch()
	if state == Finished {
		e.finishExit()
		return false, nil
	}
	var err error
	if s != nil {
		e.protect()
		defer e.Unref()
		if state == Exiting {
			e.iteration++
		}
		e.state = state
		err = e.dispatch(s)
	}
	e.state = Initial
	return true, opErr("dispatch", err)
}

// nextDispatch returns the source to dispatch and the state its handler
// runs in: Exiting for exit sources, Finished when none is left.
func (e *Event) nextDispatch() (*Source, State) {
	if !e.exitRequested {
		return e.nextPending(), Running
	}
	if p, ok := e.exit.Peek(); ok && !p.offline() {
		return p, Exiting
	}
	return nil, Finished
}

// finishExit ends the loop after its last exit source: Invoke refuses from
// now on.
func (e *Event) finishExit() {
	e.state = Finished
	e.inv.mu.Lock()
	e.inv.closed = true
	e.inv.mu.Unlock()
}

// Run runs one iteration, Prepare, Wait (for at most timeout) and Dispatch
// (sd_event_run). It reports true when the iteration reached the dispatch
// phase, as C returns 1 (also for the Run that finds no exit source left and
// finishes the loop, and for one whose poll ran a rate limit's expire
// callback and so dispatches nothing, as in systemd 262), false when the
// timeout passed or the loop woke with nothing to dispatch. A handler may
// not call Run on its own loop (EBUSY).
func (e *Event) Run(timeout time.Duration) (bool, error) {
	if err := e.phaseTimeout("run", Initial, timeout); err != nil {
		return false, err
	}
	e.protect()
	defer e.Unref()
	return e.run(timeout)
}

// Run yields to the Go scheduler (runtime.Gosched) when yieldAfter has
// passed since it last did. A goroutine that has not been scheduled for
// 10 ms looks long-running to sysmon, which then preempts it, and with one
// P takes the P away at its next system call and goes back to waking every
// 20 µs: a busy loop that never parks, or one that blocks in epoll_pwait2,
// cost thousands of context switches a second, and other goroutines waited
// for the preemption. A yield costs 0.2 µs with one P and several µs with
// an idle P (the runtime wakes a thread for it), so it is rare: at most one
// every 2 ms.
//
// The clock is read every yieldStep iterations: every yieldCheck while
// iterations are short (a clock read costs about a tenth of a defer
// dispatch), and as soon as a read finds that the iterations since the last
// one took longer than yieldAfter (a proxy's iteration that splices
// megabytes takes milliseconds), often enough that the next read comes
// after about yieldAfter/2; the step doubles back while reads come less
// than yieldAfter/16 apart.
const (
	yieldAfter = 2 * time.Millisecond
	yieldCheck = 32
)

// yield is Run's occasional yield to the Go scheduler: it reads the clock,
// yields if yieldAfter has passed since the last yield, and sets the
// iteration of the next call.
func (e *Event) yield() {
	now := sys.Monotonic()
	since := now - e.yieldChecked // what the last yieldStep iterations took
	e.yieldChecked = now
	step := max(time.Duration(e.yieldStep), 1)
	switch {
	case since > yieldAfter/2:
		step = max(step*(yieldAfter/2)/since, 1)
	case since < yieldAfter/16:
		step = min(2*step, yieldCheck)
	}
	e.yieldStep = uint32(step)
	e.yieldNext = e.iteration + uint64(step)
	if now-e.yielded >= yieldAfter {
		e.yielded = now
		runtime.Gosched()
	}
}

func (e *Event) run(timeout time.Duration) (bool, error) {
	if e.iteration >= e.yieldNext {
		e.yield()
	}
	if e.profilingDelays() {
		e.delayRunStart()
	}
	p, err := e.prepareIteration()
	if err == nil && !p {
		p, err = e.wait(timeout)
	}
	if e.profilingDelays() {
		e.delayRunPolled()
	}
	if err != nil || !p {
		return false, err
	}
	if _, err := e.dispatchIteration(); err != nil {
		return false, err
	}
	return true, nil
}

// Loop runs iterations until the loop has finished exiting and returns the
// exit code (sd_event_loop). When a source with exit-on-failure failed, the
// code is the negated errno of its error and err wraps that error. A
// finished loop gives EBUSY, as in C.
func (e *Event) Loop() (int, error) {
	return e.LoopContext(context.Background())
}

// LoopContext is Loop that also returns when ctx is done, with an error
// wrapping ctx.Err(). The loop stays usable: it is between iterations, and a
// later Loop carries on.
func (e *Event) LoopContext(ctx context.Context) (int, error) {
	if !e.valid() {
		return 0, opErr("loop", unix.EINVAL)
	}
	if e.state != Initial {
		return 0, opErr("loop", unix.EBUSY)
	}
	e.protect()
	defer e.Unref()
	done := ctx.Done()
	if done != nil {
		stop := context.AfterFunc(ctx, e.wake)
		defer stop()
	}
	for e.state != Finished {
		if done != nil {
			select {
			case <-done:
				return 0, opErr("loop", ctx.Err())
			default:
			}
		}
		if _, err := e.run(Infinity); err != nil {
			return -int(errnoOf(err)), err
		}
	}
	if e.exitErr != nil {
		return e.exitCode, opErr("loop", e.exitErr)
	}
	return e.exitCode, nil
}

// Exit asks the loop to exit with code (sd_event_exit): from the next
// iteration on, exit sources are dispatched, one per iteration, and no other
// source ever again. A later call replaces the code.
func (e *Event) Exit(code int) error {
	if !e.valid() {
		return opErr("exit", unix.EINVAL)
	}
	if e.state == Finished {
		return opErr("exit", unix.ESTALE)
	}
	e.requestExit(code, nil)
	return nil
}

func (e *Event) requestExit(code int, cause error) {
	e.exitRequested = true
	e.exitCode = code
	e.exitErr = cause
}

// ExitCode returns the code passed to Exit (sd_event_get_exit_code);
// ENODATA when Exit was not called.
func (e *Event) ExitCode() (int, error) {
	if !e.valid() {
		return 0, opErr("exit code", unix.EINVAL)
	}
	if !e.exitRequested {
		return 0, opErr("exit code", unix.ENODATA)
	}
	return e.exitCode, nil
}

// Now returns the time of clock as of this iteration (sd_event_now),
// constant while the iteration's handlers run, or the live clock before the
// first poll. For a clock that timers use it is the time right after the
// latest poll, as in C; a clock no timer uses is read at its first Now in
// the iteration instead (microseconds later at most), which spares every
// iteration clock reads nobody needs. The _ALARM clocks read as REALTIME
// and BOOTTIME; other clocks give EOPNOTSUPP.
func (e *Event) Now(clock int) (time.Duration, error) {
	t, err := e.now(clock)
	return t, opErr("now", err)
}

func (e *Event) now(clock int) (time.Duration, error) {
	if !e.valid() {
		return 0, unix.EINVAL
	}
	i := clockIndex(clock)
	if i < 0 {
		return 0, unix.EOPNOTSUPP
	}
	if !e.ts.set {
		return sys.Now(clock)
	}
	return e.timestamp(i), nil
}

// Fd returns the loop's epoll fd (sd_event_get_fd), for embedding the loop
// in another poller: it is readable when a watched fd or timer is ready.
// Drive the loop with Prepare, poll Fd, then Wait(0) and Dispatch.
func (e *Event) Fd() int {
	if e == nil {
		return -1
	}
	return e.epfd
}

// State returns the loop's state (sd_event_get_state).
func (e *Event) State() State {
	if e == nil {
		return Finished
	}
	return e.state
}

// Iteration returns the number of iterations begun (sd_event_get_iteration).
func (e *Event) Iteration() uint64 {
	if e == nil {
		return 0
	}
	return e.iteration
}

// SetExitOnIdle makes the loop exit with code 0 once it is idle: no enabled
// source remains other than exit sources and post sources not pending
// (sd_event_set_exit_on_idle). As in sd-event 262 Prepare checks this
// first, before it counts the iteration and runs prepare callbacks.
func (e *Event) SetExitOnIdle(on bool) error {
	if !e.valid() {
		return opErr("set exit on idle", unix.EINVAL)
	}
	e.exitOnIdle = on
	return nil
}

// ExitOnIdle reports whether exit-on-idle is set (sd_event_get_exit_on_idle).
func (e *Event) ExitOnIdle() bool { return e != nil && e.exitOnIdle }

// nextPending returns the pending source that comes first, if it may run.
func (e *Event) nextPending() *Source {
	p, ok := e.pending.Peek()
	if !ok || p.offline() {
		return nil
	}
	return p
}

// runPrepare calls the prepare callbacks of the online sources once per
// iteration, those prepared longest ago first.
func (e *Event) runPrepare() {
	for {
		s, ok := e.prepare.Peek()
		// A queued source has its prepare callback, hence its extra part.
		if !ok || s.extra.prepareIter == e.iteration || s.offline() {
			return
		}
		s.extra.prepareIter = e.iteration
		e.prepare.Reshuffle(s)
		e.afterCallback(s, callbackPrepare, e.runCallback(s, callbackPrepare, s.extra.prepareFn))
	}
}

// callback runs a prepare or expire callback of s. Should it panic, the
// loop is left between iterations and usable, and a source unreferenced in
// it is freed, before the panic goes on.
func (e *Event) callback(s *Source, fn Handler) error {
	s.dispatching = true
	ok := false
	defer func() {
		if !ok {
			s.dispatching = false
			e.state = Initial
			if s.nref == 0 {
				s.release()
			}
		}
	}()
	err := fn(s)
	ok = true
	s.dispatching = false
	return err
}

// afterCallback applies the outcome of a callback of kind cb: an error is
// logged, exits the loop when the source has exit-on-failure and disables
// it; a source unreferenced during its callback is freed now.
func (e *Event) afterCallback(s *Source, cb callbackKind, err error) {
	if err != nil {
		e.logFailure(s, cb, err)
		if s.exitOnFailure {
			what := s.kind().String() + " source"
			if s.hasDesc {
				what += fmt.Sprintf(" %q", s.description)
			}
			e.requestExit(-int(errnoOf(err)), fmt.Errorf("exit on failure of %s: %w", what, err))
		}
	}
	if s.nref == 0 {
		s.release()
	} else if err != nil {
		if s.e == e {
			_ = e.setEnabled(s, source.Off) // turning off cannot fail; C asserts it
		} else {
			s.enabledByte = int8(source.Off)
		}
	}
}

// dispatch runs one source's handler with all that sd-event's
// source_dispatch does around it: the rate limit check, clearing pending,
// marking post sources, the kind's work before the handler, switching
// ONESHOT off, the handler and the kind's work after it, the outcome.
func (e *Event) dispatch(s *Source) error {
	if !s.rl().below() {
		return e.enterRatelimited(s)
	}
	if s.kind() == source.Defer || s.kind() == source.Exit {
		// Always pending, these count as pending since this dispatch, so
		// that they go behind what became pending before (sd-event 262).
		s.pendingIter = e.iteration
		e.ppReshuffle(s)
	} else {
		e.setPending(s, false)
	}
	e.pendPost(s)
	if run, err := e.beforeHandler(s); !run {
		if err != nil {
			e.afterCallback(s, callbackHandler, err)
			e.pendPost(s)
		}
		return nil
	}
	// ONESHOT is switched off before the handler runs, so that the handler
	// sees Off and may enable the source again.
	if s.enabled() == source.OneShot {
		if err := e.setEnabled(s, source.Off); err != nil {
			return err
		}
	}
	var err error
	if e.observing() {
		err = e.runHandlerObserved(s)
	} else {
		err = e.runHandler(s)
	}
	e.afterCallback(s, callbackHandler, err)
	e.pendPost(s) // those added or switched on by the handler
	if s.e == e {
		e.afterDispatch(s)
	}
	return nil
}

// runHandler runs the handler of s as the loop's current source, then its
// kind's afterHandler. Should the handler panic, the loop is left between
// iterations and usable, and a source unreferenced in it is freed, before
// the panic goes on.
func (e *Event) runHandler(s *Source) error {
	prev := e.current
	e.current = s
	s.dispatching = true
	ok := false
	defer func() {
		if !ok {
			s.dispatching = false
			e.current = prev
			e.state = Initial
			if s.nref == 0 {
				s.release()
			}
		}
	}()
	err := s.call()
	s.afterHandler()
	ok = true
	s.dispatching = false
	e.current = prev
	return err
}

// pollNew puts fd, a loop-owned kernel object just created as what
// ("timerfd", "eventfd", ...), into the loop's epoll under data, closing it
// if that fails; err is the error of its creation.
func (e *Event) pollNew(fd int, err error, what string, data uint64) (int, error) {
	if err != nil {
		return -1, fmt.Errorf("create %s: %w", what, err)
	}
	if err := sys.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, data); err != nil {
		_ = sys.Close(fd)
		return -1, fmt.Errorf("add %s to epoll: %w", what, err)
	}
	return fd, nil
}
