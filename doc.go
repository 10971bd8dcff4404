// Package sdevent is a port of systemd's sd-event to Go: one event loop that
// dispatches IO readiness, timers on five clocks, signals, child processes,
// inotify events, deferred work, post and exit handlers one handler per
// iteration, in priority order, exactly as sd-event does. It uses no cgo and
// no goroutine per source.
//
// # Children and os/exec
//
// Child sources watch processes through pidfds, so a pid can never be
// recycled under a source, and the loop never waits with P_ALL: children
// that other code in the process started (with os/exec, say) are never
// reaped by the loop. AddChild is for a child nobody else waits for; the
// loop reaps it after the handler. AddCommand starts an *exec.Cmd itself
// and reaps it by calling cmd.Wait after the handler, which also releases
// os/exec's pipes and goroutines. Exit-only sources cost nothing per
// watched child: a child's exit makes only its own pidfd readable. Sources
// that also watch stops and continues are polled, each with its own
// waitid(P_PIDFD), when SIGCHLD arrives.
//
// # The loop
//
// An iteration has three phases, as in C: Prepare (run prepare callbacks,
// arm the timers), Wait (poll the kernel once, turn what it reports into
// pending sources) and Dispatch (call the handler of the pending source that
// comes first). Run does all three; Loop runs iterations until the loop has
// exited. A loop's State moves Initial → Armed → Pending → Running →
// Initial, with Preparing and Exiting seen only inside callbacks and
// Finished once exiting is done. A phase called in the wrong state returns
// EBUSY, which is also what a handler gets when it calls Run on its own loop;
// after Finished, phases and Add methods return ESTALE.
//
// Pending sources are dispatched in one order, decided in one place: enabled
// before disabled, not rate-limited before rate-limited, lower priority value
// first, then the one pending since the earliest iteration, where defer and
// exit sources, always pending, count from their latest dispatch, as in
// sd-event 262. Sources that stay pending (On defer sources,
// level-triggered fds) thus take turns. Sources equal in all of that go in
// the order the loop's priority queue holds them, which moves its elements
// as sd-event's does, so that the order is libsystemd's.
//
// # Ownership
//
// Reference counting is explicit, as in C, and nothing depends on the
// garbage collector. A source returned by an Add method holds one reference,
// the caller's, and one on its loop: a loop lives while its sources do. Unref
// a source to free it: it leaves the kernel at once (its fd may be closed
// right after), its owned fd is closed and its destroy callback runs; inside
// its own handler the freeing waits until the handler returned. A floating
// source (SetFloating(true), or Float at the Add call) is owned by the loop
// instead and freed with it, newest first.
//
// # Threading
//
// A loop and its sources belong to one goroutine at a time: the one running
// it. The exception is Invoke, which any goroutine may call to have a
// function run on the loop, inside a dispatch of its own. Default returns a
// process-wide loop (reference counted) and may be called from any
// goroutine. LoopContext stops when a context is done.
//
// # Errors
//
// Every error is an *Error naming the operation and wrapping the unix.Errno
// that sd-event returns in the same case, so errors.Is(err, unix.EBUSY)
// holds exactly where C returns -EBUSY. Bad arguments change nothing. A
// handler that returns an error does what a negative return does in C: the
// source is disabled, or, with SetExitOnFailure, the loop exits with the
// negated errno (EIO for an error that wraps no errno) and Loop returns an
// error wrapping the handler's. Handler errors never come back from Run or
// Dispatch. A handler that panics propagates the panic; the loop is then
// between iterations (Initial), usable, and the source is left as it was
// when the handler began (a ONESHOT source already switched off).
//
// # Logging
//
// sd-event writes debug messages through systemd's log functions; a loop
// here writes them to the *slog.Logger given with SetLogger, and to nothing
// by default: there is no package-level logger. The records, all at
// slog.LevelDebug as in C, are those sd-event logs: a handler, prepare
// callback or rate limit expire callback that failed, and whether its
// source was disabled or the loop exits (which is how a listener switched
// off by one EMFILE is noticed); a source entering and leaving its rate
// limit; a descriptor epoll would not remove; a pressure trigger the kernel
// refused; the default memory pressure handler's work. The watchdog (turned
// on, not requested, a ping that failed) and a child reaped by other code
// are logged too, where C is silent. A record about a source has the
// attributes "source" (its description, "" without one), "kind"
// (source.Type's name), "priority" and, for a failure, "err". The loop asks
// the logger whether it wants debug records before it makes any part of
// one, so a silent loop pays nothing for logging.
//
// # Statistics and profiles
//
// A loop can tell what it does, all of it off by default and then free: no
// clock read and no allocation on the dispatch path. SetStatistics counts
// per source its dispatches, failed handler calls, handler time and, for a
// timer, how late it ran; Snapshot returns them for every live source, with
// its description, kind, priority and enablement, from a handler or, from
// another goroutine, inside Invoke. SetSlowHandlerThreshold has each slower
// callback reported at slog.LevelWarn; with the watchdog on, a callback
// longer than half its period is reported anyway. SetProfileDelays, or
// SD_EVENT_PROFILE_DELAYS in New as in sd_event_new, keeps sd_event_run's
// log2 histogram of iteration delays and writes it every 5 s, to the logger
// or, without one, to standard error. SetProfileLabels runs each handler
// under pprof labels (sdevent_source, sdevent_kind) and a runtime/trace
// region, for go tool pprof -tagfocus and go tool trace. Only the histogram
// comes from sd-event; the rest is go-sdevent's own.
//
// # For Go developers
//
// A loop calls every handler on the goroutine that runs it, one at a
// time: handlers share state without locks, and a handler that blocks (on
// a channel, a mutex, time.Sleep, a blocking read, cmd.Wait) holds up
// every other source. What Go code does with its own tools:
//
//   - time.AfterFunc, Timer.Reset, Timer.Stop: AddTimer makes a timer
//     that waits, stopped, for Reset(d), which arms it once, d from now
//     (also from its own handler); Stop disarms it. Its accuracy is
//     stated at the call, and 0 means as exact as the loop can be, where
//     AddTime and AddTimeRelative keep sd-event's 250ms window for 0.
//   - time.Ticker: AddPeriodic. Ticks missed while the loop was busy are
//     skipped, never fired in a burst; Reset(d) restarts it with period d.
//   - context.Context: LoopContext returns when ctx is done, with an error
//     wrapping ctx.Err(), between two iterations: exit sources have not
//     run, and a later Loop carries on. A handler ends the loop with
//     Exit(code), after which only exit sources (AddExit) run.
//   - goroutines and channels: a source for each thing to wait for, all
//     dispatched on one goroutine. Another goroutine touches loop state
//     only in a function it hands to Invoke; a goroutine per connection
//     that way is the hybrid pattern of package sdnet (Example_hybrid).
//   - cmd.Wait: AddCommand, whose handler gets a ChildInfo when the
//     command exits; the loop watches its pidfd where cmd.Wait holds a
//     thread per child. Package supervise restarts, stops and reads the
//     output of commands as systemd does a service's.
//   - os/signal: AddSignal, with no signal blocked. A signalfd would need
//     the signal blocked in every thread, which Go does not allow, so a
//     signal reaches the loop through the runtime's handler, os/signal and
//     a goroutine per signal in use (which readies a loop parked in the
//     runtime's poller on its own P): wake-ups of other threads, where C
//     reads the signalfd in its own. signal.Ignore or
//     signal.Reset elsewhere in the program silences the loop's sources.
//   - net.Listener, net.Conn, go-systemd's activation.Listeners: package
//     sdnet. fsnotify: package filewatch, which follows the rename-over
//     saves of editors. log, log/slog: SetLogger.
//   - go-systemd's daemon.SdNotify and SdWatchdogEnabled: NotifyReady and
//     the other Notify functions, SetWatchdog; supervise.Group's
//     SetNotify sends READY=1, RELOADING=1, STOPPING=1 and STATUS= at the
//     right moments.
//
// In code:
//
//	t, err := e.AddTimer(unix.CLOCK_MONOTONIC, 0, h) // stopped
//	err = t.Reset(2 * time.Millisecond)              // fires once, 2ms from now
//	err = t.Stop()
//	tick, err := e.AddPeriodic(unix.CLOCK_MONOTONIC, 10*time.Millisecond, 0, h)
//	err = e.Invoke(func() { jobs++ }) // from any goroutine
//
// What surprises Go code:
//
//   - A handler's error switches its source off for good, as in C, and
//     Run and Loop do not return it: an accept handler that returns
//     EMFILE once never accepts again. SetLogger makes the loop log it at
//     debug level, SetExitOnFailure makes it end the loop; a handler that
//     means to go on returns nil (sdnet's Listener pauses on EMFILE).
//   - The garbage collector frees nothing: a source lives, and keeps its
//     loop, until Unref. One the caller does not keep is added as
//     Float(e.AddDefer(h)), owned by the loop.
//   - Unref of the source of a running child stops watching it and does
//     nothing else: without SetChildProcessOwn(true) (kill and reap on
//     free) the child runs on, and stays a zombie once it exits.
//   - In an AddCommand handler cmd.ProcessState is still nil: the loop
//     calls cmd.Wait after the handler. The status is in the ChildInfo.
//   - A cmd.Stdout or Stderr that is not an *os.File makes os/exec copy
//     in a goroutine, and the cmd.Wait of the loop then blocks it until
//     every process holding the pipe (a grandchild) has closed it. Give an
//     *os.File, set cmd.WaitDelay, or let package supervise read the
//     output on the loop (supervise.LineFunc).
//   - Under systemd a child inherits $NOTIFY_SOCKET, $WATCHDOG_USEC,
//     $WATCHDOG_PID and the $LISTEN_ variables. One that speaks sd_notify
//     itself sends READY=1 or STOPPING=1 as if it were the daemon (which
//     systemd takes with NotifyAccess=all, and drops with main, the
//     default of Type=notify), and one that checks no $WATCHDOG_PID or
//     $LISTEN_PID believes it is the service. cmd.Env =
//     supervise.Environ() leaves them out.
//   - SetSignalExit ends the loop at SIGTERM at once: a child's exit can
//     no longer be seen, and a process-owned child is SIGKILLed as its
//     source is freed. supervise.Group.SetSignalShutdown stops the
//     children first, each with its stop signal and time-out, then exits
//     the loop. The unit then wants KillMode=mixed: systemd's SIGTERM to
//     the daemon alone, its SIGKILL after TimeoutStopSec= to what is left.
//
// Example_goTimers, Example_goContext, Example_goChildInfo,
// Example_goHandlerError and Example_goChildUnref run what this section
// says.
//
// # Differences from C
//
//  1. No signal needs blocking: signals arrive through the Go runtime
//     (os/signal, one forwarding goroutine per signal in use, never
//     signal.Reset or signal.Ignore). AddSignal accepts SignalProcmask
//     (SD_EVENT_SIGNAL_PROCMASK) ORed into the signal and drops it: every
//     source behaves as a C source added with the flag. A handler's
//     SignalfdSiginfo has only Signo: the sender's pid and uid, si_code and
//     sigqueue payloads are lost. Deliveries of a
//     signal before its handler ran coalesce (real-time signals too); one
//     that arrives while its source is off is dispatched when it is back on.
//     Several loops watching one signal each see it. When its last source is
//     freed, a signal goes back to the Go runtime's default handling (under
//     which SIGUSR1, SIGUSR2 and real-time signals do nothing). Signals the
//     Go runtime never passes to os/signal are refused: SIGPROF (its
//     profiler's) and 34, glibc's SIGRTMIN (it has no handler for it), with
//     EINVAL where C accepts them; SIGRTMIN+1 to SIGRTMIN+30 (35..64) work.
//     SIGKILL, SIGSTOP, 32 and 33 give EBUSY, as in C without the flag;
//     with it C 262 gives EINVAL for 32 and 33 and so does AddSignal, but
//     accepts SIGKILL and SIGSTOP for a source that never fires (EBUSY
//     here).
//  2. Children are watched through pidfds (Linux 5.4+), never with
//     waitid(P_ALL): other code's children are never reaped. SIGCHLD need
//     not be blocked, also to watch stops and continues (WSTOPPED,
//     WCONTINUED), for which C 262 requires it. If SIGCHLD is ignored (the
//     kernel reaps children itself), adding a child gives EBUSY, as in C
//     when WEXITED is asked; C 262 adds a source for stops and continues
//     alone (SIGCHLD blocked), but here watching them takes a SIGCHLD
//     handler (os/signal), which would end the autoreaping for good, so it
//     gives EBUSY too. Options of WNOWAIT alone ask for no event: EINVAL,
//     where C 262 adds the source and its loop then fails with EINVAL at
//     each SIGCHLD (waitid wants an event). A pid that is not our child
//     gives ECHILD at once, where C 262 adds the source and its loop fails
//     with ECHILD later. A child that something else reaped first is
//     reported once with ChildInfo.Code 0.
//  3. Default is one loop per process, not per thread, so C's EREMOTEIO for
//     a default loop run in another thread does not arise; nor does C's
//     ECHILD for a loop used after fork or from another copy of
//     libsystemd, as Go has no fork without exec.
//  4. Only Invoke (and Default) are goroutine-safe.
//  5. With one P (GOMAXPROCS=1) and other goroutines in the process, a
//     wait that has to block parks the goroutine in the Go runtime's
//     poller, which watches the epoll fd from the loop's first such wait
//     on, so that the P runs the goroutines that wake the loop meanwhile;
//     with more Ps, or with the loop's goroutine the only one
//     (runtime.NumGoroutine), it blocks its thread in epoll_pwait2, as C
//     does: parking costs two more epoll_wait calls per wait. Timeouts of up to 2 ms, and the last 2 ms of
//     longer ones, are always waited in epoll_pwait2, with nanosecond
//     precision (epoll_pwait rounded up to milliseconds before Linux 5.11).
//     Waits never end early, also when the Go runtime interrupts the thread
//     (EINTR is retried, never reported as a dispatch). Fd is the same fd;
//     to embed the loop in the Go runtime's own poller, hand it a duplicate
//     of Fd (os.NewFile would own and close Fd, and the runtime may watch
//     Fd itself already).
//  6. Times are time.Duration on the named clock, not microseconds; Infinity
//     is USEC_INFINITY. A timer whose coalesced wake-up is already due is not
//     handed to the kernel: Prepare reports it pending. Now returns, for a
//     clock no timer uses, the time of its first call in the iteration
//     rather than the time right after the poll.
//  7. Run returns true when an iteration reached the dispatch phase, as C's
//     sd_event_run returns 1. SetFloating, SetExitOnFailure and the CPU and
//     IO pressure setters return only an error: sd-event's 1 for "changed
//     something" is not reported.
//  8. Bugs of older sd-event versions are not copied: ON<->ONESHOT switches
//     re-register at once, ON defer sources of one priority take turns, a
//     post source added in a handler runs in the next iteration, inotify
//     events nobody wants are dropped, and a rate limit that ended while the
//     loop was busy never leaves it asleep. Where sd-event 262 changed
//     behaviour the port follows 262: a defer source counts as pending
//     since its latest dispatch, rate limits run on CLOCK_BOOTTIME, a post
//     source added or switched on in a handler (an exit handler too) is
//     pending only once the handler returned, and a Prepare or Wait whose
//     poll ran a rate limit's expire callback reports pending, after which
//     Dispatch (and so Run) dispatches nothing in that iteration.
//  9. systemd's variables ($WATCHDOG_USEC, $WATCHDOG_PID, $NOTIFY_SOCKET
//     with its vsock forms, $LISTEN_PID, $LISTEN_PIDFDID, $LISTEN_FDS,
//     $LISTEN_FDNAMES) are read with libsystemd 262's rules and errnos,
//     except that an empty value counts as unset ("VAR=" is how Go code
//     clears one), where C refuses it with EINVAL. A watchdog period past
//     time.Duration's 292 years saturates. (The pressure variables are read
//     as C reads them, not at all in a set-user-ID or set-group-ID program.)
//
// # Other platforms
//
// The loop needs Linux. Elsewhere the whole API compiles, so that code
// written against it builds for every target, but New and Default, and every
// method that returns an error, return an *Error for which
// errors.Is(err, errors.ErrUnsupported) holds; the other methods return zero
// values (Fd returns -1). Notify reports (false, nil) when $NOTIFY_SOCKET is
// unset, as on Linux. The siginfo of a SignalHandler and of SendChildSignal
// are types that x/sys/unix has only on Linux; elsewhere they stand for
// unexported types, and only nil can be passed.
package sdevent
