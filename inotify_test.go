//go:build linux

package sdevent_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// touchFile creates path (or opens it) and closes it again, as systemd's
// touch(): no event a watch in these tests asks for but IN_CREATE.
func touchFile(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOCTTY, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	unix.Close(fd)
}

// inotifyFds returns the inotify descriptors open in the process.
func inotifyFds(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "anon_inode:inotify" {
			fd, _ := strconv.Atoi(e.Name())
			fds = append(fds, fd)
		}
	}
	return fds
}

// newInotifyFds returns the inotify descriptors open now that are not in before.
func newInotifyFds(t *testing.T, before []int) []int {
	t.Helper()
	var fds []int
	for _, fd := range inotifyFds(t) {
		if !slices.Contains(before, fd) {
			fds = append(fds, fd)
		}
	}
	return fds
}

// inotifyWatches returns the event masks of the kernel watches of an inotify
// fd, one per "inotify wd:" line of its fdinfo.
func inotifyWatches(t *testing.T, fd int) []uint32 {
	t.Helper()
	var masks []uint32
	for _, line := range fdinfo(t, fd) {
		if !strings.HasPrefix(line, "inotify wd:") {
			continue
		}
		var mask uint64
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "mask:"); ok {
				var err error
				if mask, err = strconv.ParseUint(v, 16, 32); err != nil {
					t.Fatalf("fdinfo of %d: %q: %v", fd, line, err)
				}
			}
		}
		masks = append(masks, uint32(mask))
	}
	return masks
}

// readableNow reports whether fd has data to read, without waiting.
func readableNow(t *testing.T, fd int) bool {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return n > 0
}

