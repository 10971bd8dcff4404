//go:build linux

package sdevent_test

// Stress tests (issue 5): many real kernel objects at once. Each checks that
// nothing is lost or delivered twice and that nothing is left behind (the
// package's TestMain also fails the run on a leaked descriptor, goroutine or
// child). Timings are logged, never asserted.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// needNofile makes sure the process may have need descriptors open, raising
// the soft RLIMIT_NOFILE up to the hard limit (restored by the test's
// cleanup). A hard limit below need fails the test: it cannot do its job.
func needNofile(t *testing.T, need int) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatalf("getrlimit(RLIMIT_NOFILE): %v", err)
	}
	if old.Cur >= uint64(need) {
		return
	}
	if old.Max < uint64(need) {
		t.Fatalf("this test needs %d descriptors, but the hard RLIMIT_NOFILE is %d: raise it (ulimit -Hn) to run it", need, old.Max)
	}
	raised := syscall.Rlimit{Cur: old.Max, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		t.Fatalf("setrlimit(RLIMIT_NOFILE, %d): %v", raised.Cur, err)
	}
	t.Logf("raised RLIMIT_NOFILE from %d to %d", old.Cur, raised.Cur)
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
}

// blockedChildren are n shells that each wait for EOF on one pipe and
// then exit with a status of their own: they are released all at once by
// closing the pipe's write end. No os.Process exists for them, so nothing
// but a loop's child source waits for them. The test's cleanup releases
// them, and kills and reaps those that no source took over (see take).
type blockedChildren struct {
	pids    []int
	owned   []bool // not yet handed to a source
	w       int    // write end of the pipe, -1 once closed
	devnull int
}

func spawnBlockedChildren(t *testing.T, n int, status func(i int) int) *blockedChildren {
	t.Helper()
	// A blocking pipe: the children's read(2) must wait (testutil.Pipe
	// makes non-blocking ones, and the flag lives in the shared open file).
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	devnull, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		t.Fatalf("open %s: %v", os.DevNull, err)
	}
	c := &blockedChildren{w: p[1], devnull: devnull}
	t.Cleanup(func() {
		c.release()
		for i, pid := range c.pids {
			if c.owned[i] {
				// Never reaped by anyone else, so pid is still ours.
				unix.Kill(pid, unix.SIGKILL)
				var ws unix.WaitStatus
				for {
					if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
						break
					}
				}
			}
		}
		unix.Close(c.devnull)
	})
	defer unix.Close(p[0]) // the children hold it
	attr := &syscall.ProcAttr{Files: []uintptr{uintptr(p[0]), uintptr(devnull), uintptr(devnull)}}
	retries := 0
	var busy time.Time // when fork first said EAGAIN in a row
	for i := 0; i < n; {
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", fmt.Sprintf("read x; exit %d", status(i))}, attr)
		if err == syscall.EAGAIN {
			// The task limit (a cgroup's pids.max, RLIMIT_NPROC) is shared
			// with whatever else runs on the machine: give it a while to
			// make room; there is no descriptor to wait on for that.
			if busy.IsZero() {
				busy = time.Now()
			}
			if time.Since(busy) < 10*time.Second {
				retries++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			t.Fatalf("fork child %d of %d: %v for 10s: the process may not have %d children (%s)", i, n, err, n, taskLimits())
		}
		if err != nil {
			t.Fatalf("fork child %d of %d: %v", i, n, err)
		}
		busy = time.Time{}
		c.pids = append(c.pids, pid)
		c.owned = append(c.owned, true)
		i++
	}
	if retries > 0 {
		t.Logf("fork said EAGAIN %d times: the task limit is shared (%s)", retries, taskLimits())
	}
	return c
}

// taskLimits describes what limits the number of processes: the pids
// cgroup (v1 or v2) and RLIMIT_NPROC.
func taskLimits() string {
	var parts []string
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 || (f[1] != "pids" && f[0] != "0") {
				continue
			}
			dir := "/sys/fs/cgroup" + f[2]
			if f[1] == "pids" {
				dir = "/sys/fs/cgroup/pids" + f[2]
			}
			max, err1 := os.ReadFile(dir + "/pids.max")
			cur, err2 := os.ReadFile(dir + "/pids.current")
			if err1 == nil && err2 == nil {
				parts = append(parts, fmt.Sprintf("%s: pids.max %s, pids.current %s", dir,
					strings.TrimSpace(string(max)), strings.TrimSpace(string(cur))))
			}
		}
	}
	var nproc syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_NPROC, &nproc); err == nil {
		parts = append(parts, fmt.Sprintf("RLIMIT_NPROC %d", nproc.Cur))
	}
	return strings.Join(parts, "; ")
}

