//go:build linux

package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
	"github.com/go-sdevent/sdevent/source"
)

// Service is a supervised command: systemd's service unit for one command
// on an event loop. It belongs to its loop's goroutine, as the loop does;
// its callbacks run there. Close frees it.
type Service struct {
	e     *sdevent.Event
	spec  Spec
	set   settings
	group *Group

	state  State
	result Result   // of the current or latest run
	name   string   // of the current or latest run
	mode   KillMode // of the current or latest run
	gen    uint64   // counts the changes made by methods, for the callbacks' callers

	timer     *sdevent.Source // the start, restart delay or stop time-out: one at a time
	main      *sdevent.Source // the command's child source, while it runs
	pid       int
	outputs   []*output
	leftovers []*leftover

	// How the current or latest run ended, as waitid says it (CLD_* and
	// the status or signal), for RestartPreventExitStatus= and
	// RestartForceExitStatus= (systemd's main_exec_status); code 0 while
	// it runs, or when it could not be set up.
	endCode, endStatus int

	nRestarts        int
	limit            startLimit
	forbidRestart    bool // a stop was asked for: no Restart= after it
	restartAfterStop bool // Restart while running: start again once stopped
	doneDue          bool // a stop of a scheduled start waits to report Done
	everStarted      bool // its command started once (Notify.ReadyWhenStarted)
	groupSignalled   bool // KillSignal went to the whole group in this stop
	finalSent        bool // FinalKillSignal went in this stop
	closed           bool
}

// Start validates spec and schedules the command's start on the loop e,
// as systemctl start queues a start job: the command starts in a coming
// iteration, and Started or StartFailed reports how that went. An invalid
// spec or a nil e is an error wrapping unix.EINVAL; a loop that finished,
// one wrapping unix.ESTALE.
func Start(e *sdevent.Event, spec Spec) (*Service, error) {
	if e == nil {
		return nil, fmt.Errorf("supervise: nil loop: %w", unix.EINVAL)
	}
	set, err := spec.check()
	if err != nil {
		return nil, err
	}
	sv := &Service{e: e, spec: spec, set: set, name: spec.Name}
	sv.limit = startLimit{interval: set.limitInterval, burst: set.limitBurst}
	// Disarmed until armed: Infinity never fires, and Off keeps it off the
	// kernel's timer.
	sv.timer, err = e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, time.Microsecond, sv.onTimer)
	if err != nil {
		return nil, err
	}
	_ = sv.timer.SetEnabled(source.Off) // our own time source: cannot fail
	_ = sv.timer.SetPriority(spec.Priority)
	_ = sv.timer.SetDescription(strings.TrimSpace("supervise " + spec.Name))
	sv.state = Starting
	if err := sv.arm(0); err != nil {
		sv.timer.Unref()
		return nil, err
	}
	return sv, nil
}

// Update replaces the service's Spec, as systemctl daemon-reload replaces
// a unit's settings: each applies the next time it is used. Command and
// KillMode apply from the next start (the running command keeps its
// process group, and the way it is signalled), the start limit's interval
// and burst too (its count is kept); Restart=, the restart delays and
// the exit status sets from the next end; KillSignal, FinalKillSignal and
// TimeoutStop from the next stop; Priority to the sources made from then
// on; Name, Logger and the callbacks at once. A restart delay or a stop
// time-out already counting keeps its length. An invalid spec changes
// nothing and gives an error wrapping unix.EINVAL.
func (sv *Service) Update(spec Spec) error {
	if sv.closed {
		return errClosed
	}
	set, err := spec.check()
	if err != nil {
		return err
	}
	sv.spec, sv.set = spec, set
	sv.limit.interval, sv.limit.burst = set.limitInterval, set.limitBurst
	if spec.Name != "" {
		sv.name = spec.Name
	}
	return nil
}

// State returns where the service is in its life.
func (sv *Service) State() State { return sv.state }

// Result returns the result of the current run, or of the latest one.
func (sv *Service) Result() Result { return sv.result }

// Pid returns the pid of the running command, 0 when it does not run.
func (sv *Service) Pid() int { return sv.pid }

// Name returns the service's name: Spec.Name, or the command's base name
// once it started.
func (sv *Service) Name() string { return sv.name }

// Restarts returns the number of automatic restarts since the last start
// asked for (systemd's NRestarts), which RestartSteps counts.
func (sv *Service) Restarts() int { return sv.nRestarts }

