//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/supervise"
)

const runAbout = `Runs COMMAND as a child of an event loop and supervises it, for systemd
units (Type=notify) and containers:

  - COMMAND is started with a pidfd taken at clone time and owned by the loop:
    when sdevent ends (COMMAND's fate aside: a usage or start-up error, a
    failing loop), COMMAND is killed and reaped with it; if sdevent itself is
    killed, systemd's KillMode=control-group (the default) ends COMMAND;
  - READY=1 is sent to $NOTIFY_SOCKET once COMMAND has started, never before;
  - the service watchdog ($WATCHDOG_USEC) is fed from the loop while it runs;
  - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to
    COMMAND; after SIGTERM, SIGINT or SIGQUIT, STOPPING=1 is sent and, if
    COMMAND has not exited after -kill-after, it is sent SIGKILL (the first
    of these stop signals is followed by SIGCONT, as systemd sends it, so
    that a stopped COMMAND acts on it);
  - when COMMAND exits, sdevent exits with its status; when a signal killed
    it, sdevent dies of the same signal (as pid 1: exits 128+N, see below),
    so that systemd and shells see what happened to COMMAND.

As pid 1, the init of a pid namespace (a container's entrypoint), sdevent
reaps every orphan the kernel hands it, whenever SIGCHLD comes; so it does
with -subreaper (PR_SET_CHILD_SUBREAPER), or when it was a subreaper
already, for the orphans of COMMAND's process tree. Neither, it reaps
nothing but COMMAND: orphans go to the reaper above it, systemd for a
service (which needs no -subreaper). COMMAND's own exit is never taken
from it: sdevent peeks at each zombie (waitid WNOWAIT) and reaps only
the others. sdevent ends when COMMAND does: then, as pid 1, the kernel
kills what is left in the namespace; as a subreaper, what still runs goes
to the reaper above. As pid 1, sdevent cannot die of a signal it sends
itself (the kernel drops it): when a signal N killed COMMAND, it exits
with 128+N instead.

Diagnostics go to stderr after the action they report (SIGKILL first,
then its line); a stderr nobody reads (a broken pipe) costs the line,
never the supervision: sdevent does not die of SIGPIPE.

A COMMAND that cannot be started is reported in one line on stderr, and
sdevent exits with status 203 (systemd's EXEC); READY=1 is never sent.

sdevent run is package supervise of go-sdevent at work, with
Restart=no, KillMode=process and -kill-after as TimeoutStopSec=.

The manual page is man/sdevent-run.1 in the source tree.`

// forwarded are the signals passed on to the child; the first three stop it.
var forwarded = []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2}