// maxQueuedEvents reads /proc/sys/fs/inotify/max_queued_events: the length of
// an inotify fd's queue, beyond which the kernel queues IN_Q_OVERFLOW.
func maxQueuedEvents(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// inotifyContext is test-event.c's struct inotify_context, with counts where C
// keeps bits, so that a duplicate dispatch shows.
type inotifyContext struct {
	t          *testing.T
	dir        string
	n          int
	created    [3][]int // per source 0..2, per file: IN_CREATE dispatches
	createdSub [3]int
	deleted    [3]int
	overflow   [3]int
	// the IN_DELETE_SELF source
	selfCalled                     bool
	selfDelete, selfIgnored, selfQ int
}

// maybeExit is C's maybe_exit: once the IN_DELETE_SELF source has run,
// exit when each of the three sources either overflowed or saw every file.
func (c *inotifyContext) maybeExit(s *sdevent.Source) {
	if !c.selfCalled {
		return
	}
	for n := range 3 {
		if c.overflow[n] > 0 {
			continue
		}
		if slices.Contains(c.created[n], 0) {
			return
		}
	}
	if err := s.Event().Exit(0); err != nil {
		c.t.Errorf("Exit: %v", err)
	}
}

// handler is C's inotify_handler, for the sources named "0", "1", "2".
func (c *inotifyContext) handler(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
	t := c.t
	path, err := s.InotifyPath()
	if err != nil || path != c.dir {
		t.Errorf("InotifyPath = %q, %v; want %q", path, err, c.dir)
	}
	desc, err := s.Description()
	if err != nil {
		t.Fatalf("Description: %v", err)
	}
	n, err := strconv.Atoi(desc)
	if err != nil || n < 0 || n > 2 {
		t.Fatalf("description %q", desc)
	}
	switch {
	case ev.Mask&unix.IN_Q_OVERFLOW != 0:
		c.overflow[n]++
	case ev.Mask&unix.IN_CREATE != 0:
		if ev.Name == "sub" {
			c.createdSub[n]++
			break
		}
		i, err := strconv.Atoi(ev.Name)
		if err != nil || i < 0 || i >= c.n {
			t.Fatalf("source %d: IN_CREATE of %q", n, ev.Name)
		}
		c.created[n][i]++
	case ev.Mask&unix.IN_DELETE != 0:
		if ev.Name != "sub" {
			t.Errorf("source %d: IN_DELETE of %q, want sub", n, ev.Name)
		}
		c.deleted[n]++
	default:
		t.Errorf("source %d: unexpected event %+v", n, *ev)
	}
	c.maybeExit(s)
	return nil
}

// selfHandler is C's delete_self_handler.
func (c *inotifyContext) selfHandler(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
	switch {
	case ev.Mask&unix.IN_Q_OVERFLOW != 0:
		c.selfQ++
		c.selfCalled = true
	case ev.Mask&unix.IN_DELETE_SELF != 0:
		c.selfDelete++
		c.selfCalled = true
	case ev.Mask&unix.IN_IGNORED != 0:
		c.selfIgnored++
	default:
		c.t.Errorf("delete-self source: unexpected event %+v", *ev)
	}
	c.maybeExit(s)
	return nil
}

// Port of TEST(inotify) (test_inotify_one). Three sources watch one
// directory with different masks: a (IN_CREATE|IN_ONLYDIR, Normal), b
// (IN_CREATE|IN_DELETE|IN_DONT_FOLLOW, moved to Idle and back to Normal
// before the first iteration), c (IN_CREATE|IN_DELETE|IN_EXCL_UNLINK, Idle);
// d watches the file "sub" in it for IN_DELETE_SELF. Then n files are
// created and "sub" is removed.
//
// Rules: sources on one inode and priority share one kernel watch whose mask
// is the union; each event goes to every source of the inode whose mask
// matches (a never sees IN_DELETE), once; with 100 files nothing overflows.
// With more files than the kernel queues (max_queued_events; C uses 33000
// against the default 16384) both inotify fds overflow and IN_Q_OVERFLOW
// reaches every source of each priority, d included.
func TestInotify(t *testing.T) {
	maxq := maxQueuedEvents(t)
	for _, tc := range []struct {
		name     string
		n        int
		overflow bool
	}{
		{"100", 100, false},
		{"overflow", max(33000, maxq+1000), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			c := &inotifyContext{t: t, dir: t.TempDir(), n: tc.n}
			for i := range c.created {
				c.created[i] = make([]int, tc.n)
			}
			before := inotifyFds(t)

			a := keep(t)(e.AddInotify(c.dir, unix.IN_CREATE|unix.IN_ONLYDIR, c.handler))
			b := keep(t)(e.AddInotify(c.dir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_DONT_FOLLOW, c.handler))
			ok(t, "b: SetPriority(Idle)", b.SetPriority(priority.Idle))
			ok(t, "b: SetPriority(Normal)", b.SetPriority(priority.Normal))
			cs := keep(t)(e.AddInotify(c.dir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_EXCL_UNLINK, c.handler))
			ok(t, "c: SetPriority(Idle)", cs.SetPriority(priority.Idle))
			for i, s := range []*sdevent.Source{a, b, cs} {
				ok(t, "SetDescription", s.SetDescription(strconv.Itoa(i)))
				if p, err := s.InotifyPath(); err != nil || p != c.dir {
					t.Errorf("source %d: InotifyPath = %q, %v; want %q", i, p, err, c.dir)
				}
			}

			sub := filepath.Join(c.dir, "sub")
			touchFile(t, sub)
			keep(t)(e.AddInotify(sub, unix.IN_DELETE_SELF, c.selfHandler))

			// One inotify fd per priority. Normal: one watch on the
			// directory for a and b, with the union of their masks, one on
			// sub. Idle: the directory, for c, with IN_EXCL_UNLINK, which a
			// watch gets only when all its sources ask for it (fdinfo shows
			// that flag in the mask).
			fds := newInotifyFds(t, before)
			var watches [][]uint32
			for _, fd := range fds {
				watches = append(watches, inotifyWatches(t, fd))
			}
			slices.SortFunc(watches, func(x, y []uint32) int { return len(y) - len(x) })
			dirMask := uint32(unix.IN_CREATE | unix.IN_DELETE)
			if len(fds) != 2 || len(watches[0]) != 2 || len(watches[1]) != 1 ||
				!slices.Contains(watches[0], dirMask) || !slices.Contains(watches[0], unix.IN_DELETE_SELF) ||
				watches[1][0] != dirMask|unix.IN_EXCL_UNLINK {
				t.Errorf("inotify fds %v with watch masks %#x; want two: [%#x %#x] and [%#x]",
					fds, watches, dirMask, unix.IN_DELETE_SELF, dirMask|unix.IN_EXCL_UNLINK)
			}

			for i := range tc.n {
				touchFile(t, filepath.Join(c.dir, strconv.Itoa(i)))
			}
			if err := os.Remove(sub); err != nil {
				t.Fatal(err)
			}

			if code := loop(t, e); code != 0 {
				t.Errorf("Loop = %d, want 0", code)
			}

			for n := range 3 {
				for i, k := range c.created[n] {
					if k > 1 {
						t.Errorf("source %d: IN_CREATE of %d dispatched %d times", n, i, k)
					}
				}
			}
			if !tc.overflow {
				if c.overflow != [3]int{} || c.selfQ != 0 {
					t.Errorf("IN_Q_OVERFLOW with %d files: %v, delete-self source %d", tc.n, c.overflow, c.selfQ)
				}
				for n := range 3 {
					if i := slices.Index(c.created[n], 0); i >= 0 {
						t.Errorf("source %d never saw file %d", n, i)
					}
				}
				if c.createdSub != [3]int{1, 1, 1} {
					t.Errorf("IN_CREATE of sub dispatched %v times per source, want once each", c.createdSub)
				}
				// a does not want IN_DELETE. b gets it before d's
				// IN_DELETE_SELF (same fd, queued earlier); c's Idle copy
				// may still be queued when the loop exits.
				if c.deleted[0] != 0 || c.deleted[1] != 1 || c.deleted[2] > 1 {
					t.Errorf("IN_DELETE of sub dispatched %v times per source, want [0 1 ≤1]", c.deleted)
				}
				if c.selfDelete != 1 {
					t.Errorf("IN_DELETE_SELF dispatched %d times, want 1", c.selfDelete)
				}
				return
			}
			if c.overflow != [3]int{1, 1, 1} || c.selfQ != 1 {
				t.Errorf("IN_Q_OVERFLOW dispatched %v times to the directory's sources and %d times to sub's, want once to each", c.overflow, c.selfQ)
			}
		})
	}
}

