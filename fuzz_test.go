//go:build linux

package sdevent_test

// FuzzDispatchModel drives a real loop and a small reference model of the
// dispatch rules side by side with a sequence of operations decoded from the
// fuzzer's bytes, and compares them after every operation.
//
// The model is in fuzz_model_test.go; this file holds the harness: the
// decoding of the fuzzer's bytes into operations, the seeds, and the
// comparison of the real loop with the model after every operation.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// Operations: a byte (modulo 32; the values past the last operation stand
// for the common ones, dmMoreOps), then its argument bytes. A missing byte
// reads as 0. prio indexes dmPrios, behaviour is a dmB* value (modulo 16),
// src picks a live source (modulo their number, oldest first).
const (
	dmOpRun byte = iota // Run(0)
	// how: Prepare; then a call in the wrong phase (how%4 == 1) or Exit(how>>2)
	// (how%4 == 2); Wait(0) when armed; Dispatch when pending.
	dmOpPhases
	dmOpAddDefer         // prio, behaviour
	dmOpAddPost          // prio, behaviour
	dmOpAddExit          // prio, behaviour
	dmOpAddTime          // what (dmTime*), prio, behaviour
	dmOpAddIO            // what (dmIO*), prio, behaviour
	dmOpSetEnabled       // src, mode (dmMode*)
	dmOpSetPriority      // src, prio
	dmOpUnref            // src
	dmOpSetRatelimit     // src, what (dmRatelimits)
	dmOpLeaveRatelimit   // src
	dmOpExit             // code
	dmOpWrite            // fd: make eventfd fd%3 readable
	dmOpDrain            // fd: read eventfd fd%3 empty
	dmOpSetExitOnFailure // src, on (odd)
	dmOpSetTime          // src, at (even: 0, odd: Infinity)
	dmOpSetExitOnIdle    // on (odd)
	dmNumOps
)

// dmMoreOps are what the operation bytes dmNumOps to 31 stand for.
var dmMoreOps = [32 - dmNumOps]byte{dmOpRun, dmOpRun, dmOpRun, dmOpRun, dmOpRun, dmOpRun, dmOpSetEnabled, dmOpSetEnabled,
	dmOpAddDefer, dmOpAddIO, dmOpAddTime, dmOpWrite, dmOpDrain, dmOpSetRatelimit}

// Behaviours of a source's handler, chosen when it is added (the byte
// modulo 16; the values past the last behaviour are dmBNone, so that most
// handlers neither fail nor exit).
const (
	dmBNone     byte = iota // returns nil
	dmBErrno                // returns an error wrapping EPROTO
	dmBErrPlain             // returns an error that wraps no errno (EIO)
	dmBExit                 // calls Exit(dmExitCode(id))
	dmBOn                   // switches its own source On
	dmBUnref                // drops the last reference to its own source
	dmBAddPost              // adds a post source (priority 0, behaviour dmBNone)
	dmBDefault              // a nil handler: the default one exits with the userdata, dmDefaultCode(id)
	dmNumBehaviours
)

var dmBehaviourNames = [...]string{"none", "errno", "plain error", "exit", "on", "unref", "add post", "default"}

// Argument values, named for the seeds.
const (
	dmPZero, dmPPlus, dmPMinus byte = 0, 1, 2 // priorities 0, 1, -1 (dmPrios)

	dmModeOff, dmModeOn, dmModeOneShot, dmModeBad byte = 0, 1, 2, 4 // dmModes

	dmTimeDue, dmTimeRealtimeDue, dmTimeBoottimeDue, dmTimeBadClock, dmTimeNever byte = 0, 1, 2, 3, 4
	dmTimeBadAccuracy                                                            byte = 7 << 3

	// fd index in the low 2 bits (3: fd -1), events (dmEvents) above.
	dmIOIn, dmIOOut, dmIOInOut, dmIOBadEvents, dmIOBadFd byte = 0 << 2, 1 << 2, 2 << 2, 4 << 2, 3
)

