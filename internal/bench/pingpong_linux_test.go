package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPingPong: on every contender built, the pingpong workload plays its
// round trips with a peer process, which reports CPU time and context
// switches: both processes block once per round trip, so there is CPU time
// and there are switches, and the peer is reaped.
func TestPingPong(t *testing.T) {
	check(t)
	const n = 200
	for _, c := range built() {
		t.Run(c.Name(), func(t *testing.T) {
			r, err := c.PingPong(n)
			if err != nil {
				t.Fatal(err)
			}
			if r.Elapsed <= 0 || r.CPU <= 0 || r.Switches <= 0 {
				t.Errorf("run %+v: want elapsed, CPU and switches > 0", r)
			}
			// Two processes can not use more CPU than two CPUs' worth of the
			// wall time, and not more than the CPUs they have.
			if limit := time.Duration(min(2, runtime.NumCPU())) * r.Elapsed; r.CPU > limit+10*time.Millisecond {
				t.Errorf("CPU %v in %v of wall time", r.CPU, r.Elapsed)
			}
		})
	}
}

// misnamed is go-sdevent under a name no contender has: its peer finds no
// contender to echo with.
type misnamed struct{ GoSdevent }

func (misnamed) Name() string { return "no-such-contender" }

// TestPingPongPeerFails: a peer that fails is reaped and its error reported.
func TestPingPongPeerFails(t *testing.T) {
	check(t)
	_, err := pingPong(misnamed{}, 10)
	if err == nil || !strings.Contains(err.Error(), `no such contender in this build`) {
		t.Errorf("error %v, want the peer's", err)
	}
}

// TestPeerGOMAXPROCS: the peer runs with the GOMAXPROCS of the process
// that starts it (the one the report's header states): pingPong checks what
// the peer reports.
func TestPeerGOMAXPROCS(t *testing.T) {
	check(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, n := range []int{1, 3} {
		runtime.GOMAXPROCS(n)
		if _, err := (GoSdevent{}).PingPong(5); err != nil {
			t.Errorf("GOMAXPROCS %d: %v", n, err)
		}
	}
	if _, _, err := parseUsage([]byte("usage 1 2 3"), 4); err == nil || !strings.Contains(err.Error(), "GOMAXPROCS 3, want 4") {
		t.Errorf("a peer with another GOMAXPROCS: %v", err)
	}
}

// TestChildrenStartAfterExec: go-sdevent's children workload starts each
// child with a call that returns only once the child runs the shell (its
// /proc/PID/exe is the shell's, not this test's), so the clock never starts
// while a child is between fork and exec. libsystemd_linux_test.go checks
// the C side the same way.
func TestChildrenStartAfterExec(t *testing.T) {
	check(t)
	sh, err := filepath.EvalSymlinks(shPath)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	defer func() { _ = w.Close() }()
	for range 20 {
		pidfd := -1
		// The shell blocks reading the pipe; a zombie has no exe.
		pid, err := startSh(&syscall.ProcAttr{Files: []uintptr{r.Fd(), 1, 2}, Sys: &syscall.SysProcAttr{PidFD: &pidfd}})
		if err != nil {
			t.Fatal(err)
		}
		exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		_ = unix.Close(pidfd)
		if err != nil || exe != sh {
			t.Fatalf("/proc/%d/exe right after the start: %q, %v; want %q", pid, exe, err, sh)
		}
	}
}
