//go:build linux

package sdevent

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// Handler is the handler of defer, post, exit and pressure sources,
// and the type of prepare and rate-limit-expire callbacks. A non-nil error
// disables the source, or with exit-on-failure makes the loop exit.
type Handler func(s *Source) error

// IOHandler handles an IO source: fd is ready with revents (EPOLLIN, ...).
type IOHandler func(s *Source, fd int, revents uint32) error

// TimeHandler handles a time source; t is the time it was scheduled for.
type TimeHandler func(s *Source, t time.Duration) error

// Source is an event source, the analogue of sd_event_source. A source
// returned by an Add method holds one reference, the caller's, and (unless
// floating) one on its loop.
type Source struct {
	// What the dispatch orders (order.go) read, together at the start.
	// Source is 160 bytes, a size class whose objects start on a 32-byte
	// boundary (160 is five times 32, and spans start on a page): all that
	// the time queues compare and write (the flags, time, the two indices)
	// lies in the first 32 bytes, so that a step through a large timer heap
	// touches one cache line of each source. What the pending queue
	// compares besides (priority, pendingIter) and its index follow, within
	// the first 64 bytes. TestSourceLayout checks all three.
	//
	// The enablement and the kind are kept in a byte each, read through
	// enabled() and kind(): the API's source.Enabled and source.Type are
	// ints, and two words of them would take a word of Source.
	enabledByte int8  // a source.Enabled: Off, On or OneShot
	kindByte    uint8 // a source.Type
	ratelimited bool
	pending     bool
	earliestIdx int32
	latestIdx   int32
	dispatching bool
	floating    bool
	internal    bool
	hasDesc     bool
	time        timeSource
	priority    priority.Priority
	pendingIter uint64 // the iteration it became pending in; defer, exit: last dispatched in
	pendingIdx  int32
	prepareIdx  int32

	nref int32
	// slot is the source's index in the loop's table of epoll slots (IO,
	// child, pressure), its place in the exit queue (exit) or in the post
	// list (post): a source is of one kind only.
	slot int32

	io            ioSource // IO sources
	exitOnFailure bool
	tclock        int8 // the clock whose time queues hold the source, -1 for none
	ioRegistered  bool // IO sources: the fd is in epoll
	ioOwned       bool // IO sources: the fd is closed with the source (SetIOFdOwn)

	// handler is the handler of the kinds that keep it here: an IOHandler
	// (IO), a TimeHandler (time) or a Handler (defer, post, exit), one
	// field for all since a source is of one kind only. A func in an
	// interface takes no allocation; call asserts its type.
	handler any

	e          *Event  // nil once disconnected from its loop
	prev, next *Source // the loop's list of sources, newest first

	description string

	// part is the kind's own part for the rarer kinds: *signalSource,
	// *child, *inotifySource or *pressure, which keep their handler there;
	// nil for IO, time, defer, post and exit sources.
	part any

	// extra holds what few sources set (callbacks, userdata, rate limit,
	// period, statistics); nil until one of them is set.
	extra *sourceExtra
}

// sourceExtra is the rarely set part of a source, allocated on first use so
// that the common source stays small (C keeps these fields in
// sd_event_source itself).
type sourceExtra struct {
	userdata    any
	destroyFn   func(userdata any)
	prepareFn   Handler
	expireFn    Handler
	prepareIter uint64    // the iteration its prepare callback last ran in
	rl          ratelimit // zero (not configured) until SetRatelimit
	periodic    periodic  // zero (period 0) but for AddPeriodic's sources

	obs *sourceObs // statistics and profile labels (stats.go); nil: not observed
}

// The kind's own part of the rarer kinds; each is called only for its kind.
func (s *Source) signal() *signalSource   { return s.part.(*signalSource) }
func (s *Source) child() *child           { return s.part.(*child) }
func (s *Source) inotify() *inotifySource { return s.part.(*inotifySource) }
func (s *Source) pressure() *pressure     { return s.part.(*pressure) }

// ext returns the source's rarely set part, allocating it on first use.
func (s *Source) ext() *sourceExtra {
	if s.extra == nil {
		s.extra = new(sourceExtra)
	}
	return s.extra
}

// The rarely set fields as read: zero while the source has no extra part.
func (s *Source) userdata() any {
	if s.extra == nil {
		return nil
	}
	return s.extra.userdata
}

func (s *Source) prepareFn() Handler {
	if s.extra == nil {
		return nil
	}
	return s.extra.prepareFn
}

// observed returns what the loop keeps of the source while observing it
// (stats.go), nil when nothing is kept.
func (s *Source) observed() *sourceObs {
	if s.extra == nil {
		return nil
	}
	return s.extra.obs
}

