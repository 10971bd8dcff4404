//go:build linux

package supervise

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
)

// ParseExitStatusSet parses SuccessExitStatus=, RestartPreventExitStatus=
// or RestartForceExitStatus= as systemd does (config_parse_set_status): words separated by spaces, each an exit
// status (a number 0..255 or a name of systemd's table, "TEMPFAIL") or
// else a signal ("SIGUSR1", "USR1", "RTMIN+2"). Unlike systemd, which skips
// a word it cannot parse, a bad word is an error wrapping unix.EINVAL.
func ParseExitStatusSet(s string) (ExitStatusSet, error) {
	var set ExitStatusSet
	for _, w := range strings.Fields(s) {
		if c, ok := exitcode.Lookup(w); ok {
			set.Status = append(set.Status, int(c))
			continue
		}
		sig, ok := parseSignal(w)
		if !ok {
			return ExitStatusSet{}, fmt.Errorf("supervise: exit status set: %q is neither an exit status nor a signal: %w", w, unix.EINVAL)
		}
		set.Signal = append(set.Signal, sig)
	}
	return set, nil
}

// String returns the set as SuccessExitStatus= spells it: the statuses as
// numbers, then the signals by name.
func (set ExitStatusSet) String() string {
	var words []string
	for _, st := range set.Status {
		words = append(words, strconv.Itoa(st))
	}
	for _, sig := range set.Signal {
		if n := unix.SignalName(sig); n != "" {
			words = append(words, n)
		} else {
			words = append(words, strconv.Itoa(int(sig)))
		}
	}
	return strings.Join(words, " ")
}

// parseSignal mirrors systemd's signal_from_string: a name with or without
// "SIG", or RTMIN+n / RTMAX-n. (Numbers are exit statuses in
// SuccessExitStatus=, so they never get here.)
func parseSignal(w string) (unix.Signal, bool) {
	w = strings.TrimPrefix(w, "SIG")
	const rtmin, rtmax = 34, 64 // glibc's SIGRTMIN and SIGRTMAX
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"RTMIN+", rtmin, 1}, {"RTMAX-", rtmax, -1}} {
		if rest, ok := strings.CutPrefix(w, rt.prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 || n > rtmax-rtmin {
				return 0, false
			}
			return unix.Signal(rt.base + rt.sign*n), true
		}
	}
	switch w {
	case "RTMIN":
		return rtmin, true
	case "RTMAX":
		return rtmax, true
	}
	sig := unix.SignalNum("SIG" + w)
	return sig, sig != 0
}

// validSignal: a signal a process can be sent (1..64).
func validSignal(sig unix.Signal) bool { return sig >= 1 && sig <= 64 }

// settings are a Spec's settings with the defaults filled in.
type settings struct {
	restartDelay, restartMax time.Duration // restartMax 0: no growth
	restartSteps             int
	limitInterval            time.Duration // 0: no start limit
	limitBurst               int
	timeoutStop              time.Duration // sdevent.Infinity: none
	killSignal, finalKill    unix.Signal
}

// check validates spec and fills in the defaults.
func (spec *Spec) check() (settings, error) {
	if bad := spec.validate(); bad != "" {
		return settings{}, fmt.Errorf("supervise: %s: %w", bad, unix.EINVAL)
	}
	st := settings{
		restartDelay:  orDefault(spec.RestartDelay, DefaultRestartDelay, 0),
		restartSteps:  spec.RestartSteps,
		limitInterval: orDefault(spec.StartLimitInterval, DefaultStartLimitInterval, 0),
		limitBurst:    spec.StartLimitBurst,
		timeoutStop:   orDefault(spec.TimeoutStop, DefaultTimeoutStop, sdevent.Infinity),
		killSignal:    spec.KillSignal,
		finalKill:     spec.FinalKillSignal,
	}
	if st.limitBurst == 0 {
		st.limitBurst = DefaultStartLimitBurst
	}
	if st.limitBurst < 0 || st.limitInterval == 0 {
		st.limitInterval, st.limitBurst = 0, 0
	}
	if st.killSignal == 0 {
		st.killSignal = unix.SIGTERM
	}
	if st.finalKill == 0 {
		st.finalKill = unix.SIGKILL
	}
	// service_verify: steps without a maximum, or a maximum without steps,
	// are ignored; a maximum below RestartSec= lowers RestartSec=.
	if spec.RestartMaxDelay > 0 && spec.RestartMaxDelay != sdevent.Infinity {
		st.restartMax = spec.RestartMaxDelay
		st.restartDelay = min(st.restartDelay, st.restartMax)
	}
	return st, nil
}

// validate says what is wrong with spec, if anything.
func (spec *Spec) validate() string {
	switch {
	case spec.Command == nil:
		return "Spec.Command is nil"
	case spec.Restart < RestartNo || spec.Restart > RestartAlways:
		return fmt.Sprintf("unknown Restart %d", spec.Restart)
	case spec.KillMode < KillControlGroup || spec.KillMode > KillProcess:
		return fmt.Sprintf("unknown KillMode %d", spec.KillMode)
	case spec.KillSignal != 0 && !validSignal(spec.KillSignal):
		return fmt.Sprintf("KillSignal %d", spec.KillSignal)
	case spec.FinalKillSignal != 0 && !validSignal(spec.FinalKillSignal):
		return fmt.Sprintf("FinalKillSignal %d", spec.FinalKillSignal)
	case spec.RestartSteps < 0:
		return "negative RestartSteps"
	case spec.RestartMaxDelay < 0:
		return "negative RestartMaxDelay"
	}
	for _, set := range []struct {
		name string
		set  *ExitStatusSet
	}{
		{"SuccessExitStatus", &spec.SuccessExitStatus},
		{"RestartPreventExitStatus", &spec.RestartPreventExitStatus},
		{"RestartForceExitStatus", &spec.RestartForceExitStatus},
	} {
		if bad := set.set.validate(set.name); bad != "" {
			return bad
		}
	}
	return ""
}

// validate says what is wrong with set, the value of the setting name, if
// anything.
func (set *ExitStatusSet) validate(name string) string {
	for _, st := range set.Status {
		if st < 0 || st > 255 {
			return fmt.Sprintf("%s %d", name, st)
		}
	}
	for _, sig := range set.Signal {
		if !validSignal(sig) {
			return fmt.Sprintf("%s signal %d", name, sig)
		}
	}
	return ""
}

// orDefault maps a Spec duration: 0 to def, negative to none.
func orDefault(d, def, none time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return none
	}
	return d
}

// errShutdown is what starting a service of a group that shuts down gives.
var errShutdown = fmt.Errorf("supervise: the group is shutting down: %w", unix.ECANCELED)

// errClosed is what a method of a closed service gives.
var errClosed = fmt.Errorf("supervise: service closed: %w", unix.ESTALE)
