//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
	"github.com/go-sdevent/sdevent/priority"
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
    COMMAND has not exited after -kill-after, it is sent SIGKILL;
  - when COMMAND exits, sdevent exits with its status; when a signal killed
    it, sdevent dies of the same signal, so that systemd and shells see what
    happened to COMMAND.

A COMMAND that cannot be started is reported in one line on stderr, and
sdevent exits with status 203 (systemd's EXEC); READY=1 is never sent.`

// forwarded are the signals passed on to the child; the first three stop it.
var forwarded = []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2}

func stops(sig unix.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGQUIT
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "[flags] -- COMMAND [ARG...]", runAbout, stderr)
	killAfter := fs.Duration("kill-after", 10*time.Second, "how long COMMAND may take to exit after a stop signal before it gets SIGKILL")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "sdevent run: no COMMAND given")
		fs.Usage()
		return exitUsage
	}
	if *killAfter <= 0 {
		fmt.Fprintln(stderr, "sdevent run: -kill-after must be positive")
		return exitUsage
	}
	st, err := supervise(argv, *killAfter, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sdevent run: %v\n", err)
		return st
	}
	return st
}

// supervise runs argv to its end and returns the status to exit with. A
// child killed by a signal makes the supervisor die of it and not return.
func supervise(argv []string, killAfter time.Duration, stderr io.Writer) (int, error) {
	e, err := sdevent.New()
	if err != nil {
		return exitFailure, err
	}
	defer e.Unref()

	// Signals first, so that none that arrives once the child runs is lost.
	var child *sdevent.Source
	var killTimer *sdevent.Source
	var sigs []*sdevent.Source
	defer func() {
		for _, s := range sigs {
			s.Unref()
		}
		killTimer.Unref()
	}()
	for _, sig := range forwarded {
		s, err := e.AddSignal(sig, func(s *sdevent.Source, si *unix.SignalfdSiginfo) error {
			sig := unix.Signal(si.Signo)
			if err := child.SendChildSignal(sig, nil, 0); err != nil {
				return nil // it exited already; its handler finishes the loop
			}
			if stops(sig) && killTimer == nil {
				sdevent.NotifyStopping()
				killTimer, err = e.AddTimeRelative(unix.CLOCK_MONOTONIC, killAfter, 0,
					func(*sdevent.Source, time.Duration) error {
						fmt.Fprintf(stderr, "sdevent run: %s did not exit %v after %v, sending SIGKILL\n", argv[0], killAfter, unix.SignalName(sig))
						child.SendChildSignal(unix.SIGKILL, nil, 0)
						return nil
					})
				return err
			}
			return nil
		})
		if err != nil {
			return exitFailure, err
		}
		// The child's exit goes before signals that came with it.
		s.SetPriority(priority.Normal + 1)
		sigs = append(sigs, s)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var info sdevent.ChildInfo
	child, err = e.AddCommand(cmd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		info = *ci
		return s.Event().Exit(0)
	})
	if err != nil {
		return int(exitcode.Exec), fmt.Errorf("cannot start %s: %w", argv[0], unwrapStart(err))
	}
	defer child.Unref()
	child.SetChildProcessOwn(true)

	if _, err := sdevent.NotifyReady(); err != nil {
		fmt.Fprintf(stderr, "sdevent run: %v\n", err)
	}
	if _, err := e.SetWatchdog(true); err != nil {
		fmt.Fprintf(stderr, "sdevent run: %v\n", err)
	}
	if _, err := e.Loop(); err != nil {
		return exitFailure, err
	}
	switch {
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

// unwrapStart strips the library's operation prefix from a start error.
func unwrapStart(err error) error {
	var se *sdevent.Error
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// dieOfSignal ends the process by sig with its default action, even for
// the signals the Go runtime handles itself (SIGSEGV, SIGABRT, ...).
func dieOfSignal(sig unix.Signal) {
	runtime.LockOSThread()
	var act struct {
		handler uintptr
		flags   uint64
		rest    [4]uint64
	}
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	// A signal whose default is to stop or be ignored cannot end us.
	time.Sleep(100 * time.Millisecond)
	os.Exit(128 + int(sig))
}