var (
	dmPrios  = [8]priority.Priority{0, 1, -1, 0, 1, -1, math.MinInt64, math.MaxInt64}
	dmModes  = [5]source.Enabled{source.Off, source.On, source.OneShot, source.Off, 7}
	dmEvents = [5]uint32{unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLIN | unix.EPOLLOUT, unix.EPOLLIN, unix.EPOLLONESHOT}
	dmClocks = [4]int{unix.CLOCK_MONOTONIC, unix.CLOCK_REALTIME, unix.CLOCK_BOOTTIME, unix.CLOCK_PROCESS_CPUTIME_ID}

	dmRatelimits = [...]struct {
		interval time.Duration
		burst    uint
	}{{time.Hour, 1}, {time.Hour, 2}, {time.Hour, 3}, {0, 0}, {0, 1}, {-time.Second, 1}, {time.Hour, 0}}
)

const (
	dmMaxSources = 16 // sources created per input, by operations and by handlers
	dmMaxOps     = 64
	dmFds        = 3
)

func dmExitCode(id int) int    { return 1000 + id }
func dmDefaultCode(id int) int { return 2000 + id }

// dmSeeds are small scenarios, one rule each, like the named inputs in
// testdata/fuzz/FuzzDispatchModel. SDEVENT_FUZZ_TRACE=1 go test -v -run
// FuzzDispatchModel logs the operations of each input and what they did.
var dmSeeds = [][]byte{
	// A ONESHOT defer runs once and is off in its handler; a post source runs after it.
	{dmOpAddDefer, dmPZero, dmBNone, dmOpAddPost, dmPZero, dmBNone, dmOpRun, dmOpRun, dmOpRun},
	// Priorities: the defer of priority -1 first, then the older of two equal ones.
	{dmOpAddDefer, dmPZero, dmBNone, dmOpAddDefer, dmPZero, dmBNone, dmOpAddDefer, dmPMinus, dmBNone,
		dmOpRun, dmOpRun, dmOpRun, dmOpRun},
	// Two On defer sources take turns.
	{dmOpAddDefer, dmPZero, dmBNone, dmOpSetEnabled, 0, dmModeOn, dmOpAddDefer, dmPZero, dmBNone, dmOpSetEnabled, 1, dmModeOn,
		dmOpRun, dmOpRun, dmOpRun, dmOpRun},
	// A readable fd, level-triggered, and a due timer that re-enables itself take turns; Off clears pending.
	{dmOpAddIO, dmIOIn, dmPZero, dmBNone, dmOpWrite, 0, dmOpAddTime, dmTimeDue, dmPZero, dmBOn,
		dmOpRun, dmOpRun, dmOpRun, dmOpSetEnabled, 0, dmModeOff, dmOpRun},
	// Exit: exit sources one per iteration by priority, then Finished and ESTALE.
	{dmOpAddExit, dmPPlus, dmBNone, dmOpAddExit, dmPMinus, dmBExit, dmOpAddDefer, dmPZero, dmBNone, dmOpExit, 7,
		dmOpRun, dmOpRun, dmOpRun, dmOpRun, dmOpAddDefer, dmPZero, dmBNone},
	// Rate limit: an On defer with a burst of 2 is held back on the third attempt.
	{dmOpAddDefer, dmPZero, dmBNone, dmOpSetEnabled, 0, dmModeOn, dmOpSetRatelimit, 0, 1,
		dmOpRun, dmOpRun, dmOpRun, dmOpRun, dmOpLeaveRatelimit, 0, dmOpRun},
	// Exit on failure with the negated errno; the phases one by one.
	{dmOpAddDefer, dmPZero, dmBErrno, dmOpSetExitOnFailure, 0, 1, dmOpPhases, 0, dmOpPhases, 1, dmOpPhases, 0},
	// Exit on idle: once the timer that never fires is gone, only the post source is left.
	{dmOpAddTime, dmTimeNever, dmPZero, dmBNone, dmOpAddPost, dmPZero, dmBNone, dmOpAddDefer, dmPZero, dmBNone,
		dmOpSetExitOnIdle, 1, dmOpRun, dmOpRun, dmOpRun, dmOpUnref, 0, dmOpRun, dmOpRun},
	// The default handler exits with the userdata, and an exit source runs.
	{dmOpAddExit, dmPZero, dmBNone, dmOpAddDefer, dmPZero, dmBDefault, dmOpRun, dmOpRun, dmOpRun},
}

func FuzzDispatchModel(f *testing.F) {
	for _, s := range dmSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newDMHarness(t)
		defer h.close()
		h.apply(ops)
	})
}

type dmSpec struct {
	kind dmKind
	beh  byte
}