func (s *Source) rl() *ratelimit {
	if s.extra == nil {
		return nil
	}
	return &s.extra.rl
}

// periodic returns the period of AddPeriodic's sources, nil for others: a
// period is never 0.
func (s *Source) periodic() *periodic {
	if s.extra == nil || s.extra.periodic.period == 0 {
		return nil
	}
	return &s.extra.periodic
}

// enabled returns the source's enablement, kept in a byte.
func (s *Source) enabled() source.Enabled { return source.Enabled(s.enabledByte) }

// kind returns the source's kind, kept in a byte.
func (s *Source) kind() source.Type { return source.Type(s.kindByte) }

func (s *Source) online() bool  { return s.enabled() != source.Off && !s.ratelimited }
func (s *Source) offline() bool { return !s.online() }

// keepsAlive reports whether the source keeps an exit-on-idle loop running.
func (s *Source) keepsAlive() bool {
	return !s.internal && s.enabled() != source.Off && s.kind() != source.Post && s.kind() != source.Exit
}

// initSource fills in what every source starts with.
func (e *Event) initSource(s *Source) *Source {
	s.e = e
	s.nref = 1
	s.pendingIdx, s.prepareIdx, s.earliestIdx, s.latestIdx, s.slot, s.tclock = -1, -1, -1, -1, -1, -1
	s.io.fd = -1
	return s
}

// newSource creates a source of kind, linked into the loop, holding a loop
// reference, with its enablement set.
func (e *Event) newSource(kind source.Type, enabled source.Enabled) *Source {
	s := e.initSource(&Source{kindByte: uint8(kind)})
	e.nref.Add(1)
	s.next = e.sources
	if e.sources != nil {
		e.sources.prev = s
	}
	e.sources = s
	e.nSources++
	e.setEnabledField(s, enabled)
	return s
}

// setEnabledField writes the enablement (enabledByte) of a source
// connected to e, keeping e.nKeepAlive. Only a disconnected source, which
// counts for no loop, has its field written directly (SetEnabled,
// afterCallback).
func (e *Event) setEnabledField(s *Source, m source.Enabled) {
	was := s.keepsAlive()
	s.enabledByte = int8(m)
	if now := s.keepsAlive(); now != was {
		if now {
			e.nKeepAlive++
		} else {
			e.nKeepAlive--
		}
	}
}