// Stop stops the service, as systemctl stop does: KillSignal, followed by
// SIGCONT, to the command (to its process group with KillControlGroup),
// then FinalKillSignal after TimeoutStop if it has not exited (to the
// group with KillControlGroup and KillMixed). Restart= does not apply to
// the end that follows. A scheduled start or restart is cancelled, and
// so is the start that a Restart of a running service would make after
// the stop. Done reports when it is over. Stopping an inactive or failed
// service does nothing.
func (sv *Service) Stop() error { return sv.StopWith(sv.set.killSignal) }

// StopWith is Stop with sig instead of KillSignal, for a supervisor that
// passes on the stop signal it got itself (sdevent run does).
func (sv *Service) StopWith(sig unix.Signal) error {
	if sv.closed {
		return errClosed
	}
	if !validSignal(sig) {
		return fmt.Errorf("supervise: stop %s with signal %d: %w", sv.name, sig, unix.EINVAL)
	}
	sv.gen++
	sv.restartAfterStop = false
	switch sv.state {
	case Starting, AutoRestart:
		// Nothing runs: the service is over now, and says so from the
		// loop, as callbacks never run inside a method.
		sv.state, sv.result, sv.doneDue = Inactive, ResultSuccess, true
		return sv.arm(0)
	case Running:
		sv.forbidRestart = true
		sv.enterStop(sig)
	case Stopping:
		sv.forbidRestart = true
	}
	return nil
}

// Restart starts the service, or stops it and starts it again if it runs,
// as systemctl restart does. A start asked for this way begins the count
// of automatic restarts (RestartSteps) anew; during an automatic restart's
// delay, it cuts the delay short. The start limit applies: see
// ResetFailed. In a group that shuts down it gives an error wrapping
// unix.ECANCELED.
func (sv *Service) Restart() error {
	if sv.closed {
		return errClosed
	}
	if sv.group != nil && sv.group.shutting {
		return errShutdown
	}
	sv.gen++
	sv.doneDue = false
	switch sv.state {
	case Inactive, Failed:
		sv.nRestarts = 0
		sv.state = Starting
		return sv.arm(0)
	case AutoRestart:
		return sv.arm(0)
	case Running:
		sv.restartAfterStop, sv.forbidRestart = true, true
		sv.enterStop(sv.set.killSignal)
	case Stopping:
		sv.restartAfterStop, sv.forbidRestart = true, true
	}
	return nil
}

// ResetFailed forgets the start limit's count and the automatic restarts,
// and makes a failed service inactive, as systemctl reset-failed does.
func (sv *Service) ResetFailed() {
	sv.limit.reset()
	sv.nRestarts = 0
	if sv.state == Failed {
		sv.state, sv.result = Inactive, ResultSuccess
	}
}

// Signal sends sig to the command as KillSignal would go: to its process
// group with KillControlGroup, else to the main process only, through its
// pidfd. When the command does not run, or its exit was seen, it gives an
// error wrapping unix.ESRCH.
func (sv *Service) Signal(sig unix.Signal) error {
	if sv.closed {
		return errClosed
	}
	if !validSignal(sig) {
		return fmt.Errorf("supervise: signal %s with %d: %w", sv.name, sig, unix.EINVAL)
	}
	if sv.main == nil {
		return fmt.Errorf("supervise: signal %s: not running: %w", sv.name, unix.ESRCH)
	}
	if sv.mode == KillControlGroup {
		return sv.signalGroup(sig)
	}
	return sv.main.SendChildSignal(sig, nil, 0)
}

// Close frees the service and its sources, at once and without callbacks:
// a command that still runs is sent SIGKILL (its process group too, but
// with KillProcess) and reaped before Close returns, as a child source
// with SetChildProcessOwn does; what is left of earlier runs' groups
// waiting for FinalKillSignal gets SIGKILL. Closing again does nothing.
func (sv *Service) Close() {
	if sv.closed {
		return
	}
	sv.closed = true
	sv.gen++
	if sv.main != nil {
		if sv.mode.group() {
			_ = sv.signalGroup(unix.SIGKILL) // ESRCH: nothing left in it
		}
		sv.main.Unref() // process-owned: SIGKILL and reap
		sv.main, sv.pid = nil, 0
	}
	for _, l := range sv.leftovers {
		_ = l.signal(unix.SIGKILL) // ESRCH: nothing left of it
		l.free()
	}
	sv.leftovers = nil
	for len(sv.outputs) > 0 {
		sv.outputs[0].close()
	}
	sv.timer.Unref()
	sv.state = Inactive
	if sv.group != nil {
		sv.group.remove(sv)
	}
}