type dmHarness struct {
	t     *testing.T
	e     *sdevent.Event
	fds   [dmFds]int
	src   []*sdevent.Source // by id; nil once freed
	spec  []dmSpec
	stray []*sdevent.Source // added although the model said no
	calls []dmCall          // handler calls of the current operation
	m     dmModel
	trace []string
}

func newDMHarness(t *testing.T) *dmHarness {
	h := &dmHarness{t: t}
	for i := range h.fds {
		h.fds[i] = -1
	}
	e, err := sdevent.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.e = e
	for i := range h.fds {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			h.close()
			t.Fatalf("eventfd: %v", err)
		}
		h.fds[i] = fd
	}
	return h
}

func (h *dmHarness) close() {
	for _, s := range h.src {
		s.Unref()
	}
	for _, s := range h.stray {
		s.Unref()
	}
	h.e.Unref()
	for _, fd := range h.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

func (h *dmHarness) tracef(format string, args ...any) {
	h.trace = append(h.trace, fmt.Sprintf(format, args...))
}

func (h *dmHarness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s\noperations:\n\t%s", fmt.Sprintf(format, args...), strings.Join(h.trace, "\n\t"))
}

// wantErr checks an error against the errno the model predicts (0: none).
func (h *dmHarness) wantErr(what string, err error, want unix.Errno) {
	h.t.Helper()
	switch {
	case want == 0 && err != nil:
		h.fatalf("%s: got error %v, the model expects none", what, err)
	case want != 0 && !errors.Is(err, want):
		h.fatalf("%s: got error %v, the model expects %s", what, err, unix.ErrnoName(want))
	}
	var se *sdevent.Error
	if err != nil && !errors.As(err, &se) {
		h.fatalf("%s: error %v is not an *sdevent.Error", what, err)
	}
}

// opErr is wantErr for the operation traced last, whose trace line notes
// the error expected.
func (h *dmHarness) opErr(err error, want unix.Errno) {
	h.t.Helper()
	last := &h.trace[len(h.trace)-1]
	if want != 0 {
		*last += ": " + unix.ErrnoName(want)
	}
	h.wantErr(*last, err, want)
}

func dmErrno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.Errno(math.MaxUint16) // an error that wraps no errno
}

type dmReader struct {
	b []byte
	i int
}

func (r *dmReader) done() bool { return r.i >= len(r.b) }

