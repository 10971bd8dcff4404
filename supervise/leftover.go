//go:build linux

package supervise

import (
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// leftover is what may be left of a KillControlGroup command's process
// group after its main process exited and got KillSignal: the child
// source, reaped, keeps the pidfd that reaches the group (Linux 6.9), until
// FinalKillSignal goes to whatever is left TimeoutStop later.
type leftover struct {
	sv          *Service
	main, timer *sdevent.Source
	deadline    time.Duration
	probed      bool // whether the group was found not empty once the leader was reaped
}

// keepLeftover hands the exited main process's source, still a zombie,
// to a leftover, when its group can be reached after the reap and
// FinalKillSignal has a time to go.
func (sv *Service) keepLeftover() {
	if sv.set.timeoutStop == sdevent.Infinity || !groupByPidfdKnown() {
		return
	}
	now, err := sv.e.Now(unix.CLOCK_MONOTONIC)
	if err != nil || sv.set.timeoutStop >= sdevent.Infinity-now {
		return
	}
	l := &leftover{sv: sv, main: sv.main, deadline: now + sv.set.timeoutStop}
	// At once first: in the next iteration, the leader is reaped, and an
	// empty group (most often) need not be kept.
	t, err := sv.e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, time.Microsecond, l.onTimer)
	if err != nil {
		return // the leftovers got KillSignal; FinalKillSignal is best effort
	}
	_ = t.SetPriority(sv.spec.Priority) // our own time source: cannot fail
	_ = t.SetDescription(sv.name + " leftovers")
	l.timer = t
	sv.main = nil // the leftover holds its source now
	sv.leftovers = append(sv.leftovers, l)
}

// onTimer checks, once the leader was reaped, whether anything is left of
// the group, and at the deadline sends FinalKillSignal to it.
func (l *leftover) onTimer(*sdevent.Source, time.Duration) error {
	sv := l.sv
	if !l.probed {
		l.probed = true
		if l.signal(0) == nil && l.timer.SetTime(l.deadline) == nil && l.timer.SetEnabled(source.OneShot) == nil {
			return nil // something is left: wait for the deadline
		}
	} else if l.signal(sv.set.finalKill) == nil {
		sv.info("killed leftover processes", slog.Int("pgid", l.pgid()), slog.String("signal", unix.SignalName(sv.set.finalKill)))
	}
	for i, x := range sv.leftovers {
		if x == l {
			sv.leftovers = append(sv.leftovers[:i], sv.leftovers[i+1:]...)
			break
		}
	}
	l.free()
	return nil
}

// signal sends sig (0: none, only the check that someone is there),
// followed by SIGCONT, to the leftover group through its pidfd; ESRCH:
// the group is empty.
func (l *leftover) signal(sig unix.Signal) error {
	fd, err := l.main.ChildPidfd()
	if err != nil {
		return err
	}
	err = signalGroup(fd, l.pgid(), sig, true)
	if err == nil && sig != 0 && withCont(sig) {
		_ = signalGroup(fd, l.pgid(), unix.SIGCONT, true)
	}
	return err
}

func (l *leftover) pgid() int {
	pid, _ := l.main.ChildPid() // a child source: cannot fail
	return pid
}

// free frees the leftover's sources, the pidfd with them.
func (l *leftover) free() {
	l.timer.Unref()
	l.main.Unref()
}
