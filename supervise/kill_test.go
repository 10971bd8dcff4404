//go:build linux

package supervise

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestStopFinalKill: a command that ignores KillSignal (its trap of TERM
// does nothing) gets FinalKillSignal after TimeoutStop, in every
// KillMode; the run's result is timeout, StopTimedOut reports the signal,
// and no restart follows the stop.
func TestStopFinalKill(t *testing.T) {
	for m := KillControlGroup; m <= KillProcess; m++ {
		t.Run(m.String(), func(t *testing.T) {
			e := newLoop(t)
			rec := newRecorder(t, e)
			spec := rec.spec("trap '' TERM; echo up; while :; do sleep 0.05; done")
			spec.KillMode, spec.TimeoutStop, spec.Restart = m, 200*time.Millisecond, RestartAlways
			var stopped time.Duration
			rec.onLine = func(sv *Service, _ string) {
				stopped, _ = e.Now(unix.CLOCK_MONOTONIC)
				if err := sv.Stop(); err != nil {
					t.Error(err)
				}
				if sv.State() != Stopping {
					t.Errorf("state %v after Stop, want stopping", sv.State())
				}
			}
			sv := rec.start(spec)
			rec.wait()
			want := "started, line up, timedout SIGKILL, exited killed by SIGKILL, done timeout"
			if rec.trace() != want {
				t.Fatalf("got  %s\nwant %s", rec.trace(), want)
			}
			if took := rec.find("timedout")[0].at - stopped; took < 200*time.Millisecond || took > 2*time.Second {
				t.Fatalf("FinalKillSignal %v after KillSignal, want 200ms", took)
			}
			if sv.State() != Failed || sv.Result() != ResultTimeout {
				t.Fatalf("state %v, result %v", sv.State(), sv.Result())
			}
		})
	}
}

// TestStopClean: a command that exits on KillSignal stops with success,
// and a FinalKillSignal of another choice is what goes after the time-out.
func TestStopClean(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("trap 'exit 0' INT; echo up; while :; do sleep 0.05; done")
	spec.KillSignal = unix.SIGINT
	rec.onLine = func(sv *Service, _ string) {
		if err := sv.Stop(); err != nil {
			t.Error(err)
		}
	}
	sv := rec.start(spec)
	rec.wait()
	if want := "started, line up, exited exited 0, done success"; rec.trace() != want {
		t.Fatalf("got  %s\nwant %s", rec.trace(), want)
	}
	if sv.State() != Inactive {
		t.Fatalf("state %v", sv.State())
	}
}

// grandchildScript forks a grandchild that prints its pid once it has
// set trap (and nothing else: it lets go of the pipe), and loops until a
// signal ends it; SIGUSR1 makes it exit 3.
func grandchildScript(trap string) string {
	return "trap 'exit 3' USR1; sh -c '" + trap + " echo $$; exec sleep 30 </dev/null >/dev/null 2>&1' & while :; do sleep 0.05; done"
}

// TestKillModeGrandchild: on Stop, KillMode control-group reaches the
// command's grandchild (its process group) with KillSignal, mixed with
// FinalKillSignal once the main process has exited, and process leaves it
// running.
func TestKillModeGrandchild(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		for m := KillControlGroup; m <= KillProcess; m++ {
			name := m.String()
			if fallback {
				name += "/kill-fallback"
			}
			t.Run(name, func(t *testing.T) {
				forceKillFallback = fallback
				defer func() { forceKillFallback = false }()
				e := newLoop(t)
				rec := newRecorder(t, e)
				spec := rec.spec(grandchildScript(""))
				spec.KillMode = m
				var grandchild int
				rec.onLine = func(sv *Service, line string) {
					grandchild = pidfdOf(t, atoi(t, line))
					if err := sv.Stop(); err != nil {
						t.Error(err)
					}
				}
				rec.start(spec)
				rec.wait()
				if ex := rec.find("exited"); len(ex) != 1 || !ex[0].ci.Signaled() {
					t.Fatalf("%s", rec.trace())
				}
				if m == KillProcess {
					if exitsWithin(t, grandchild, 200*time.Millisecond) {
						t.Fatal("KillMode=process killed the grandchild")
					}
					return // pidfdOf's cleanup kills it
				}
				if !exitsWithin(t, grandchild, 5*time.Second) {
					t.Fatalf("KillMode=%v left the grandchild running", m)
				}
			})
		}
	}
}

