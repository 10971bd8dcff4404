//go:build linux

package sdevent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sighub"
	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// Signal returns the signal that killed, stopped or trapped the child (or
// continued it: SIGCONT), else 0.
func (ci *ChildInfo) Signal() unix.Signal { return unix.Signal(ci.signal()) }

// signalName is the name x/sys/unix knows for sig ("SIGTERM"), for
// ChildInfo.String.
func signalName(sig syscall.Signal) string { return unix.SignalName(sig) }

// zombie reports whether the report is the child's end.
func (ci *ChildInfo) zombie() bool {
	return ci.Code == CLDExited || ci.Code == CLDKilled || ci.Code == CLDDumped
}

// ChildHandler handles a child source.
type ChildHandler func(s *Source, si *ChildInfo) error

const (
	waitEvents   = unix.WEXITED | unix.WSTOPPED | unix.WCONTINUED
	validOptions = waitEvents | unix.WNOWAIT
)

// child is a child source's part of Source.
type child struct {
	handler             ChildHandler
	pid, pidfd, options int
	info                ChildInfo
	pidfdOwned          bool
	processOwned        bool
	exited, waited      bool
	registered          bool // pidfd in epoll
	pollIdx             int  // in the loop's list of sources that watch stops
	cmd                 *exec.Cmd
}

// watchPidfd: a source that only waits for the exit learns of it from its
// pidfd becoming readable; one that also watches stops and continues is
// polled on SIGCHLD.
func (c *child) watchPidfd() bool { return c.options&waitEvents == unix.WEXITED }

// AddChild calls h when the child pid exits (WEXITED), stops (WSTOPPED) or
// continues (WCONTINUED), as options ask (sd_event_add_child). The source
// starts OneShot. It opens and owns a pidfd for pid, so pid cannot be
// recycled under it; the handler runs while an exited child is still a
// zombie, and the loop reaps it after the handler returns, unless options
// has WNOWAIT. Unlike C, SIGCHLD need not be blocked, and the loop never
// waits with P_ALL: children it does not watch are left to their owners.
// Errors: pid <= 1, empty or unknown options EINVAL; a second source for pid
// in this loop, or SIGCHLD ignored (the kernel reaps by itself) EBUSY; no
// such process ESRCH; not a child of this process ECHILD.
func (e *Event) AddChild(pid int, options int, h ChildHandler) (*Source, error) {
	op := func() string { return fmt.Sprintf("add child %d", pid) }
	if err := e.childAddable(options, pid > 1); err != nil {
		return nil, opErr(op(), err)
	}
	if e.children[pid] != nil {
		return nil, opErr(op(), unix.EBUSY)
	}
	pidfd, err := sys.PidfdOpen(pid, 0)
	if err != nil {
		return nil, opErr(op(), os.NewSyscallError("pidfd_open", err))
	}
	s, err := e.addChild(pid, pidfd, options, h)
	if err != nil {
		_ = sys.Close(pidfd)
		return nil, opErr(op(), err)
	}
	s.child().pidfdOwned = true
	return s, nil
}

// AddChildPidfd is AddChild for the child behind pidfd
// (sd_event_add_child_pidfd). The source does not own pidfd unless
// SetChildPidfdOwn(true). Errors as systemd's pidfd helper gives them:
// pidfd < 0 or not open EBADF; open but not a pidfd ENOTTY; its process
// already reaped ESRCH. (libsystemd 252 gives ESRCH for an fd that is not
// open and ERANGE for a reaped process; later versions give these.)
func (e *Event) AddChildPidfd(pidfd int, options int, h ChildHandler) (*Source, error) {
	op := func() string { return fmt.Sprintf("add child pidfd %d", pidfd) }
	if e.valid() && pidfd < 0 {
		return nil, opErr(op(), unix.EBADF) // after the loop, before options, as in C
	}
	if err := e.childAddable(options, true); err != nil {
		return nil, opErr(op(), err)
	}
	pid, err := sys.PidfdPid(pidfd)
	if err != nil {
		return nil, opErr(op(), err)
	}
	if e.children[pid] != nil {
		return nil, opErr(op(), unix.EBUSY)
	}
	s, err := e.addChild(pid, pidfd, options, h)
	return s, opErr(op(), err)
}