func (r *dmReader) next() byte {
	if r.done() {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (h *dmHarness) apply(data []byte) {
	in := &dmReader{b: data}
	for n := 0; n < dmMaxOps && !in.done(); n++ {
		h.step(in)
		h.check()
	}
	if os.Getenv("SDEVENT_FUZZ_TRACE") != "" {
		h.t.Logf("\n\t%s", strings.Join(h.trace, "\n\t"))
	}
	if h.m.finished {
		_, err := h.e.Loop()
		h.wantErr("Loop on a finished loop", err, unix.EBUSY)
	}
}

// pick returns a live source chosen by b, or nil when there is none.
func (h *dmHarness) pick(b byte) *dmSource {
	var live []*dmSource
	for _, s := range h.m.srcs {
		if !s.freed {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[int(b)%len(live)]
}

func (h *dmHarness) step(in *dmReader) {
	m := &h.m
	op := in.next() % 32
	if op >= dmNumOps {
		op = dmMoreOps[op-dmNumOps]
	}
	switch op {
	case dmOpRun:
		h.run()
	case dmOpPhases:
		h.phases(in.next())
	case dmOpAddDefer, dmOpAddPost, dmOpAddExit:
		p, b := in.next(), in.next()
		h.add(dmKind(op-dmOpAddDefer), 0, p, b)
	case dmOpAddTime:
		w, p, b := in.next(), in.next(), in.next()
		h.add(dmKTime, w, p, b)
	case dmOpAddIO:
		w, p, b := in.next(), in.next(), in.next()
		h.add(dmKIO, w, p, b)
	case dmOpSetEnabled:
		s, mode := h.pick(in.next()), dmModes[in.next()%5]
		if s == nil {
			return
		}
		h.tracef("%v.SetEnabled(%v)", s, mode)
		h.opErr(h.src[s.id].SetEnabled(mode), m.setEnabled(s, mode))
	case dmOpSetPriority:
		s, p := h.pick(in.next()), dmPrios[in.next()%8]
		if s == nil {
			return
		}
		h.tracef("%v.SetPriority(%d)", s, p)
		want := unix.ESTALE
		if !m.finished {
			want, s.prio = 0, p
		}
		h.opErr(h.src[s.id].SetPriority(p), want)
	case dmOpUnref:
		s := h.pick(in.next())
		if s == nil {
			return
		}
		h.tracef("%v.Unref()", s)
		h.src[s.id].Unref()
		h.src[s.id], s.freed = nil, true
	case dmOpSetRatelimit:
		s, r := h.pick(in.next()), dmRatelimits[int(in.next())%len(dmRatelimits)]
		if s == nil {
			return
		}
		h.tracef("%v.SetRatelimit(%v, %d)", s, r.interval, r.burst)
		var want unix.Errno
		switch {
		case s.kind == dmKPost || s.kind == dmKExit:
			want = unix.EDOM
		case r.interval < 0:
			want = unix.EINVAL
		default: // a zero interval or burst is no limit, as in C
			if want = m.leaveRatelimit(s); want == 0 {
				s.burst, s.count = r.burst, 0
				if r.interval == 0 {
					s.burst = 0
				}
			}
		}
		h.opErr(h.src[s.id].SetRatelimit(r.interval, r.burst), want)
	case dmOpLeaveRatelimit:
		s := h.pick(in.next())
		if s == nil {
			return
		}
		h.tracef("%v.LeaveRatelimit()", s)
		was, err := h.src[s.id].LeaveRatelimit()
		wantWas := s.ratelimited
		want := m.leaveRatelimit(s)
		h.opErr(err, want)
		if want != 0 {
			wantWas = false
		}
		if was != wantWas {
			h.fatalf("LeaveRatelimit of %v returned %v, the model expects %v", s, was, wantWas)
		}
	case dmOpExit:
		code := int(in.next())
		h.tracef("Exit(%d)", code)
		want := unix.ESTALE
		if !m.finished {
			want = 0
			m.requestExit(code)
		}
		h.opErr(h.e.Exit(code), want)
	case dmOpWrite, dmOpDrain:
		i := int(in.next()) % dmFds
		if op == dmOpWrite {
			h.tracef("write eventfd %d", i)
			if _, err := unix.Write(h.fds[i], []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
				h.fatalf("write eventfd: %v", err)
			}
		} else {
			h.tracef("drain eventfd %d", i)
			var b [8]byte
			if _, err := unix.Read(h.fds[i], b[:]); err != nil && err != unix.EAGAIN {
				h.fatalf("read eventfd: %v", err)
			}
		}
		m.readable[i] = op == dmOpWrite
	case dmOpSetExitOnFailure:
		s, on := h.pick(in.next()), in.next()%2 == 1
		if s == nil {
			return
		}
		h.tracef("%v.SetExitOnFailure(%v)", s, on)
		want := unix.EDOM
		if s.kind != dmKExit {
			want, s.exitOnFailure = 0, on
		}
		h.opErr(h.src[s.id].SetExitOnFailure(on), want)
	case dmOpSetTime:
		s, at := h.pick(in.next()), time.Duration(0)
		if in.next()%2 == 1 {
			at = sdevent.Infinity
		}
		if s == nil {
			return
		}
		h.tracef("%v.SetTime(%s)", s, dmDur(at))
		var want unix.Errno
		switch {
		case s.kind != dmKTime:
			want = unix.EDOM
		case m.finished:
			want = unix.ESTALE
		default:
			s.pending, s.at = false, at
		}
		h.opErr(h.src[s.id].SetTime(at), want)
	case dmOpSetExitOnIdle:
		on := in.next()%2 == 1
		h.tracef("SetExitOnIdle(%v)", on)
		m.exitOnIdle = on
		h.opErr(h.e.SetExitOnIdle(on), 0)
	}
}

func (h *dmHarness) add(k dmKind, what, pb, bb byte) {
	if len(h.src) >= dmMaxSources {
		return
	}
	id, prio, beh := len(h.src), dmPrios[pb%8], bb%16
	if beh >= dmNumBehaviours {
		beh = dmBNone
	}
	var (
		s      *sdevent.Source
		err    error
		desc   string
		clockI int
		at     time.Duration
		badAcc bool
		fdI    = -1
		fd     = -1
		events uint32
	)
	switch k {
	case dmKDefer:
		desc = "AddDefer"
		s, err = h.e.AddDefer(h.handler(id, beh))
	case dmKPost:
		desc = "AddPost"
		s, err = h.e.AddPost(h.handler(id, beh))
	case dmKExit:
		desc = "AddExit"
		s, err = h.e.AddExit(h.handler(id, beh))
	case dmKTime:
		clockI, badAcc = int(what%4), what>>3&7 == 7
		acc := time.Nanosecond
		if badAcc {
			acc = sdevent.Infinity
		}
		if what>>2&1 == 1 {
			at = sdevent.Infinity
		}
		desc = fmt.Sprintf("AddTime(clock %d, %s, accuracy %s)", dmClocks[clockI], dmDur(at), dmDur(acc))
		var th sdevent.TimeHandler
		if beh != dmBDefault {
			th = func(s *sdevent.Source, t time.Duration) error { return h.onCall(id, s, -1, 0, t) }
		}
		s, err = h.e.AddTime(dmClocks[clockI], at, acc, th)
	case dmKIO:
		if what%4 < dmFds {
			fdI, fd = int(what%4), h.fds[what%4]
		}
		events = dmEvents[what>>2%5]
		desc = fmt.Sprintf("AddIO(eventfd %d, %#x)", fdI, events)
		var ih sdevent.IOHandler
		if beh != dmBDefault {
			ih = func(s *sdevent.Source, fd int, revents uint32) error { return h.onCall(id, s, fd, revents, 0) }
		}
		s, err = h.e.AddIO(fd, events, ih)
	}
	ms, want := h.m.add(k, beh, prio, clockI, at, badAcc, fdI, events)
	if want == 0 {
		desc = fmt.Sprintf("#%d = %s", id, desc)
	}
	h.tracef("%s, priority %d, handler %s", desc, prio, dmBehaviourNames[beh])
	h.opErr(err, want)
	if want != 0 {
		return
	}
	if s == nil {
		h.fatalf("%s returned no source and no error", desc)
	}
	if ms.id != id {
		h.fatalf("model and loop disagree on the number of sources")
	}
	h.src = append(h.src, s)
	h.spec = append(h.spec, dmSpec{k, beh})
	if beh == dmBDefault {
		s.SetUserdata(dmDefaultCode(id))
	}
	if prio != 0 {
		h.wantErr("SetPriority after add", s.SetPriority(prio), 0)
	}
}

func (h *dmHarness) handler(id int, beh byte) sdevent.Handler {
	if beh == dmBDefault {
		return nil
	}
	return func(s *sdevent.Source) error { return h.onCall(id, s, -1, 0, 0) }
}

// onCall is every recording handler: it notes what it sees, then behaves.
func (h *dmHarness) onCall(id int, s *sdevent.Source, fd int, revents uint32, at time.Duration) error {
	c := dmCall{id: id, state: h.e.State(), revents: revents, at: at, fd: -1}
	c.enabled, _ = s.Enabled()
	var err error
	c.pending, err = s.Pending()
	c.pendErr = dmErrno(err)
	if fd >= 0 {
		c.fd = -2 // not one of ours
		for i, f := range h.fds {
			if f == fd {
				c.fd = i
			}
		}
	}
	var ret error
	switch h.spec[id].beh {
	case dmBErrno:
		ret = fmt.Errorf("fuzz handler: %w", unix.EPROTO)
	case dmBErrPlain:
		ret = errors.New("fuzz handler failed")
	case dmBExit:
		c.actErr = dmErrno(h.e.Exit(dmExitCode(id)))
	case dmBOn:
		c.actErr = dmErrno(s.SetEnabled(source.On))
	case dmBUnref:
		s.Unref()
		h.src[id] = nil
	case dmBAddPost:
		if len(h.src) < dmMaxSources {
			nid := len(h.src)
			h.spec = append(h.spec, dmSpec{dmKPost, dmBNone})
			p, err := h.e.AddPost(h.handler(nid, dmBNone))
			c.actErr = dmErrno(err)
			h.src = append(h.src, p)
		}
	}
	h.calls = append(h.calls, c)
	return ret
}

func (h *dmHarness) run() {
	h.tracef("Run(0)")
	h.calls = h.calls[:0]
	ran, err := h.e.Run(0)
	p, want := h.m.prepare()
	h.opErr(err, want)
	if want != 0 {
		return
	}
	if !p {
		p = h.m.wait()
	}
	if p {
		h.settle()
	} else if len(h.calls) > 0 {
		h.fatalf("Run dispatched #%d, the model expects nothing pending", h.calls[0].id)
	}
	if ran != p {
		h.fatalf("Run returned %v, the model expects %v", ran, p)
	}
}

func (h *dmHarness) phases(how byte) {
	m := &h.m
	h.tracef("Prepare/Wait/Dispatch (%d)", how)
	h.calls = h.calls[:0]
	p, err := h.e.Prepare()
	wp, want := m.prepare()
	h.opErr(err, want)
	if want != 0 {
		return
	}
	if p != wp {
		h.fatalf("Prepare returned %v, the model expects %v", p, wp)
	}
	h.wantState("after Prepare", map[bool]sdevent.State{false: sdevent.Armed, true: sdevent.Pending}[p])
	switch how % 4 {
	case 1:
		var err error
		what := []string{"Run", "Prepare", "Wait/Dispatch", "Loop"}[how>>2%4]
		switch how >> 2 % 4 {
		case 0:
			_, err = h.e.Run(0)
		case 1:
			_, err = h.e.Prepare()
		case 2:
			if p {
				_, err = h.e.Wait(0)
			} else {
				_, err = h.e.Dispatch()
			}
		case 3:
			_, err = h.e.Loop()
		}
		h.tracef("%s in the wrong phase", what)
		h.opErr(err, unix.EBUSY)
	case 2:
		h.tracef("Exit(%d)", how>>2)
		m.requestExit(int(how >> 2))
		h.opErr(h.e.Exit(int(how>>2)), 0)
	}
	if !p {
		p, err = h.e.Wait(0)
		h.wantErr("Wait", err, 0)
		if wp = m.wait(); p != wp {
			h.fatalf("Wait returned %v, the model expects %v", p, wp)
		}
		if !p {
			h.wantState("after Wait", sdevent.Initial)
			return
		}
		h.wantState("after Wait", sdevent.Pending)
	}
	if len(h.calls) > 0 {
		h.fatalf("a handler ran before Dispatch")
	}
	d, err := h.e.Dispatch()
	h.wantErr("Dispatch", err, 0)
	if wd := h.settle(); d != wd {
		h.fatalf("Dispatch returned %v, the model expects %v", d, wd)
	}
}

// settle applies a dispatch to the model: it checks that the loop chose a
// source the model allows and what its handler saw, and reports what
// Dispatch returns.
func (h *dmHarness) settle() bool {
	m := &h.m
	if len(h.calls) > 1 {
		h.fatalf("%d handlers ran in one iteration", len(h.calls))
	}
	exiting := m.exitRequested
	var cands []*dmSource
	if exiting {
		cands = m.exitCandidates()
		if len(cands) == 0 {
			if len(h.calls) > 0 {
				h.fatalf("#%d ran, the model expects exiting to finish", h.calls[0].id)
			}
			m.finished = true
			h.tracef("  -> finished")
			return false
		}
	} else if cands = m.candidates(); len(cands) == 0 {
		h.fatalf("the model has nothing to dispatch")
	}
	var chosen *dmSource
	if len(h.calls) == 1 {
		for _, c := range cands {
			if c.id == h.calls[0].id && !c.overLimit() {
				chosen = c
			}
		}
		if chosen == nil {
			h.fatalf("the handler of #%d ran; the model allows %v", h.calls[0].id, h.allowed(cands))
		}
	} else {
		code, _ := h.e.ExitCode()
		for _, c := range cands { // a source held back by its rate limit runs no handler
			if c.overLimit() && h.src[c.id] != nil && h.src[c.id].IsRatelimited() {
				chosen = c
			}
		}
		for _, c := range cands { // nor does the default handler, which exits
			if chosen == nil && c.beh == dmBDefault && !c.overLimit() && code == dmDefaultCode(c.id) {
				chosen = c
			}
		}
		if chosen == nil {
			h.fatalf("no handler ran; the model allows %v", h.allowed(cands))
		}
	}
	if exiting {
		m.iteration++
	}
	switch {
	case chosen.overLimit():
		h.tracef("  -> %v rate-limited", chosen)
	default:
		h.tracef("  -> %v ran", chosen)
	}
	want := m.dispatch(chosen, exiting)
	if want != nil && *want != h.calls[0] {
		h.fatalf("the handler of %v saw %+v, the model expects %+v", chosen, h.calls[0], *want)
	}
	return true
}

func (h *dmHarness) allowed(cands []*dmSource) string {
	var b strings.Builder
	for _, c := range cands {
		fmt.Fprintf(&b, " %v", c)
		if c.overLimit() {
			b.WriteString(" (to be rate-limited)")
		}
	}
	return b.String()
}

func (h *dmHarness) wantState(what string, want sdevent.State) {
	h.t.Helper()
	if got := h.e.State(); got != want {
		h.fatalf("state %s: %v, the model expects %v", what, got, want)
	}
}

// check compares everything observable with the model.
func (h *dmHarness) check() {
	h.t.Helper()
	m := &h.m
	want := sdevent.Initial
	if m.finished {
		want = sdevent.Finished
	}
	h.wantState("between operations", want)
	code, err := h.e.ExitCode()
	if m.exitRequested {
		h.wantErr("ExitCode", err, 0)
		if code != m.exitCode {
			h.fatalf("ExitCode %d, the model expects %d", code, m.exitCode)
		}
	} else {
		h.wantErr("ExitCode", err, unix.ENODATA)
	}
	if on := h.e.ExitOnIdle(); on != m.exitOnIdle {
		h.fatalf("ExitOnIdle %v, the model expects %v", on, m.exitOnIdle)
	}
	if it := h.e.Iteration(); it != m.iteration {
		h.fatalf("Iteration %d, the model expects %d", it, m.iteration)
	}
	if len(h.src) != len(m.srcs) {
		h.fatalf("%d sources, the model has %d", len(h.src), len(m.srcs))
	}
	for _, s := range m.srcs {
		r := h.src[s.id]
		if s.freed || r == nil {
			if s.freed != (r == nil) {
				h.fatalf("%v: freed %v, the model expects %v", s, r == nil, s.freed)
			}
			continue
		}
		if en, err := r.Enabled(); err != nil || en != s.enabled {
			h.fatalf("%v: Enabled %v (%v), the model expects %v", s, en, err, s.enabled)
		}
		if p, err := r.Priority(); err != nil || p != s.prio {
			h.fatalf("%v: Priority %v (%v), the model expects %v", s, p, err, s.prio)
		}
		if rl := r.IsRatelimited(); rl != s.ratelimited {
			h.fatalf("%v: IsRatelimited %v, the model expects %v", s, rl, s.ratelimited)
		}
		p, err := r.Pending()
		switch {
		case s.kind == dmKExit:
			h.wantErr(fmt.Sprintf("%v.Pending", s), err, unix.EDOM)
		case m.finished:
			h.wantErr(fmt.Sprintf("%v.Pending", s), err, unix.ESTALE)
		default:
			h.wantErr(fmt.Sprintf("%v.Pending", s), err, 0)
			if p != s.pending {
				h.fatalf("%v: Pending %v, the model expects %v", s, p, s.pending)
			}
		}
		if s.kind == dmKIO {
			rev, err := r.IORevents()
			if !s.pending {
				h.wantErr(fmt.Sprintf("%v.IORevents", s), err, unix.ENODATA)
			} else if h.wantErr(fmt.Sprintf("%v.IORevents", s), err, 0); rev != s.revents {
				h.fatalf("%v: IORevents %#x, the model expects %#x", s, rev, s.revents)
			}
		}
		if s.kind == dmKTime {
			if at, err := r.Time(); err != nil || at != s.at {
				h.fatalf("%v: Time %v (%v), the model expects %v", s, at, err, s.at)
			}
		}
		iv, burst, err := r.Ratelimit()
		switch {
		case s.kind == dmKPost || s.kind == dmKExit:
			h.wantErr(fmt.Sprintf("%v.Ratelimit", s), err, unix.EDOM)
		case s.burst == 0:
			h.wantErr(fmt.Sprintf("%v.Ratelimit", s), err, unix.ENOEXEC)
		case err != nil || iv != time.Hour || burst != s.burst:
			h.fatalf("%v: Ratelimit %v, %d (%v), the model expects 1h, %d", s, iv, burst, err, s.burst)
		}
	}
}

func dmDur(d time.Duration) string {
	if d == sdevent.Infinity {
		return "Infinity"
	}
	return d.String()
}
