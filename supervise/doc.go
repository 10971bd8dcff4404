// Package supervise runs commands on an sdevent loop the way systemd runs
// a service: started, restarted by Restart= with RestartSec= and systemd
// 254's RestartSteps=/RestartMaxDelaySec= backoff, held to a start limit,
// stopped with KillSignal= then FinalKillSignal= after TimeoutStopSec=, in
// a KillMode=, with their output read line by line on the loop, and with
// a graceful shutdown of them all (Group) when the daemon is asked to
// stop. It is built on the public API of package sdevent alone, and needs
// no goroutine or thread per command: each runs as a child source
// (AddCommand, a pidfd), a timer, and an IO source per output pipe.
//
// The loop needs Linux. Elsewhere the API compiles, as package sdevent's
// does: Start, NewGroup and ParseExitStatusSet return an error for which
// errors.Is(err, errors.ErrUnsupported) holds, and so does every method
// that returns an error.
//
// # A service
//
// Start takes the loop and a Spec: a function that makes the command,
// the unit's settings (named and meant as in systemd.service(5) and
// systemd.kill(5); a zero field is systemd's default) and callbacks. The
// start is scheduled on the loop, as systemctl start queues a job, and
// every callback runs on the loop, never inside a method: Started (with
// the pid), StartFailed (the error of exec.Cmd.Start, never a panic),
// Exited (with the *sdevent.ChildInfo of waitid), StopTimedOut,
// Restarting (with the delay) and Done (the service will not start again
// by itself: Restart= said no, a stop completed, or the start limit was
// hit; with the result, in systemd's words: success, exit-code, signal,
// core-dump, timeout, start-limit-hit, resources). A callback may call the
// service's methods, Close included. The state a callback sees is
// already the one that follows: in Exited, the service is AutoRestart,
// Inactive or Failed.
//
// The lifecycle is logged at info level (failures at warn) to
// Spec.Logger, or else to the loop's logger ((*sdevent.Event).SetLogger),
// each record with the attribute "service" naming the service.
//
// # Restart, backoff and the start limit
//
// When the command ends on its own, its result decides Restart=, as in
// systemd: exit status 0, a status of SuccessExitStatus, death by SIGHUP,
// SIGINT, SIGTERM or SIGPIPE or by a signal of SuccessExitStatus are a
// clean end (success); another status is exit-code; another signal is
// signal, or core-dump when the kernel reports a dump (CLD_DUMPED; with
// `ulimit -c 0` a SIGABRT is a plain signal, which on-abort restarts
// too). A command that cannot be started counts as exit-code, as systemd's
// child exits with 203 (EXIT_EXEC) then. RestartPreventExitStatus and
// RestartForceExitStatus, by exit status or signal, take precedence over
// Restart=, the former first. A stop asked for (Stop, Restart,
// Group.Shutdown) is never followed by a restart.
//
// The nth automatic restart waits Backoff(RestartDelay,
// RestartMaxDelay, RestartSteps, n). As in systemd, the count n starts
// again at each start asked for (Restart), and not after a long good run.
// Every start, automatic or asked for, counts against the start limit:
// more than StartLimitBurst within StartLimitInterval and the service
// fails with start-limit-hit and is not restarted; ResetFailed clears it.
//
// # Stopping, and the process group
//
// systemd kills a unit's control group. A supervisor that is not the
// service manager has no cgroup of its own to give each command, so here
// the command's process group stands for it: with KillControlGroup (the
// default) or KillMixed the child is started in a new process group
// (SysProcAttr.Setpgid), which what it forks stays in unless it leaves
// it (setsid, setpgid: a daemonizing grandchild escapes, as it cannot
// escape a cgroup).
//
// The group is signalled through the child's pidfd with
// PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9), so the signal can reach no other
// group, even after the child was reaped. On older kernels it falls back
// to kill(2) of the negated group id, only while the group's leader, the
// child, has not been reaped: a zombie keeps its number, and with it the
// group's id, from being taken by another process. The kernel's answer is
// learnt at the first group signal (the flag is EINVAL before 6.9).
//
// Stop sends KillSignal, then SIGCONT (as systemd does, so that a stopped
// process sees the signal): to the group with KillControlGroup, to the
// main process with KillMixed and KillProcess. TimeoutStop later, if
// the main process has not exited, FinalKillSignal goes to the group
// (KillControlGroup, KillMixed) or to the main process (KillProcess), the
// run's result becomes timeout, and StopTimedOut reports it. The service
// is stopped when its main process has exited.
//
// When the main process has exited, on its own or in a stop, what is left
// of its group is dealt with while the child is still a zombie:
// KillControlGroup sends it KillSignal (unless the stop did), and then,
// on Linux 6.9 or later, FinalKillSignal TimeoutStop later (unless the
// stop had sent it already; the child's pidfd is kept for that only if
// the group is not empty once the child was reaped); KillMixed sends it
// FinalKillSignal at once. KillProcess leaves it alone. Unlike systemd, which waits for the
// cgroup to empty before the unit is dead (and restarted), the service
// moves on as soon as the main process has exited: no kernel event tells
// when a process group empties, and a group's dead members count until
// whoever adopted them reaps them. On kernels before 6.9 the leftovers of
// KillControlGroup get KillSignal only.
//
// # Output
//
// The command's Stdout and Stderr may be any io.Writer. An *os.File is
// given to the child as it is. Any other writer is fed from a pipe that
// the loop reads (non-blocking, one IO source per pipe), one Write call
// per line, with the newline; a last line without one comes at the end of
// the output, and a line longer than LineMax in pieces. LineFunc turns a
// function into such a writer. os/exec would copy into such a writer with
// a goroutine, and cmd.Wait, which the loop calls to reap the child,
// would wait for every process that keeps the pipe open: here a grandchild
// that keeps it delays nothing but the end of that output. What the
// command wrote before it exited is delivered before Exited. A writer is
// called on the loop and should not block; its errors are ignored (the
// pipe is read regardless, or the command would block on it).
//
// # Graceful shutdown
//
// A Group holds a daemon's services. Group.Shutdown stops them all, each
// as its Stop does, waits on the loop for each to report Done, and then
// exits the loop with the code given: with Group.SetSignalShutdown,
// SIGTERM and SIGINT call Shutdown(0), a stop asked for being a success.
// Use it instead of (*sdevent.Event).SetSignalExit, which exits the loop
// at once: after Exit only exit sources run, so children can no longer be
// seen exiting, and a process-owned child is SIGKILLed when its source is
// freed on the way out.
//
// # Reload, and what the service manager is told
//
// Group.Reload calls the daemon's reload function (Group.OnReload), and
// SIGHUP calls Reload with Group.SetSignalReload, as systemctl reload
// asks a Type=notify-reload service (systemd 253) to reload; during a
// shutdown it does nothing. With Group.SetNotify the group also speaks
// for the daemon over $NOTIFY_SOCKET: READY=1 once every service has
// started (Notify.ReadyWhenStarted), RELOADING=1 with MONOTONIC_USEC= and
// then READY=1 around each reload, even a failed one (systemd knows no
// other end of a reload), STOPPING=1 when a shutdown begins, and the
// daemon's status line (Notify.Status) with each of these and whenever
// an event of a service changes it. Together with the loop's watchdog
// ((*sdevent.Event).SetWatchdog) that is the whole protocol of
// sd_notify(3) a Type=notify-reload daemon needs.
//
// # Ownership
//
// A Service belongs to its loop's goroutine. Close frees it at once: a
// command that still runs is sent SIGKILL (with its group, but with
// KillProcess) and reaped before Close returns, as a child source with
// SetChildProcessOwn is; leftover groups waiting for FinalKillSignal get
// SIGKILL. Group.Close closes every service of the group.
//
// # Errors
//
// Bad arguments give errors wrapping unix.EINVAL, a method of a closed
// service one wrapping unix.ESTALE, a start or restart during a group's
// shutdown one wrapping unix.ECANCELED; errors.Is matches them. Errors
// of the loop come back as the *sdevent.Error it gave.
//
// # Differences from systemd
//
//  1. A process group stands for the control group (see above), and the
//     service does not wait for its leftovers.
//  2. There is one command per service: no ExecStartPre=, ExecStop= or
//     ExecReload=, no Type= (a service is Running once its command
//     started, as Type=exec is), no watchdog per command, so no
//     Restart=on-watchdog; no SendSIGHUP=, SendSIGKILL= or
//     RestartKillSignal=.
//  3. After FinalKillSignal the service waits for the main process
//     without end: systemd gives up on it after a second TimeoutStop,
//     but a child source cannot be freed without reaping its process.
//  4. A negative Spec duration or count stands for systemd's 0 where a
//     zero field means the default (see Spec).
package supervise