// Port of TEST(inotify_self_destroy): a source frees itself in its handler.
// Inside its own handler a source is disconnected at once and freed after
// the handler returns: the destroy callback runs after the handler, once,
// and the loop goes on (upstream: exits with the code the handler set; here
// also: keeps running and can watch the same directory again).
func TestInotifySelfDestroy(t *testing.T) {
	for _, exit := range []bool{true, false} {
		t.Run(map[bool]string{true: "exit", false: "continue"}[exit], func(t *testing.T) {
			e := newLoop(t)
			dir := t.TempDir()
			f, err := os.CreateTemp(dir, "inotify")
			if err != nil {
				t.Fatal(err)
			}
			before := inotifyFds(t)
			var src *sdevent.Source
			var events []string
			h := func(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
				if s != src {
					t.Errorf("handler got source %p, want %p", s, src)
				}
				if ev.Mask&unix.IN_ATTRIB == 0 {
					t.Errorf("event mask %#x, want IN_ATTRIB", ev.Mask)
				}
				events = append(events, "handler")
				if exit {
					ok(t, "Exit", s.Event().Exit(0))
				}
				src.Unref() // the only reference: the source goes
				src = nil
				events = append(events, "handler returns")
				return nil
			}
			src = must(t)(e.AddInotifyFd(int(f.Fd()), unix.IN_ATTRIB, h))
			t.Cleanup(func() {
				if src != nil {
					src.Unref()
				}
			})
			ok(t, "SetDestroyCallback", src.SetDestroyCallback(func(any) { events = append(events, "destroy") }))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			// The link count drops to zero: IN_ATTRIB.
			if err := os.Remove(f.Name()); err != nil {
				t.Fatal(err)
			}

			if exit {
				if code := loop(t, e); code != 0 {
					t.Errorf("Loop = %d, want 0", code)
				}
			} else if !run(t, e, long) {
				t.Fatal("no dispatch")
			}
			if want := []string{"handler", "handler returns", "destroy"}; !slices.Equal(events, want) {
				t.Errorf("events %q, want %q", events, want)
			}
			if fds := newInotifyFds(t, before); len(fds) != 0 {
				t.Errorf("inotify fds %v left open after the last inotify source went", fds)
			}
			if exit {
				return
			}
			// What the freed source's inode still queued is gone with it.
			if run(t, e, 0) {
				t.Error("a dispatch after the only source freed itself")
			}
			got := 0
			keep(t)(e.AddInotify(dir, unix.IN_CREATE, func(*sdevent.Source, *sdevent.InotifyEvent) error {
				got++
				return nil
			}))
			touchFile(t, filepath.Join(dir, "again"))
			if !run(t, e, long) || got != 1 {
				t.Errorf("a new source on the directory: %d dispatches, want 1", got)
			}
		})
	}
}