// TestLeftoverFinalKill: with control-group, what is left of the process
// group after the main process exited (on its own, or on KillSignal)
// gets KillSignal, and FinalKillSignal TimeoutStop later, through the
// pidfd (Linux 6.9): here a grandchild that ignores SIGTERM. The service
// does not wait for it. Without the pidfd way (kernels before 6.9, forced
// here), the leftover gets KillSignal only and survives it.
func TestLeftoverFinalKill(t *testing.T) {
	for _, c := range []struct {
		name     string
		stop     bool
		fallback bool
	}{
		{"own-exit", false, false},
		{"stop", true, false},
		{"own-exit/kill-fallback", false, true},
		{"stop/kill-fallback", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			forceKillFallback = c.fallback
			defer func() { forceKillFallback = false }()
			e := newLoop(t)
			fallback := c.fallback || !pidfdGroups(t)
			rec := newRecorder(t, e)
			spec := rec.spec(grandchildScript("trap \"\" TERM;"))
			spec.TimeoutStop = 300 * time.Millisecond
			var grandchild int
			rec.onLine = func(sv *Service, line string) {
				grandchild = pidfdOf(t, atoi(t, line))
				if c.stop {
					if err := sv.Stop(); err != nil {
						t.Error(err)
					}
				} else if err := unix.Kill(sv.Pid(), unix.SIGUSR1); err != nil {
					t.Error(err)
				}
			}
			sv := rec.start(spec)
			rec.wait() // done as soon as the main process exited
			if ex := rec.find("exited"); len(ex) != 1 {
				t.Fatalf("%s", rec.trace())
			}
			if exitsWithin(t, grandchild, 100*time.Millisecond) {
				t.Fatal("the leftover did not ignore SIGTERM")
			}
			if fallback {
				if len(sv.leftovers) != 0 {
					t.Fatal("a leftover kept without the pidfd way")
				}
				if exitsWithin(t, grandchild, 500*time.Millisecond) {
					t.Fatal("the leftover was killed without the pidfd way")
				}
				return // pidfdOf's cleanup kills it
			}
			if len(sv.leftovers) != 1 {
				t.Fatalf("%d leftovers kept, want 1", len(sv.leftovers))
			}
			testutil.RunUntil(t, e, "the leftover's end", func() bool { return len(sv.leftovers) == 0 })
			if !exitsWithin(t, grandchild, 5*time.Second) {
				t.Fatal("the leftover survived FinalKillSignal")
			}
		})
	}
}

// pidfdGroups reports whether the kernel signals process groups through
// pidfds (PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9), asking it about the
// test's own group with signal 0.
func pidfdGroups(t *testing.T) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// ESRCH: no group has the test's pid for its id, but the flag is known.
	err = unix.PidfdSendSignal(fd, 0, nil, pidfdSignalProcessGroup)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ESRCH) {
		t.Fatal(err)
	}
	return !errors.Is(err, unix.EINVAL)
}

// TestLeftoverClose: Close sends SIGKILL to the leftovers still waiting
// for FinalKillSignal.
func TestLeftoverClose(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec(grandchildScript("trap \"\" TERM;"))
	var grandchild int
	rec.onLine = func(sv *Service, line string) {
		grandchild = pidfdOf(t, atoi(t, line))
		if err := unix.Kill(sv.Pid(), unix.SIGUSR1); err != nil {
			t.Error(err)
		}
	}
	sv := rec.start(spec)
	rec.wait()
	if !pidfdGroups(t) {
		return // nothing kept: pidfdOf's cleanup kills the leftover
	}
	if len(sv.leftovers) != 1 || exitsWithin(t, grandchild, 100*time.Millisecond) {
		t.Fatalf("%d leftovers, want 1 alive", len(sv.leftovers))
	}
	sv.Close()
	if !exitsWithin(t, grandchild, 5*time.Second) {
		t.Fatal("the leftover survived Close")
	}
}

// TestLeftoverEmpty: a command that leaves nothing behind keeps no
// leftover (nor its pidfd) longer than the iteration after its reap,
// however long TimeoutStop is.
func TestLeftoverEmpty(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	sv := rec.start(rec.spec("exit 0"))
	rec.wait()
	if !pidfdGroups(t) {
		if len(sv.leftovers) != 0 {
			t.Fatal("a leftover kept without the pidfd way")
		}
		return
	}
	if len(sv.leftovers) != 1 {
		t.Fatalf("%d leftovers right after the exit, want 1 (to look at after the reap)", len(sv.leftovers))
	}
	n := 0
	testutil.RunUntil(t, e, "the leftover's end", func() bool { n++; return len(sv.leftovers) == 0 })
	if n > 3 {
		t.Fatalf("the empty group was kept %d iterations", n)
	}
}
