//go:build linux

package sdevent

import (
	"fmt"
	"log/slog"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// validIOEvents are the epoll events an IO source may ask for.
const validIOEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI |
	unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLET

// AddIO watches fd for events (EPOLLIN, EPOLLOUT, ..., EPOLLET for edge
// triggering) and calls h when it is ready (sd_event_add_io). The source
// starts On; it does not own fd unless SetIOFdOwn(true). Errors: fd < 0
// or past a C int EBADF; unknown events EINVAL; an fd epoll refuses (a
// regular file) EPERM; fd already watched by this loop EEXIST; finished
// loop ESTALE. A nil h exits the loop with the userdata as code.
func (e *Event) AddIO(fd int, events uint32, h IOHandler) (*Source, error) {
	op := func() string { return fmt.Sprintf("add io %d", fd) }
	switch {
	case !e.valid():
		return nil, opErr(op(), unix.EINVAL)
	case !validFd(fd):
		return nil, opErr(op(), unix.EBADF)
	case events&^validIOEvents != 0:
		return nil, opErr(op(), unix.EINVAL)
	case e.state == Finished:
		return nil, opErr(op(), unix.ESTALE)
	}
	s := e.newSource(source.IO, source.On)
	s.io.fd, s.io.events = int32(fd), events
	s.handler = h
	if err := e.ioRegister(s, source.On, events); err != nil {
		s.nref = 0
		s.release()
		return nil, opErr(op(), err)
	}
	return s, nil
}

// validFd: fd can be a file descriptor. The kernel's are C ints; a larger
// Go int would reach epoll_ctl truncated to another fd.
func validFd(fd int) bool { return fd >= 0 && fd <= math.MaxInt32 }

// ioSource is an IO source's part of Source; fd is an int32, as the
// kernel's, to keep Source small.
type ioSource struct {
	fd      int32
	events  uint32
	revents uint32
}

func (e *Event) takeSlot(s *Source) {
	if s.slot >= 0 {
		return
	}
	if n := len(e.free); n > 0 {
		s.slot = e.free[n-1]
		e.free = e.free[:n-1]
		e.slots[s.slot] = s
		return
	}
	s.slot = int32(len(e.slots))
	e.slots = append(e.slots, s)
}

func (e *Event) releaseSlot(s *Source) {
	if s.slot < 0 {
		return
	}
	e.slots[s.slot] = nil
	e.free = append(e.free, s.slot)
	s.slot = -1
}

// pollRegister adds fd to epoll for s, or modifies its registration; a
// ONESHOT source is registered with EPOLLONESHOT.
func (e *Event) pollRegister(s *Source, fd int, events uint32, enabled source.Enabled, registered *bool) error {
	if enabled == source.OneShot {
		events |= unix.EPOLLONESHOT
	}
	e.takeSlot(s)
	op := unix.EPOLL_CTL_ADD
	if *registered {
		op = unix.EPOLL_CTL_MOD
	}
	if err := sys.EpollCtl(e.epfd, op, fd, events, uint64(s.slot)); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	*registered = true
	return nil
}

// pollUnregister removes fd, the fd of s, from epoll. The caller may have
// closed the fd already, which removed it anyway, so an error changes
// nothing; as sd-event's source_io_unregister, it is only logged.
func (e *Event) pollUnregister(s *Source, fd int, registered *bool) {
	if !*registered {
		return
	}
	*registered = false
	if err := unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil && e.debugOn() {
		e.logSource("removing fd from epoll failed, ignoring", s, os.NewSyscallError("epoll_ctl", err), slog.Int("fd", fd))
	}
}

// ioRegister adds or modifies the fd's epoll registration.
func (e *Event) ioRegister(s *Source, enabled source.Enabled, events uint32) error {
	return e.pollRegister(s, int(s.io.fd), events, enabled, &s.ioRegistered)
}

func (e *Event) ioUnregister(s *Source) { e.pollUnregister(s, int(s.io.fd), &s.ioRegistered) }

// ioReady makes the source pending with the events the poll reported.
func (e *Event) ioReady(s *Source, events uint32) { e.markReady(s, &s.io.revents, events) }

func (e *Event) disconnectIO(s *Source) {
	e.ioUnregister(s)
	e.releaseSlot(s)
}

// releaseIO closes the fd of a freed source that owns it.
func (s *Source) releaseIO() {
	if s.ioOwned && s.io.fd >= 0 {
		_ = sys.Close(int(s.io.fd))
		s.io.fd = -1
	}
}

func (s *Source) ioOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind() != source.IO || s.internal {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// IOFd returns the watched fd (sd_event_source_get_io_fd).
func (s *Source) IOFd() (int, error) {
	if err := s.ioOnly("io fd"); err != nil {
		return -1, err
	}
	return int(s.io.fd), nil
}

// SetIOFd watches fd instead (sd_event_source_set_io_fd), keeping events
// and enablement. If the source owns its fd, the old one is closed. On
// failure the old fd stays watched. A negative fd, or one past a C int:
// EBADF.
func (s *Source) SetIOFd(fd int) error {
	const op = "set io fd"
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if !validFd(fd) {
		return opErr(op, unix.EBADF) // before the kind, as in C
	}
	if err := s.ioOnly(op); err != nil {
		return err
	}
	if s.e == nil {
		return opErr(op, unix.ESTALE)
	}
	old := int(s.io.fd)
	if old == fd {
		return nil
	}
	e := s.e
	if s.offline() {
		s.io.fd = int32(fd)
		s.ioRegistered = false
	} else {
		s.io.fd, s.ioRegistered = int32(fd), false
		if err := e.ioRegister(s, s.enabled(), s.io.events); err != nil {
			s.io.fd, s.ioRegistered = int32(old), true
			return opErr(op, err)
		}
		// The caller may have closed the old fd already, which removed it.
		_ = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, old, nil)
	}
	if s.ioOwned && old >= 0 {
		_ = sys.Close(old)
	}
	return nil
}

// IOFdOwn reports whether the source closes its fd when it is freed
// (sd_event_source_get_io_fd_own).
func (s *Source) IOFdOwn() (bool, error) {
	if err := s.ioOnly("io fd own"); err != nil {
		return false, err
	}
	return s.ioOwned, nil
}

// SetIOFdOwn makes the source close its fd when it is freed and when SetIOFd
// replaces it (sd_event_source_set_io_fd_own).
func (s *Source) SetIOFdOwn(own bool) error {
	if err := s.ioOnly("set io fd own"); err != nil {
		return err
	}
	s.ioOwned = own
	return nil
}

// IOEvents returns the events watched for (sd_event_source_get_io_events).
func (s *Source) IOEvents() (uint32, error) {
	if err := s.ioOnly("io events"); err != nil {
		return 0, err
	}
	return s.io.events, nil
}

// SetIOEvents changes the events watched for and clears pending
// (sd_event_source_set_io_events). With EPOLLET it always re-registers, which
// resets the edge.
func (s *Source) SetIOEvents(events uint32) error {
	const op = "set io events"
	if err := s.ioOnly(op); err != nil {
		return err
	}
	if events&^validIOEvents != 0 {
		return opErr(op, unix.EINVAL)
	}
	e, err := s.live(op)
	if err != nil {
		return err
	}
	if s.io.events == events && events&unix.EPOLLET == 0 {
		return nil
	}
	e.setPending(s, false)
	if s.online() {
		if err := e.ioRegister(s, s.enabled(), events); err != nil {
			return opErr(op, err)
		}
	}
	s.io.events = events
	return nil
}

// IORevents returns the events seen ready while the source is pending
// (sd_event_source_get_io_revents); ENODATA when it is not pending.
func (s *Source) IORevents() (uint32, error) {
	const op = "io revents"
	if err := s.ioOnly(op); err != nil {
		return 0, err
	}
	if !s.pending {
		return 0, opErr(op, unix.ENODATA)
	}
	return s.io.revents, nil
}