// take records that a source now owns child i (SetChildProcessOwn: freeing
// it kills and reaps the child if need be).
func (c *blockedChildren) take(i int) { c.owned[i] = false }

// release lets the children exit.
func (c *blockedChildren) release() {
	if c.w >= 0 {
		unix.Close(c.w)
		c.w = -1
	}
}

// TestStressChildren: 4,000 children, each with its own exit status modulo
// 256, blocked on one pipe and released at once. Every status reaches the
// source of its pid exactly once, every child is reaped (no zombie), the
// loop uses few threads, and the descriptors return to where they were.
func TestStressChildren(t *testing.T) {
	testutil.Check(t)
	const n = 4000
	needNofile(t, testutil.FdCount()+n+64)
	fdsBefore := testutil.FdCount()
	threadsBefore := testutil.Threads(t)

	type entry struct {
		pid, status, calls int
		s                  *sdevent.Source
	}
	var entries []*entry
	e, err := sdevent.New()
	ok(t, "New", err)
	defer func() {
		// Also when the test failed half-way: process-owned sources kill
		// and reap what has not exited.
		for _, en := range entries {
			if en.s != nil {
				en.s.Unref()
			}
		}
		if e != nil {
			e.Unref()
		}
	}()

	t0 := time.Now()
	kids := spawnBlockedChildren(t, n, func(i int) int { return i % 256 })
	spawned := time.Since(t0)

	done := 0
	maxThreads := 0
	var released time.Time
	var firstExit, lastExit time.Duration
	h := func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		en := s.Userdata().(*entry)
		en.calls++
		if ci.Pid != en.pid || !ci.Exited() || ci.ExitStatus() != en.status {
			t.Errorf("source of pid %d (exit %d) got %v of pid %d", en.pid, en.status, ci, ci.Pid)
		}
		lastExit = time.Since(released)
		if done == 0 {
			firstExit = lastExit
		}
		if done++; done%250 == 0 {
			maxThreads = max(maxThreads, testutil.Threads(t))
		}
		return nil
	}
	t1 := time.Now()
	for i, pid := range kids.pids {
		en := &entry{pid: pid, status: i % 256}
		s, err := e.AddChild(pid, unix.WEXITED, h)
		if err != nil {
			t.Fatalf("AddChild(%d) with %d sources: %v", pid, i, err)
		}
		en.s = s
		entries = append(entries, en)
		kids.take(i)
		s.SetUserdata(en)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
	}
	added := time.Since(t1)
	fdsWatching := testutil.FdCount()
	maxThreads = testutil.Threads(t)

	released = time.Now()
	kids.release()
	deadline := time.Now().Add(60 * time.Second)
	for done < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d exits dispatched after 60s", done, n)
		}
		run(t, e, long)
	}
	elapsed := time.Since(released)
	// Nothing more to dispatch: every source was ONESHOT and fired once.
	for range 3 {
		if run(t, e, 0) {
			t.Error("a Run after all exits dispatched something")
		}
	}
	for _, en := range entries {
		if en.calls != 1 {
			t.Errorf("pid %d: handler ran %d times, want 1", en.pid, en.calls)
		}
	}
	zombies, err := testutil.Zombies()
	ok(t, "list zombies", err)
	if len(zombies) > 0 {
		t.Errorf("%d zombies after every handler ran, first %v", len(zombies), zombies[0])
	}
	kidsLeft, err := testutil.Children(os.Getpid())
	ok(t, "list children", err)
	if len(kidsLeft) > 0 {
		t.Errorf("%d children left after every handler ran, first %v", len(kidsLeft), kidsLeft[0])
	}
	maxThreads = max(maxThreads, testutil.Threads(t))
	if maxThreads >= 30 {
		t.Errorf("the process had up to %d threads (%d before): want fewer than 30", maxThreads, threadsBefore)
	}

	for _, en := range entries {
		en.s.Unref()
		en.s = nil
	}
	e.Unref()
	e = nil
	// +1: the children's /dev/null, closed by the cleanup.
	fdsAfter := testutil.FdCount()
	if fdsAfter != fdsBefore+1 {
		t.Errorf("%d descriptors open after freeing the loop, want %d (%d before, +1 for /dev/null)", fdsAfter, fdsBefore+1, fdsBefore)
	}
	t.Logf("%d children: fork %v, AddChild %v (%v each); release → first exit %v, last %v, %v per exit; threads %d before, max %d; fds %d before, %d while watching, %d after",
		n, spawned.Round(time.Millisecond), added.Round(time.Millisecond), added/n,
		firstExit.Round(time.Microsecond), lastExit.Round(time.Millisecond), elapsed/n,
		threadsBefore, maxThreads, fdsBefore, fdsWatching, fdsAfter-1)
}

