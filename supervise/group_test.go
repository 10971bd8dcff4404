//go:build linux

package supervise

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// newGroup returns a group on e, closed when the test ends.
func newGroup(t *testing.T, e *sdevent.Event) *Group {
	t.Helper()
	g, err := NewGroup(e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// startIn starts spec in g.
func startIn(t *testing.T, g *Group, spec Spec) *Service {
	t.Helper()
	sv, err := g.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// TestGroupShutdownOnSignal: SIGTERM stops every service of the group,
// each with its own KillSignal and TimeoutStop (one ignores SIGTERM and
// is killed after its time-out, one waiting for a restart is cancelled),
// waits on the loop until each has reported Done, and only then exits the
// loop, with 0.
func TestGroupShutdownOnSignal(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	if _, err := g.SetSignalShutdown(true); err != nil {
		t.Fatal(err)
	}
	quick, stubborn, failing := newRecorder(t, e), newRecorder(t, e), newRecorder(t, e)
	up := 0
	var signalled time.Duration
	// SIGTERM once two services are up and the third waits for its
	// restart.
	ready := func() {
		if up == 2 && len(failing.find("restarting")) == 1 && signalled == 0 {
			signalled, _ = e.Now(unix.CLOCK_MONOTONIC)
			if err := unix.Kill(unix.Getpid(), unix.SIGTERM); err != nil {
				t.Error(err)
			}
		}
	}
	quick.onLine = func(*Service, string) { up++; ready() }
	stubborn.onLine = quick.onLine
	failing.onRestarting = func(*Service) { ready() }
	specs := []Spec{quick.spec("echo up; exec sleep 30"), stubborn.spec("trap '' TERM; echo up; while :; do sleep 0.05; done"), failing.spec("exit 1")}
	specs[1].TimeoutStop = 300 * time.Millisecond
	specs[2].Restart, specs[2].RestartDelay = RestartOnFailure, time.Hour
	for _, spec := range specs {
		startIn(t, g, spec)
	}
	if code := loop(t, e); code != 0 {
		t.Fatalf("loop exited with %d, want 0", code)
	}
	for _, c := range []struct {
		rec  *recorder
		want string
	}{
		{quick, "started, line up, exited killed by SIGTERM, done success"},
		{stubborn, "started, line up, timedout SIGKILL, exited killed by SIGKILL, done timeout"},
		{failing, "started, exited exited 1, restarting, done success"},
	} {
		if c.rec.trace() != c.want {
			t.Errorf("got  %s\nwant %s", c.rec.trace(), c.want)
		}
	}
	if took := stubborn.find("done")[0].at - signalled; took < 300*time.Millisecond {
		t.Errorf("the stubborn service was done %v after SIGTERM, before its time-out", took)
	}
	for _, sv := range g.Services() {
		if sv.State().active() || sv.Pid() != 0 {
			t.Errorf("%s: %v, pid %d after the shutdown", sv.Name(), sv.State(), sv.Pid())
		}
	}
}

// TestGroupShutdownCode: Shutdown exits with the code it is given, once
// every service is done; meanwhile restarts and new services are refused
// (ECANCELED), and a second Shutdown only replaces the code.
func TestGroupShutdownCode(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	rec := newRecorder(t, e)
	rec.onLine = func(sv *Service, _ string) {
		if err := g.Shutdown(3); err != nil {
			t.Error(err)
		}
		if err := sv.Restart(); !errors.Is(err, unix.ECANCELED) {
			t.Errorf("Restart during a shutdown: %v, want ECANCELED", err)
		}
		if _, err := g.Start(rec.spec("true")); !errors.Is(err, unix.ECANCELED) {
			t.Errorf("Start during a shutdown: %v, want ECANCELED", err)
		}
		if err := g.Shutdown(4); err != nil || !g.ShuttingDown() {
			t.Error(err)
		}
	}
	spec := rec.spec("echo up; exec sleep 30")
	spec.Restart = RestartAlways
	startIn(t, g, spec)
	if code := loop(t, e); code != 4 {
		t.Fatalf("loop exited with %d, want 4", code)
	}
	if want := "started, line up, exited killed by SIGTERM, done success"; rec.trace() != want {
		t.Fatalf("got  %s\nwant %s", rec.trace(), want)
	}
}

// TestGroupShutdownEmpty: a group with nothing running exits at once; a
// closed service no longer holds a shutdown back.
func TestGroupShutdownEmpty(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	rec := newRecorder(t, e)
	sv := startIn(t, g, rec.spec("exec sleep 30"))
	sv.Close()
	if len(g.Services()) != 0 {
		t.Fatal("a closed service is still in the group")
	}
	if err := g.Shutdown(5); err != nil {
		t.Fatal(err)
	}
	if code := loop(t, e); code != 5 {
		t.Fatalf("loop exited with %d, want 5", code)
	}
}

// TestGroupShutdownExiting: once the loop exits, a shutdown can see no
// child exit any more: ESTALE, and nothing is stopped.
func TestGroupShutdownExiting(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	rec := newRecorder(t, e)
	sv := startIn(t, g, rec.spec("echo up; exec sleep 30"))
	x, err := e.AddExit(func(*sdevent.Source) error {
		if err := g.Shutdown(0); !errors.Is(err, unix.ESTALE) {
			t.Errorf("Shutdown while exiting: %v, want ESTALE", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Unref()
	rec.onLine = func(*Service, string) { _ = e.Exit(0) }
	loop(t, e)
	if sv.State() != Running {
		t.Fatalf("state %v", sv.State())
	}
}

// TestGroupSignals: SetSignalShutdown reports changes, and cannot share
// SIGTERM with SetSignalExit (EBUSY); a closed group refuses everything.
func TestGroupSignals(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	for i, c := range []struct{ on, changed bool }{{true, true}, {true, false}, {false, true}, {false, false}} {
		if changed, err := g.SetSignalShutdown(c.on); err != nil || changed != c.changed {
			t.Fatalf("step %d: %v, %v", i, changed, err)
		}
	}
	if _, err := e.SetSignalExit(true); err != nil {
		t.Fatal(err)
	}
	if _, err := g.SetSignalShutdown(true); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("with SetSignalExit: %v, want EBUSY", err)
	}
	if _, err := e.SetSignalExit(false); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := g.SetSignalShutdown(true); !errors.Is(err, unix.ESTALE) {
		t.Fatalf("closed: %v", err)
	}
	if _, err := g.Start(Spec{}); !errors.Is(err, unix.ESTALE) {
		t.Fatalf("closed: %v", err)
	}
	if err := g.Shutdown(0); !errors.Is(err, unix.ESTALE) {
		t.Fatalf("closed: %v", err)
	}
	if _, err := NewGroup(nil); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("nil loop: %v", err)
	}
}

// TestGroupOnShutdown: the OnShutdown function runs once per shutdown,
// inside the Shutdown that began it (from SIGTERM here), after every
// service was asked to stop and before any of them has exited; a group
// with nothing running still calls it before the loop exits.
func TestGroupOnShutdown(t *testing.T) {
	t.Run("signal", func(t *testing.T) {
		e := newLoop(t)
		g := newGroup(t, e)
		if _, err := g.SetSignalShutdown(true); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(t, e)
		sv := startIn(t, g, rec.spec("echo up; exec sleep 30"))
		rec.onLine = func(*Service, string) {
			if err := unix.Kill(unix.Getpid(), unix.SIGTERM); err != nil {
				t.Error(err)
			}
		}
		calls := 0
		g.OnShutdown(func() {
			calls++
			rec.add(event{what: "shutdown"})
			if !g.ShuttingDown() || sv.State() != Stopping {
				t.Errorf("OnShutdown: shutting down %v, service %v; want true, stopping", g.ShuttingDown(), sv.State())
			}
			if err := g.Shutdown(2); err != nil { // again, from inside: only the code
				t.Error(err)
			}
		})
		if code := loop(t, e); code != 2 {
			t.Fatalf("loop exited with %d, want 2", code)
		}
		if want := "started, line up, shutdown, exited killed by SIGTERM, done success"; calls != 1 || rec.trace() != want {
			t.Fatalf("%d calls; got  %s\nwant %s", calls, rec.trace(), want)
		}
	})
	t.Run("empty", func(t *testing.T) {
		e := newLoop(t)
		g := newGroup(t, e)
		calls := 0
		g.OnShutdown(func() { calls++ })
		for range 2 {
			if err := g.Shutdown(0); err != nil {
				t.Fatal(err)
			}
		}
		if calls != 1 {
			t.Fatalf("OnShutdown ran %d times inside two Shutdowns, want 1", calls)
		}
		if code := loop(t, e); code != 0 || calls != 1 {
			t.Fatalf("loop exited with %d after %d calls, want 0 after 1", code, calls)
		}
	})
}
