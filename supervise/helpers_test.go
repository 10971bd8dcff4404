//go:build linux

package supervise

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// Every test runs under the hygiene checks: no descriptor, goroutine or
// child process may outlive it.
func TestMain(m *testing.M) { testutil.Main(m) }

// TestEveryTestChecksLeaks: each test calls testutil.Check, itself or
// through newLoop.
func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// guard bounds every loop of a test.
const guard = 20 * time.Second

// newLoop returns a loop freed when the test ends, after the hygiene
// checks were armed.
func newLoop(t *testing.T) *sdevent.Event {
	t.Helper()
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Unref)
	return e
}

// loop runs e until it exits, failing t if that takes longer than guard,
// and returns the exit code.
func loop(t *testing.T, e *sdevent.Event) int {
	t.Helper()
	g, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, guard, 0, func(s *sdevent.Source, _ time.Duration) error {
		t.Errorf("the loop still ran after %v", guard)
		return s.Event().Exit(99)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Unref()
	code, err := e.Loop()
	if err != nil {
		t.Fatalf("loop: %v", err)
	}
	return code
}

// event is one callback or line, as a recorder saw it.
type event struct {
	what string // started, startfailed, exited, timedout, restarting, done, line
	at   time.Duration
	pid  int
	ci   sdevent.ChildInfo
	d    time.Duration
	res  Result
	err  error
	sig  unix.Signal
	line string
}

func (ev event) String() string {
	switch ev.what {
	case "exited":
		return "exited " + ev.ci.String()
	case "restarting":
		return "restarting"
	case "done":
		return "done " + ev.res.String()
	case "line":
		return "line " + ev.line
	case "startfailed":
		return "startfailed"
	case "timedout":
		return "timedout " + unix.SignalName(ev.sig)
	}
	return ev.what
}

// recorder records a service's callbacks and output lines in order, with
// the loop's time of each.
type recorder struct {
	t       *testing.T
	e       *sdevent.Event
	events  []event
	current *Service
	// onLine, onStarted, onRestarting and onDone, when set, run after the
	// event is recorded.
	onLine       func(sv *Service, line string)
	onStarted    func(sv *Service)
	onRestarting func(sv *Service)
	onDone       func(sv *Service, r Result)
}

func newRecorder(t *testing.T, e *sdevent.Event) *recorder { return &recorder{t: t, e: e} }

func (r *recorder) add(ev event) {
	now, err := r.e.Now(unix.CLOCK_MONOTONIC)
	if err != nil {
		r.t.Error(err)
	}
	ev.at = now
	r.events = append(r.events, ev)
}

// spec returns a Spec that runs script with sh and records everything.
// The caller may change it.
func (r *recorder) spec(script string) Spec {
	return Spec{
		Command: func() *exec.Cmd {
			cmd := exec.Command("sh", "-c", script)
			cmd.Stdout = LineFunc(func(line []byte) {
				r.add(event{what: "line", line: string(line)})
				if r.onLine != nil {
					r.onLine(r.current, string(line))
				}
			})
			return cmd
		},
		Started: func(sv *Service, pid int) {
			r.current = sv
			r.add(event{what: "started", pid: pid})
			if r.onStarted != nil {
				r.onStarted(sv)
			}
		},
		StartFailed: func(sv *Service, err error) { r.add(event{what: "startfailed", err: err}) },
		Exited:      func(sv *Service, ci *sdevent.ChildInfo) { r.add(event{what: "exited", ci: *ci}) },
		StopTimedOut: func(sv *Service, sig unix.Signal) {
			r.add(event{what: "timedout", sig: sig})
		},
		Restarting: func(sv *Service, d time.Duration) {
			r.add(event{what: "restarting", d: d})
			if r.onRestarting != nil {
				r.onRestarting(sv)
			}
		},
		Done: func(sv *Service, res Result) {
			r.add(event{what: "done", res: res})
			if r.onDone != nil {
				r.onDone(sv, res)
			}
		},
	}
}

// start starts spec on r's loop and closes the service when the test ends.
func (r *recorder) start(spec Spec) *Service {
	r.t.Helper()
	sv, err := Start(r.e, spec)
	if err != nil {
		r.t.Fatal(err)
	}
	r.current = sv
	r.t.Cleanup(sv.Close)
	return sv
}

// wait runs the loop until the service has reported Done (since the
// events were last cleared).
func (r *recorder) wait() {
	r.t.Helper()
	testutil.RunUntil(r.t, r.e, "Done", func() bool { return len(r.find("done")) > 0 })
}

// trace is the recorded events, one word each, for comparisons.
func (r *recorder) trace() string {
	var s []string
	for _, ev := range r.events {
		s = append(s, ev.String())
	}
	return strings.Join(s, ", ")
}

// find returns the recorded events of a kind.
func (r *recorder) find(what string) []event {
	var evs []event
	for _, ev := range r.events {
		if ev.what == what {
			evs = append(evs, ev)
		}
	}
	return evs
}

// pidfdOf opens a pidfd for pid, closed when the test ends.
func pidfdOf(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	t.Cleanup(func() {
		// Best effort: it is normally dead already.
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		unix.Close(fd)
	})
	return fd
}

// exitsWithin reports whether the process of pidfd has exited, or exits
// within d.
func exitsWithin(t *testing.T, pidfd int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
}

// atoi parses a pid a script printed.
func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
