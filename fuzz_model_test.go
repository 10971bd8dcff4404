//go:build linux

package sdevent_test

// The reference model of FuzzDispatchModel (fuzz_test.go).
//
// The model (dmModel) is written from SEMANTICS.md ("The loop", "Sources, in
// general", "Kinds") and doc.go, not from the implementation. It covers defer,
// post, exit, time and IO sources; On, Off and OneShot; priorities; Unref,
// also from inside a handler; rate limits; Exit, exit-on-failure, exit on
// idle; Run and the Prepare/Wait/Dispatch phases; and the error of each call.
// Time needs no clock: time sources are at 0 (due at once) or Infinity
// (never), with an accuracy of 1ns; rate-limit windows last an hour, so that
// within one input a window never ends and the burst alone decides (a zero
// interval or burst is no limit, as in C and the manual page). IO
// sources watch eventfds that an operation makes readable or not; an eventfd
// is always writable, and epoll is level-triggered, so readiness is model
// state. Left out: signal, child, inotify and memory pressure sources,
// prepare callbacks, edge triggering, SetIOEvents/SetIOFd, floating sources,
// expire callbacks (no window ends) and Invoke.
//
// Ties. SEMANTICS.md orders equal-priority pending sources by the iteration
// in which they became pending; doc.go ("The loop") is stricter: "among
// equals the one that became pending first". The model follows doc.go: each
// event that makes sources pending gets a moment, and the earliest moment
// wins. One poll is one moment (the order in which a poll reports fds and
// timers is the kernel's and decides nothing), and so is the marking of
// post sources at one dispatch; among sources of one moment the model
// accepts any. A defer source stays pending when dispatched and counts as
// pending from that dispatch on, a moment of its own, as sd-event 262 stamps
// it ("take turns", doc.go). Exit sources of equal priority are in no
// documented order: any is accepted.
// When the model accepts several sources, the one the loop ran decides how
// the model goes on.

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

type dmKind byte

const (
	dmKDefer dmKind = iota
	dmKPost
	dmKExit
	dmKTime
	dmKIO
)

var dmKindNames = [...]string{"defer", "post", "exit", "time", "io"}

func (k dmKind) String() string { return dmKindNames[k] }

// dmSource is a source as the model sees it.
type dmSource struct {
	id            int
	kind          dmKind
	beh           byte
	enabled       source.Enabled
	prio          priority.Priority
	pending       bool
	moment        uint64 // when it became pending: the earliest goes first, equal ones in any order
	freed         bool
	exitOnFailure bool

	at time.Duration // time sources: 0 or Infinity

	fd      int // IO: index of the eventfd, -1 for none
	events  uint32
	revents uint32
	armed   bool // IO: the epoll registration may report (EPOLLONESHOT is consumed by one report)

	burst       uint // rate limit; 0: none
	count       uint // dispatch attempts in the current window (which never ends here)
	ratelimited bool
}

func (s *dmSource) online() bool { return !s.freed && s.enabled != source.Off && !s.ratelimited }

// overLimit reports whether dispatching s now exceeds its rate limit.
func (s *dmSource) overLimit() bool { return s.burst > 0 && s.count+1 > s.burst }

func (s *dmSource) String() string { return fmt.Sprintf("#%d(%s)", s.id, s.kind) }

// dmModel is the loop as SEMANTICS.md describes it.
type dmModel struct {
	srcs          []*dmSource // by id
	readable      [dmFds]bool
	finished      bool
	exitRequested bool
	exitCode      int
	iteration     uint64
	exitOnIdle    bool
	moments       uint64
}

func (m *dmModel) tick() uint64 { m.moments++; return m.moments }

func (m *dmModel) requestExit(code int) { m.exitRequested, m.exitCode = true, code }

// fdTaken reports whether another source has fd in epoll: IO sources are
// registered exactly while online.
func (m *dmModel) fdTaken(s *dmSource, fd int) bool {
	for _, o := range m.srcs {
		if o != s && o.kind == dmKIO && o.fd == fd && o.online() {
			return true
		}
	}
	return false
}

// dmValidEvents are the events an IO source may ask for (SEMANTICS.md, "IO").
const dmValidEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLET

