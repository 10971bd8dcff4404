//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/bench"
	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// The tests run the command as a real process: the test binary re-executed
// with SDEVENT_TEST_MAIN=1 is sdevent.
func TestMain(m *testing.M) {
	bench.Peer()
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
func started(t *testing.T, env []string, script string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := sdeventCmd(t, env, append(append([]string{"run"}, args...), "--", "sh", "-c", script)...)
	if line := startCmd(t, cmd); line != "up\n" {
		t.Fatalf("COMMAND did not come up: %q", line)
	}
	return cmd
}

// startCmd starts cmd, an sdevent, and returns the first line COMMAND
// prints.
func startCmd(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: the test has usually waited for it already.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	return line
}

// TestRunForwardsSignals: SIGUSR1, SIGUSR2 and SIGHUP reach COMMAND.
func TestRunForwardsSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			n := strconv.Itoa(int(sig))
			cmd := started(t, nil, "trap 'exit "+n+"' "+n+"; echo up; while :; do sleep 0.05; done")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
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
	cmd := started(t, []string{m.Env}, "trap '' TERM; echo up; while :; do sleep 0.05; done", "-kill-after", "200ms")
	if got := m.Next(time.Second); got != "READY=1" {
		t.Fatalf("manager got %q, want READY=1", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
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
	cmd := started(t, []string{m.Env, "WATCHDOG_USEC=200000"}, "echo up; sleep 0.6")
	if got := m.Next(time.Second); got != "READY=1" && got != "WATCHDOG=1" {
		t.Fatalf("first message %q", got)
	}
	pings := 0
	for msg := m.Next(time.Second); msg != ""; msg = m.Next(time.Second) {
		if msg == "WATCHDOG=1" {
			pings++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sdevent run: %v", err)
	}
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

// orphanScript is a COMMAND that leaves orphans behind: processes whose
// parent, a subshell, exits at once, so that the kernel hands them to the
// nearest reaper (the init of the pid namespace, or the nearest child
// subreaper). It prints "adopted=yes" when that reaper is its own parent,
// sdevent. With reaped it then waits, within a bound, until every orphan is
// gone, reaped (a zombie keeps its /proc entry), and checks that sdevent
// has no zombie child left; then it exits 7. A zombie that stays makes it
// exit 9.
func orphanScript(reaped bool) string {
	s := `orphan() { sleep "$1" </dev/null >/dev/null 2>&1 & echo $!; }
o=$(orphan 0.3)
read -r _ _ _ ppid _ </proc/$o/stat
[ "$ppid" = "$PPID" ] && echo adopted=yes || echo adopted=no
`
	if reaped {
		s += `orphans="$o $(orphan 0) $(orphan 0.01) $(orphan 0.05)"
n=0
for p in $orphans; do
	while [ -e /proc/$p ]; do
		n=$((n+1))
		if [ $n -gt 250 ]; then echo "not reaped: $(cat /proc/$p/stat)"; exit 9; fi
		sleep 0.02
	done
done
if ps -o pid=,stat= --ppid $PPID | grep Z; then exit 10; fi
echo reaped
`
	}
	return s + "exit 7\n"
}

// runOrphans runs cmd, a COMMAND of orphanScript, and returns sdevent's
// exit status and what COMMAND printed.
func runOrphans(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code, sig := status(t, err, cmd.ProcessState)
	if sig != 0 {
		t.Fatalf("sdevent died of %v:\n%s", sig, out.String())
	}
	return code, out.String()
}

// TestRunReapsAsPid1: as the init of a pid namespace (a container's
// entrypoint) sdevent reaps the orphans the kernel hands it, and still
// exits with COMMAND's status: the peek before each reap (waitid WNOWAIT)
// never takes COMMAND's exit from its pidfd watch.
func TestRunReapsAsPid1(t *testing.T) {
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc",
		os.Args[0], "run", "--", "sh", "-c", orphanScript(true))
	cmd.Env = append(os.Environ(), "SDEVENT_TEST_MAIN=1", "NOTIFY_SOCKET=", "WATCHDOG_USEC=")
	code, out := runOrphans(t, cmd)
	if code != 7 || !strings.Contains(out, "adopted=yes") || !strings.Contains(out, "reaped") {
		t.Fatalf("status %d, want 7, with the orphans adopted and reaped:\n%s", code, out)
	}
}

// TestRunReapsAsSubreaper: with -subreaper, sdevent is a child subreaper
// (PR_SET_CHILD_SUBREAPER): the orphans of COMMAND's tree become its
// children, it reaps them, and it exits with COMMAND's status.
func TestRunReapsAsSubreaper(t *testing.T) {
	code, out := runOrphans(t, sdeventCmd(t, nil, "run", "-subreaper", "--", "sh", "-c", orphanScript(true)))
	if code != 7 || !strings.Contains(out, "adopted=yes") || !strings.Contains(out, "reaped") {
		t.Fatalf("status %d, want 7, with the orphans adopted and reaped:\n%s", code, out)
	}
}

// TestRunNotReaper: without -subreaper and not pid 1, sdevent adopts
// nothing: the orphans go to the reaper above it, as before.
func TestRunNotReaper(t *testing.T) {
	code, out := runOrphans(t, sdeventCmd(t, nil, "run", "--", "sh", "-c", orphanScript(false)))
	if code != 7 || !strings.Contains(out, "adopted=no") {
		t.Fatalf("status %d, want 7, with the orphans not adopted by sdevent:\n%s", code, out)
	}
}

// TestRunSignalDeathAsPid1: the kernel does not let the init of a pid
// namespace die of a signal it sends itself, so there a COMMAND killed by
// signal N makes sdevent exit with 128+N, what a shell would report.
func TestRunSignalDeathAsPid1(t *testing.T) {
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc",
		os.Args[0], "run", "--", "sh", "-c", "kill -TERM $$")
	cmd.Env = append(os.Environ(), "SDEVENT_TEST_MAIN=1", "NOTIFY_SOCKET=", "WATCHDOG_USEC=")
	code, out := runOrphans(t, cmd)
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("status %d, want %d:\n%s", code, 128+int(syscall.SIGTERM), out)
	}
}

// brokenPipe returns the write end of a pipe whose read end is closed:
// writing to it raises SIGPIPE.
func brokenPipe(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close() })
	return w
}

