package supervise

import (
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
)

// The defaults of systemd.service(5) and systemd.kill(5) (as the manager
// ships them: DefaultRestartSec=, DefaultTimeoutStopSec=,
// DefaultStartLimitIntervalSec=, DefaultStartLimitBurst=), which a zero
// field of Spec stands for.
const (
	DefaultRestartDelay       = 100 * time.Millisecond
	DefaultTimeoutStop        = 90 * time.Second
	DefaultStartLimitInterval = 10 * time.Second
	DefaultStartLimitBurst    = 5
)

// Spec is what a supervised command is: the command and the settings of a
// service unit that apply to it, named and meant as in systemd.service(5)
// and systemd.kill(5) (a time.Duration drops the "Sec" of the setting's
// name: RestartDelay is RestartSec=, TimeoutStop is TimeoutStopSec=), and
// the callbacks that report its life.
//
// A zero field means systemd's default; where systemd's own zero means
// something else ("restart at once", "no time-out", "no limit"), a
// negative value says it, as net.Dialer's KeepAlive does.
type Spec struct {
	// Name names the service in log records and in the descriptions of its
	// sources. Empty: the base name of the command's path, at each start.
	Name string

	// Command returns the command to run, anew for each start (an
	// exec.Cmd runs once). Required. Set what os/exec offers (Env, Dir,
	// ExtraFiles, SysProcAttr's credentials) as usual, with these
	// exceptions:
	//
	//   - Stdout and Stderr may be any io.Writer. One that is not an
	//     *os.File is written on the loop, one line per Write call, through
	//     a pipe the loop reads (see LineFunc); never through os/exec's
	//     copying goroutine, which would make the loop wait in cmd.Wait for
	//     every process that holds the pipe.
	//   - Stdin must be nil (/dev/null) or an *os.File: a reader would
	//     need a copying goroutine. Another reader is a failed start (EINVAL).
	//   - With KillControlGroup or KillMixed the child starts in a process
	//     group of its own (SysProcAttr.Setpgid, unless it asks for
	//     Setsid, which makes one too).
	//   - It must not have been started, nor carry a context
	//     (exec.CommandContext starts a goroutine per child).
	Command func() *exec.Cmd

	// Restart is Restart=: when the command is started again after it
	// ended on its own. Default RestartNo.
	Restart Restart
	// RestartDelay is RestartSec=, the delay before a restart. 0:
	// DefaultRestartDelay; negative: none.
	RestartDelay time.Duration
	// RestartSteps and RestartMaxDelay are RestartSteps= and
	// RestartMaxDelaySec= (systemd 254): the delay grows from RestartDelay
	// to RestartMaxDelay in RestartSteps steps, geometrically (see
	// Backoff). Either zero: no growth. A RestartMaxDelay below
	// RestartDelay lowers RestartDelay to it, as systemd does.
	RestartSteps    int
	RestartMaxDelay time.Duration

	// StartLimitInterval and StartLimitBurst are StartLimitIntervalSec=
	// and StartLimitBurst=: more than StartLimitBurst starts within one interval
	// (which begins at the first start after the previous one ended) and
	// the service fails with ResultStartLimitHit, with no further restart.
	// 0: DefaultStartLimitInterval and DefaultStartLimitBurst; either
	// negative: no start limit.
	StartLimitInterval time.Duration
	StartLimitBurst    int

	// SuccessExitStatus is SuccessExitStatus=: exit statuses and signals
	// that count as a clean end, besides exit status 0 and death by
	// SIGHUP, SIGINT, SIGTERM or SIGPIPE.
	SuccessExitStatus ExitStatusSet
	// RestartPreventExitStatus and RestartForceExitStatus are
	// RestartPreventExitStatus= and RestartForceExitStatus=: a run that
	// ended on its own with an exit status or a signal of the first is
	// never restarted, and one of the second always is, whatever Restart=
	// says; the first wins. A command that could not be started counts
	// as exit status 203 (EXIT_EXEC), as systemd's child exits with it.
	RestartPreventExitStatus ExitStatusSet
	RestartForceExitStatus   ExitStatusSet

	// KillMode is KillMode=, with the child's own process group standing
	// in for the unit's control group. Default KillControlGroup.
	KillMode KillMode
	// KillSignal is KillSignal= (default SIGTERM), sent to stop; SIGCONT
	// follows it, as in systemd, so that a stopped process sees it.
	KillSignal syscall.Signal
	// FinalKillSignal is FinalKillSignal= (default SIGKILL), sent when the
	// command has not exited TimeoutStop after KillSignal.
	FinalKillSignal syscall.Signal
	// TimeoutStop is TimeoutStopSec=. 0: DefaultTimeoutStop;
	// negative or sdevent.Infinity: wait for the exit for ever.
	TimeoutStop time.Duration

	// Priority is the priority of the service's sources on the loop.
	Priority priority.Priority
	// Logger receives the service's lifecycle at info level (failures at
	// warn): started, exited, restarting, stopping, gave up. nil: the
	// loop's ((*sdevent.Event).Logger), if it has one.
	Logger *slog.Logger

	// The callbacks, each optional, run on the loop, never inside Start
	// or another method; each may call the Service's methods (Close
	// included).

	// Started reports that the command started, with its pid.
	Started func(sv *Service, pid int)
	// StartFailed reports that the command could not be started: the
	// error of exec.Cmd.Start (exec.ErrNotFound, a *fs.PathError, ...), or
	// one wrapping syscall.EINVAL for a Command that broke the rules above.
	// systemd's child exits with 203 (EXEC) then; the service is treated
	// the same: ResultExitCode, subject to Restart= and the start limit.
	StartFailed func(sv *Service, err error)
	// Exited reports the command's end, with what waitid(2) said; ci is
	// valid during the call. Output written before the end has been
	// delivered.
	Exited func(sv *Service, ci *sdevent.ChildInfo)
	// StopTimedOut reports that the command did not exit TimeoutStop
	// after the stop signal, and that sig (FinalKillSignal) was sent.
	StopTimedOut func(sv *Service, sig syscall.Signal)
	// Restarting reports that the service will start again after in, as
	// Restart= and RestartDelay decide.
	Restarting func(sv *Service, in time.Duration)
	// Done reports that the service will not start again by itself: it
	// ended and Restart= says no, a stop completed (Stop, Group.Shutdown),
	// or the start limit was hit. r is its result: ResultSuccess leaves it
	// Inactive, any other Failed. Restart starts it again.
	Done func(sv *Service, r Result)
}

