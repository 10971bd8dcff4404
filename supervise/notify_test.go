//go:build linux

package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// notified stands in for the service manager: it points $NOTIFY_SOCKET at
// a socket of its own and collects what the test sends there, on a
// goroutine, as the socket's queue holds only net.unix.max_dgram_qlen
// datagrams (10 here) before a send blocks.
type notified struct {
	t     *testing.T
	msgs  chan []string
	got   []string
	usecs []uint64 // the MONOTONIC_USEC= values, in order
	done  bool
}

// newNotified must be called after newLoop, so that its goroutine has
// ended before the hygiene checks run.
func newNotified(t *testing.T) *notified {
	t.Helper()
	m := testutil.NewManager(t)
	t.Setenv("NOTIFY_SOCKET", m.Path)
	n := &notified{t: t, msgs: make(chan []string, 1)}
	go func() {
		var got []string
		for msg := m.Next(guard); msg != "END" && msg != ""; msg = m.Next(guard) {
			got = append(got, msg)
		}
		n.msgs <- got
	}()
	t.Cleanup(func() { n.messages() })
	return n
}

// messages ends the collection and returns the messages, each with its
// lines joined by "|", and MONOTONIC_USEC's value as "T".
func (n *notified) messages() []string {
	n.t.Helper()
	if !n.done {
		n.done = true
		if _, err := sdevent.Notify("END"); err != nil {
			n.t.Error(err)
		}
		for _, msg := range <-n.msgs {
			lines := strings.Split(msg, "\n")
			for i, l := range lines {
				if v, ok := strings.CutPrefix(l, "MONOTONIC_USEC="); ok {
					usec, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						n.t.Errorf("%q: %v", l, err)
					}
					n.usecs = append(n.usecs, usec)
					lines[i] = "MONOTONIC_USEC=T"
				}
			}
			n.got = append(n.got, strings.Join(lines, "|"))
		}
	}
	return n.got
}

