//go:build linux

package sdevent_test

// Stress tests (issue 5) that span kinds: many real kernel objects of more
// than one kind at once. A stress test of one kind lives with its kind
// (TestStressChildren in child_test.go, TestStressTimers in time_test.go,
// TestStressIOChurn in io_test.go); the one here drives signal and child
// sources together, through the loop's one signal path, so it belongs to
// neither file. Each checks that nothing is lost or delivered twice and
// that nothing is left behind (the per-test leak check fails it on a leaked
// descriptor, goroutine or child). Timings are logged, never asserted.

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestStressSignalsWhileChildrenExit: a goroutine sends bursts of SIGUSR1
// and SIGUSR2 to the process while 500 children exit. Every exit status is
// delivered to its source and both signal handlers run.
//
// Stress test of issue 5.
func TestStressSignalsWhileChildrenExit(t *testing.T) {
	const n = 500
	needNofile(t, testutil.FdCount()+n+64)
	e := newLoop(t)
	type entry struct {
		pid, status, calls int
		s                  *sdevent.Source
	}
	var entries []*entry
	defer func() {
		for _, en := range entries {
			en.s.Unref() // process-owned: killed and reaped if need be
		}
	}()
	kids := spawnBlockedChildren(t, n, func(i int) int { return (i * 7) % 256 })
	done := 0
	h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		en := s.Userdata().(*entry)
		en.calls++
		done++
		if ci.Pid != en.pid || ci.ExitStatus() != en.status {
			t.Errorf("source of pid %d (exit %d) got %v of pid %d", en.pid, en.status, ci, ci.Pid)
		}
		return nil
	}
	for i, pid := range kids.pids {
		s, err := e.AddChild(pid, unix.WEXITED, h)
		if err != nil {
			t.Fatalf("AddChild(%d): %v", pid, err)
		}
		en := &entry{pid: pid, status: (i * 7) % 256, s: s}
		entries = append(entries, en)
		kids.take(i)
		s.SetUserdata(en)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
	}
	got := map[unix.Signal]int{}
	sigH := func(s *sdevent.Source, si *unix.SignalfdSiginfo) error {
		got[unix.Signal(si.Signo)]++
		return nil
	}
	keep(t)(e.AddSignal(unix.SIGUSR1, sigH))
	keep(t)(e.AddSignal(unix.SIGUSR2, sigH))

	stop := make(chan struct{})
	firstBurst := make(chan struct{})
	var wg sync.WaitGroup
	var sent [2]int
	wg.Add(1)
	go func() {
		defer wg.Done()
		pid := os.Getpid()
		send := func(sig unix.Signal) {
			if err := unix.Kill(pid, sig); err != nil {
				t.Errorf("kill %v: %v", sig, err)
			}
		}
		for burst := 0; ; burst++ {
			for range 16 {
				send(unix.SIGUSR1)
				sent[0]++
				send(unix.SIGUSR2)
				sent[1]++
			}
			if burst == 0 {
				close(firstBurst)
			}
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	stopped := false
	stopSender := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopSender()

	<-firstBurst
	t0 := time.Now()
	kids.release()
	deadline := time.Now().Add(30 * time.Second)
	iterations := 0
	for done < n || got[unix.SIGUSR1] == 0 || got[unix.SIGUSR2] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d of %d exits, signals %v", done, n, got)
		}
		run(t, e, long)
		iterations++
	}
	elapsed := time.Since(t0)
	stopSender()
	for run(t, e, 0) { // signals still on their way
	}
	for _, en := range entries {
		if en.calls != 1 {
			t.Errorf("pid %d: handler ran %d times, want 1", en.pid, en.calls)
		}
	}
	zombies, err := testutil.Zombies()
	ok(t, "list zombies", err)
	if len(zombies) > 0 {
		t.Errorf("%d zombies, first %v", len(zombies), zombies[0])
	}
	t.Logf("%d exits and signal handler runs %v (of %v sent) in %v, %d iterations",
		n, got, sent, elapsed.Round(time.Millisecond), iterations)
}