// disconnect takes the source out of everything of its loop: the kernel,
// the queues, the source list. The source object stays valid.
func (e *Event) disconnect(s *Source) {
	if s.e != e || e == nil {
		return
	}
	e.disconnectKind(s)
	if s.pending {
		e.pending.Remove(s)
		s.pending = false
	}
	if s.prepareIdx >= 0 {
		e.prepare.Remove(s)
	}
	if s.ratelimited {
		e.timeRemove(s)
	}
	if s.keepsAlive() {
		e.nKeepAlive--
	}
	if s.internal {
		s.e = nil
		return
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		e.sources = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	e.nSources--
	s.e = nil
	if !s.floating {
		e.Unref()
	}
}

// release frees a source whose last reference is gone: disconnected, its
// owned fd closed, its destroy callback called.
func (s *Source) release() {
	if s.e != nil {
		s.e.disconnect(s)
	}
	s.releaseKind()
	if x := s.extra; x != nil && x.destroyFn != nil {
		fn := x.destroyFn
		x.destroyFn = nil
		fn(x.userdata)
	}
}

// Ref adds a reference (sd_event_source_ref) and returns s.
func (s *Source) Ref() *Source {
	if s != nil {
		s.nref++
	}
	return s
}

// Unref drops a reference (sd_event_source_unref). When the last goes, the
// source is disconnected at once (its fd leaves epoll, so the caller may
// close it right away) and freed, which runs its destroy callback. Inside
// the source's own handler, freeing and the destroy callback wait until the
// handler has returned.
func (s *Source) Unref() {
	if s == nil || s.nref <= 0 {
		return
	}
	s.nref--
	if s.nref > 0 {
		return
	}
	if s.dispatching {
		if s.e != nil {
			s.e.disconnect(s)
		}
		return
	}
	s.release()
}

// DisableUnref switches the source off, then drops a reference
// (sd_event_source_disable_unref).
func (s *Source) DisableUnref() {
	if s == nil {
		return
	}
	_ = s.SetEnabled(source.Off) // as C, which ignores it too: the Unref is what matters
	s.Unref()
}

// Event returns the source's loop (sd_event_source_get_event), nil once the
// source was disconnected from it.
func (s *Source) Event() *Event {
	if s == nil {
		return nil
	}
	return s.e
}

// Userdata returns the value set with SetUserdata
// (sd_event_source_get_userdata). A nil handler uses an int userdata as the
// code it exits with.
func (s *Source) Userdata() any {
	if s == nil {
		return nil
	}
	return s.userdata()
}

// SetUserdata sets the value passed to the destroy callback and returns the
// previous one (sd_event_source_set_userdata).
func (s *Source) SetUserdata(v any) (old any) {
	if s == nil {
		return nil
	}
	if s.extra == nil && v == nil {
		return nil // nothing to keep: no extra part for it
	}
	x := s.ext()
	old, x.userdata = x.userdata, v
	return old
}

// SetDescription names the source for logs and errors
// (sd_event_source_set_description).
func (s *Source) SetDescription(d string) error {
	if s == nil {
		return opErr("set description", unix.EINVAL)
	}
	s.description, s.hasDesc = d, true
	return nil
}

// Description returns the source's name; ENXIO when none was set
// (sd_event_source_get_description).
func (s *Source) Description() (string, error) {
	if s == nil {
		return "", opErr("description", unix.EINVAL)
	}
	if !s.hasDesc {
		return "", opErr("description", unix.ENXIO)
	}
	return s.description, nil
}

// live returns the source's loop for an operation that changes it: EINVAL
// for a nil source, ESTALE when the source was disconnected or its loop has
// finished.
func (s *Source) live(op string) (*Event, error) {
	if s == nil {
		return nil, opErr(op, unix.EINVAL)
	}
	if s.e == nil || s.e.state == Finished {
		return nil, opErr(op, unix.ESTALE)
	}
	return s.e, nil
}

// SetPrepare sets a callback that runs once per iteration before the loop
// polls, while the source is enabled (sd_event_source_set_prepare); nil
// removes it. Exit sources: EDOM.
func (s *Source) SetPrepare(h Handler) error {
	const op = "set prepare"
	if s != nil && s.kind() == source.Exit {
		return opErr(op, unix.EDOM)
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	switch old := s.prepareFn(); {
	case h == nil && old != nil:
		e.prepare.Remove(s)
	case h != nil && old == nil:
		defer e.prepare.Put(s)
	}
	if h != nil || s.extra != nil {
		s.ext().prepareFn = h
	}
	return nil
}

// Pending reports whether the source waits to be dispatched
// (sd_event_source_get_pending). Exit sources: EDOM; finished loop: ESTALE.
func (s *Source) Pending() (bool, error) {
	const op = "pending"
	if s != nil && s.kind() == source.Exit {
		return false, opErr(op, unix.EDOM)
	}
	if _, err := s.live(op); err != nil {
		return false, err
	}
	return s.pending, nil
}

// Priority returns the source's priority (sd_event_source_get_priority).
func (s *Source) Priority() (priority.Priority, error) {
	if s == nil {
		return 0, opErr("priority", unix.EINVAL)
	}
	return s.priority, nil
}

// SetPriority sets the priority: among pending sources the lowest value is
// dispatched first (sd_event_source_set_priority).
func (s *Source) SetPriority(p priority.Priority) error {
	e, err := s.live("set priority")
	if err != nil {
		return err
	}
	if s.priority == p {
		return nil
	}
	if s.kind() == source.Inotify {
		if err := e.moveInotify(s, p); err != nil {
			return opErr("set priority", err)
		}
	}
	s.priority = p
	e.ppReshuffle(s)
	if s.kind() == source.Exit {
		e.exit.Reshuffle(s)
	}
	return nil
}

// Enabled returns the source's enablement (sd_event_source_get_enabled).
func (s *Source) Enabled() (source.Enabled, error) {
	if s == nil {
		return source.Off, opErr("enabled", unix.EINVAL)
	}
	return s.enabled(), nil
}

// SetEnabled switches the source On, Off or OneShot
// (sd_event_source_set_enabled). Off takes it out of the kernel. Switching
// it Off, and back on from Off, clears pending, except for defer and exit
// sources, which stay pending. Between On and OneShot the change takes
// effect at once. On a finished loop only Off succeeds.
func (s *Source) SetEnabled(m source.Enabled) error {
	const op = "set enabled"
	if !m.Valid() {
		return opErr(op, unix.EINVAL)
	}
	if s == nil {
		if m == source.Off {
			return nil
		}
		return opErr(op, unix.EINVAL)
	}
	if s.e == nil || s.e.state == Finished {
		if m == source.Off {
			if s.e == nil {
				s.enabledByte = int8(source.Off)
			}
			return nil
		}
		return opErr(op, unix.ESTALE)
	}
	return opErr(op, s.e.setEnabled(s, m))
}

func (e *Event) setEnabled(s *Source, m source.Enabled) error {
	if s.enabled() == m {
		return nil
	}
	if m == source.Off {
		e.offline(s, m, s.ratelimited)
	} else if s.enabled() != source.Off {
		// ON <-> ONESHOT: the kernel registration encodes the difference
		// (EPOLLONESHOT), so it is renewed at once.
		if s.online() {
			if err := e.register(s, m); err != nil {
				return err
			}
		}
		e.setEnabledField(s, m)
		return nil
	} else if err := e.online(s, m, s.ratelimited); err != nil {
		return err
	}
	e.ppReshuffle(s)
	return nil
}

// offline takes the source out of the kernel; enabled is Off, or the
// source enters its rate limit.
func (e *Event) offline(s *Source, enabled source.Enabled, ratelimited bool) {
	if s.enabled() != source.Off && enabled == source.Off && s.kind() != source.Defer && s.kind() != source.Exit {
		e.setPending(s, false)
	}
	e.setEnabledField(s, enabled)
	s.ratelimited = ratelimited
	e.kindOffline(s)
	e.timeReshuffle(s)
}

// online puts the source back into the kernel when it is enabled and not
// rate-limited; otherwise it only records the state.
func (e *Event) online(s *Source, enabled source.Enabled, ratelimited bool) error {
	if s.enabled() == source.Off && enabled != source.Off && s.kind() != source.Defer && s.kind() != source.Exit {
		e.setPending(s, false)
	}
	if enabled != source.Off && !ratelimited {
		if err := e.register(s, enabled); err != nil {
			return err
		}
	}
	e.setEnabledField(s, enabled)
	s.ratelimited = ratelimited
	e.kindOnline(s)
	e.timeReshuffle(s)
	return nil
}

func (e *Event) ppReshuffle(s *Source) {
	if s.pending {
		e.pending.Reshuffle(s)
	}
	if s.prepareIdx >= 0 {
		e.prepare.Reshuffle(s)
	}
}

// setPending marks the source pending or not; a source that becomes pending
// is stamped with the iteration, so that older pending sources go first.
func (e *Event) setPending(s *Source, b bool) {
	if s.pending == b {
		return
	}
	s.pending = b
	if b {
		s.pendingIter = e.iteration
		e.pending.Put(s)
	} else {
		e.pending.Remove(s)
	}
	if s.kind().IsTime() {
		e.timeReshuffle(s)
	}
	if s.kind() == source.Inotify && s.inotify().inode != nil {
		if b {
			s.inotify().inode.inotify.nPending++
		} else {
			s.inotify().inode.inotify.nPending--
		}
	}
}

// Floating reports whether the loop owns the source
// (sd_event_source_get_floating).
func (s *Source) Floating() bool { return s != nil && s.floating }

// SetFloating hands the source to the loop or takes it back
// (sd_event_source_set_floating). SetFloating(true) gives the loop a
// reference of its own and drops the source's reference on the loop: the
// caller then drops its own reference, and the loop frees the source when it
// is freed itself. SetFloating(false) undoes that; the caller must hold a
// reference first. A disconnected source gives ESTALE.
func (s *Source) SetFloating(b bool) error {
	const op = "set floating"
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.floating == b {
		return nil
	}
	e := s.e
	if e == nil {
		return opErr(op, unix.ESTALE)
	}
	s.floating = b
	if b {
		s.nref++
		e.Unref()
	} else {
		e.nref.Add(1)
		s.Unref()
	}
	return nil
}

// ExitOnFailure reports whether a handler error makes the loop exit
// (sd_event_source_get_exit_on_failure).
func (s *Source) ExitOnFailure() bool { return s != nil && s.exitOnFailure }

// SetExitOnFailure makes a failing handler (or prepare or expire callback)
// exit the loop with the negated errno of its error, instead of only
// disabling the source (sd_event_source_set_exit_on_failure). Exit sources:
// EDOM.
func (s *Source) SetExitOnFailure(b bool) error {
	const op = "set exit on failure"
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind() == source.Exit {
		return opErr(op, unix.EDOM)
	}
	s.exitOnFailure = b
	return nil
}

// SetDestroyCallback sets a function called with the userdata when the
// source is freed (sd_event_source_set_destroy_callback): at the last Unref,
// or after the handler returns when that happened inside it. A source no
// longer connected to a loop gives EINVAL, as in C.
func (s *Source) SetDestroyCallback(cb func(userdata any)) error {
	if s == nil || s.e == nil {
		return opErr("set destroy callback", unix.EINVAL)
	}
	if cb != nil || s.extra != nil {
		s.ext().destroyFn = cb
	}
	return nil
}