func (m *dmModel) add(k dmKind, beh byte, prio priority.Priority, clockIdx int, at time.Duration, badAccuracy bool,
	fd int, events uint32) (*dmSource, unix.Errno) {
	switch {
	case k == dmKExit && beh == dmBDefault:
		return nil, unix.EINVAL // exit sources require a handler
	case k == dmKIO && fd < 0:
		return nil, unix.EBADF
	case k == dmKIO && events&^dmValidEvents != 0:
		return nil, unix.EINVAL
	case k == dmKTime && badAccuracy:
		return nil, unix.EINVAL
	case m.finished:
		return nil, unix.ESTALE
	case k == dmKTime && dmClocks[clockIdx] == unix.CLOCK_PROCESS_CPUTIME_ID:
		return nil, unix.EOPNOTSUPP
	case k == dmKIO && m.fdTaken(nil, fd):
		return nil, unix.EEXIST // the same fd twice: the epoll error
	}
	s := &dmSource{id: len(m.srcs), kind: k, beh: beh, prio: prio, fd: -1, at: at}
	m.srcs = append(m.srcs, s)
	switch k {
	case dmKDefer: // ONESHOT, pending at once
		s.enabled, s.pending, s.moment = source.OneShot, true, m.tick()
	case dmKPost, dmKIO:
		s.enabled = source.On
	case dmKExit, dmKTime:
		s.enabled = source.OneShot
	}
	if k == dmKIO {
		s.fd, s.events, s.armed = fd, events, true
	}
	return s, 0
}

// off switches s Off; Off clears pending except for defer and exit sources.
func (m *dmModel) off(s *dmSource) {
	if s.enabled == source.Off {
		return
	}
	if s.kind != dmKDefer && s.kind != dmKExit {
		s.pending = false
	}
	s.enabled = source.Off
}

func (m *dmModel) setEnabled(s *dmSource, want source.Enabled) unix.Errno {
	if !want.Valid() {
		return unix.EINVAL
	}
	if m.finished { // only Off succeeds, and changes nothing
		if want == source.Off {
			return 0
		}
		return unix.ESTALE
	}
	switch {
	case s.enabled == want:
	case want == source.Off:
		m.off(s)
	case s.enabled != source.Off: // On <-> OneShot: the registration is renewed at once
		if s.kind == dmKIO && s.online() {
			s.armed = true
		}
		s.enabled = want
	default: // back on: clears pending too
		if s.kind == dmKIO && !s.ratelimited {
			if m.fdTaken(s, s.fd) {
				return unix.EEXIST
			}
			s.armed = true
		}
		if s.kind != dmKDefer && s.kind != dmKExit {
			s.pending = false
		}
		s.enabled = want
	}
	return 0
}

// leaveRatelimit brings s back online, which for IO means into epoll again.
func (m *dmModel) leaveRatelimit(s *dmSource) unix.Errno {
	if !s.ratelimited {
		return 0
	}
	if s.kind == dmKIO && s.enabled != source.Off {
		if m.fdTaken(s, s.fd) {
			return unix.EEXIST
		}
		s.armed = true
	}
	s.ratelimited, s.count = false, 0
	return 0
}

func (m *dmModel) onlinePending() bool {
	for _, s := range m.srcs {
		if s.kind != dmKExit && s.pending && s.online() {
			return true
		}
	}
	return false
}

func (m *dmModel) dueTimer() bool {
	for _, s := range m.srcs {
		if s.kind == dmKTime && s.online() && !s.pending && s.at == 0 {
			return true
		}
	}
	return false
}

// busy reports whether an enabled source other than post and exit sources
// remains: what keeps an exit-on-idle loop running.
func (m *dmModel) busy() bool {
	for _, s := range m.srcs {
		if !s.freed && s.enabled != source.Off && s.kind != dmKPost && s.kind != dmKExit {
			return true
		}
	}
	return false
}

// prepare is Prepare: the iteration count, exit on idle, and a poll when
// something is pending or due already. It reports pending.
func (m *dmModel) prepare() (bool, unix.Errno) {
	if m.finished {
		return false, unix.ESTALE
	}
	if !m.exitRequested {
		m.iteration++
		if !m.onlinePending() && !m.dueTimer() {
			if !m.exitOnIdle || m.busy() {
				return false, 0 // armed
			}
			m.requestExit(0)
		}
	}
	return m.wait(), 0
}

// wait is Wait(0): after Exit there is nothing to poll for.
func (m *dmModel) wait() bool {
	if m.exitRequested {
		return true
	}
	m.poll()
	return m.onlinePending()
}