// TestRunBrokenStderrNotify: an unreachable $NOTIFY_SOCKET is reported on a
// stderr nobody reads; the write must not kill sdevent (SIGPIPE), which
// goes on supervising and exits with COMMAND's status.
func TestRunBrokenStderrNotify(t *testing.T) {
	env := []string{"NOTIFY_SOCKET=" + filepath.Join(t.TempDir(), "missing")}
	cmd := sdeventCmd(t, env, "run", "--", "sh", "-c", "sleep 0.1; exit 7")
	cmd.Stderr = brokenPipe(t)
	err := cmd.Run()
	if code, sig := status(t, err, cmd.ProcessState); code != 7 {
		t.Fatalf("status %d (signal %v), want 7", code, sig)
	}
}

// TestRunBrokenStderrKillAfter: the -kill-after line goes to a stderr
// nobody reads; COMMAND still gets its SIGKILL (sent before the line is
// written) and sdevent dies of SIGKILL as documented.
func TestRunBrokenStderrKillAfter(t *testing.T) {
	cmd := sdeventCmd(t, nil, "run", "-kill-after", "100ms", "--", "sh", "-c", "trap '' TERM; echo $$; while :; do sleep 0.05; done")
	cmd.Stderr = brokenPipe(t)
	line := startCmd(t, cmd)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("COMMAND did not come up: %q", line)
	}
	// COMMAND runs and is sdevent's child: its pid is still its own.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	// Best effort: COMMAND is normally dead by now.
	t.Cleanup(func() { _ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if _, sig := status(t, err, cmd.ProcessState); sig != syscall.SIGKILL {
		t.Errorf("sdevent ended with %v, want death by SIGKILL", cmd.ProcessState)
	}
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); n != 1 {
		t.Fatalf("COMMAND still runs 5s after sdevent ended (%v)", err)
	}
}

// TestReapOrphans: reapOrphans reaps zombie children but never COMMAND,
// whose status stays for its pidfd. The peek reports the first zombie in
// fork order, so a zombie COMMAND forked first hides the others until it
// is reaped; one forked last does not.
func TestReapOrphans(t *testing.T) {
	for _, commandFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "CommandFirst", false: "CommandLast"}[commandFirst], func(t *testing.T) {
			// waitid(P_ALL) looks at the children of the calling thread
			// first, then at those of the other threads: fork both and
			// peek from one thread, so that "first" is fork order.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := func(script string) (pid, pidfd int) {
				pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					// reapOrphans may have reaped it: ECHILD then.
					_, _, _ = sys.WaitPidfd(pidfd, unix.WEXITED)
					unix.Close(pidfd)
				})
				return pid, pidfd
			}
			var command, commandFd, other, otherFd int
			if commandFirst {
				command, commandFd = start("exit 7")
				other, otherFd = start("exit 0")
			} else {
				other, otherFd = start("exit 0")
				command, commandFd = start("exit 7")
			}
			// Both zombies: their pidfds are readable.
			fds := []unix.PollFd{{Fd: int32(commandFd), Events: unix.POLLIN}, {Fd: int32(otherFd), Events: unix.POLLIN}}
			deadline := time.Now().Add(5 * time.Second)
			for n := 0; n < 2; {
				if time.Now().After(deadline) {
					t.Fatal("the children did not exit within 5s")
				}
				if _, err := unix.Poll(fds, 100); err != nil && !errors.Is(err, unix.EINTR) {
					t.Fatal(err)
				}
				n = 0
				for _, f := range fds {
					if f.Revents&unix.POLLIN != 0 {
						n++
					}
				}
			}
			reaped := func(pid int) bool {
				_, _, err := sys.Waitid(unix.P_PID, pid, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
				return errors.Is(err, unix.ECHILD)
			}
			reapOrphans(command)
			if reaped(command) {
				t.Fatal("COMMAND was reaped")
			}
			wi, ok, err := sys.WaitPidfd(commandFd, unix.WEXITED|unix.WNOHANG)
			if !ok || wi.Status != 7 {
				t.Fatalf("COMMAND's exit: %+v, %v, %v; want status 7", wi, ok, err)
			}
			if got := reaped(other); got == commandFirst {
				t.Fatalf("other reaped %v with COMMAND a zombie, want %v", got, !commandFirst)
			}
			reapOrphans(command)
			if !reaped(other) {
				t.Fatal("other not reaped once COMMAND was")
			}
		})
	}
}