// Port of TEST(inotify_process_buffered_data), issue #23826: two sources of
// one priority on two directories; both events are read at once. After the
// first is dispatched the second is still buffered, and Prepare must report
// pending without the kernel saying anything.
func TestInotifyProcessBufferedData(t *testing.T) {
	e := newLoop(t)
	p, q := t.TempDir(), t.TempDir()
	var got []string
	h := func(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
		d, err := s.Description()
		if err != nil {
			t.Errorf("Description: %v", err)
		}
		got = append(got, d)
		return nil
	}
	keep(t)(e.AddInotify(p, unix.IN_CREATE, h))
	keep(t)(e.AddInotify(q, unix.IN_CREATE, h))
	touchFile(t, filepath.Join(p, "aaa"))
	touchFile(t, filepath.Join(q, "bbb"))

	if !run(t, e, long) {
		t.Fatal("Run: no dispatch")
	}
	if pending, err := e.Prepare(); err != nil || !pending {
		t.Fatalf("Prepare with a buffered event = %v, %v; want true (issue #23826)", pending, err)
	}
	if d, err := e.Dispatch(); err != nil || !d {
		t.Fatalf("Dispatch = %v, %v; want true", d, err)
	}
	if pending, err := e.Prepare(); err != nil || pending {
		t.Fatalf("Prepare with nothing left = %v, %v; want false", pending, err)
	}
	if pending, err := e.Wait(0); err != nil || pending {
		t.Errorf("Wait(0) = %v, %v; want false", pending, err)
	}
	if want := []string{p, q}; !slices.Equal(got, want) {
		t.Errorf("dispatched %q, want %q", got, want)
	}
}