// poll makes ready fds and due timers pending, all at one moment. A source
// already pending keeps its moment; an IO source ORs the new events into its
// revents.
func (m *dmModel) poll() {
	now := m.tick()
	for _, s := range m.srcs {
		if !s.online() {
			continue
		}
		switch s.kind {
		case dmKIO:
			ready := s.events & unix.EPOLLOUT // an eventfd is always writable
			if s.fd >= 0 && m.readable[s.fd] {
				ready |= s.events & unix.EPOLLIN
			}
			if ready == 0 || !s.armed {
				continue
			}
			if s.enabled == source.OneShot {
				s.armed = false // EPOLLONESHOT: one report until registered again
			}
			if s.pending {
				s.revents |= ready
			} else {
				s.pending, s.moment, s.revents = true, now, ready
			}
		case dmKTime:
			if !s.pending && s.at == 0 {
				s.pending, s.moment = true, now
			}
		}
	}
}

// candidates are the sources the next dispatch may pick: pending, online,
// the lowest priority value, then the earliest moment.
func (m *dmModel) candidates() []*dmSource {
	var best []*dmSource
	for _, s := range m.srcs {
		if s.kind == dmKExit || !s.pending || !s.online() {
			continue
		}
		switch {
		case len(best) == 0 || dmBefore(s, best[0]):
			best = append(best[:0], s)
		case s.prio == best[0].prio && s.moment == best[0].moment:
			best = append(best, s)
		}
	}
	return best
}

// dmBefore: a lower priority value, then the earlier moment.
func dmBefore(x, y *dmSource) bool {
	if x.prio != y.prio {
		return x.prio < y.prio
	}
	return x.moment < y.moment
}

// exitCandidates are the enabled exit sources of the lowest priority value.
func (m *dmModel) exitCandidates() []*dmSource {
	var best []*dmSource
	for _, s := range m.srcs {
		if s.kind != dmKExit || s.freed || s.enabled == source.Off {
			continue
		}
		switch {
		case len(best) == 0 || s.prio < best[0].prio:
			best = append(best[:0], s)
		case s.prio == best[0].prio:
			best = append(best, s)
		}
	}
	return best
}

// dmCall is what a handler saw when it ran, and the error of what it did.
type dmCall struct {
	id      int
	state   sdevent.State
	enabled source.Enabled
	pending bool
	pendErr unix.Errno // exit sources: EDOM
	fd      int
	revents uint32
	at      time.Duration
	actErr  unix.Errno
}

// dispatch runs s as sd-event does and returns the call its handler should
// record, or nil when no recording handler runs (rate limit hit, default
// handler).
func (m *dmModel) dispatch(s *dmSource, exiting bool) *dmCall {
	if s.burst > 0 {
		s.count++
		if s.count > s.burst { // held back: pending and enablement kept
			s.ratelimited = true
			return nil
		}
	}
	switch s.kind {
	case dmKExit:
	case dmKDefer: // stays pending, from now on
		s.moment = m.tick()
	default:
		s.pending = false
	}
	if s.kind != dmKPost { // post sources become pending before the handler runs
		m.pendPost()
	}
	if s.enabled == source.OneShot { // switched off before the handler
		m.off(s)
	}
	c := &dmCall{id: s.id, state: sdevent.Running, enabled: s.enabled, pending: s.pending, fd: -1}
	if exiting {
		c.state = sdevent.Exiting
	}
	switch s.kind {
	case dmKExit:
		c.pending, c.pendErr = false, unix.EDOM
	case dmKIO:
		c.fd, c.revents = s.fd, s.revents
	case dmKTime:
		c.at = s.at
	}
	var failed unix.Errno
	switch s.beh {
	case dmBErrno:
		failed = unix.EPROTO
	case dmBErrPlain:
		failed = unix.EIO
	case dmBExit:
		m.requestExit(dmExitCode(s.id))
	case dmBOn:
		c.actErr = m.setEnabled(s, source.On)
	case dmBUnref:
		s.freed = true
	case dmBAddPost:
		if len(m.srcs) < dmMaxSources {
			p := &dmSource{id: len(m.srcs), kind: dmKPost, beh: dmBNone, enabled: source.On, fd: -1}
			m.srcs = append(m.srcs, p) // pending once the handler returned (below)
		}
	case dmBDefault:
		m.requestExit(dmDefaultCode(s.id))
		c = nil
	}
	if failed != 0 {
		if s.exitOnFailure {
			m.requestExit(-int(failed))
		}
		if !s.freed {
			m.off(s)
		}
	}
	if s.kind != dmKPost { // and again once the handler returned
		m.pendPost()
	}
	return c
}

// pendPost makes the online post sources that are not pending pending, at
// one moment.
func (m *dmModel) pendPost() {
	now := m.tick()
	for _, z := range m.srcs {
		if z.kind == dmKPost && z.online() && !z.pending {
			z.pending, z.moment = true, now
		}
	}
}