// arm makes the timer fire d from now; 0: in the next iteration.
func (sv *Service) arm(d time.Duration) error {
	if err := sv.timer.SetTimeRelative(d); err != nil {
		return err
	}
	return sv.timer.SetEnabled(source.OneShot)
}

func (sv *Service) disarm() { _ = sv.timer.SetEnabled(source.Off) } // Off cannot fail

func (sv *Service) onTimer(*sdevent.Source, time.Duration) error {
	switch {
	case sv.doneDue:
		sv.doneDue = false
		sv.done(sv.result)()
	case sv.state == Starting:
		sv.start(false)
	case sv.state == AutoRestart:
		sv.start(true)
	case sv.state == Stopping:
		sv.stopTimedOut()
	}
	sv.changed()
	return nil
}

// changed tells the group, if any, that an event of the service was
// reported (SetNotify's READY=1 and STATUS=).
func (sv *Service) changed() {
	if sv.group != nil {
		sv.group.changed()
	}
}

// start starts the command (service_start and service_enter_start in
// systemd): the start limit first, then the exec.
func (sv *Service) start(auto bool) {
	if auto {
		sv.nRestarts++ // counted when the restart happens, as systemd does
	}
	now, err := sv.e.Now(unix.CLOCK_MONOTONIC)
	if err == nil && !sv.limit.below(now) {
		sv.warn("start limit hit", slog.Int("burst", sv.limit.burst), slog.Duration("interval", sv.limit.interval))
		sv.result = ResultSuccess
		sv.enterDead(ResultStartLimitHit, false)()
		return
	}
	sv.result = ResultSuccess
	sv.forbidRestart, sv.groupSignalled, sv.finalSent = false, false, false
	sv.endCode, sv.endStatus = 0, 0
	res, err := sv.spawn()
	if err != nil {
		if res == ResultExitCode {
			// As systemd's child that failed to exec.
			sv.endCode, sv.endStatus = sdevent.CLDExited, int(exitcode.Exec)
		}
		sv.warn("start failed", slog.Any("err", err))
		sv.endRun(res, func() {
			if f := sv.spec.StartFailed; f != nil {
				f(sv, err)
			}
		})
		return
	}
	sv.info("started", slog.Int("pid", sv.pid))
	if f := sv.spec.Started; f != nil {
		f(sv, sv.pid)
	}
}

// spawn makes the command and starts it. On failure the result says
// whether the command failed (as systemd's 203/EXEC: ResultExitCode) or
// the supervisor did (ResultResources).
func (sv *Service) spawn() (Result, error) {
	cmd := sv.spec.Command()
	if cmd == nil {
		return ResultExitCode, fmt.Errorf("supervise: %s: Command returned nil: %w", sv.name, unix.EINVAL)
	}
	if sv.spec.Name == "" {
		sv.name = filepath.Base(cmd.Path)
	}
	if cmd.Process != nil {
		return ResultExitCode, fmt.Errorf("supervise: %s: Command returned a started command: %w", sv.name, unix.EINVAL)
	}
	sv.mode = sv.spec.KillMode
	if sv.mode.group() {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		if !cmd.SysProcAttr.Setsid {
			// A group of its own, never another's: Pgid 0.
			cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pgid = true, 0
		}
	}
	ends, outputs, err := sv.setOutputs(cmd)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return ResultExitCode, err
		}
		return ResultResources, err
	}
	main, err := sv.e.AddCommand(cmd, unix.WEXITED, sv.onExit)
	for _, f := range ends {
		_ = f.Close() // the child has its copies
	}
	if err != nil {
		for _, o := range outputs {
			o.close()
		}
		var se *sdevent.Error
		if cmd.Process == nil && errors.As(err, &se) {
			return ResultExitCode, se.Err // the exec's error, as cmd.Start gave it
		}
		return ResultResources, err
	}
	// Our own child source, just made: these cannot fail.
	_ = main.SetChildProcessOwn(true)
	_ = main.SetPriority(sv.spec.Priority)
	_ = main.SetDescription(sv.name)
	sv.main, sv.pid = main, cmd.Process.Pid
	sv.state = Running
	sv.everStarted = true
	return ResultSuccess, nil
}

