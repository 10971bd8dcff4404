//go:build linux

package supervise

import (
	"bytes"
	"encoding"
	"errors"
	"io/fs"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// ends are the ways a command can end, with the result systemd gives each
// (service_sigchld_event, is_clean_exit for a daemon). The core dump is
// written to the test's directory (the kernel's core_pattern "core"); a
// SIGABRT under `ulimit -c 0` is a plain death by signal.
var ends = []struct {
	name, script string
	success      ExitStatusSet
	code         int // the CLD_* code expected
	want         Result
}{
	{"exit0", "exit 0", ExitStatusSet{}, sdevent.CLDExited, ResultSuccess},
	{"exit1", "exit 1", ExitStatusSet{}, sdevent.CLDExited, ResultExitCode},
	{"exit1-success", "exit 1", ExitStatusSet{Status: []int{1}}, sdevent.CLDExited, ResultSuccess},
	{"sigterm", "kill -TERM $$", ExitStatusSet{}, sdevent.CLDKilled, ResultSuccess},
	{"sigpipe", "kill -PIPE $$", ExitStatusSet{}, sdevent.CLDKilled, ResultSuccess},
	{"sigkill", "kill -KILL $$", ExitStatusSet{}, sdevent.CLDKilled, ResultSignal},
	{"sigusr1-success", "kill -USR1 $$", ExitStatusSet{Signal: []unix.Signal{unix.SIGUSR1}}, sdevent.CLDKilled, ResultSuccess},
	{"abort-nocore", "ulimit -c 0; kill -ABRT $$", ExitStatusSet{}, sdevent.CLDKilled, ResultSignal},
	{"coredump", "ulimit -c unlimited; kill -ABRT $$", ExitStatusSet{}, sdevent.CLDDumped, ResultCoreDump},
}

// restarts is the table of systemd.service(5): which results each Restart=
// value restarts on. (on-watchdog is not applicable: a supervised command
// has no watchdog.)
var restarts = map[Restart]map[Result]bool{
	RestartNo:         {},
	RestartAlways:     {ResultSuccess: true, ResultExitCode: true, ResultSignal: true, ResultCoreDump: true, ResultTimeout: true, ResultStartLimitHit: true, ResultResources: true},
	RestartOnSuccess:  {ResultSuccess: true},
	RestartOnFailure:  {ResultExitCode: true, ResultSignal: true, ResultCoreDump: true, ResultTimeout: true, ResultStartLimitHit: true, ResultResources: true},
	RestartOnAbnormal: {ResultSignal: true, ResultCoreDump: true, ResultTimeout: true, ResultStartLimitHit: true, ResultResources: true},
	RestartOnAbort:    {ResultSignal: true, ResultCoreDump: true},
}

// TestShallRestart: Restart= against every result, from the table of
// systemd.service(5) (service_shall_restart).
func TestShallRestart(t *testing.T) {
	testutil.Check(t)
	for r, yes := range restarts {
		for res := ResultSuccess; res <= ResultResources; res++ {
			if got := r.shallRestart(res); got != yes[res] {
				t.Errorf("Restart=%v after %v: restart %v, want %v", r, res, got, yes[res])
			}
		}
	}
}

// TestRestartPolicies runs each Restart= value against each way a real
// command can end: the result is systemd's, and the service restarts
// exactly when the table says, or else is done with that result.
func TestRestartPolicies(t *testing.T) {
	for _, end := range ends {
		for r := RestartNo; r <= RestartAlways; r++ {
			t.Run(end.name+"/"+r.String(), func(t *testing.T) {
				e := newLoop(t)
				rec := newRecorder(t, e)
				spec := rec.spec(end.script)
				dir := t.TempDir()
				cmd := spec.Command
				spec.Command = func() *exec.Cmd {
					c := cmd()
					c.Dir = dir // where a core dump goes
					return c
				}
				spec.Restart, spec.SuccessExitStatus, spec.RestartDelay = r, end.success, -1
				rec.onRestarting = func(sv *Service) {
					if err := sv.Stop(); err != nil { // a scheduled restart: cancelled
						t.Error(err)
					}
				}
				sv := rec.start(spec)
				rec.wait()
				exited := rec.find("exited")
				if len(exited) != 1 {
					t.Fatalf("events: %s", rec.trace())
				}
				if exited[0].ci.Code != end.code {
					t.Fatalf("the command ended as %v, want CLD code %d", &exited[0].ci, end.code)
				}
				restarted := len(rec.find("restarting")) == 1
				if want := restarts[r][end.want]; restarted != want {
					t.Fatalf("restarted %v, want %v: %s", restarted, want, rec.trace())
				}
				done := rec.find("done")
				wantDone, wantState := end.want, Failed
				if restarted {
					wantDone = ResultSuccess // the stop of the scheduled restart
				}
				if wantDone == ResultSuccess {
					wantState = Inactive
				}
				if len(done) != 1 || done[0].res != wantDone || sv.State() != wantState || sv.Result() != end.want && !restarted {
					t.Fatalf("done %v, state %v, result %v; want done %v, state %v: %s", done, sv.State(), sv.Result(), wantDone, wantState, rec.trace())
				}
			})
		}
	}
}

// TestRestartDelayTable: RestartDelay against systemd's formula
// (service_restart_usec_next, computed in C with powl on this machine and
// written down here, microseconds).
func TestRestartDelayTable(t *testing.T) {
	testutil.Check(t)
	us := time.Microsecond
	for _, c := range []struct {
		sec, max time.Duration
		steps    int
		want     []time.Duration // for n = 1, 2, ..., steps+2
	}{
		{100000 * us, 10000000 * us, 2, []time.Duration{100000, 1000000, 10000000, 10000000}},
		{100000 * us, 60000000 * us, 5, []time.Duration{100000, 359443, 1291994, 4643984, 16692485, 60000000, 60000000}},
		{1000000 * us, 3600000000 * us, 10, []time.Duration{1000000, 2267933, 5143520, 11665161, 26455806, 60000000, 136075989, 308611247, 699909680, 1587348371, 3600000000, 3600000000}},
		{250000 * us, 300000000 * us, 7, []time.Duration{250000, 688371, 1895422, 5219021, 14370508, 39569009, 108952755, 300000000, 300000000}},
		{1 * us, 1000000 * us, 3, []time.Duration{1, 100, 10000, 1000000, 1000000}},
		{100000 * us, 100001 * us, 4, []time.Duration{100000, 100000, 100000, 100000, 100001, 100001}},
		{3000 * us, 7000 * us, 9, []time.Duration{3000, 3296, 3621, 3979, 4371, 4803, 5277, 5798, 6371, 7000, 7000}},
	} {
		for i, want := range c.want {
			n := i + 1
			if got := Backoff(c.sec, c.max, c.steps, n); got != want*us {
				t.Errorf("Backoff(%v, %v, %d, %d) = %v, want %v", c.sec, c.max, c.steps, n, got, want*us)
			}
		}
	}
	// No growth without steps, without a maximum, or with a maximum not
	// above RestartDelay.
	for _, c := range []struct {
		sec, max time.Duration
		steps    int
	}{{time.Second, 0, 5}, {time.Second, time.Minute, 0}, {time.Second, sdevent.Infinity, 5}, {time.Second, time.Second, 5}, {0, time.Minute, 5}} {
		for n := 1; n < 8; n++ {
			if got := Backoff(c.sec, c.max, c.steps, n); got != c.sec {
				t.Errorf("Backoff(%v, %v, %d, %d) = %v, want %v", c.sec, c.max, c.steps, n, got, c.sec)
			}
		}
	}
}

// TestRestartDelaysObserved: a command that keeps failing is restarted
// after RestartDelay, then after delays that grow over RestartSteps to
// RestartMaxDelay: each restart's delay is reported, and the time
// between an exit and the next start is at least that, and not much more.
func TestRestartDelaysObserved(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("exit 1")
	spec.Restart = RestartOnFailure
	spec.RestartDelay, spec.RestartSteps, spec.RestartMaxDelay = 40*time.Millisecond, 3, 320*time.Millisecond
	spec.StartLimitBurst = -1
	want := []time.Duration{40, 80, 160, 320, 320}
	rec.onStarted = func(sv *Service) {
		if len(rec.find("started")) == len(want)+1 {
			if err := sv.Stop(); err != nil {
				t.Error(err)
			}
		}
	}
	sv := rec.start(spec)
	rec.wait()
	var last event
	n := 0
	for _, ev := range rec.events {
		switch ev.what {
		case "exited":
			last = ev
		case "restarting":
			if w := want[n] * time.Millisecond; ev.d != w {
				t.Errorf("restart %d: delay %v, want %v", n+1, ev.d, w)
			}
		case "started":
			if n > 0 || last.what != "" {
				gap, w := ev.at-last.at, want[n]*time.Millisecond
				if gap < w || gap > w+time.Second {
					t.Errorf("restart %d came %v after the exit, want %v (+ at most 1s)", n+1, gap, w)
				}
				n++
			}
		}
	}
	if n != len(want) || sv.Restarts() != len(want) {
		t.Fatalf("%d restarts seen, Restarts() %d, want %d: %s", n, sv.Restarts(), len(want), rec.trace())
	}
}

// TestStartLimit: more than StartLimitBurst starts in
// StartLimitInterval and the service fails with start-limit-hit,
// without a restart; ResetFailed lets Restart start it again, and Restart
// starts the count of restarts anew.
func TestStartLimit(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("exit 0")
	spec.Restart, spec.RestartDelay, spec.StartLimitBurst = RestartAlways, -1, 3
	sv := rec.start(spec)
	rec.wait()
	if got := len(rec.find("started")); got != 3 {
		t.Fatalf("%d starts, want 3: %s", got, rec.trace())
	}
	done := rec.find("done")
	if len(done) != 1 || done[0].res != ResultStartLimitHit || sv.State() != Failed || sv.Restarts() != 3 {
		t.Fatalf("done %v, state %v, restarts %d; want start-limit-hit, failed, 3: %s", done, sv.State(), sv.Restarts(), rec.trace())
	}

	// Within the interval a start asked for is refused too, as systemctl
	// start is.
	rec.events = nil
	if err := sv.Restart(); err != nil {
		t.Fatal(err)
	}
	rec.wait()
	if rec.trace() != "done start-limit-hit" || sv.State() != Failed {
		t.Fatalf("restart within the interval: %s", rec.trace())
	}

	rec.events = nil
	sv.ResetFailed()
	if sv.State() != Inactive || sv.Restarts() != 0 {
		t.Fatalf("after ResetFailed: %v, %d restarts", sv.State(), sv.Restarts())
	}
	rec.onStarted = func(sv *Service) {
		if err := sv.Stop(); err != nil {
			t.Error(err)
		}
	}
	if err := sv.Restart(); err != nil {
		t.Fatal(err)
	}
	if sv.State() != Starting {
		t.Fatalf("state %v after Restart, want starting", sv.State())
	}
	rec.wait()
	if got := len(rec.find("started")); got != 1 || sv.State() != Inactive {
		t.Fatalf("after ResetFailed and Restart: %s, state %v", rec.trace(), sv.State())
	}
}

// TestUnstartable: a command that cannot be started is reported through
// StartFailed with the error of exec (never a panic), counts as exit-code
// (systemd's 203/EXEC), and is restarted as Restart= says, up to the start
// limit.
func TestUnstartable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		restart Restart
		want    string
		result  Result
	}{
		{RestartNo, "startfailed, done exit-code", ResultExitCode},
		{RestartOnAbnormal, "startfailed, done exit-code", ResultExitCode},
		{RestartOnFailure, "startfailed, restarting, startfailed, restarting, startfailed, restarting, startfailed, restarting, startfailed, restarting, done start-limit-hit", ResultStartLimitHit},
	} {
		t.Run(c.restart.String(), func(t *testing.T) {
			e := newLoop(t)
			rec := newRecorder(t, e)
			spec := rec.spec("")
			spec.Command = func() *exec.Cmd { return exec.Command(missing) }
			spec.Restart, spec.RestartDelay = c.restart, time.Millisecond
			sv := rec.start(spec)
			rec.wait()
			if rec.trace() != c.want || sv.State() != Failed || sv.Result() != c.result {
				t.Fatalf("got %s, state %v, result %v; want %s", rec.trace(), sv.State(), sv.Result(), c.want)
			}
			if err := rec.find("startfailed")[0].err; !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("start error %v, want one for a missing file", err)
			}
		})
	}
}