// AddCommand starts cmd and watches it like AddChild, through a pidfd the
// kernel returns at clone time (SysProcAttr.PidFD), so no other process can
// ever be mistaken for it. When cmd cannot be started, its error is
// returned and no source is added.
//
// The loop reaps the child by calling cmd.Wait after the handler returns
// (unless the handler called it, or options has WNOWAIT), so that os/exec
// closes its pipes and ends its copying goroutines. Like cmd.Wait itself,
// that waits while a grandchild keeps a pipe to a non-*os.File Stdout or
// Stderr open: set cmd.WaitDelay, or use files or pipes watched with AddIO.
// Do not call cmd.Wait before the child has exited.
func (e *Event) AddCommand(cmd *exec.Cmd, options int, h ChildHandler) (*Source, error) {
	const op = "add command"
	if cmd == nil || cmd.Process != nil {
		return nil, opErr(op, unix.EINVAL)
	}
	if err := e.childAddable(options, true); err != nil {
		return nil, opErr(op, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	userPidfd := cmd.SysProcAttr.PidFD
	pidfd := -1
	if userPidfd == nil {
		cmd.SysProcAttr.PidFD = &pidfd
	}
	if err := cmd.Start(); err != nil {
		if userPidfd == nil {
			cmd.SysProcAttr.PidFD = nil
		}
		return nil, opErr(op, err)
	}
	var err error
	if userPidfd == nil {
		cmd.SysProcAttr.PidFD = nil
		sys.Opened(pidfd)
	} else if pidfd, err = sys.DupCloexec(*userPidfd); err != nil {
		pidfd = -1
	}
	var s *Source
	if err == nil {
		s, err = e.addChild(cmd.Process.Pid, pidfd, options, h)
	}
	if err != nil {
		// It started, but nobody will watch it: do not leave it behind. The
		// error to report is err; Wait's is the SIGKILL just sent.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if pidfd >= 0 {
			_ = sys.Close(pidfd)
		}
		return nil, opErr(fmt.Sprintf("%s %d", op, cmd.Process.Pid), err)
	}
	s.child().pidfdOwned = true
	s.child().cmd = cmd
	return s, nil
}

// childAddable checks what every way of adding a child source checks first,
// in sd_event_add_child's order. Two differences, on purpose: WNOWAIT alone
// (no event) is EINVAL, which C 262 accepts and then fails its loop on; and
// autoreaping (SIGCHLD ignored or SA_NOCLDWAIT) is EBUSY whatever options
// asks, where C 262's verify_sigchld checks it only for WEXITED, since
// watching stops here takes a SIGCHLD handler that would end it.
func (e *Event) childAddable(options int, pidOK bool) error {
	switch {
	case !e.valid() || !pidOK:
		return unix.EINVAL
	case options&^validOptions != 0 || options&waitEvents == 0:
		return unix.EINVAL
	case e.state == Finished:
		return unix.ESTALE
	}
	reaps, err := sys.SigchldReaps()
	if err != nil {
		return err
	}
	if reaps {
		return fmt.Errorf("SIGCHLD is ignored, the kernel reaps children itself: %w", unix.EBUSY)
	}
	return nil
}

func (e *Event) addChild(pid, pidfd, options int, h ChildHandler) (*Source, error) {
	// Refuse what is not our child now, not as a failing Wait later.
	if _, _, err := sys.WaitPidfd(pidfd, waitEvents|unix.WNOHANG|unix.WNOWAIT); err != nil {
		return nil, err
	}
	s := e.newSource(source.Child, source.OneShot)
	s.part = &child{pid: pid, pidfd: pidfd, options: options, pollIdx: -1}
	s.child().handler = h
	if err := e.register(s, source.OneShot); err != nil {
		s.nref = 0
		s.release()
		return nil, err
	}
	if e.children == nil {
		e.children = map[int]*Source{}
	}
	e.children[pid] = s
	if !s.child().watchPidfd() {
		if err := e.setupSignals(); err != nil {
			s.nref = 0
			s.release()
			return nil, err
		}
		s.child().pollIdx = len(e.childPoll)
		e.childPoll = append(e.childPoll, s)
		e.sig.childSubs++
		sighub.Subscribe(&e.sig.sub, int(unix.SIGCHLD))
		e.needChild = true // it may have stopped already
	}
	return s, nil
}

// childRegister puts the pidfd of an exit-only child source into epoll.
func (e *Event) childRegister(s *Source, enabled source.Enabled) error {
	c := s.child()
	if !c.watchPidfd() || c.waited {
		return nil // polled on SIGCHLD, or reaped: nothing left to watch
	}
	return e.pollRegister(s, c.pidfd, unix.EPOLLIN, enabled, &c.registered)
}

func (e *Event) childUnregister(s *Source) {
	e.pollUnregister(s, s.child().pidfd, &s.child().registered)
}

// childOnline: a source that watches stops and is back online polls what
// it missed while off.
func (e *Event) childOnline(s *Source) {
	if s.online() && !s.child().watchPidfd() {
		e.needChild = true
	}
}

func (e *Event) disconnectChild(s *Source) {
	c := s.child()
	e.childUnregister(s)
	e.releaseSlot(s)
	if e.children[c.pid] == s {
		delete(e.children, c.pid)
	}
	if i := c.pollIdx; i >= 0 {
		last := len(e.childPoll) - 1
		e.childPoll[i] = e.childPoll[last]
		e.childPoll[i].child().pollIdx = i
		e.childPoll[last] = nil
		e.childPoll = e.childPoll[:last]
		c.pollIdx = -1
		e.sig.childSubs--
		sighub.Unsubscribe(&e.sig.sub, int(unix.SIGCHLD))
	}
}

// processPidfd reads the exit of a child whose pidfd became readable,
// leaving it a zombie for the handler.
func (e *Event) processPidfd(s *Source) error {
	if s.child().waited {
		// Reaped: its pidfd stays readable, but there is nothing to say.
		e.childUnregister(s)
		return nil
	}
	if s.pending || s.offline() || !s.child().watchPidfd() {
		return nil
	}
	return e.readChild(s, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
}

// processChildren polls the sources that watch stops and continues, after
// a SIGCHLD: only those, never P_ALL, so an exit costs the same however
// many children are watched through pidfds.
func (e *Event) processChildren() error {
	e.needChild = false
	for _, s := range e.childPoll {
		c := s.child()
		if s.pending || s.offline() || c.waited || (c.exited && c.options&unix.WNOWAIT == 0) {
			continue
		}
		flags := c.options&waitEvents | unix.WNOHANG
		if c.options&(unix.WEXITED|unix.WNOWAIT) != 0 {
			flags |= unix.WNOWAIT // an exit stays for the handler to see
		}
		if err := e.readChild(s, flags); err != nil {
			return err
		}
		if s.pending && !c.exited && c.options&unix.WEXITED != 0 && c.options&unix.WNOWAIT == 0 {
			// Consume the stop or continue report, which WNOWAIT left queued;
			// best effort, as in C: the report is already read, and a failure
			// only means the next waitid sees it again.
			_, _, _ = sys.WaitPidfd(c.pidfd, c.options&(unix.WSTOPPED|unix.WCONTINUED)|unix.WNOHANG)
		}
	}
	return nil
}

// readChild asks waitid what the child has to report and, if anything,
// makes the source pending with it.
func (e *Event) readChild(s *Source, flags int) error {
	c := s.child()
	wi, ok, err := sys.WaitPidfd(c.pidfd, flags)
	if errors.Is(err, unix.ECHILD) {
		// Reaped by someone else: the status is gone, but the handler
		// still learns that the child is.
		c.info = ChildInfo{Signo: int(unix.SIGCHLD), Pid: c.pid}
		c.exited, c.waited = true, true
		if e.debugOn() {
			// Most likely cmd.Wait or another waitid of the process.
			e.logSource("child was reaped by someone else, its status is lost", s, nil, slog.Int("pid", c.pid))
		}
		e.childUnregister(s)
		e.setPending(s, true)
		return nil
	}
	if err != nil || !ok {
		return err
	}
	c.info = ChildInfo{Signo: int(unix.SIGCHLD), Code: wi.Code, Pid: wi.Pid, Uid: wi.Uid, Status: wi.Status}
	if c.info.zombie() {
		c.exited = true
	}
	e.setPending(s, true)
	return nil
}

// reapChild collects an exited child after its handler, unless WNOWAIT
// asked to leave it: then a source left on reports the zombie again in
// every iteration (its pidfd stays readable; the SIGCHLD-polled kind is
// polled again).
func (s *Source) reapChild() {
	c := s.child()
	if c.info.zombie() && c.options&unix.WNOWAIT != 0 && !c.watchPidfd() && s.e != nil && s.online() {
		s.e.needChild = true
	}
	if !c.info.zombie() || c.waited || c.options&unix.WNOWAIT != 0 {
		return
	}
	if s.e != nil {
		s.e.childUnregister(s) // nothing more will come
	}
	c.reap(unix.WNOHANG) // a zombie: there is no waiting
}

// reap collects the child, once: through cmd.Wait for AddCommand's, so that
// os/exec releases its pipes and goroutines, else with waitid on the pidfd
// (flags: WNOHANG, or 0 to wait for it to die).
func (c *child) reap(flags int) {
	if c.waited {
		return
	}
	c.waited = true
	if c.cmd != nil {
		if c.cmd.ProcessState == nil {
			// The status went to the handler already (waitid with WNOWAIT);
			// Wait only releases os/exec's resources and reports it again.
			_ = c.cmd.Wait()
		}
		return
	}
	// Nothing to report to: the status is the handler's already, or nobody
	// asked for it (Unref of a child it owns).
	_, _, _ = sys.WaitPidfd(c.pidfd, unix.WEXITED|flags)
}

// releaseChild: a process-owned child that has not exited is killed and
// reaped before Unref returns; an owned pidfd is closed.
func (s *Source) releaseChild() {
	c := s.child()
	if c.processOwned {
		if !c.exited {
			// ESRCH: it died meanwhile; the reap below collects it either way.
			_ = unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0)
		}
		c.reap(0)
	}
	if c.pidfdOwned && c.pidfd >= 0 {
		_ = sys.Close(c.pidfd)
		c.pidfd = -1
	}
}

func (s *Source) childOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind() != source.Child {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// ChildPid returns the pid of a child source (sd_event_source_get_child_pid).
func (s *Source) ChildPid() (int, error) {
	if err := s.childOnly("child pid"); err != nil {
		return -1, err
	}
	return s.child().pid, nil
}

// ChildPidfd returns the pidfd of a child source
// (sd_event_source_get_child_pidfd).
func (s *Source) ChildPidfd() (int, error) {
	if err := s.childOnly("child pidfd"); err != nil {
		return -1, err
	}
	return s.child().pidfd, nil
}

// ChildPidfdOwn reports whether the source closes its pidfd when freed
// (sd_event_source_get_child_pidfd_own).
func (s *Source) ChildPidfdOwn() (bool, error) {
	if err := s.childOnly("child pidfd own"); err != nil {
		return false, err
	}
	return s.child().pidfdOwned, nil
}

// SetChildPidfdOwn sets whether the source closes its pidfd when freed
// (sd_event_source_set_child_pidfd_own).
func (s *Source) SetChildPidfdOwn(own bool) error {
	if err := s.childOnly("set child pidfd own"); err != nil {
		return err
	}
	s.child().pidfdOwned = own
	return nil
}

// ChildProcessOwn reports whether freeing the source kills the child
// (sd_event_source_get_child_process_own).
func (s *Source) ChildProcessOwn() (bool, error) {
	if err := s.childOnly("child process own"); err != nil {
		return false, err
	}
	return s.child().processOwned, nil
}

// SetChildProcessOwn makes freeing the source, before the child exited, send
// it SIGKILL through the pidfd and reap it before Unref returns
// (sd_event_source_set_child_process_own).
func (s *Source) SetChildProcessOwn(own bool) error {
	if err := s.childOnly("set child process own"); err != nil {
		return err
	}
	s.child().processOwned = own
	return nil
}

// SendChildSignal sends sig (with the siginfo si, if not nil, and flags for
// pidfd_send_signal) to the child through its pidfd
// (sd_event_source_send_child_signal). Once the loop has seen the child
// exit it returns ESRCH: it never signals a process that might have taken
// over the pid.
func (s *Source) SendChildSignal(sig unix.Signal, si *unix.Siginfo, flags uint) error {
	const op = "send child signal"
	if err := s.childOnly(op); err != nil {
		return err
	}
	if sig <= 0 || int(sig) >= sighub.NSIG {
		return opErr(op, unix.EINVAL)
	}
	c := s.child()
	if c.exited || c.pidfd < 0 {
		return opErr(op, unix.ESRCH)
	}
	var cp *unix.Siginfo
	if si != nil {
		info := *si // the kernel may write to it
		cp = &info
	}
	return opErr(op, os.NewSyscallError("pidfd_send_signal", unix.PidfdSendSignal(c.pidfd, sig, cp, int(flags))))
}