// onExit handles the command's end, while it is still a zombie.
func (sv *Service) onExit(src *sdevent.Source, ci *sdevent.ChildInfo) error {
	for i := len(sv.outputs) - 1; i >= 0; i-- {
		// Backwards: an output at its end leaves, and the last takes its place.
		sv.outputs[i].drain()
	}
	res := result(ci, &sv.spec.SuccessExitStatus)
	sv.endCode, sv.endStatus = ci.Code, ci.Status
	sv.killLeftovers()
	if sv.main != nil {
		src.Unref() // inside its handler: freed, and reaped, once it returns
	}
	sv.main, sv.pid = nil, 0
	sv.disarm()
	sv.info("exited", slog.String("status", ci.String()), slog.String("result", res.String()))
	sv.endRun(res, func() {
		if f := sv.spec.Exited; f != nil {
			f(sv, ci)
		}
	})
	sv.changed()
	return nil
}

// result classifies a child's end (service_sigchld_event and is_clean_exit
// in systemd, for a long-running Type=simple service, EXIT_CLEAN_DAEMON).
func result(ci *sdevent.ChildInfo, success *ExitStatusSet) Result {
	switch {
	case ci.Exited():
		if ci.Status == 0 || success.hasStatus(ci.Status) {
			return ResultSuccess
		}
		return ResultExitCode
	case ci.Code == sdevent.CLDKilled:
		switch sig := ci.Signal(); {
		case sig == unix.SIGHUP || sig == unix.SIGINT || sig == unix.SIGTERM || sig == unix.SIGPIPE, success.hasSignal(sig):
			return ResultSuccess
		}
		return ResultSignal
	case ci.Code == sdevent.CLDDumped:
		return ResultCoreDump
	}
	// Reaped by someone else (Code 0): the status is lost.
	return ResultSuccess
}

// endRun decides what follows a run that ended with res (enterDead), then
// makes report, the callback of the end itself, and, unless that changed
// the service, the callback of what follows.
func (sv *Service) endRun(res Result, report func()) {
	gen := sv.gen
	next := sv.enterDead(res, true)
	report()
	if gen == sv.gen {
		next()
	}
}

// killLeftovers deals with the rest of the process group when its leader,
// the main process, has exited and is not reaped yet (so that kill(-pgid)
// still names its group): KillControlGroup sends KillSignal and, where
// pidfds reach the group after the reap, FinalKillSignal TimeoutStop
// later (systemd's final-sigterm and final-sigkill of the unit's cgroup,
// without waiting for the group to empty, which no kernel event tells);
// KillMixed sends FinalKillSignal at once (systemd's final-sigkill).
func (sv *Service) killLeftovers() {
	if sv.main == nil || sv.finalSent {
		return
	}
	switch sv.mode {
	case KillMixed:
		sv.signalGroupCont(sv.set.finalKill)
	case KillControlGroup:
		if !sv.groupSignalled {
			sv.signalGroupCont(sv.set.killSignal)
		}
		sv.keepLeftover()
	}
}

// enterDead decides what follows a run's end (service_enter_dead): a
// restart after RestartDelay, a start asked for by Restart, or the end. It
// changes the state at once and returns the callback to make, which the
// caller runs after its own.
func (sv *Service) enterDead(res Result, allowRestart bool) func() {
	if sv.result == ResultSuccess {
		sv.result = res
	}
	restart := allowRestart && !sv.forbidRestart && sv.shallRestart()
	sv.forbidRestart = false
	if sv.group != nil && sv.group.shutting {
		restart, sv.restartAfterStop = false, false
	}
	if sv.restartAfterStop {
		sv.restartAfterStop = false
		sv.nRestarts = 0
		sv.state = Starting
		if err := sv.arm(0); err != nil {
			return sv.done(ResultResources)
		}
		return func() {}
	}
	if restart {
		d := Backoff(sv.set.restartDelay, sv.set.restartMax, sv.set.restartSteps, sv.nRestarts+1)
		sv.state = AutoRestart
		if err := sv.arm(d); err != nil {
			sv.result = ResultResources
			return sv.done(ResultResources)
		}
		sv.info("restarting", slog.Duration("in", d), slog.Int("restarts", sv.nRestarts))
		return func() {
			if f := sv.spec.Restarting; f != nil {
				f(sv, d)
			}
		}
	}
	return sv.done(sv.result)
}