// TestRestartExitStatus: RestartPreventExitStatus= and
// RestartForceExitStatus= against real ends, as service_shall_restart
// orders them: a stop asked for is never restarted, then the prevent set
// says no, then the force set says yes, then Restart= decides. A command
// that cannot start counts as exit status 203.
func TestRestartExitStatus(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	const stubborn = "trap 'exit 3' TERM; echo up; while :; do sleep 0.05; done"
	for _, c := range []struct {
		name           string
		script         string // "" runs the missing command
		restart        Restart
		prevent, force ExitStatusSet
		stop           bool // Stop once the command printed a line
		restarted      bool
	}{
		{"always/prevent-0/exit0", "exit 0", RestartAlways, ExitStatusSet{Status: []int{0}}, ExitStatusSet{}, false, false},
		{"always/prevent-0/exit1", "exit 1", RestartAlways, ExitStatusSet{Status: []int{0}}, ExitStatusSet{}, false, true},
		{"always/prevent-0/sigterm", "kill -TERM $$", RestartAlways, ExitStatusSet{Status: []int{0}}, ExitStatusSet{}, false, true},
		{"always/prevent-term/sigterm", "kill -TERM $$", RestartAlways, ExitStatusSet{Signal: []unix.Signal{unix.SIGTERM}}, ExitStatusSet{}, false, false},
		{"always/prevent-15/sigterm", "kill -TERM $$", RestartAlways, ExitStatusSet{Status: []int{15}}, ExitStatusSet{}, false, true},
		{"on-failure/force-term/sigterm", "kill -TERM $$", RestartOnFailure, ExitStatusSet{}, ExitStatusSet{Signal: []unix.Signal{unix.SIGTERM}}, false, true},
		{"no/force-3/exit3", "exit 3", RestartNo, ExitStatusSet{}, ExitStatusSet{Status: []int{3}}, false, true},
		{"no/force-3/exit4", "exit 4", RestartNo, ExitStatusSet{}, ExitStatusSet{Status: []int{3}}, false, false},
		{"no/prevent-and-force-3/exit3", "exit 3", RestartNo, ExitStatusSet{Status: []int{3}}, ExitStatusSet{Status: []int{3}}, false, false},
		{"no/force-3/stopped", stubborn, RestartNo, ExitStatusSet{}, ExitStatusSet{Status: []int{3}}, true, false},
		{"always/prevent-203/unstartable", "", RestartAlways, ExitStatusSet{Status: []int{203}}, ExitStatusSet{}, false, false},
		{"no/force-203/unstartable", "", RestartNo, ExitStatusSet{}, ExitStatusSet{Status: []int{203}}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newLoop(t)
			rec := newRecorder(t, e)
			spec := rec.spec(c.script)
			if c.script == "" {
				spec.Command = func() *exec.Cmd { return exec.Command(missing) }
			}
			spec.Restart, spec.RestartDelay = c.restart, -1
			spec.RestartPreventExitStatus, spec.RestartForceExitStatus = c.prevent, c.force
			rec.onRestarting = func(sv *Service) {
				if err := sv.Stop(); err != nil { // one end is enough
					t.Error(err)
				}
			}
			if c.stop {
				rec.onLine = func(sv *Service, _ string) {
					if err := sv.Stop(); err != nil {
						t.Error(err)
					}
				}
			}
			rec.start(spec)
			rec.wait()
			if restarted := len(rec.find("restarting")) == 1; restarted != c.restarted {
				t.Fatalf("restarted %v, want %v: %s", restarted, c.restarted, rec.trace())
			}
		})
	}
}

