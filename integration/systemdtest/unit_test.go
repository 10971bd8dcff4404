//go:build linux

package systemdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// unitPrefix starts the name of every unit the tests make, so that
// teardown can find those a test left behind.
const unitPrefix = "sdevent-test-"

var unitSeq atomic.Uint64

// stateProps are the properties the tests read from `systemctl show`.
var stateProps = []string{"ActiveState", "SubState", "Result", "ExecMainCode", "ExecMainStatus"}

// unit is a transient service of the tests' manager. Its standard output
// and error go to a file in its own directory, and an ExecStopPost command
// records there how systemd saw it end ($SERVICE_RESULT, $EXIT_CODE,
// $EXIT_STATUS), which outlives the unit: an inactive transient unit is
// unloaded at once.
type unit struct {
	t    *testing.T
	m    *Manager
	Name string
	Dir  string
}

// newUnit names a unit for t; it is stopped and reset when t ends, and its
// output and status are logged if t failed.
func newUnit(t *testing.T, m *Manager) *unit {
	t.Helper()
	// The pid keeps apart the units (and their cgroups, which managers
	// started from one cgroup share) of concurrent test processes.
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	u := &unit{
		t:    t,
		m:    m,
		Name: fmt.Sprintf("%s%d-%s-%d.service", unitPrefix, os.Getpid(), name, unitSeq.Add(1)),
		Dir:  t.TempDir(),
	}
	record := "printf '%s %s %s' \"$SERVICE_RESULT\" \"$EXIT_CODE\" \"$EXIT_STATUS\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n"
	u.writeScript("record", record)
	t.Cleanup(func() {
		if t.Failed() {
			status, _ := m.Systemctl("status", "--no-pager", "--full", u.Name)
			out, _ := os.ReadFile(u.path("output"))
			t.Logf("%s:\n%s\noutput:\n%s", u.Name, status, out)
		}
		// Best effort: the unit has normally stopped, and reset-failed
		// fails when it is gone already; TestMain reports units left.
		_, _ = m.Systemctl("stop", u.Name)
		_, _ = m.Systemctl("reset-failed", u.Name)
	})
	return u
}

func (u *unit) path(name string) string { return filepath.Join(u.Dir, name) }

// writeScript writes a shell script into the unit's directory and returns
// its path. Scripts keep '$' out of command lines, which systemd would
// expand itself.
func (u *unit) writeScript(name, body string) string {
	u.t.Helper()
	p := u.path(name + ".sh")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		u.t.Fatal(err)
	}
	return p
}

// start runs systemd-run for the unit with Type=notify, the given
// properties ("Name=value") and command line, and returns its error: with
// Type=notify, systemd-run waits until the service sent READY=1 and fails
// if it never did.
func (u *unit) start(props []string, argv ...string) error {
	u.t.Helper()
	args := []string{"--user", "--quiet", "--no-ask-password", "--unit=" + u.Name,
		"-p", "Type=notify",
		"-p", "StandardOutput=append:" + u.path("output"),
		"-p", "StandardError=append:" + u.path("output"),
		"-p", "ExecStopPost=/bin/sh " + u.path("record.sh") + " " + u.path("ended"),
	}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	args = append(args, "--")
	_, err := u.m.Run("systemd-run", append(args, argv...)...)
	return err
}

// show returns the unit's state properties and any others asked for.
func (u *unit) show(more ...string) map[string]string {
	u.t.Helper()
	p, err := u.m.Show(u.Name, append(stateProps, more...)...)
	if err != nil {
		u.t.Fatal(err)
	}
	return p
}

// expect fails the test for each property of p that differs from want.
func (u *unit) expect(p map[string]string, want map[string]string) {
	u.t.Helper()
	for k, v := range want {
		if p[k] != v {
			u.t.Errorf("%s: %s=%s, want %s (%s)", u.Name, k, p[k], v, brief(p))
		}
	}
}

// brief formats the state properties of p.
func brief(p map[string]string) string {
	var b []string
	for _, k := range stateProps {
		b = append(b, k+"="+p[k])
	}
	return strings.Join(b, " ")
}

// waitState polls the unit until cond holds for its properties, failing
// the test after timeout.
func (u *unit) waitState(timeout time.Duration, what string, cond func(p map[string]string) bool) map[string]string {
	u.t.Helper()
	var p map[string]string
	poll(u.t, timeout, what, func() bool {
		p = u.show()
		return cond(p)
	})
	return p
}

// ended waits up to 10s for the ExecStopPost record and returns it:
// "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS".
func (u *unit) ended() string {
	u.t.Helper()
	var b []byte
	poll(u.t, 10*time.Second, u.Name+" to run ExecStopPost", func() bool {
		var err error
		b, err = os.ReadFile(u.path("ended"))
		return err == nil
	})
	return string(b)
}

// output returns what the unit's processes wrote so far.
func (u *unit) output() string {
	b, _ := os.ReadFile(u.path("output"))
	return string(b)
}

// waitFile waits until the file exists.
func (u *unit) waitFile(name string, timeout time.Duration) {
	u.t.Helper()
	poll(u.t, timeout, "file "+name, func() bool {
		_, err := os.Stat(u.path(name))
		return err == nil
	})
}

// poll calls done with growing pauses until it returns true, failing t
// when timeout passes first.
func poll(t *testing.T, timeout time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 5 * time.Millisecond; !done(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
	}
}