// Restart is a value of Restart=: which ends of the command are followed
// by a restart. A stop asked for (Stop, Group.Shutdown) never is.
type Restart int

// The values of Restart=; the table in systemd.service(5) says which
// result each restarts on. on-watchdog is not here: a supervised command
// has no watchdog of its own.
const (
	RestartNo         Restart = iota // never
	RestartOnSuccess                 // after a clean end (ResultSuccess)
	RestartOnFailure                 // after any other end, a failed start included
	RestartOnAbnormal                // after a death by an unclean signal, a core dump or a stop time-out
	RestartOnAbort                   // after a death by an unclean signal or a core dump
	RestartAlways                    // after any end
)

var restartNames = []string{"no", "on-success", "on-failure", "on-abnormal", "on-abort", "always"}

// String returns r in systemd's spelling ("on-failure").
func (r Restart) String() string { return name(restartNames, int(r), "Restart") }

// ParseRestart parses a value of Restart= in systemd's spelling.
func ParseRestart(s string) (Restart, error) { return parse[Restart](restartNames, s, "Restart") }

// MarshalText implements encoding.TextMarshaler with systemd's spelling.
func (r Restart) MarshalText() ([]byte, error) { return marshal(restartNames, r, "Restart") }

// UnmarshalText implements encoding.TextUnmarshaler with systemd's spelling.
func (r *Restart) UnmarshalText(b []byte) error { return unmarshal(r, restartNames, b, "Restart") }

// shallRestart decides Restart= for a run that ended with res
// (service_shall_restart in systemd's src/core/service.c).
func (r Restart) shallRestart(res Result) bool {
	switch r {
	case RestartAlways:
		return true
	case RestartOnSuccess:
		return res == ResultSuccess
	case RestartOnFailure:
		return res != ResultSuccess
	case RestartOnAbnormal:
		return res != ResultSuccess && res != ResultExitCode
	case RestartOnAbort:
		return res == ResultSignal || res == ResultCoreDump
	}
	return false
}

// KillMode is a value of KillMode=. The unit's control group of systemd is
// the child's process group here: the child is started in a group of its
// own, and what it forks stays in it unless it moves out (setsid, setpgid:
// daemonizing escapes, as it cannot escape a cgroup).
type KillMode int

// The values of KillMode= that apply to a process group; systemd's "none"
// is not offered, as it leaves the command running after a stop.
const (
	// KillControlGroup sends KillSignal, and FinalKillSignal after
	// TimeoutStop, to the whole process group, and KillSignal to what
	// is left of it when the main process exits.
	KillControlGroup KillMode = iota
	// KillMixed sends KillSignal to the main process only, and
	// FinalKillSignal to the whole group: after TimeoutStop, and to
	// what is left of it as soon as the main process exits.
	KillMixed
	// KillProcess sends both signals to the main process only and leaves
	// the rest alone. The child stays in the supervisor's process group
	// (it can read a terminal, and a terminal's ^C reaches it).
	KillProcess
)