// TestBadCommand: a Command that returns nil, a started command or one
// whose Stdin is not a file is a failed start with an error wrapping
// EINVAL.
func TestBadCommand(t *testing.T) {
	started := exec.Command("true")
	for name, cmd := range map[string]func() *exec.Cmd{
		"nil": func() *exec.Cmd { return nil },
		"stdin": func() *exec.Cmd {
			c := exec.Command("true")
			c.Stdin = &errReader{}
			return c
		},
		"started": func() *exec.Cmd { return started },
	} {
		t.Run(name, func(t *testing.T) {
			e := newLoop(t)
			if name == "started" {
				if err := started.Run(); err != nil {
					t.Fatal(err)
				}
			}
			rec := newRecorder(t, e)
			spec := rec.spec("")
			spec.Command = cmd
			rec.start(spec)
			rec.wait()
			if rec.trace() != "startfailed, done exit-code" || !errors.Is(rec.events[0].err, unix.EINVAL) {
				t.Fatalf("%s (%v)", rec.trace(), rec.events[0].err)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, unix.EIO }

// TestRestartMethod: Restart of a running service stops it (no Restart=
// after that end), starts it again with the count of restarts reset, and
// reports no Done in between.
func TestRestartMethod(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("echo up; exec sleep 30")
	spec.Restart = RestartAlways
	rec.onLine = func(sv *Service, line string) {
		switch len(rec.find("started")) {
		case 1:
			if err := sv.Restart(); err != nil {
				t.Error(err)
			}
		case 2:
			if err := sv.Stop(); err != nil {
				t.Error(err)
			}
		}
	}
	rec.start(spec)
	rec.wait()
	want := "started, line up, exited killed by SIGTERM, started, line up, exited killed by SIGTERM, done success"
	if rec.trace() != want {
		t.Fatalf("got  %s\nwant %s", rec.trace(), want)
	}
	if p := rec.find("started"); p[0].pid == p[1].pid {
		t.Fatal("the same pid twice")
	}
}

// TestSignal: Signal reaches the command; after its exit it is ESRCH.
func TestSignal(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("trap 'exit 7' USR1; echo up; while :; do sleep 0.05; done")
	rec.onLine = func(sv *Service, line string) {
		if err := sv.Signal(unix.SIGUSR1); err != nil {
			t.Error(err)
		}
	}
	sv := rec.start(spec)
	rec.wait()
	if ex := rec.find("exited"); len(ex) != 1 || ex[0].ci.ExitStatus() != 7 {
		t.Fatalf("%s", rec.trace())
	}
	if err := sv.Signal(unix.SIGUSR1); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("Signal after the exit: %v, want ESRCH", err)
	}
	if err := sv.Signal(0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Signal(0): %v, want EINVAL", err)
	}
}

// TestCloseKills: Close of a running service kills and reaps the command
// at once, and of its group what is left; methods then give ESTALE.
func TestCloseKills(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("sleep 30 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 30")
	var grandchild int
	rec.onLine = func(sv *Service, line string) {
		grandchild = pidfdOf(t, atoi(t, line))
		sv.Close()
	}
	sv := rec.start(spec)
	testutil.RunUntil(t, e, "the grandchild's pid", func() bool { return grandchild != 0 })
	if !exitsWithin(t, grandchild, 5*time.Second) {
		t.Fatal("the grandchild survived Close")
	}
	if sv.State() != Inactive || sv.Pid() != 0 {
		t.Fatalf("after Close: %v, pid %d", sv.State(), sv.Pid())
	}
	for _, err := range []error{sv.Stop(), sv.Restart(), sv.Signal(unix.SIGTERM)} {
		if !errors.Is(err, unix.ESTALE) {
			t.Fatalf("a method after Close: %v, want ESTALE", err)
		}
	}
	sv.Close() // again: nothing
}

// TestSpecValidation: bad settings are EINVAL at Start, and Start on a nil
// or finished loop fails.
func TestSpecValidation(t *testing.T) {
	e := newLoop(t)
	ok := func() *exec.Cmd { return exec.Command("true") }
	for i, spec := range []Spec{
		{},
		{Command: ok, Restart: -1},
		{Command: ok, Restart: RestartAlways + 1},
		{Command: ok, KillMode: KillProcess + 1},
		{Command: ok, KillSignal: 65},
		{Command: ok, FinalKillSignal: -1},
		{Command: ok, RestartSteps: -1},
		{Command: ok, RestartMaxDelay: -1},
		{Command: ok, SuccessExitStatus: ExitStatusSet{Status: []int{256}}},
		{Command: ok, SuccessExitStatus: ExitStatusSet{Signal: []unix.Signal{0}}},
		{Command: ok, RestartPreventExitStatus: ExitStatusSet{Status: []int{-1}}},
		{Command: ok, RestartPreventExitStatus: ExitStatusSet{Signal: []unix.Signal{65}}},
		{Command: ok, RestartForceExitStatus: ExitStatusSet{Status: []int{256}}},
		{Command: ok, RestartForceExitStatus: ExitStatusSet{Signal: []unix.Signal{0}}},
	} {
		if _, err := Start(e, spec); !errors.Is(err, unix.EINVAL) {
			t.Errorf("spec %d: %v, want EINVAL", i, err)
		}
	}
	if _, err := Start(nil, Spec{Command: ok}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil loop: %v, want EINVAL", err)
	}
	f, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Unref()
	if err := f.Exit(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Loop(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(f, Spec{Command: ok}); !errors.Is(err, unix.ESTALE) {
		t.Errorf("finished loop: %v, want ESTALE", err)
	}
}

// TestNames: the enumerations spell their values as systemd does, and
// parse them back.
func TestNames(t *testing.T) {
	testutil.Check(t)
	for r := RestartNo; r <= RestartAlways; r++ {
		roundTrip(t, r)
	}
	for m := KillControlGroup; m <= KillProcess; m++ {
		roundTrip(t, m)
	}
	for want, s := range map[string]string{
		"on-abnormal": RestartOnAbnormal.String(), "mixed": KillMixed.String(),
		"start-limit-hit": ResultStartLimitHit.String(), "auto-restart": AutoRestart.String(),
		"Restart(9)": Restart(9).String(),
	} {
		if s != want {
			t.Errorf("%q, want %q", s, want)
		}
	}
	for _, bad := range []string{"", "on-watchdog", "On-Failure"} {
		if _, err := ParseRestart(bad); !errors.Is(err, unix.EINVAL) {
			t.Errorf("ParseRestart(%q): %v, want EINVAL", bad, err)
		}
	}
	if _, err := ParseKillMode("none"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ParseKillMode(none): %v, want EINVAL", err)
	}
	if _, err := Restart(9).MarshalText(); !errors.Is(err, unix.EINVAL) {
		t.Errorf("MarshalText of Restart(9): %v, want EINVAL", err)
	}
}

// roundTrip checks that v marshals to text that unmarshals back to v.
func roundTrip[T interface {
	comparable
	encoding.TextMarshaler
}, P interface {
	*T
	encoding.TextUnmarshaler
}](t *testing.T, v T) {
	t.Helper()
	b, err := v.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := P(&back).UnmarshalText(b); err != nil || back != v {
		t.Errorf("%v: %q back to %v, %v", v, b, back, err)
	}
}

// TestParseExitStatusSet: numbers and names of systemd's table are exit
// statuses, other words signals with or without SIG (signal_from_string).
func TestParseExitStatusSet(t *testing.T) {
	testutil.Check(t)
	set, err := ParseExitStatusSet("1 2  TEMPFAIL 255 SIGUSR1 HUP RTMIN+2 SIGRTMAX-1 RTMIN")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.String(), "1 2 75 255 SIGUSR1 SIGHUP 36 63 34"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	for _, bad := range []string{"256", "-1", "SIGFOO", "RTMIN+31", "RTMAX-x"} {
		if _, err := ParseExitStatusSet(bad); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%q: %v, want EINVAL", bad, err)
		}
	}
	if set, err := ParseExitStatusSet(""); err != nil || len(set.Status)+len(set.Signal) != 0 {
		t.Errorf("empty: %v, %v", set, err)
	}
}

// TestLogging: the lifecycle goes to Spec.Logger, or else to the loop's
// logger, at info, failures at warn, each record naming the service.
func TestLogging(t *testing.T) {
	for _, where := range []string{"spec", "loop"} {
		t.Run(where, func(t *testing.T) {
			e := newLoop(t)
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey || a.Key == "pid" {
						return slog.Attr{}
					}
					return a
				},
			}))
			rec := newRecorder(t, e)
			spec := rec.spec("exit 1")
			spec.Name = "worker"
			spec.Restart, spec.RestartDelay, spec.StartLimitBurst = RestartOnFailure, -1, 1
			if where == "spec" {
				spec.Logger = l
			} else {
				e.SetLogger(l)
			}
			rec.start(spec)
			rec.wait()
			want := `level=INFO msg=started service=worker
level=INFO msg=exited service=worker status="exited 1" result=exit-code
level=INFO msg=restarting service=worker in=0s restarts=0
level=WARN msg="start limit hit" service=worker burst=1 interval=10s
level=WARN msg=failed service=worker result=start-limit-hit
`
			if buf.String() != want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
			}
		})
	}
}