func stops(sig unix.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGQUIT
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	// A write to a stdout or stderr nobody reads must not kill the
	// supervisor (and leave COMMAND unsupervised): the Go runtime raises
	// SIGPIPE for fds 1 and 2 unless the program asks for it with
	// signal.Notify; then the write fails with EPIPE. Not signal.Ignore:
	// an ignored SIGPIPE would be inherited by COMMAND through exec.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	fs := newFlagSet("run", "[flags] -- COMMAND [ARG...]", runAbout, stderr)
	killAfter := fs.Duration("kill-after", 10*time.Second, "how long COMMAND may take to exit after a stop signal before it gets SIGKILL")
	subreaper := fs.Bool("subreaper", false, "become a child subreaper (PR_SET_CHILD_SUBREAPER): the orphans of COMMAND's\nprocess tree become sdevent's children, and it reaps them (implied as pid 1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	argv := fs.Args()
	if len(argv) == 0 {
		sayln(stderr, "sdevent run: no COMMAND given")
		fs.Usage()
		return exitUsage
	}
	if *killAfter <= 0 {
		sayln(stderr, "sdevent run: -kill-after must be positive")
		return exitUsage
	}
	st, err := runSupervised(argv, *killAfter, *subreaper, stderr)
	if err != nil {
		sayf(stderr, "sdevent run: %v\n", err)
		return st
	}
	return st
}

// runSupervised runs argv to its end, supervised by package supervise
// (Restart=no, KillMode=process, TimeoutStopSec=killAfter), and returns
// the status to exit with. A child killed by a signal makes the supervisor
// die of it and not return.
func runSupervised(argv []string, killAfter time.Duration, subreaper bool, stderr io.Writer) (int, error) {
	// A reaper before COMMAND starts, so that no orphan of its tree passes
	// sdevent by.
	reaper, err := becomeReaper(subreaper)
	if err != nil {
		return exitFailure, err
	}
	e, err := sdevent.New()
	if err != nil {
		return exitFailure, err
	}
	defer e.Unref()

	var (
		sv         *supervise.Service
		info       sdevent.ChildInfo
		startErr   error
		stopSig    unix.Signal // the signal that began the stop
		commandPid int
		sigs       []*sdevent.Source
	)
	defer func() {
		for _, s := range sigs {
			s.Unref()
		}
	}()
	// Signals first, so that none that arrives once the child runs is lost.
	for _, sig := range forwarded {
		s, err := e.AddSignal(sig, func(s *sdevent.Source, si *unix.SignalfdSiginfo) error {
			sig := unix.Signal(si.Signo)
			if stops(sig) && stopSig == 0 && sv.State() == supervise.Running {
				stopSig = sig
				// Running, and sig valid: this cannot fail.
				_ = sv.StopWith(sig)
				if _, err := sdevent.NotifyStopping(); err != nil {
					sayf(stderr, "sdevent run: %v\n", err)
				}
				return nil
			}
			// ESRCH: it exited already; its handler finishes the loop.
			_ = sv.Signal(sig)
			return nil
		})
		if err != nil {
			return exitFailure, err
		}
		// The child's exit goes before signals that came with it.
		if err := s.SetPriority(priority.Normal + 1); err != nil {
			return exitFailure, err
		}
		sigs = append(sigs, s)
	}
	if reaper {
		s, err := e.AddSignal(unix.SIGCHLD, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
			reapOrphans(commandPid)
			return nil
		})
		if err != nil {
			return exitFailure, err
		}
		if err := s.SetPriority(priority.Normal + 1); err != nil {
			return exitFailure, err
		}
		sigs = append(sigs, s)
	}

	sv, err = supervise.Start(e, supervise.Spec{
		Name: argv[0],
		Command: func() *exec.Cmd {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			return cmd
		},
		// Signals go to COMMAND alone, which stays in sdevent's process
		// group (a terminal's job control sees both).
		KillMode:        supervise.KillProcess,
		TimeoutStop:     killAfter,
		StartLimitBurst: -1,
		Started: func(_ *supervise.Service, pid int) {
			commandPid = pid
			if _, err := sdevent.NotifyReady(); err != nil {
				sayf(stderr, "sdevent run: %v\n", err)
			}
			if _, err := e.SetWatchdog(true); err != nil {
				sayf(stderr, "sdevent run: %v\n", err)
			}
		},
		StartFailed: func(_ *supervise.Service, err error) { startErr = err },
		Exited:      func(_ *supervise.Service, ci *sdevent.ChildInfo) { info = *ci },
		StopTimedOut: func(_ *supervise.Service, sig unix.Signal) {
			// Called once sig went: the line may fail, the kill must not.
			sayf(stderr, "sdevent run: %s did not exit %v after %v, sent %v\n", argv[0], killAfter, unix.SignalName(stopSig), unix.SignalName(sig))
		},
		Done: func(*supervise.Service, supervise.Result) { _ = e.Exit(0) },
	})
	if err != nil {
		return exitFailure, err
	}
	// When the loop fails, COMMAND is killed and reaped with it.
	defer sv.Close()

	_, err = e.Loop()
	if reaper {
		// COMMAND is reaped (unless the loop failed): nothing hides the
		// orphans that became zombies meanwhile any more.
		reapOrphans(commandPid)
	}
	switch {
	case err != nil:
		return exitFailure, err
	case startErr != nil:
		return int(exitcode.Exec), fmt.Errorf("cannot start %s: %w", argv[0], startErr)
	case info.Exited():
		return info.ExitStatus(), nil
	case info.Signaled():
		// Let go of the signals first, so that dying of one is possible.
		for _, s := range sigs {
			s.Unref()
		}
		sigs = nil
		dieOfSignal(info.Signal())
	}
	return exitFailure, fmt.Errorf("%s ended as %v", argv[0], &info)
}

// becomeReaper makes sdevent a child subreaper (PR_SET_CHILD_SUBREAPER,
// Linux 3.4) if asked, and reports whether orphans come to it: as pid 1,
// the init of a pid namespace, or as a subreaper, asked for or kept
// through the exec that started sdevent.
func becomeReaper(subreaper bool) (bool, error) {
	if unix.Getpid() == 1 {
		return true, nil
	}
	if subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return false, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
		}
		return true, nil
	}
	var on int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&on)), 0, 0, 0); err != nil {
		return false, os.NewSyscallError("prctl PR_GET_CHILD_SUBREAPER", err)
	}
	return on != 0, nil
}

// reapOrphans reaps every zombie child but COMMAND (pid command), whose
// exit belongs to the loop's pidfd watch. It peeks first (waitid P_ALL with
// WNOWAIT, which leaves the zombie in place) and reaps by pid (P_PID) only
// what is not COMMAND, as systemd's manager does on SIGCHLD
// (manager_dispatch_sigchld). The peek reports one zombie, the first the
// kernel finds (it looks at the children the calling thread forked, then
// at those of the other threads), so a zombie COMMAND may hide others;
// that lasts only until the loop, which COMMAND's exit ends, has reaped
// it, and the call after the loop reaps them.
func reapOrphans(command int) {
	for {
		wi, ok, err := sys.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG)
		if err != nil || !ok || wi.Pid == command {
			return // ECHILD: no child at all
		}
		// A zombie child that only this function reaps: its pid is still its own.
		if _, ok, err := sys.Waitid(unix.P_PID, wi.Pid, unix.WEXITED|unix.WNOHANG); err != nil || !ok {
			return
		}
	}
}

// dieOfSignal ends the process by sig with its default action, even for
// the signals the Go runtime handles itself (SIGSEGV, SIGABRT, ...).
func dieOfSignal(sig unix.Signal) {
	if unix.Getpid() == 1 {
		// The kernel drops the signals the init of a pid namespace sends
		// itself: exit as a shell reports a death by sig.
		os.Exit(128 + int(sig))
	}
	runtime.LockOSThread()
	var act struct {
		handler uintptr
		flags   uint64
		rest    [4]uint64
	}
	// Best effort, each step: should one fail, the signal does not end us
	// and os.Exit below does.
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	// A signal whose default is to stop or be ignored cannot end us.
	time.Sleep(100 * time.Millisecond)
	os.Exit(128 + int(sig))
}
