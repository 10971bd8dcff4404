//go:build linux

package systemdtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPrograms names every systemd program the tests need that is missing.
func TestPrograms(t *testing.T) {
	programs(t)
}

// TestRunWatchdog runs `sdevent run` as a Type=notify unit with
// WatchdogSec=1s: it must stay active for several watchdog periods, its
// pings must reach systemd, and a stop must end it cleanly.
func TestRunWatchdog(t *testing.T) {
	t.Parallel()
	m, bin := manager(t), sdeventBinary(t)
	u := newUnit(t, m)
	if err := u.start([]string{"WatchdogSec=1s"}, bin, "run", "--", "/bin/sleep", "infinity"); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	more := []string{"MainPID", "NRestarts", "WatchdogUSec", "WatchdogTimestampMonotonic"}
	p := u.show(more...)
	u.expect(p, map[string]string{"ActiveState": "active", "SubState": "running", "WatchdogUSec": "1s"})
	pid := p["MainPID"]

	// Watch for 3.5 periods: the unit must stay up, and systemd must see
	// the pings (WatchdogTimestamp is the time of the last WATCHDOG=1).
	pings := map[string]bool{}
	for time.Since(started) < 3500*time.Millisecond {
		p := u.show(more...)
		if p["ActiveState"] != "active" || p["SubState"] != "running" || p["MainPID"] != pid || p["NRestarts"] != "0" {
			t.Fatalf("%v after start: %s MainPID=%s NRestarts=%s, want active/running, MainPID=%s, NRestarts=0",
				time.Since(started).Round(time.Millisecond), brief(p), p["MainPID"], p["NRestarts"], pid)
		}
		if ts := p["WatchdogTimestampMonotonic"]; ts != "0" {
			pings[ts] = true
		}
		time.Sleep(50 * time.Millisecond) // sampling rate, not synchronisation
	}
	t.Logf("systemd saw %d watchdog pings in %v", len(pings), time.Since(started).Round(time.Millisecond))
	if len(pings) < 3 {
		t.Errorf("systemd saw %d distinct watchdog pings in 3.5s with WatchdogSec=1s, want at least 3", len(pings))
	}

	if _, err := m.Systemctl("stop", u.Name); err != nil {
		t.Fatal(err)
	}
	// sleep died of the SIGTERM and sdevent of the same signal, which
	// systemd counts as a clean exit.
	if got, want := u.ended(), "success killed TERM"; got != want {
		t.Errorf("ExecStopPost saw %q, want %q", got, want)
	}
}

// TestWatchdogEnforced is the control of TestRunWatchdog: a unit that says
// READY=1 but never pings is killed by the manager for it.
func TestWatchdogEnforced(t *testing.T) {
	t.Parallel()
	m := manager(t)
	u := newUnit(t, m)
	err := u.start([]string{"WatchdogSec=1s", "NotifyAccess=all"},
		"/bin/sh", "-c", "systemd-notify --ready; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	p := u.waitState(10*time.Second, u.Name+" to fail", func(p map[string]string) bool {
		return p["ActiveState"] == "failed" || p["ActiveState"] == "inactive"
	})
	u.expect(p, map[string]string{"ActiveState": "failed", "Result": "watchdog"})
}

