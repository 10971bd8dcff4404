package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// GoSdevent runs the workloads on go-sdevent through its public API, with
// the logic of sdbench.c. Every source has exit-on-failure set, so that a
// failing handler ends the loop with an error instead of leaving it waiting.
type GoSdevent struct{}

func (GoSdevent) Name() string { return "go-sdevent" }

// loop runs e until it exits and returns how long that took.
func loop(e *sdevent.Event) (time.Duration, error) {
	t0 := time.Now()
	code, err := e.Loop()
	d := time.Since(t0)
	if err == nil && code != 0 {
		err = fmt.Errorf("loop exited with %d", code)
	}
	return d, err
}

// counted checks that the handler ran n times.
func counted(d time.Duration, err error, count, n int) (time.Duration, error) {
	if err == nil && count != n {
		err = fmt.Errorf("%d dispatches, want %d", count, n)
	}
	return d, err
}

func exitOnFailure(s *sdevent.Source, err error) (*sdevent.Source, error) {
	if err != nil {
		return nil, err
	}
	if err := s.SetExitOnFailure(true); err != nil {
		s.Unref()
		return nil, err
	}
	return s, nil
}

// Defer dispatches an ON defer source n times.
func (GoSdevent) Defer(n int) (time.Duration, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	count := 0
	s, err := exitOnFailure(e.AddDefer(func(*sdevent.Source) error {
		if count++; count >= n {
			return e.Exit(0)
		}
		return nil
	}))
	if err != nil {
		return 0, err
	}
	defer s.Unref()
	if err := s.SetEnabled(source.On); err != nil {
		return 0, err
	}
	d, err := loop(e)
	return counted(d, err, count, n)
}

// eventfdOne is the 8 bytes that add 1 to an eventfd's counter.
var eventfdOne = binary.NativeEndian.AppendUint64(nil, 1)

// IO plays eventfd ping-pong n times: every dispatch reads the counter and
// writes it back, with idle more IO sources (owning idle eventfds that never
// fire) registered.
func (GoSdevent) IO(n, idle int) (time.Duration, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return 0, os.NewSyscallError("eventfd", err)
	}
	defer func() { _ = unix.Close(fd) }()
	count := 0
	var buf [8]byte
	h := func(_ *sdevent.Source, fd int, _ uint32) error {
		if _, err := unix.Read(fd, buf[:]); err != nil {
			return os.NewSyscallError("read", err)
		}
		if count++; count >= n {
			return e.Exit(0)
		}
		_, err := unix.Write(fd, eventfdOne)
		return os.NewSyscallError("write", err)
	}
	s, err := exitOnFailure(e.AddIO(fd, unix.EPOLLIN, h))
	if err != nil {
		return 0, err
	}
	defer s.Unref()
	idles := make([]*sdevent.Source, 0, idle)
	defer func() {
		for _, s := range idles {
			s.Unref()
		}
	}()
	for range idle {
		s, err := addIdleIO(e, h)
		if err != nil {
			return 0, err
		}
		idles = append(idles, s)
	}
	if _, err := unix.Write(fd, eventfdOne); err != nil {
		return 0, os.NewSyscallError("write", err)
	}
	d, err := loop(e)
	return counted(d, err, count, n)
}

// addIdleIO adds an IO source that owns an eventfd nobody writes to.
func addIdleIO(e *sdevent.Event, h sdevent.IOHandler) (*sdevent.Source, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	s, err := e.AddIO(fd, unix.EPOLLIN, h)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := s.SetIOFdOwn(true); err != nil {
		s.Unref()
		_ = unix.Close(fd)
		return nil, err
	}
	return s, nil
}

// Timers adds n one-shot timers spread over 200ms after the loop's Now,
// with accuracy 1µs, and dispatches them all. As sdbench.c, it adds floating
// sources, which the loop frees with itself.
func (GoSdevent) Timers(n int) (add, total time.Duration, err error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, 0, err
	}
	defer e.Unref()
	base, err := e.Now(unix.CLOCK_MONOTONIC)
	if err != nil {
		return 0, 0, err
	}
	count := 0
	h := func(*sdevent.Source, time.Duration) error {
		if count++; count >= n {
			return e.Exit(0)
		}
		return nil
	}
	x := lcg(1)
	t0 := time.Now()
	for range n {
		if err := sdevent.Float(e.AddTime(unix.CLOCK_MONOTONIC, base+x.timerOffset(), time.Microsecond, h)); err != nil {
			return 0, 0, err
		}
	}
	add = time.Since(t0)
	if _, err := e.Loop(); err != nil {
		return 0, 0, err
	}
	total = time.Since(t0)
	_, err = counted(total, nil, count, n)
	return add, total, err
}

// TimerRearm dispatches a timer n times that its handler re-arms for 0
// (SetTime(0), then OneShot), with the default accuracy like sdbench.c.
func (GoSdevent) TimerRearm(n int) (time.Duration, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	count := 0
	s, err := exitOnFailure(e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, func(s *sdevent.Source, _ time.Duration) error {
		if count++; count >= n {
			return e.Exit(0)
		}
		if err := s.SetTime(0); err != nil {
			return err
		}
		return s.SetEnabled(source.OneShot)
	}))
	if err != nil {
		return 0, err
	}
	defer s.Unref()
	d, err := loop(e)
	return counted(d, err, count, n)
}