// TestStressTimers: 100,000 monotonic timers with accuracy 1µs, spread over
// 300ms and added in random order. Every handler runs exactly once, never
// before its time (by the loop's own clock), and equal-priority timers run
// in the order of their times.
func TestStressTimers(t *testing.T) {
	const (
		n      = 100_000
		spread = 300 * time.Millisecond
		margin = 500 * time.Millisecond // for adding them all, under -race too
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	e := newLoop(t)
	sources := make([]*sdevent.Source, n)
	defer func() {
		for _, s := range sources {
			s.Unref()
		}
	}()
	base := live(t, unix.CLOCK_MONOTONIC) + margin
	at := func(i int) time.Duration { return base + spread*time.Duration(i)/n }
	calls := make([]int32, n)
	fired := 0
	var last time.Duration
	var lateMax time.Duration
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	t0 := time.Now()
	for _, i := range rng.Perm(n) {
		s, err := e.AddTime(unix.CLOCK_MONOTONIC, at(i), time.Microsecond, func(s *sdevent.Source, tt time.Duration) error {
			calls[i]++
			fired++
			now, err := e.Now(unix.CLOCK_MONOTONIC)
			if err != nil {
				report("Now: %v", err)
			}
			switch {
			case tt != at(i):
				report("timer %d got t=%v, scheduled %v", i, tt, at(i))
			case now < tt:
				report("timer %d ran at %v, %v before its time %v", i, now, tt-now, tt)
			case tt < last:
				report("timer %d (t=%v) ran after one scheduled for %v", i, tt, last)
			}
			last = max(last, tt)
			lateMax = max(lateMax, now-tt)
			return nil
		})
		if err != nil {
			t.Fatalf("AddTime #%d: %v", i, err)
		}
		sources[i] = s
	}
	setup := time.Since(t0)

	iter0 := e.Iteration()
	t1 := time.Now()
	deadline := t1.Add(margin + spread + 30*time.Second)
	for fired < n && time.Now().Before(deadline) {
		run(t, e, long)
	}
	elapsed := time.Since(t1)
	if fired != n {
		t.Fatalf("%d of %d timers fired", fired, n)
	}
	if run(t, e, 0) {
		t.Error("a Run after every timer fired dispatched something")
	}
	for i, c := range calls {
		if c != 1 {
			report("timer %d ran %d times", i, c)
		}
	}
	t.Logf("%d timers: added in %v (%v each); all fired %v after the loop started (first due after %v), %d iterations; latest handler %v after its time",
		n, setup.Round(time.Millisecond), setup/n, elapsed.Round(time.Millisecond), max(0, margin-setup).Round(time.Millisecond),
		e.Iteration()-iter0, lateMax)
}

// ioSlot is one IO source of TestStressIOChurn and what the test expects
// of it.
type ioSlot struct {
	s      *sdevent.Source
	fd     int
	mode   source.Enabled
	events uint32
}

// TestStressIOChurn: 10,000 IO sources over eventfds, churned at random
// (add, remove, enable, disable, SetIOFd, SetIOEvents, SetPriority) while
// some fds are made readable. Only a source that is enabled and whose fd is
// readable is ever dispatched (its handler drains the fd), and every enabled
// source with a readable fd is dispatched before the loop goes idle. At the
// end every source was freed and the descriptors are as before.
func TestStressIOChurn(t *testing.T) {
	testutil.Check(t)
	const (
		nSlots = 10_000
		nSpare = 1_000
		rounds = 20_000
		ops    = 8 // random operations per round
		runs   = 3 // Run(0) per round
		check  = 1_000
	)
	needNofile(t, testutil.FdCount()+nSlots+nSpare+64)
	fdsBefore := testutil.FdCount()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	e, err := sdevent.New()
	ok(t, "New", err)
	slots := make([]*ioSlot, nSlots)
	var allFds []int
	readable := map[int]bool{}
	// Spare eventfds no source watches, by readability: SetIOFd swaps a
	// source's fd for one that is as readable, so that the model stays
	// exact (a pending source keeps the revents of its old fd).
	spare := map[bool][]int{}
	created, destroyed := 0, 0
	defer func() {
		for _, sl := range slots {
			if sl != nil && sl.s != nil {
				sl.s.Unref()
			}
		}
		e.Unref()
		for _, fd := range allFds {
			unix.Close(fd)
		}
	}()
	newFd := func() int {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatalf("eventfd #%d: %v", len(allFds), err)
		}
		allFds = append(allFds, fd)
		return fd
	}
	one := binary.NativeEndian.AppendUint64(nil, 1)
	makeReadable := func(fd int) {
		if n, err := unix.Write(fd, one); n != 8 || err != nil {
			t.Fatalf("write eventfd %d: %d, %v", fd, n, err)
		}
		readable[fd] = true
	}
	takeSpare := func(r bool) int {
		l := spare[r]
		if len(l) == 0 {
			// None as readable as wanted: make an idle one readable.
			if r && len(spare[false]) > 0 {
				fd := takeSpareIdle(spare)
				makeReadable(fd)
				return fd
			}
			t.Fatalf("no spare eventfd (readable %v)", r)
		}
		i := rng.IntN(len(l))
		fd := l[i]
		l[i] = l[len(l)-1]
		spare[r] = l[:len(l)-1]
		return fd
	}
	putSpare := func(fd int) { spare[readable[fd]] = append(spare[readable[fd]], fd) }

	dispatched, bad := 0, 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	buf := make([]byte, 8)
	h := func(s *sdevent.Source, fd int, revents uint32) error {
		dispatched++
		sl := s.Userdata().(*ioSlot)
		switch {
		case sl.s != s:
			report("a freed source (fd %d) was dispatched", fd)
		case fd != sl.fd:
			report("source of fd %d dispatched with fd %d", sl.fd, fd)
		case sl.mode == source.Off:
			report("disabled source of fd %d dispatched (revents %#x)", fd, revents)
		case !readable[fd]:
			report("source of fd %d dispatched, but the fd is not readable (revents %#x, events %#x)", fd, revents, sl.events)
		case revents&unix.EPOLLIN == 0:
			report("source of fd %d dispatched with revents %#x", fd, revents)
		}
		if sl.mode == source.OneShot {
			sl.mode = source.Off
			if m, err := s.Enabled(); err != nil || m != source.Off {
				report("ONESHOT source of fd %d is %v (%v) in its handler", fd, m, err)
			}
		}
		if _, err := unix.Read(fd, buf); err != nil && err != unix.EAGAIN {
			report("read eventfd %d: %v", fd, err)
		}
		readable[fd] = false
		return nil
	}
	modes := []source.Enabled{source.On, source.On, source.OneShot, source.Off}
	eventSets := []uint32{unix.EPOLLIN, unix.EPOLLIN | unix.EPOLLET}
	add := func(sl *ioSlot) {
		s, err := e.AddIO(sl.fd, sl.events, h)
		if err != nil {
			t.Fatalf("AddIO(%d): %v", sl.fd, err)
		}
		created++
		sl.s, sl.mode = s, source.On
		s.SetUserdata(sl)
		ok(t, "SetDestroyCallback", s.SetDestroyCallback(func(any) { destroyed++ }))
	}
	for i := range slots {
		sl := &ioSlot{fd: newFd(), events: eventSets[i%2]}
		slots[i] = sl
		add(sl)
	}
	for range nSpare {
		putSpare(newFd())
	}
	fdsFull := testutil.FdCount()

	// drain runs the loop until it is idle and then checks that no enabled
	// source has a readable fd.
	drain := func(when string) {
		t.Helper()
		for i := 0; ; i++ {
			if i > nSlots+10 {
				t.Fatalf("%s: the loop is still dispatching after %d iterations", when, i)
			}
			if !run(t, e, 0) {
				break
			}
		}
		missed := 0
		for _, sl := range slots {
			if sl.s != nil && sl.mode != source.Off && readable[sl.fd] {
				if missed++; missed <= 5 {
					m, _ := sl.s.Enabled()
					p, _ := sl.s.Pending()
					report("%s: enabled (%v, model %v, events %#x, pending %v) source of readable fd %d never dispatched",
						when, m, sl.mode, sl.events, p, sl.fd)
				}
			}
		}
	}

	counts := map[string]int{}
	t0 := time.Now()
	for round := range rounds {
		for range ops {
			sl := slots[rng.IntN(nSlots)]
			switch op := rng.IntN(16); {
			case op < 5: // make readable
				if sl.s != nil {
					makeReadable(sl.fd)
					counts["write"]++
				}
			case op < 8: // enable / disable
				if sl.s != nil {
					m := modes[rng.IntN(len(modes))]
					ok(t, "SetEnabled", sl.s.SetEnabled(m))
					sl.mode = m
					counts["enable"]++
				}
			case op < 10: // SetIOEvents
				if sl.s != nil {
					ev := eventSets[rng.IntN(2)]
					ok(t, "SetIOEvents", sl.s.SetIOEvents(ev))
					sl.events = ev
					counts["events"]++
				}
			case op < 12: // SetIOFd
				if sl.s != nil {
					fd := takeSpare(readable[sl.fd])
					if err := sl.s.SetIOFd(fd); err != nil {
						t.Fatalf("SetIOFd(%d → %d): %v", sl.fd, fd, err)
					}
					putSpare(sl.fd)
					sl.fd = fd
					counts["setfd"]++
				}
			case op < 14: // remove or add
				if sl.s != nil {
					sl.s.Unref()
					sl.s = nil
					putSpare(sl.fd)
					counts["remove"]++
				} else {
					sl.fd = takeSpare(rng.IntN(2) == 0)
					sl.events = eventSets[rng.IntN(2)]
					add(sl)
					if m := modes[rng.IntN(len(modes))]; m != source.On {
						ok(t, "SetEnabled", sl.s.SetEnabled(m))
						sl.mode = m
					}
					counts["add"]++
				}
			case op < 15: // priority
				if sl.s != nil {
					ok(t, "SetPriority", sl.s.SetPriority(priority.Priority(rng.IntN(3)-1)))
					counts["priority"]++
				}
			default: // a chance for the loop to catch up
				run(t, e, 0)
			}
		}
		for range runs {
			run(t, e, 0)
		}
		if round%check == check-1 {
			drain(fmt.Sprintf("round %d", round))
			if t.Failed() {
				break
			}
		}
	}
	drain("end")
	elapsed := time.Since(t0)
	remaining := 0
	for _, sl := range slots {
		if sl.s != nil {
			remaining++
			sl.s.Unref()
			sl.s = nil
		}
	}
	if destroyed != created {
		t.Errorf("%d sources created, %d destroyed", created, destroyed)
	}
	e.Unref()
	for _, fd := range allFds {
		unix.Close(fd)
	}
	allFds = nil
	slots = nil
	if fds := testutil.FdCount(); fds != fdsBefore {
		t.Errorf("%d descriptors open at the end, %d before", fds, fdsBefore)
	}
	t.Logf("%d rounds in %v: %d dispatches, ops %v, %d sources at the end, %d created; fds %d before, %d with all eventfds",
		rounds, elapsed.Round(time.Millisecond), dispatched, counts, remaining, created, fdsBefore, fdsFull)
}

// takeSpareIdle takes any spare fd that is not readable.
func takeSpareIdle(spare map[bool][]int) int {
	l := spare[false]
	fd := l[len(l)-1]
	spare[false] = l[:len(l)-1]
	return fd
}

// TestStressSignalsWhileChildrenExit: a goroutine sends bursts of SIGUSR1
// and SIGUSR2 to the process while 500 children exit. Every exit status is
// delivered to its source and both signal handlers run.
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
		for burst := 0; ; burst++ {
			for range 16 {
				unix.Kill(pid, unix.SIGUSR1)
				sent[0]++
				unix.Kill(pid, unix.SIGUSR2)
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
