//go:build linux

package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// The tests run the command as a real process: the test binary re-executed
// with SDEVENT_TEST_MAIN=1 is sdevent.
func TestMain(m *testing.M) {
	if os.Getenv("SDEVENT_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// sdeventCmd returns a command that runs sdevent with args and env added.
func sdeventCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "SDEVENT_TEST_MAIN=1", "NOTIFY_SOCKET=", "WATCHDOG_USEC="), env...)
	return cmd
}

// status returns the exit status, or 128+signal when a signal killed it.
func status(t *testing.T, err error, ps *os.ProcessState) (code int, sig syscall.Signal) {
	t.Helper()
	if ps == nil {
		t.Fatalf("no process state: %v", err)
	}
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return -1, ws.Signal()
	}
	return ws.ExitStatus(), 0
}

// TestRunExitStatus: sdevent exits with COMMAND's exit status, and sends
// READY=1 once COMMAND runs.
func TestRunExitStatus(t *testing.T) {
	m := testutil.NewManager(t)
	cmd := sdeventCmd(t, []string{m.Env}, "run", "--", "sh", "-c", "exit 7")
	err := cmd.Run()
	if code, _ := status(t, err, cmd.ProcessState); code != 7 {
		t.Fatalf("status %d, want 7 (%v)", code, err)
	}
	if got := m.Next(time.Second); got != "READY=1" {
		t.Fatalf("manager got %q, want READY=1", got)
	}
}

// TestRunSignalDeath: when a signal kills COMMAND, sdevent dies of the same
// signal, also for signals the Go runtime handles itself.
func TestRunSignalDeath(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGSEGV, syscall.SIGABRT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := sdeventCmd(t, nil, "run", "--", "sh", "-c", "ulimit -c 0; kill -"+strconv.Itoa(int(sig))+" $$")
			err := cmd.Run()
			if _, got := status(t, err, cmd.ProcessState); got != sig {
				t.Fatalf("sdevent ended with %v (%v), want death by %v", cmd.ProcessState, err, sig)
			}
		})
	}
}

// TestRunCannotStart: a COMMAND that cannot start is one line on stderr,
// status 203 (EXEC), and READY=1 is never sent.
func TestRunCannotStart(t *testing.T) {
	m := testutil.NewManager(t)
	var stderr bytes.Buffer
	cmd := sdeventCmd(t, []string{m.Env}, "run", "--", filepath.Join(t.TempDir(), "missing"))
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code, _ := status(t, err, cmd.ProcessState); code != 203 {
		t.Fatalf("status %d, want 203", code)
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), "cannot start") {
		t.Fatalf("stderr %q, want one line saying it cannot start", stderr.String())
	}
	if got := m.Next(200 * time.Millisecond); got != "" {
		t.Fatalf("manager got %q from a command that never started", got)
	}
}

// started runs sdevent with a shell script that prints "up" once its traps
// are set, and waits for that line.
func started(t *testing.T, env []string, script string, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := sdeventCmd(t, env, append(append([]string{"run"}, args...), "--", "sh", "-c", script)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); line != "up\n" {
		t.Fatalf("COMMAND did not come up: %q, %v", line, err)
	}
	return cmd, r
}

// TestRunForwardsSignals: SIGUSR1, SIGUSR2 and SIGHUP reach COMMAND.
func TestRunForwardsSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			n := strconv.Itoa(int(sig))
			cmd, _ := started(t, nil, "trap 'exit "+n+"' "+n+"; echo up; while :; do sleep 0.05; done")
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if code, _ := status(t, err, cmd.ProcessState); code != int(sig) {
				t.Fatalf("status %d, want %d: the signal did not reach COMMAND", code, sig)
			}
		})
	}
}

// TestRunStopKillAfter: after SIGTERM, STOPPING=1 is sent and a COMMAND that
// ignores it gets SIGKILL after -kill-after; sdevent then dies of SIGKILL.
func TestRunStopKillAfter(t *testing.T) {
	m := testutil.NewManager(t)
	cmd, _ := started(t, []string{m.Env}, "trap '' TERM; echo up; while :; do sleep 0.05; done", "-kill-after", "200ms")
	if got := m.Next(time.Second); got != "READY=1" {
		t.Fatalf("manager got %q, want READY=1", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if got := m.Next(5 * time.Second); got != "STOPPING=1" {
		t.Fatalf("manager got %q, want STOPPING=1", got)
	}
	err := cmd.Wait()
	if _, sig := status(t, err, cmd.ProcessState); sig != syscall.SIGKILL {
		t.Fatalf("sdevent ended with %v, want death by SIGKILL", cmd.ProcessState)
	}
}

// TestRunWatchdog: with WATCHDOG_USEC set, sdevent keeps the watchdog fed.
func TestRunWatchdog(t *testing.T) {
	m := testutil.NewManager(t)
	cmd, _ := started(t, []string{m.Env, "WATCHDOG_USEC=200000"}, "echo up; sleep 0.6")
	if got := m.Next(time.Second); got != "READY=1" && got != "WATCHDOG=1" {
		t.Fatalf("first message %q", got)
	}
	pings := 0
	for msg := m.Next(time.Second); msg != ""; msg = m.Next(time.Second) {
		if msg == "WATCHDOG=1" {
			pings++
		}
	}
	cmd.Wait()
	if pings < 2 {
		t.Fatalf("%d watchdog pings while COMMAND ran ~600ms with a 200ms period", pings)
	}
}

// TestRunUsage: no COMMAND, or a bad -kill-after, is a usage error.
func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"run", "--"}, {"run", "-kill-after", "0", "--", "true"}, {"run", "-bogus"}} {
		if rc, _, _ := runCmd(t, args...); rc != exitUsage {
			t.Errorf("%q: status %d, want %d", args, rc, exitUsage)
		}
	}
}

// TestDoctor: every required feature is on this machine, each probe has a
// line, and the systemd variables are listed.
func TestDoctor(t *testing.T) {
	rc, out, errs := runCmd(t, "doctor")
	if rc != 0 || errs != "" {
		t.Fatalf("doctor: status %d, stderr %q\n%s", rc, errs, out)
	}
	for _, p := range probes() {
		if !strings.Contains(out, p.name) {
			t.Errorf("no line for %s", p.name)
		}
	}
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "LISTEN_FDS", "MEMORY_PRESSURE_WATCH"} {
		if !strings.Contains(out, v) {
			t.Errorf("no line for %s", v)
		}
	}
	if strings.Contains(out, "MISSING") {
		t.Errorf("a required feature is missing here:\n%s", out)
	}
}
