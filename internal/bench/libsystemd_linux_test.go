//go:build libsystemd && cgo

package bench

import (
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sdlib"
)

// TestLibsystemdBuilt: with the tag the C contender is the real one.
func TestLibsystemdBuilt(t *testing.T) {
	check(t)
	if _, ok := Contenders()[1].(Libsystemd); !ok {
		t.Fatalf("contender %#v, want Libsystemd", Contenders()[1])
	}
	path, version, err := sdlib.Loaded()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("libsystemd %d at %s", version, path)
	if want := os.Getenv("SDEVENT_LIBSYSTEMD_VERSION"); want != "" && want != strconv.Itoa(version) {
		t.Fatalf("libsystemd %d at %s, SDEVENT_LIBSYSTEMD_VERSION=%s", version, path, want)
	}
}

// TestLibsystemdSignalMask: the C signal and children workloads, which
// block SIGUSR1 and SIGCHLD in their thread, give the thread its mask back
// and leave no SIGUSR1 pending for the Go runtime.
func TestLibsystemdSignalMask(t *testing.T) {
	check(t)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGUSR1)
	defer signal.Stop(ch)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mask := func() unix.Sigset_t {
		var old unix.Sigset_t
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &old); err != nil {
			t.Fatal(err)
		}
		return old
	}
	before := mask()
	var c Libsystemd
	for range 10 {
		if _, err := c.Signal(10); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Children(2); err != nil {
			t.Fatal(err)
		}
		if after := mask(); after != before {
			t.Fatalf("signal mask %x after the C workloads, was %x", after, before)
		}
	}
	select {
	case sig := <-ch:
		t.Errorf("the Go runtime got %v from the C workload", sig)
	default:
	}
}

// TestLibsystemdChildrenStartAfterExec: the C children workload's
// posix_spawn returns only once the child runs the shell, as Go's
// ForkExec does (TestChildrenStartAfterExec).
func TestLibsystemdChildrenStartAfterExec(t *testing.T) {
	check(t)
	sh, err := filepath.EvalSymlinks(shPath)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		exe, err := Libsystemd{}.spawnExe()
		if err != nil || exe != sh {
			t.Fatalf("/proc/PID/exe right after posix_spawn: %q, %v; want %q", exe, err, sh)
		}
	}
}

// BenchmarkLibsystemd runs the C contender's workloads the same way as
// BenchmarkSdevent, for profiles, traces and system call counts beside
// go-sdevent's.
func BenchmarkLibsystemd(b *testing.B) { benchContender(b, Libsystemd{}) }