// TestUpdate: new settings apply the next time they are used (the new
// Restart= and delay decide the end of the command that ran when they
// came), the name at once, and a bad Spec changes nothing.
func TestUpdate(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("trap 'exit 1' USR1; echo up; while :; do sleep 0.05; done")
	spec.Restart = RestartNo
	sv := rec.start(spec)
	rec.onLine = func(sv *Service, _ string) {
		if len(rec.find("started")) == 1 {
			next := spec
			next.Restart, next.RestartDelay = RestartOnFailure, 50*time.Millisecond
			next.Name = "renamed"
			if err := sv.Update(next); err != nil {
				t.Error(err)
			}
			if err := sv.Update(Spec{}); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Update with a bad spec: %v, want EINVAL", err)
			}
			if err := sv.Signal(unix.SIGUSR1); err != nil {
				t.Error(err)
			}
			return
		}
		_ = sv.Stop()
	}
	rec.wait()
	want := "started, line up, exited exited 1, restarting, started, line up, exited killed by SIGTERM, done success"
	if rec.trace() != want || rec.find("restarting")[0].d != 50*time.Millisecond || sv.Name() != "renamed" {
		t.Fatalf("got  %s (name %s)\nwant %s", rec.trace(), sv.Name(), want)
	}
	sv.Close()
	if err := sv.Update(spec); !errors.Is(err, unix.ESTALE) {
		t.Fatalf("Update after Close: %v, want ESTALE", err)
	}
}