// TestRunExitStatus checks that systemd sees COMMAND's end as if it had run
// COMMAND itself: an exit status, or death by a signal. The command waits
// for the test's go-ahead, so that it ends only once the unit is running.
func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	m, bin := manager(t), sdeventBinary(t)
	for _, tc := range []struct {
		name, end string
		want      map[string]string
	}{
		{"exit0", "exit 0", map[string]string{"ActiveState": "active", "SubState": "exited", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"}},
		{"exit5", "exit 5", map[string]string{"ActiveState": "failed", "Result": "exit-code", "ExecMainCode": "1", "ExecMainStatus": "5"}},
		// SIGTERM is a clean death for systemd; SIGUSR1 is not.
		{"sigterm", "kill -TERM $$", map[string]string{"ActiveState": "active", "SubState": "exited", "Result": "success", "ExecMainCode": "2", "ExecMainStatus": "15"}},
		{"sigusr1", "kill -USR1 $$", map[string]string{"ActiveState": "failed", "Result": "signal", "ExecMainCode": "2", "ExecMainStatus": "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUnit(t, m)
			script := u.writeScript("main", "while [ ! -e \"$1\" ]; do sleep 0.02; done\n"+tc.end+"\n")
			// RemainAfterExit keeps a cleanly ended unit loaded, so that
			// systemctl show still has its ExecMain properties.
			err := u.start([]string{"WatchdogSec=1s", "RemainAfterExit=yes"}, bin, "run", "--", "/bin/sh", script, u.path("go"))
			if err != nil {
				t.Fatal(err)
			}
			u.expect(u.show(), map[string]string{"ActiveState": "active", "SubState": "running"})
			if err := os.WriteFile(u.path("go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			p := u.waitState(10*time.Second, u.Name+"'s main process to end", func(p map[string]string) bool {
				return p["SubState"] == "exited" || p["ActiveState"] == "failed" || p["ActiveState"] == "inactive"
			})
			u.expect(p, tc.want)
		})
	}
}

// TestRunStop checks that `systemctl stop` reaches COMMAND through sdevent:
// with KillMode=mixed systemd sends SIGTERM to sdevent alone.
func TestRunStop(t *testing.T) {
	t.Parallel()
	m, bin := manager(t), sdeventBinary(t)

	t.Run("forwarded", func(t *testing.T) {
		t.Parallel()
		u := newUnit(t, m)
		script := u.writeScript("main", `trap 'echo got-term > "$1"; exit 0' TERM
echo armed > "$2"
while :; do sleep 0.1; done
`)
		err := u.start([]string{"WatchdogSec=1s", "KillMode=mixed", "TimeoutStopSec=10s"},
			bin, "run", "--", "/bin/sh", script, u.path("mark"), u.path("armed"))
		if err != nil {
			t.Fatal(err)
		}
		u.waitFile("armed", 10*time.Second)
		if _, err := m.Systemctl("stop", u.Name); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(u.path("mark")); strings.TrimSpace(string(got)) != "got-term" {
			t.Errorf("COMMAND recorded %q, want got-term: SIGTERM was not forwarded", got)
		}
		if got, want := u.ended(), "success exited 0"; got != want {
			t.Errorf("ExecStopPost saw %q, want %q", got, want)
		}
		u.expect(u.show(), map[string]string{"ActiveState": "inactive"})
	})

	t.Run("kill-after", func(t *testing.T) {
		t.Parallel()
		u := newUnit(t, m)
		script := u.writeScript("main", "trap '' TERM\necho armed > \"$1\"\nexec sleep infinity\n")
		err := u.start([]string{"WatchdogSec=1s", "KillMode=mixed", "TimeoutStopSec=10s"},
			bin, "run", "-kill-after", "500ms", "--", "/bin/sh", script, u.path("armed"))
		if err != nil {
			t.Fatal(err)
		}
		u.waitFile("armed", 10*time.Second)
		if _, err := m.Systemctl("stop", u.Name); err != nil {
			t.Fatal(err)
		}
		// sdevent killed COMMAND and died of the same SIGKILL; had systemd
		// had to kill it at TimeoutStopSec, Result would be timeout.
		u.expect(u.show(), map[string]string{"ActiveState": "failed", "Result": "signal", "ExecMainCode": "2", "ExecMainStatus": "9"})
		if got, want := u.ended(), "signal killed KILL"; got != want {
			t.Errorf("ExecStopPost saw %q, want %q", got, want)
		}
		if out := u.output(); !strings.Contains(out, "sent SIGKILL") {
			t.Errorf("sdevent did not say it sent SIGKILL; output:\n%s", out)
		}
	})
}

// TestRunCannotStart checks that a COMMAND that cannot be started fails the
// unit with status 203 and that READY=1 is never sent.
func TestRunCannotStart(t *testing.T) {
	t.Parallel()
	m, bin := manager(t), sdeventBinary(t)
	u := newUnit(t, m)
	err := u.start([]string{"WatchdogSec=1s"}, bin, "run", "--", "/nonexistent/sdevent-test-command")
	if err == nil {
		t.Errorf("systemd-run succeeded: the unit became ready")
	}
	p := u.waitState(10*time.Second, u.Name+" to fail", func(p map[string]string) bool {
		return p["ActiveState"] == "failed" || p["ActiveState"] == "inactive"
	})
	u.expect(p, map[string]string{"ActiveState": "failed", "Result": "exit-code", "ExecMainCode": "1", "ExecMainStatus": "203"})
	// The unit went from activating to failed without ever being active.
	if ts := u.show("ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"]; ts != "0" {
		t.Errorf("ActiveEnterTimestampMonotonic=%s, want 0: the unit was active once", ts)
	}
	if out := u.output(); !strings.Contains(out, "sdevent run: cannot start") {
		t.Errorf("sdevent's output does not say it could not start COMMAND:\n%s", out)
	}
	if got, want := u.ended(), "exit-code exited "+strconv.Itoa(203); got != want {
		t.Errorf("ExecStopPost saw %q, want %q", got, want)
	}
}