var killModeNames = []string{"control-group", "mixed", "process"}

// String returns m in systemd's spelling ("control-group").
func (m KillMode) String() string { return name(killModeNames, int(m), "KillMode") }

// ParseKillMode parses a value of KillMode= in systemd's spelling.
func ParseKillMode(s string) (KillMode, error) { return parse[KillMode](killModeNames, s, "KillMode") }

// MarshalText implements encoding.TextMarshaler with systemd's spelling.
func (m KillMode) MarshalText() ([]byte, error) { return marshal(killModeNames, m, "KillMode") }

// UnmarshalText implements encoding.TextUnmarshaler with systemd's spelling.
func (m *KillMode) UnmarshalText(b []byte) error { return unmarshal(m, killModeNames, b, "KillMode") }

// group reports whether the mode puts the child in a process group of
// its own.
func (m KillMode) group() bool { return m != KillProcess }

// Result is how a run of the service ended, systemd's service result
// (the Result property, "result 'exit-code'" in its log).
type Result int

// The results a supervised command can have.
const (
	ResultSuccess       Result = iota // a clean end, or a stop without time-out
	ResultExitCode                    // a non-zero exit status not in SuccessExitStatus, or a failed start
	ResultSignal                      // death by a signal not counted as clean
	ResultCoreDump                    // death by a signal with a core dump
	ResultTimeout                     // a stop that needed FinalKillSignal
	ResultStartLimitHit               // more starts than StartLimitBurst in StartLimitInterval
	ResultResources                   // the supervisor could not set the run up (pipes, sources)
)

var resultNames = []string{"success", "exit-code", "signal", "core-dump", "timeout", "start-limit-hit", "resources"}

// String returns r in systemd's spelling ("exit-code").
func (r Result) String() string { return name(resultNames, int(r), "Result") }

// State is where a service is in its life, a coarse view of systemd's
// service states.
type State int

// The states of a Service.
const (
	// Inactive: not running, and nothing will start it but Restart. Also
	// the state once Closed.
	Inactive State = iota
	// Starting: a start asked for (Start, Restart) is scheduled on the loop.
	Starting
	// Running: the command runs.
	Running
	// Stopping: KillSignal (or FinalKillSignal) was sent; the command has
	// not exited yet.
	Stopping
	// AutoRestart: the command ended and starts again after RestartDelay.
	AutoRestart
	// Failed: as Inactive, after a run whose result was not ResultSuccess.
	Failed
)

var stateNames = []string{"inactive", "starting", "running", "stopping", "auto-restart", "failed"}

// String returns the state's name ("auto-restart").
func (s State) String() string { return name(stateNames, int(s), "State") }

// active reports whether the service runs or will run by itself.
func (s State) active() bool { return s != Inactive && s != Failed }

// ExitStatusSet is a value of SuccessExitStatus=,
// RestartPreventExitStatus= or RestartForceExitStatus=: exit statuses
// (0..255) and signals.
type ExitStatusSet struct {
	Status []int
	Signal []syscall.Signal
}

func (set *ExitStatusSet) hasStatus(st int) bool {
	for _, x := range set.Status {
		if x == st {
			return true
		}
	}
	return false
}

func (set *ExitStatusSet) hasSignal(sig syscall.Signal) bool {
	for _, x := range set.Signal {
		if x == sig {
			return true
		}
	}
	return false
}

// test reports whether an end that waitid reported as code (CLD_*) and
// status is in the set (exit_status_set_test in systemd): an exit with
// one of its statuses, or a death by one of its signals. code 0, an end
// whose status is unknown, is in no set.
func (set *ExitStatusSet) test(code, status int) bool {
	switch code {
	case sdevent.CLDExited:
		return set.hasStatus(status)
	case sdevent.CLDKilled, sdevent.CLDDumped:
		return set.hasSignal(syscall.Signal(status))
	}
	return false
}

// name, parse, marshal and unmarshal serve the String, Parse and
// MarshalText methods of the enumerations.
func name(names []string, i int, typ string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return typ + "(" + strconv.Itoa(i) + ")"
}

func parse[T ~int](names []string, s, typ string) (T, error) {
	for i, n := range names {
		if n == s {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("supervise: unknown %s= value %q: %w", typ, s, syscall.EINVAL)
}

func marshal[T ~int](names []string, v T, typ string) ([]byte, error) {
	if v < 0 || int(v) >= len(names) {
		return nil, fmt.Errorf("supervise: %s(%d): %w", typ, v, syscall.EINVAL)
	}
	return []byte(names[v]), nil
}

func unmarshal[T ~int](p *T, names []string, b []byte, typ string) (err error) {
	*p, err = parse[T](names, string(b), typ)
	return err
}