// Signal dispatches SIGUSR1 n times, each handler sending the next with
// kill to the process. It needs no signal blocked: the signal comes
// through the Go runtime.
func (GoSdevent) Signal(n int) (time.Duration, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	pid := unix.Getpid()
	count := 0
	s, err := exitOnFailure(e.AddSignal(unix.SIGUSR1, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
		if count++; count >= n {
			return e.Exit(0)
		}
		return os.NewSyscallError("kill", unix.Kill(pid, unix.SIGUSR1))
	}))
	if err != nil {
		return 0, err
	}
	defer s.Unref()
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		return 0, os.NewSyscallError("kill", err)
	}
	d, err := loop(e)
	return counted(d, err, count, n)
}

// shArgv is the command every child runs: it waits for a line on stdin and
// exits (with status 1) at end of file.
var shArgv = []string{"sh", "-c", "read x"}

const shPath = "/bin/sh"

// startSh starts shArgv with attr. syscall.ForkExec returns only once the
// child has exec'd (it waits for a close-on-exec pipe to close), as
// posix_spawn in the C harness does: both start the clock with no child
// between fork and exec.
func startSh(attr *syscall.ProcAttr) (pid int, err error) {
	pid, err = syscall.ForkExec(shPath, shArgv, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", shPath, err)
	}
	return pid, nil
}

// Children starts n children blocked reading one pipe, watches each with
// AddChildPidfd on the pidfd taken at clone time (syscall.ForkExec with
// SysProcAttr.PidFD), closes the pipe and dispatches the n exits; the loop
// reaps every child after its handler. AddCommand measured the same per
// exit (the kernel's exit work dominates) but keeps os/exec's state per
// child and reaps through cmd.Wait.
func (GoSdevent) Children(n int) (ChildrenRun, error) {
	var run ChildrenRun
	r, w, err := os.Pipe()
	if err != nil {
		return run, err
	}
	defer func() { _ = r.Close() }()
	defer func() { _ = w.Close() }()
	e, err := sdevent.New()
	if err != nil {
		return run, err
	}
	defer e.Unref()
	count := 0
	h := func(_ *sdevent.Source, si *sdevent.ChildInfo) error {
		if !si.Exited() {
			return fmt.Errorf("child %d: %v, want exited", si.Pid, si)
		}
		if count++; count >= n {
			return e.Exit(0)
		}
		return nil
	}
	srcs := make([]*sdevent.Source, 0, n)
	defer func() {
		// Children not yet exited (after an error) are killed and reaped.
		for _, s := range srcs {
			s.Unref()
		}
	}()
	run.ThreadsBefore = osThreads()
	pidfd := -1
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{r.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{PidFD: &pidfd},
	}
	for range n {
		pid, err := startSh(attr)
		if err != nil {
			return run, err
		}
		s, err := exitOnFailure(e.AddChildPidfd(pidfd, unix.WEXITED, h))
		if err == nil {
			err = errors.Join(s.SetChildPidfdOwn(true), s.SetChildProcessOwn(true))
			srcs = append(srcs, s)
		} else {
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
			_ = unix.Close(pidfd)
		}
		if err != nil {
			return run, err
		}
	}
	_ = r.Close()
	run.Threads = osThreads()
	t0 := time.Now()
	_ = w.Close()
	_, err = loop(e)
	run.Elapsed, err = counted(time.Since(t0), err, count, n)
	return run, err
}

// IdleMemory adds n idle IO sources (owning eventfds), then n timers an
// hour away, to one loop and returns the growth of the live heap per source
// of each kind, after a garbage collection. The kernel's share (eventfd,
// epoll entry) is not counted.
func (GoSdevent) IdleMemory(n int) (ioBytes, timerBytes float64, err error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, 0, err
	}
	defer e.Unref()
	srcs := make([]*sdevent.Source, 0, 2*n)
	defer func() {
		for _, s := range srcs {
			s.Unref()
		}
	}()
	ioH := func(*sdevent.Source, int, uint32) error { return nil }
	timeH := func(*sdevent.Source, time.Duration) error { return nil }
	base, err := e.Now(unix.CLOCK_MONOTONIC)
	if err != nil {
		return 0, 0, err
	}
	before := liveHeap()
	for range n {
		s, err := addIdleIO(e, ioH)
		if err != nil {
			return 0, 0, err
		}
		srcs = append(srcs, s)
	}
	mid := liveHeap()
	for i := range n {
		s, err := e.AddTime(unix.CLOCK_MONOTONIC, base+time.Hour+time.Duration(i)*time.Microsecond, time.Microsecond, timeH)
		if err != nil {
			return 0, 0, err
		}
		srcs = append(srcs, s)
	}
	after := liveHeap()
	return float64(mid-before) / float64(n), float64(after-mid) / float64(n), nil
}

// liveHeap returns the bytes of live heap objects after a garbage
// collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