// Port of TEST(inotify_issue_38265): the source that wanted IN_MODIFY is
// gone, but the kernel watch keeps IN_MODIFY (masks never shrink). Writing a
// new file queues IN_CREATE and IN_MODIFY: IN_CREATE goes to the remaining
// source, IN_MODIFY is dropped without dispatching anyone, and the loop does
// not spin on it (upstream: the loop used to assert or busy-loop).
func TestInotifyIssue38265(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	var got []uint32
	h := func(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
		got = append(got, ev.Mask)
		return nil
	}
	a := must(t)(e.AddInotify(dir, unix.IN_CREATE|unix.IN_MODIFY, h))
	keep(t)(e.AddInotify(dir, unix.IN_CREATE, h))
	a.Unref()
	if err := os.WriteFile(filepath.Join(dir, "hoge"), []byte("aaa"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		run(t, e, time.Millisecond)
	}
	if len(got) != 1 || got[0]&unix.IN_CREATE == 0 {
		t.Errorf("dispatched masks %#x, want one IN_CREATE", got)
	}
	if pending, err := e.Prepare(); err != nil || pending {
		t.Fatalf("Prepare after the unwanted IN_MODIFY = %v, %v; want false", pending, err)
	}
	if pending, err := e.Wait(0); err != nil || pending {
		t.Errorf("Wait(0) = %v, %v; want false", pending, err)
	}
}

// Argument checks of sd_event_add_inotify{,_fd}: IN_MASK_ADD is EINVAL
// (watches are merged), a missing path ENOENT, a negative fd EBADF. A
// failed add leaves no inotify fd behind.
func TestInotifyAddErrors(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	before := inotifyFds(t)
	for _, tc := range []struct {
		name  string
		add   func() (*sdevent.Source, error)
		errno unix.Errno
	}{
		{"IN_MASK_ADD", func() (*sdevent.Source, error) {
			return e.AddInotify(dir, unix.IN_CREATE|unix.IN_MASK_ADD, nil)
		}, unix.EINVAL},
		{"missing path", func() (*sdevent.Source, error) {
			return e.AddInotify(filepath.Join(dir, "missing"), unix.IN_CREATE, nil)
		}, unix.ENOENT},
		{"negative fd", func() (*sdevent.Source, error) {
			return e.AddInotifyFd(-1, unix.IN_CREATE, nil)
		}, unix.EBADF},
	} {
		s, err := tc.add()
		wantErrno(t, tc.name, err, tc.errno)
		if s != nil {
			t.Errorf("%s: failed add returned a source", tc.name)
			s.Unref()
		}
	}
	if fds := newInotifyFds(t, before); len(fds) != 0 {
		t.Errorf("failed adds left inotify fds %v", fds)
	}
}

// inotifyNoProcEnv runs TestInotifyWithoutProc as its helper.
const inotifyNoProcEnv = "SDEVENT_INOTIFY_NOPROC_HELPER"

// TestInotifyWithoutProc: the watch is placed through /proc/self/fd, and
// without /proc mounted AddInotify and AddInotifyFd fail with ENOSYS, as
// sd_event_add_inotify and sd_event_add_inotify_fd of libsystemd 262 do
// (checked with a C program in a mount namespace without /proc). The test
// binary runs again in a mount namespace of its own (a private copy, so
// the host keeps its /proc), unmounts /proc there and tries both.
func TestInotifyWithoutProc(t *testing.T) {
	if os.Getenv(inotifyNoProcEnv) != "" {
		os.Exit(inotifyNoProcHelper())
	}
	testutil.Check(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInotifyWithoutProc$", "-test.count=1")
	cmd.Env = append(os.Environ(), inotifyNoProcEnv+"=1",
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

// inotifyNoProcHelper unmounts /proc (in its own mount namespace) and
// reports on stderr, exiting 1, any add that does not fail with ENOSYS. It
// leaves through os.Exit: the leak checks read /proc.
func inotifyNoProcHelper() int {
	if err := unix.Unmount("/proc", unix.MNT_DETACH); err != nil {
		fmt.Fprintf(os.Stderr, "unmount /proc: %v\n", err)
		return 1
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open /: %v\n", err)
		return 1
	}
	defer unix.Close(fd)
	return helperAdds(map[string]func(*sdevent.Event) (*sdevent.Source, error){
		"AddInotify without /proc, want ENOSYS": func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotify("/", unix.IN_CREATE, nil)
		},
		"AddInotifyFd without /proc, want ENOSYS": func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotifyFd(fd, unix.IN_CREATE, nil)
		},
	}, func(err error) bool { return !errors.Is(err, unix.ENOSYS) })
}

// Two sources on one inode and priority share one kernel watch whose mask
// is the union of theirs. When one goes the mask does not shrink; an event
// only it wanted still comes from the kernel and is dropped without
// dispatching anyone, and is not read again.
func TestInotifySharedWatch(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	before := inotifyFds(t)
	var got []uint32
	a := must(t)(e.AddInotify(dir, unix.IN_ATTRIB, func(*sdevent.Source, *sdevent.InotifyEvent) error {
		t.Error("the freed source was dispatched")
		return nil
	}))
	t.Cleanup(func() {
		if a != nil {
			a.Unref()
		}
	})
	keep(t)(e.AddInotify(dir, unix.IN_CREATE, func(s *sdevent.Source, ev *sdevent.InotifyEvent) error {
		got = append(got, ev.Mask)
		return nil
	}))
	fds := newInotifyFds(t, before)
	if len(fds) != 1 {
		t.Fatalf("two sources of one priority: inotify fds %v, want one", fds)
	}
	fd := fds[0]
	union := []uint32{unix.IN_ATTRIB | unix.IN_CREATE}
	if w := inotifyWatches(t, fd); !slices.Equal(w, union) {
		t.Errorf("watches %#x, want one with the union %#x", w, union)
	}

	run(t, e, 0) // an iteration: nothing to dispatch
	a.Unref()
	a = nil
	if w := inotifyWatches(t, fd); !slices.Equal(w, union) {
		t.Errorf("after one source went: watches %#x, want still %#x", w, union)
	}

	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !readableNow(t, fd) {
		t.Fatal("IN_ATTRIB was not queued: the kernel mask shrank")
	}
	if run(t, e, 0) {
		t.Errorf("an event only the freed source wanted was dispatched (got %#x)", got)
	}
	if readableNow(t, fd) {
		t.Error("the unwanted event is still queued in the kernel")
	}
	if pending, err := e.Prepare(); err != nil || pending {
		t.Fatalf("Prepare = %v, %v; want false: the unwanted event must be dropped", pending, err)
	}
	if _, err := e.Wait(0); err != nil {
		t.Fatal(err)
	}

	touchFile(t, filepath.Join(dir, "f"))
	if !run(t, e, long) || len(got) != 1 || got[0] != unix.IN_CREATE {
		t.Errorf("dispatched %#x, want one IN_CREATE", got)
	}
}

// Getters: InotifyPath and InotifyMask return what was given (the mask as
// given, flags included); the description defaults to the path for
// AddInotify and is unset (ENXIO) for AddInotifyFd, as in C; the path of an
// fd source is where the fd points. Other kinds: EDOM.
func TestInotifyGetters(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	const mask = unix.IN_CREATE | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK
	s := keep(t)(e.AddInotify(dir, mask, nil))
	if p, err := s.InotifyPath(); err != nil || p != dir {
		t.Errorf("InotifyPath = %q, %v; want %q", p, err, dir)
	}
	if m, err := s.InotifyMask(); err != nil || m != mask {
		t.Errorf("InotifyMask = %#x, %v; want %#x", m, err, uint32(mask))
	}
	if d, err := s.Description(); err != nil || d != dir {
		t.Errorf("Description = %q, %v; want the path %q", d, err, dir)
	}

	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs := keep(t)(e.AddInotifyFd(int(f.Fd()), unix.IN_DELETE, nil))
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := fs.InotifyPath(); err != nil || p != resolved {
		t.Errorf("fd source: InotifyPath = %q, %v; want %q", p, err, resolved)
	}
	if m, err := fs.InotifyMask(); err != nil || m != unix.IN_DELETE {
		t.Errorf("fd source: InotifyMask = %#x, %v; want IN_DELETE", m, err)
	}
	_, err = fs.Description()
	wantErrno(t, "fd source: Description", err, unix.ENXIO)
	if m := enabledOf(t, s); m != source.On.String() {
		t.Errorf("a new inotify source is %s, want On", m)
	}

	d := keep(t)(e.AddDefer(nil))
	_, err = d.InotifyPath()
	wantErrno(t, "InotifyPath of a defer source", err, unix.EDOM)
	_, err = d.InotifyMask()
	wantErrno(t, "InotifyMask of a defer source", err, unix.EDOM)
}

// IN_ONESHOT makes the source OneShot: one dispatch, then Off; no further
// event is dispatched (the kernel watch itself is not one-shot).
func TestInotifyOneShot(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	n := 0
	s := keep(t)(e.AddInotify(dir, unix.IN_CREATE|unix.IN_ONESHOT, func(*sdevent.Source, *sdevent.InotifyEvent) error {
		n++
		return nil
	}))
	if m := enabledOf(t, s); m != source.OneShot.String() {
		t.Fatalf("IN_ONESHOT source is %s, want OneShot", m)
	}
	touchFile(t, filepath.Join(dir, "1"))
	if !run(t, e, long) || n != 1 {
		t.Fatalf("%d dispatches, want 1", n)
	}
	if m := enabledOf(t, s); m != source.Off.String() {
		t.Errorf("after its dispatch the source is %s, want Off", m)
	}
	touchFile(t, filepath.Join(dir, "2"))
	if run(t, e, 0) || n != 1 {
		t.Errorf("an Off IN_ONESHOT source was dispatched again: %d", n)
	}
	ok(t, "SetEnabled(OneShot)", s.SetEnabled(source.OneShot))
	touchFile(t, filepath.Join(dir, "3"))
	if !run(t, e, long) || n != 2 {
		t.Errorf("re-enabled: %d dispatches, want 2", n)
	}
}

// An inotify source's priority can change until the loop's next iteration,
// which closes the O_PATH fd that re-watching the inode needs; later
// SetPriority is EOPNOTSUPP, as in C, and the priority stays.
func TestInotifySetPriority(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	before := inotifyFds(t)
	n := 0
	s := keep(t)(e.AddInotify(dir, unix.IN_CREATE, func(*sdevent.Source, *sdevent.InotifyEvent) error {
		n++
		return nil
	}))
	ok(t, "SetPriority(Idle) before the first iteration", s.SetPriority(priority.Idle))
	if p, err := s.Priority(); err != nil || p != priority.Idle {
		t.Errorf("Priority = %v, %v; want Idle", p, err)
	}
	// The source moved to the Idle inotify fd; the Normal one is gone.
	if fds := newInotifyFds(t, before); len(fds) != 1 || len(inotifyWatches(t, fds[0])) != 1 {
		t.Errorf("inotify fds %v after the move, want one with one watch", fds)
	}

	run(t, e, 0)
	err := s.SetPriority(priority.Important)
	wantErrno(t, "SetPriority after an iteration", err, unix.EOPNOTSUPP)
	if p, err := s.Priority(); err != nil || p != priority.Idle {
		t.Errorf("Priority after the failed change = %v, %v; want Idle", p, err)
	}

	touchFile(t, filepath.Join(dir, "f"))
	if !run(t, e, long) || n != 1 {
		t.Errorf("%d dispatches, want 1", n)
	}
}
