//go:build linux

package difftest

import (
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// NoSrc is the return value recorded for a step about a source slot whose
// reference the scenario already dropped: neither interpreter calls anything.
const NoSrc = -100000

// RunGo runs sc on a new go-sdevent loop and returns its trace records. It
// is the Go twin of dt_run in libsystemd.c: every step makes the matching
// call, and is recorded the same way.
func RunGo(sc *Scenario) ([]Record, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	e, err := sdevent.New()
	if err != nil {
		return nil, err
	}
	origin, err := e.Now(unix.CLOCK_MONOTONIC)
	if err != nil {
		e.Unref()
		return nil, err
	}
	r := &goRun{sc: sc, e: e, origin: origin}
	for i := range r.fds {
		r.fds[i] = -1
	}

	r.block(InMain, 0, 0)

	r.rec(RecTeardown, 0, 0, 0, 0)
	for i, s := range r.srcs {
		if s != nil {
			s.Unref()
			r.srcs[i] = nil
		}
	}
	e.Unref()
	for _, fd := range r.fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	return r.recs, nil
}

type goRun struct {
	sc     *Scenario
	e      *sdevent.Event
	origin time.Duration
	srcs   [MaxSrcs]*sdevent.Source // the scenario's references
	calls  [MaxSrcs][InPrepare + 1]int64
	fds    [MaxFds]int
	ret    int64 // what the running callback returns
	recs   []Record
	seen   Record // the last RecState written
}

func (r *goRun) rec(kind, a, b, c, d int64) {
	r.recs = append(r.recs, Record{kind, a, b, c, d})
}

// block performs the steps that run in place in (for callbacks: of source
// owner, on its call-th call), in the order of the scenario.
func (r *goRun) block(in, owner, call int64) {
	for i, st := range r.sc.Steps {
		if st.In != in {
			continue
		}
		if in != InMain && (st.Owner != owner || (st.Call != 0 && st.Call != call)) {
			continue
		}
		r.step(int64(i), st)
	}
}

// callback records a call of a source's callback with what it sees, runs
// its steps and returns what they asked for.
func (r *goRun) callback(s *sdevent.Source, i, in int64, extra *int64) error {
	m := int64(-99)
	if en, err := s.Enabled(); err == nil {
		m = int64(en)
	}
	r.rec(RecCall, i, in, m, int64(r.e.State()))
	if extra != nil {
		r.rec(RecExtra, i, *extra, 0, 0)
	}
	r.observe()
	r.calls[i][in]++
	saved := r.ret
	r.ret = 0
	r.block(in, i, r.calls[i][in])
	ret := r.ret
	r.ret = saved
	r.observe()
	if ret < 0 {
		return unix.Errno(-ret)
	}
	return nil
}

// observe writes a RecState when the scenario asks for them and the state
// changed since the last one: which sources are pending, enabled and
// rate-limited, and the iteration. The twin of observe in libsystemd.c.
func (r *goRun) observe() {
	if !r.sc.Observe {
		return
	}
	st := Record{RecState, 0, 0, 0, int64(r.e.Iteration())}
	for i, s := range r.srcs {
		if s == nil {
			continue
		}
		if p, err := s.Pending(); err == nil && p {
			st[1] |= 1 << i
		}
		if m, err := s.Enabled(); err == nil && m != source.Off {
			st[2] |= 1 << i
		}
		if s.IsRatelimited() {
			st[3] |= 1 << i
		}
	}
	if st != r.seen {
		r.seen = st
		r.recs = append(r.recs, st)
	}
}

func (r *goRun) handler(i int64) sdevent.Handler {
	return func(s *sdevent.Source) error { return r.callback(s, i, InHandler, nil) }
}

func (r *goRun) timeHandler(i int64) sdevent.TimeHandler {
	return func(s *sdevent.Source, t time.Duration) error {
		x := r.encTime(t)
		return r.callback(s, i, InHandler, &x)
	}
}

func (r *goRun) ioHandler(i int64) sdevent.IOHandler {
	return func(s *sdevent.Source, fd int, revents uint32) error {
		x := int64(revents)
		return r.callback(s, i, InHandler, &x)
	}
}

func (r *goRun) time(t int64) time.Duration {
	switch t {
	case Inf:
		return sdevent.Infinity
	case Zero:
		return 0
	}
	return r.origin + time.Duration(t)*time.Microsecond
}

func (r *goRun) encTime(t time.Duration) int64 {
	switch t {
	case sdevent.Infinity:
		return Inf
	case 0:
		return Zero
	}
	return int64((t - r.origin) / time.Microsecond)
}

func dur(d int64) time.Duration {
	if d == Inf {
		return sdevent.Infinity
	}
	return time.Duration(d) * time.Microsecond
}

// rc turns an error into what C returns: 0 or the negative errno.
func rc(err error) int64 {
	if err == nil {
		return 0
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return -int64(en)
	}
	return -int64(unix.EIO)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// rcBool is rc for calls that return a bool and an error, as C returns
// 1, 0 or the negative errno.
func rcBool(b bool, err error) int64 {
	if err != nil {
		return rc(err)
	}
	return b2i(b)
}

func needsSrc(op Op) bool {
	switch op {
	case OpAddDefer, OpAddPost, OpAddExit, OpAddExitNil, OpAddTime, OpAddIO, OpAddIORawFd,
		OpPrepare, OpWait, OpDispatch, OpRun, OpLoop, OpExit, OpGetExitCode, OpGetState,
		OpGetIteration, OpSetExitOnIdle, OpEventfd, OpWrite, OpRead, OpSleep, OpReturn, OpPipe, OpClose:
		return false
	}
	return true
}

func (r *goRun) step(i int64, st Step) {
	e := r.e
	s := r.srcs[st.Src]
	var ret, v, v2 int64
	if needsSrc(st.Op) && s == nil {
		r.rec(RecStep, i, NoSrc, 0, 0)
		return
	}

	var added *sdevent.Source
	var err error
	switch st.Op {
	case OpAddDefer:
		added, err = e.AddDefer(r.handler(st.Src))
	case OpAddPost:
		added, err = e.AddPost(r.handler(st.Src))
	case OpAddExit:
		added, err = e.AddExit(r.handler(st.Src))
	case OpAddExitNil:
		added, err = e.AddExit(nil)
	case OpAddTime:
		added, err = e.AddTime(int(st.C), r.time(st.A), dur(st.B), r.timeHandler(st.Src))
	case OpAddIO:
		added, err = e.AddIO(r.fds[st.A], uint32(st.B), r.ioHandler(st.Src))
	case OpAddIORawFd:
		added, err = e.AddIO(int(st.A), unix.EPOLLIN, r.ioHandler(st.Src))
	case OpSetEnabled:
		ret = rc(s.SetEnabled(source.Enabled(st.A)))
	case OpGetEnabled:
		m, err := s.Enabled()
		ret, v = rc(err), int64(m)
	case OpSetPriority:
		ret = rc(s.SetPriority(priority.Priority(st.A)))
	case OpGetPending:
		ret = rcBool(s.Pending())
	case OpSetRatelimit:
		ret = rc(s.SetRatelimit(dur(st.A), uint(st.B)))
	case OpGetRatelimit:
		iv, burst, err := s.Ratelimit()
		ret, v, v2 = rc(err), int64(iv/time.Microsecond), int64(burst)
	case OpIsRatelimited:
		ret = b2i(s.IsRatelimited())
	case OpLeaveRatelimit:
		ret = rcBool(s.LeaveRatelimit())
	case OpSetExpireCallback:
		i := st.Src
		ret = rc(s.SetRatelimitExpireCallback(func(s *sdevent.Source) error { return r.callback(s, i, InExpire, nil) }))
	case OpSetPrepare:
		i := st.Src
		ret = rc(s.SetPrepare(func(s *sdevent.Source) error { return r.callback(s, i, InPrepare, nil) }))
	case OpSetTime:
		ret = rc(s.SetTime(r.time(st.A)))
	case OpGetTime:
		t, err := s.Time()
		ret, v = rc(err), r.encTime(t)
	case OpSetTimeAccuracy:
		ret = rc(s.SetTimeAccuracy(dur(st.A)))
	case OpGetTimeAccuracy:
		a, err := s.TimeAccuracy()
		ret, v = rc(err), int64(a/time.Microsecond)
	case OpSetIOEvents:
		ret = rc(s.SetIOEvents(uint32(st.A)))
	case OpGetIORevents:
		ev, err := s.IORevents()
		ret, v = rc(err), int64(ev)
	case OpSetFloating:
		ret = rc(s.SetFloating(st.A != 0))
	case OpGetFloating:
		ret = b2i(s.Floating())
	case OpSetExitOnFailure:
		ret = rc(s.SetExitOnFailure(st.A != 0))
	case OpUnref:
		r.srcs[st.Src] = nil
		s.Unref()
	case OpDisableUnref:
		r.srcs[st.Src] = nil
		s.DisableUnref()
	case OpPrepare:
		ret = rcBool(e.Prepare())
	case OpWait:
		ret = rcBool(e.Wait(dur(st.A)))
	case OpDispatch:
		ret = rcBool(e.Dispatch())
	case OpRun:
		t0 := time.Now()
		ran, err := e.Run(dur(st.A))
		took := time.Since(t0)
		ret = rcBool(ran, err)
		v = b2i(st.B > 0 && took >= dur(st.B))
		v2 = b2i(st.C > 0 && took < dur(st.C))
	case OpLoop:
		// sd_event_loop returns the exit code, which is the negated errno
		// when an exit-on-failure source failed; go-sdevent returns that
		// code and an error besides.
		code, err := e.Loop()
		ret = int64(code)
		if err != nil && code == 0 {
			ret = rc(err)
		}
	case OpExit:
		ret = rc(e.Exit(int(st.A)))
	case OpGetExitCode:
		code, err := e.ExitCode()
		ret, v = rc(err), int64(code)
	case OpGetState:
		ret = int64(e.State())
	case OpGetIteration:
		v = int64(e.Iteration())
	case OpSetExitOnIdle:
		ret = rc(e.SetExitOnIdle(st.A != 0))
	case OpEventfd:
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err == nil {
			r.fds[st.A] = fd
		}
		ret = rc(err)
	case OpWrite:
		var b [8]byte
		binary.NativeEndian.PutUint64(b[:], uint64(st.B))
		_, err := unix.Write(r.fds[st.A], b[:])
		ret = rc(err)
	case OpRead:
		var b [8]byte
		_, err := unix.Read(r.fds[st.A], b[:])
		ret, v = rc(err), int64(binary.NativeEndian.Uint64(b[:]))
	case OpPipe:
		var p [2]int
		err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
		if err == nil {
			r.fds[st.A], r.fds[st.B] = p[0], p[1]
		}
		ret = rc(err)
	case OpClose:
		err := unix.Close(r.fds[st.A])
		r.fds[st.A] = -1
		ret = rc(err)
	case OpSleep:
		time.Sleep(dur(st.A))
	case OpReturn:
		r.ret = st.A
	}

	switch st.Op {
	case OpAddDefer, OpAddPost, OpAddExit, OpAddExitNil, OpAddTime, OpAddIO, OpAddIORawFd:
		ret = rc(err)
		if err == nil {
			i := st.Src
			r.srcs[i] = added
			// Cannot fail on a source just added; were it to, the missing
			// destroy record would show in the comparison.
			_ = added.SetDestroyCallback(func(any) { r.rec(RecDestroy, i, 0, 0, 0) })
		}
	}
	r.rec(RecStep, i, ret, v, v2)
	r.observe()
}