// shallRestart decides whether a run that ended on its own is restarted
// (service_shall_restart): RestartPreventExitStatus= says no, then
// RestartForceExitStatus= yes, then Restart= decides on the result.
func (sv *Service) shallRestart() bool {
	switch {
	case sv.spec.RestartPreventExitStatus.test(sv.endCode, sv.endStatus):
		return false
	case sv.spec.RestartForceExitStatus.test(sv.endCode, sv.endStatus):
		return true
	}
	return sv.spec.Restart.shallRestart(sv.result)
}

// done makes the service inactive or failed and returns the callback that
// reports it.
func (sv *Service) done(res Result) func() {
	sv.state = Inactive
	if res != ResultSuccess {
		sv.state = Failed
		sv.warn("failed", slog.String("result", res.String()))
	} else {
		sv.info("inactive")
	}
	return func() {
		gen := sv.gen
		if f := sv.spec.Done; f != nil {
			f(sv, res)
		}
		if gen == sv.gen && sv.group != nil {
			sv.group.check()
		}
	}
}

// enterStop sends the stop signal and arms the time-out
// (service_enter_signal with SERVICE_STOP_SIGTERM).
func (sv *Service) enterStop(sig unix.Signal) {
	sv.state = Stopping
	if sv.mode == KillControlGroup {
		sv.signalGroupCont(sig)
		sv.groupSignalled = true
	} else {
		// ESRCH: it has exited, and its handler is on the way.
		if sv.main.SendChildSignal(sig, nil, 0) == nil && withCont(sig) {
			_ = sv.main.SendChildSignal(unix.SIGCONT, nil, 0)
		}
	}
	sv.info("stopping", slog.String("signal", unix.SignalName(sig)))
	if sv.set.timeoutStop == sdevent.Infinity {
		sv.disarm()
	} else if err := sv.arm(sv.set.timeoutStop); err != nil {
		sv.warn("stop time-out not armed", slog.Any("err", err))
	}
}

// stopTimedOut sends FinalKillSignal (service_enter_signal with
// SERVICE_STOP_SIGKILL, result timeout) and waits for the exit without
// end: a process that SIGKILL cannot end is beyond a supervisor's reach.
func (sv *Service) stopTimedOut() {
	if sv.main == nil {
		return
	}
	if sv.result == ResultSuccess {
		sv.result = ResultTimeout
	}
	sig := sv.set.finalKill
	if sv.mode.group() {
		sv.signalGroupCont(sig)
	} else if sv.main.SendChildSignal(sig, nil, 0) == nil && withCont(sig) {
		_ = sv.main.SendChildSignal(unix.SIGCONT, nil, 0)
	}
	sv.finalSent = true
	sv.warn("stop timed out", slog.Duration("timeout", sv.set.timeoutStop), slog.String("signal", unix.SignalName(sig)))
	if f := sv.spec.StopTimedOut; f != nil {
		f(sv, sig)
	}
}

// signalGroup sends sig to the running command's process group.
func (sv *Service) signalGroup(sig unix.Signal) error {
	fd, err := sv.main.ChildPidfd()
	if err != nil {
		return err
	}
	return signalGroup(fd, sv.pid, sig, false)
}

// signalGroupCont sends sig, and SIGCONT after it, to the group; an
// error (ESRCH: nobody left) is no reason to stop supervising.
func (sv *Service) signalGroupCont(sig unix.Signal) {
	if sv.signalGroup(sig) == nil && withCont(sig) {
		_ = sv.signalGroup(unix.SIGCONT)
	}
}

// logger is Spec.Logger, else the loop's, at the time of the record.
func (sv *Service) logger() *slog.Logger {
	if sv.spec.Logger != nil {
		return sv.spec.Logger
	}
	return sv.e.Logger()
}

func (sv *Service) info(msg string, attrs ...slog.Attr) { sv.log(slog.LevelInfo, msg, attrs) }
func (sv *Service) warn(msg string, attrs ...slog.Attr) { sv.log(slog.LevelWarn, msg, attrs) }

func (sv *Service) log(level slog.Level, msg string, attrs []slog.Attr) {
	l := sv.logger()
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	l.LogAttrs(context.Background(), level, msg, append([]slog.Attr{slog.String("service", sv.name)}, attrs...)...)
}