// expect fails the test unless the messages are want.
func (n *notified) expect(want ...string) {
	n.t.Helper()
	if got := n.messages(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		n.t.Errorf("the manager got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestGroupNotifyLifecycle: a Type=notify-reload daemon's life as its
// manager sees it, with real signals. The worker cannot start at first
// (no READY=1: the daemon is not up), then starts (READY=1); SIGHUP
// wraps the reload in RELOADING=1 and READY=1, MONOTONIC_USEC= being a
// time of CLOCK_MONOTONIC taken between the signal and the reload; SIGTERM
// sends STOPPING=1, and a SIGHUP during the stop reloads nothing. Every
// message carries the status line as it is then; an event that changes
// it sends it alone.
func TestGroupNotifyLifecycle(t *testing.T) {
	e := newLoop(t)
	n := newNotified(t)
	g := newGroup(t, e)
	var sv *Service
	generation, reloads, starts := 1, 0, 0
	g.SetNotify(&Notify{
		ReadyWhenStarted: true,
		Status:           func() string { return fmt.Sprintf("%v pid=%d gen=%d", sv.State(), sv.Pid(), generation) },
	})
	for _, set := range []func(bool) (bool, error){g.SetSignalShutdown, g.SetSignalReload} {
		if _, err := set(true); err != nil {
			t.Fatal(err)
		}
	}
	kill := func(sig unix.Signal) {
		if err := unix.Kill(unix.Getpid(), sig); err != nil {
			t.Error(err)
		}
	}
	var hupSent, reloadedAt time.Duration
	g.OnReload(func() error {
		reloads++
		generation++
		reloadedAt = monotonic(t)
		kill(unix.SIGTERM) // systemctl stop, later
		return nil
	})
	g.OnShutdown(func() { kill(unix.SIGHUP) }) // to be ignored
	var pid int
	sv = startIn(t, g, Spec{
		Command: func() *exec.Cmd {
			if starts++; starts == 1 {
				return exec.Command(filepath.Join(t.TempDir(), "missing"))
			}
			// Slow to stop, so that the SIGHUP comes during the stop.
			cmd := exec.Command("sh", "-c", "trap 'sleep 0.3; exit 0' TERM; echo up; while :; do sleep 0.05; done")
			cmd.Stdout = LineFunc(func([]byte) {
				hupSent = monotonic(t)
				kill(unix.SIGHUP)
			})
			return cmd
		},
		Restart:      RestartOnFailure,
		RestartDelay: 10 * time.Millisecond,
		Started:      func(_ *Service, p int) { pid = p },
	})
	if code := loop(t, e); code != 0 {
		t.Fatalf("loop exited with %d, want 0", code)
	}
	if reloads != 1 {
		t.Errorf("%d reloads, want 1: a SIGHUP during the stop reloaded", reloads)
	}
	n.expect(
		"STATUS=auto-restart pid=0 gen=1",
		fmt.Sprintf("READY=1|STATUS=running pid=%d gen=1", pid),
		fmt.Sprintf("RELOADING=1|MONOTONIC_USEC=T|STATUS=running pid=%d gen=1", pid),
		fmt.Sprintf("READY=1|STATUS=running pid=%d gen=2", pid),
		fmt.Sprintf("STOPPING=1|STATUS=stopping pid=%d gen=2", pid),
		"STATUS=inactive pid=0 gen=2",
	)
	if len(n.usecs) != 1 {
		return
	}
	if at := time.Duration(n.usecs[0]) * time.Microsecond; at < hupSent.Truncate(time.Microsecond) || at > reloadedAt {
		t.Errorf("MONOTONIC_USEC=%d: not between the SIGHUP (%v) and the reload (%v)", n.usecs[0], hupSent, reloadedAt)
	}
}

// monotonic is CLOCK_MONOTONIC now.
func monotonic(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// TestGroupNotifyNotReady: before the daemon is ready (ReadyWhenStarted,
// and its one service could not start yet), a reload sends no RELOADING=1
// or READY=1, which would end the start-up; only the status line, when it
// changed.
func TestGroupNotifyNotReady(t *testing.T) {
	e := newLoop(t)
	n := newNotified(t)
	g := newGroup(t, e)
	var sv *Service
	generation := 1
	g.SetNotify(&Notify{
		ReadyWhenStarted: true,
		Status:           func() string { return fmt.Sprintf("%v pid=%d gen=%d", sv.State(), sv.Pid(), generation) },
	})
	reloads := 0
	g.OnReload(func() error {
		if reloads++; reloads == 1 {
			generation++
		}
		return nil
	})
	failed := false
	sv = startIn(t, g, Spec{
		Command:      func() *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "missing")) },
		Restart:      RestartOnFailure,
		RestartDelay: time.Hour,
		StartFailed:  func(*Service, error) { failed = true },
	})
	testutil.RunUntil(t, e, "the failed start", func() bool { return failed })
	for range 2 { // the second changes nothing: no message
		if err := g.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Shutdown(0); err != nil {
		t.Fatal(err)
	}
	if code := loop(t, e); code != 0 || reloads != 2 {
		t.Fatalf("loop exited with %d after %d reloads, want 0 after 2", code, reloads)
	}
	n.expect(
		"STATUS=auto-restart pid=0 gen=1",
		"STATUS=auto-restart pid=0 gen=2",
		"STOPPING=1|STATUS=inactive pid=0 gen=2",
	)
}

// TestGroupNotifyProgramReady: without ReadyWhenStarted the program sends
// READY=1 itself, and the group none at a start; without Status, no
// STATUS=. Reload and Shutdown still speak.
func TestGroupNotifyProgramReady(t *testing.T) {
	e := newLoop(t)
	n := newNotified(t)
	g := newGroup(t, e)
	g.SetNotify(&Notify{})
	rec := newRecorder(t, e)
	rec.onLine = func(*Service, string) {
		if err := g.Reload(); err != nil {
			t.Error(err)
		}
		if err := g.Shutdown(0); err != nil {
			t.Error(err)
		}
	}
	startIn(t, g, rec.spec("echo up; exec sleep 30"))
	if code := loop(t, e); code != 0 {
		t.Fatalf("loop exited with %d, want 0", code)
	}
	n.expect("RELOADING=1|MONOTONIC_USEC=T", "READY=1", "STOPPING=1")
}

// TestGroupNotifyStatusLine: only the status line's first line is sent,
// so that it cannot add assignments; SetNotify(nil) sends nothing again.
func TestGroupNotifyStatusLine(t *testing.T) {
	t.Run("first line", func(t *testing.T) {
		e := newLoop(t)
		n := newNotified(t)
		g := newGroup(t, e)
		g.SetNotify(&Notify{Status: func() string { return "one\nREADY=1" }})
		if err := g.Shutdown(0); err != nil {
			t.Fatal(err)
		}
		n.expect("STOPPING=1|STATUS=one")
	})
	t.Run("off", func(t *testing.T) {
		e := newLoop(t)
		n := newNotified(t)
		g := newGroup(t, e)
		g.SetNotify(&Notify{Status: func() string { return "status" }})
		g.SetNotify(nil)
		if err := g.Reload(); err != nil {
			t.Fatal(err)
		}
		if err := g.Shutdown(0); err != nil {
			t.Fatal(err)
		}
		n.expect()
	})
}

// TestGroupReloadErrors: a failed reload is logged and returned, and still
// ends with READY=1; a reload inside a reload is EBUSY; a shutdown begun
// inside a reload sends STOPPING=1 and no READY=1; during a shutdown a
// reload is ECANCELED and calls nothing; a closed group gives ESTALE; a
// notification that cannot be sent is logged, and changes nothing else.
func TestGroupReloadErrors(t *testing.T) {
	setup := func(t *testing.T) (*sdevent.Event, *Group, *notified, *bytes.Buffer) {
		e := newLoop(t)
		n := newNotified(t)
		var log bytes.Buffer
		e.SetLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})))
		g := newGroup(t, e)
		g.SetNotify(&Notify{})
		return e, g, n, &log
	}
	t.Run("failed", func(t *testing.T) {
		_, g, n, log := setup(t)
		boom := errors.New("boom")
		g.OnReload(func() error { return boom })
		if err := g.Reload(); err != boom { //nolint:errorlint // the function's error itself, unwrapped
			t.Fatalf("Reload: %v, want the function's error", err)
		}
		n.expect("RELOADING=1|MONOTONIC_USEC=T", "READY=1")
		if want := "level=WARN msg=\"reload failed\" err=boom\n"; log.String() != want {
			t.Fatalf("logged %q, want %q", log, want)
		}
	})
	t.Run("nested", func(t *testing.T) {
		_, g, n, _ := setup(t)
		var inner error
		g.OnReload(func() error { inner = g.Reload(); return nil })
		if err := g.Reload(); err != nil || !errors.Is(inner, unix.EBUSY) {
			t.Fatalf("Reload: %v, inside: %v; want nil, EBUSY", err, inner)
		}
		n.expect("RELOADING=1|MONOTONIC_USEC=T", "READY=1")
	})
	t.Run("shutdown inside", func(t *testing.T) {
		e, g, n, _ := setup(t)
		g.OnReload(func() error { return g.Shutdown(0) })
		if err := g.Reload(); err != nil {
			t.Fatal(err)
		}
		if code := loop(t, e); code != 0 {
			t.Fatalf("loop exited with %d, want 0", code)
		}
		n.expect("RELOADING=1|MONOTONIC_USEC=T", "STOPPING=1")
	})
	t.Run("during shutdown", func(t *testing.T) {
		_, g, n, _ := setup(t)
		called := false
		g.OnReload(func() error { called = true; return nil })
		if err := g.Shutdown(0); err != nil {
			t.Fatal(err)
		}
		if err := g.Reload(); !errors.Is(err, unix.ECANCELED) || called {
			t.Fatalf("Reload during a shutdown: %v, function called %v; want ECANCELED, false", err, called)
		}
		n.expect("STOPPING=1")
	})
	t.Run("closed", func(t *testing.T) {
		_, g, n, _ := setup(t)
		g.Close()
		if err := g.Reload(); !errors.Is(err, unix.ESTALE) {
			t.Fatalf("Reload: %v, want ESTALE", err)
		}
		if _, err := g.SetSignalReload(true); !errors.Is(err, unix.ESTALE) {
			t.Fatalf("SetSignalReload: %v, want ESTALE", err)
		}
		n.expect()
	})
	t.Run("unreachable", func(t *testing.T) {
		_, g, _, log := setup(t)
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing"))
		if err := g.Reload(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(log.String(), `level=WARN msg="notify failed" err=`); got != 2 {
			t.Fatalf("logged %q: want two failed notifications", log)
		}
	})
}

// TestGroupSetSignalReload: SetSignalReload reports changes, cannot share
// SIGHUP with another source of the loop (EBUSY), and frees its own.
func TestGroupSetSignalReload(t *testing.T) {
	e := newLoop(t)
	g := newGroup(t, e)
	for i, c := range []struct{ on, changed bool }{{true, true}, {true, false}, {false, true}, {false, false}} {
		if changed, err := g.SetSignalReload(c.on); err != nil || changed != c.changed {
			t.Fatalf("step %d: %v, %v", i, changed, err)
		}
	}
	hup, err := e.AddSignal(unix.SIGHUP, func(*sdevent.Source, *unix.SignalfdSiginfo) error { return nil })
	if err != nil {
		t.Fatalf("SIGHUP after SetSignalReload(false): %v", err)
	}
	if _, err := g.SetSignalReload(true); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("with a SIGHUP source: %v, want EBUSY", err)
	}
	hup.Unref()
	if changed, err := g.SetSignalReload(true); err != nil || !changed {
		t.Fatalf("after the other source went: %v, %v", changed, err)
	}
}
