//go:build linux

package filewatch_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/filewatch"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// Every test runs under the hygiene checks: no descriptor, goroutine or
// child process may outlive it.
func TestMain(m *testing.M) { testutil.Main(m) }

// TestEveryTestChecksLeaks: a test that calls neither testutil.Check nor a
// helper that does (newLoop) would leak unnamed.
func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// newLoop makes a loop for the test, freed at its end, after the hygiene
// check was set up.
func newLoop(t *testing.T) *sdevent.Event {
	t.Helper()
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Unref)
	return e
}

// calls records what a Handler was called with, and what the file held
// then.
type calls struct {
	exists  []bool
	errs    []error
	at      []time.Time
	content []string
}

func (c *calls) handler(w *filewatch.Watcher, exists bool, err error) {
	c.exists = append(c.exists, exists)
	c.errs = append(c.errs, err)
	c.at = append(c.at, time.Now())
	if c.content != nil {
		b, _ := os.ReadFile(w.Path())
		c.content = append(c.content, string(b))
	}
}

func (c *calls) n() int { return len(c.exists) }

// seen reports whether the last call found the file holding content.
func (c *calls) seen(content string) bool {
	return len(c.content) > 0 && c.content[len(c.content)-1] == content
}

// The tests run on a machine that may be busy enough to stop the process
// for a few hundred milliseconds. A test whose point is the count of
// callbacks makes the changes before the loop runs, so that their events
// wait in the kernel and a stop can fall only into their dispatch, and
// uses a Delay well above such stops; the others wait for the state each
// step leads to, and a stop that splits a save in two callbacks does not
// fail them.

// watch makes a directory with the file "config" (content "v0") and a
// Watcher on it with delay, whose calls record the content; the test's
// cleanup closes the Watcher.
func watch(t *testing.T, e *sdevent.Event, delay time.Duration) (string, *calls, *filewatch.Watcher) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	write(t, path, "v0")
	c := &calls{content: []string{}}
	w, err := filewatch.Watch(e, path, c.handler, &filewatch.Options{Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return path, c, w
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expect fails the test unless the calls so far are exactly want (exists
// values, with nil errors).
func expect(t *testing.T, c *calls, want ...bool) {
	t.Helper()
	if fmt.Sprint(c.exists) != fmt.Sprint(want) {
		t.Fatalf("handler called with %v, want %v", c.exists, want)
	}
	for _, err := range c.errs {
		if err != nil {
			t.Fatalf("handler got error %v", err)
		}
	}
}

// renameOver saves content the way vim (writebackup), sed -i and atomic
// writers do: a new file in the directory, renamed over the old one.
func renameOver(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".config.tmp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRenameOverRepeated: three saves by rename-over are each seen, and
// each callback finds the new content. A watch on the file's inode goes
// silent after the first (issue 11: IN_DELETE_SELF, IN_IGNORED, then
// nothing).
func TestRenameOverRepeated(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 20*time.Millisecond)
	for i := 1; i <= 3; i++ {
		v := "v" + strconv.Itoa(i)
		renameOver(t, path, v)
		testutil.RunUntil(t, e, "save "+v, func() bool { return c.seen(v) })
	}
	for i, exists := range c.exists {
		if !exists || c.errs[i] != nil {
			t.Fatalf("call %d: exists %v, err %v", i, exists, c.errs[i])
		}
	}
}

// TestTruncateAndAppend: `>` (a truncating write), `>>` (an append that
// closes) and an append by a writer that keeps the file open are each
// seen.
func TestTruncateAndAppend(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 20*time.Millisecond)
	write(t, path, "truncated") // >
	testutil.RunUntil(t, e, "the truncating write", func() bool { return c.seen("truncated") })
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0) // >>
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(" appended"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testutil.RunUntil(t, e, "the append", func() bool { return c.seen("truncated appended") })
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(" more"); err != nil {
		t.Fatal(err)
	}
	testutil.RunUntil(t, e, "the append with the file kept open", func() bool { return c.seen("truncated appended more") })
}

// TestDeleteThenRecreate: deleting the file is a callback with exists
// false, creating it again one with true.
func TestDeleteThenRecreate(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 20*time.Millisecond)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	testutil.RunUntil(t, e, "the deletion", func() bool { return c.n() > 0 && !c.exists[c.n()-1] })
	write(t, path, "again")
	testutil.RunUntil(t, e, "the creation", func() bool { return c.n() > 0 && c.exists[c.n()-1] })
	if !c.seen("again") {
		t.Fatalf("the last callback read %q", c.content[c.n()-1])
	}
}

// TestVimSave: vim's save with a backup (the file renamed to file~, a new
// file written, the backup deleted) is one callback, with the file there,
// although for a moment the file did not exist.
func TestVimSave(t *testing.T) {
	e := newLoop(t)
	const delay = 300 * time.Millisecond
	path, c, _ := watch(t, e, delay)
	if err := os.Rename(path, path+"~"); err != nil {
		t.Fatal(err)
	}
	write(t, path, "v1")
	if err := os.Remove(path + "~"); err != nil {
		t.Fatal(err)
	}
	testutil.RunUntil(t, e, "the save", func() bool { return c.n() == 1 })
	testutil.RunFor(t, e, 2*delay)
	expect(t, c, true)
	if !c.seen("v1") {
		t.Fatalf("the callback read %q", c.content)
	}
}

// TestDebounceBurst: fifty writes in a row are one callback, Delay after
// the loop saw the last of them, with the final state.
func TestDebounceBurst(t *testing.T) {
	e := newLoop(t)
	const delay = 500 * time.Millisecond
	path, c, _ := watch(t, e, delay)
	for i := range 50 {
		write(t, path, strconv.Itoa(i))
	}
	start := time.Now()
	testutil.RunUntil(t, e, "the callback", func() bool { return c.n() == 1 })
	testutil.RunFor(t, e, 2*delay)
	expect(t, c, true)
	if d := c.at[0].Sub(start); d < delay {
		t.Fatalf("callback %v after the loop started, want at least %v", d, delay)
	}
	if !c.seen("49") {
		t.Fatalf("the callback read %q", c.content)
	}
}

// TestDebounceRearms: each event re-arms the timer. Writes 20 ms apart,
// by a timer of the loop (so that the loop dispatches their events as they
// come), for three times Delay, are one callback, Delay after the last
// write: a timer armed at the first event and not re-armed would fire in
// the middle of the burst. A gap between two writes as long as Delay (the
// process stopped for that long) ends a burst; the test counts those and
// allows a callback for each.
func TestDebounceRearms(t *testing.T) {
	e := newLoop(t)
	const delay, every = 300 * time.Millisecond, 20 * time.Millisecond
	path := filepath.Join(t.TempDir(), "config")
	c := &calls{}
	w, err := filewatch.Watch(e, path, c.handler, &filewatch.Options{Delay: delay, MaxDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var first, last time.Time
	gaps, n := 0, 0
	writer, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, time.Millisecond, func(s *sdevent.Source, _ time.Duration) error {
		if err := os.WriteFile(path, []byte(strconv.Itoa(n)), 0o644); err != nil {
			return err
		}
		now := time.Now()
		if n == 0 {
			first = now
		} else if now.Sub(last) >= delay-every {
			gaps++
		}
		last = now
		if n++; now.Sub(first) >= 3*delay {
			return nil
		}
		if err := s.SetTimeRelative(every); err != nil {
			return err
		}
		return s.SetEnabled(source.OneShot)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Unref()
	testutil.RunUntil(t, e, "the writes", func() bool { return !first.IsZero() && last.Sub(first) >= 3*delay })
	testutil.RunUntil(t, e, "the callback after the last write", func() bool { return c.n() > 0 && c.at[c.n()-1].After(last) })
	testutil.RunFor(t, e, 2*delay)
	if c.n() < 1 || c.n() > 1+gaps {
		t.Fatalf("%d callbacks for %d writes over %v with %d gaps of Delay; want %d at most", c.n(), n, last.Sub(first), gaps, 1+gaps)
	}
	if d := c.at[c.n()-1].Sub(last); d < delay {
		t.Fatalf("callback %v after the last write, want at least %v", d, delay)
	}
}

// TestMaxDelay: a file written to every 10 ms, never quiet for Delay, is
// still reported, every MaxDelay or so.
func TestMaxDelay(t *testing.T) {
	e := newLoop(t)
	path := filepath.Join(t.TempDir(), "log")
	write(t, path, "")
	c := &calls{}
	w, err := filewatch.Watch(e, path, c.handler, &filewatch.Options{Delay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writes := 0
	writer, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, time.Millisecond, func(s *sdevent.Source, _ time.Duration) error {
		if _, err := f.WriteString("line\n"); err != nil {
			return err
		}
		if writes++; writes == 60 {
			return nil
		}
		if err := s.SetTimeRelative(10 * time.Millisecond); err != nil {
			return err
		}
		return s.SetEnabled(source.OneShot)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Unref()
	testutil.RunUntil(t, e, "the writes", func() bool { return writes == 60 })
	if c.n() < 2 {
		t.Fatalf("%d callbacks in %d writes 10 ms apart, want one at least every 100 ms", c.n(), writes)
	}
}

// TestOtherFilesIgnored: changes of other files in the directory are no
// callback.
func TestOtherFilesIgnored(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 20*time.Millisecond)
	dir := filepath.Dir(path)
	write(t, filepath.Join(dir, "other"), "x")
	renameOver(t, filepath.Join(dir, "config.bak"), "y")
	if err := os.Remove(filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	testutil.RunFor(t, e, 100*time.Millisecond)
	expect(t, c)
}

// TestDirectoryGone: a directory removed or renamed stops the watch with
// one last callback (false, ENOENT); Close afterwards does nothing.
func TestDirectoryGone(t *testing.T) {
	for _, how := range []string{"removed", "renamed"} {
		t.Run(how, func(t *testing.T) {
			e := newLoop(t)
			path, c, w := watch(t, e, 20*time.Millisecond)
			dir := filepath.Dir(path)
			if how == "removed" {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
			testutil.RunUntil(t, e, "the end of the watch", func() bool { return c.n() == 1 })
			if how == "renamed" {
				write(t, filepath.Join(dir+".old", "config"), "v1") // no longer the path watched
			}
			testutil.RunFor(t, e, 60*time.Millisecond)
			if c.n() != 1 || c.exists[0] || !errors.Is(c.errs[0], unix.ENOENT) {
				t.Fatalf("handler called with %v %v, want once false, ENOENT", c.exists, c.errs)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOverflow: when the inotify queue overflows, events were lost, the
// file's perhaps among them: that is a callback too.
func TestOverflow(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 20*time.Millisecond)
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Fatal(err)
	}
	limit, err := strconv.Atoi(string(b[:len(b)-1]))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	var fds [2]int
	for i, name := range []string{"a", "b"} {
		if fds[i], err = unix.Open(filepath.Join(dir, name), unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[i])
	}
	// Alternating names: the kernel merges only an event equal to the one
	// queued last.
	for i := 0; i <= limit; i++ {
		if _, err := unix.Write(fds[i%2], []byte{'x'}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.RunUntil(t, e, "the overflow", func() bool { return c.n() > 0 })
	if !c.exists[0] || c.errs[0] != nil {
		t.Fatalf("handler called with %v, %v", c.exists[0], c.errs[0])
	}
}

// TestWatchErrors: bad arguments are EINVAL; a missing directory ENOENT, a
// file where the directory should be ENOTDIR; nothing is left behind.
func TestWatchErrors(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	h := func(*filewatch.Watcher, bool, error) {}
	write(t, filepath.Join(dir, "file"), "")
	for _, tc := range []struct {
		path string
		h    filewatch.Handler
		o    *filewatch.Options
		want unix.Errno
	}{
		{"", h, nil, unix.EINVAL},
		{"/", h, nil, unix.EINVAL},
		{dir + "/", h, nil, unix.EINVAL},
		{dir + "/x\x00y", h, nil, unix.EINVAL},
		{dir + "/x", nil, nil, unix.EINVAL},
		{dir + "/x", h, &filewatch.Options{Delay: -1}, unix.EINVAL},
		{dir + "/x", h, &filewatch.Options{MaxDelay: -1}, unix.EINVAL},
		{dir + "/x", h, &filewatch.Options{Delay: time.Second, MaxDelay: time.Millisecond}, unix.EINVAL},
		{dir + "/x", h, &filewatch.Options{MaxDelay: 50 * time.Millisecond}, unix.EINVAL}, // below the default Delay
		{dir + "/missing/x", h, nil, unix.ENOENT},
		{dir + "/file/x", h, nil, unix.ENOTDIR},
	} {
		if w, err := filewatch.Watch(e, tc.path, tc.h, tc.o); !errors.Is(err, tc.want) {
			t.Errorf("Watch(%q, %v) = %v, %v; want %v", tc.path, tc.o, w, err, tc.want)
		}
	}
	if _, err := filewatch.Watch(nil, dir+"/x", h, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Watch(nil loop) = %v, want EINVAL", err)
	}
}

// TestRelativePath: a relative path is made absolute at Watch.
func TestRelativePath(t *testing.T) {
	e := newLoop(t)
	dir := t.TempDir()
	t.Chdir(dir)
	c := &calls{}
	w, err := filewatch.Watch(e, "config", c.handler, &filewatch.Options{Delay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Path() != filepath.Join(dir, "config") {
		t.Fatalf("Path = %q", w.Path())
	}
	write(t, "config", "x")
	testutil.RunUntil(t, e, "the write", func() bool { return c.n() > 0 })
	if !c.exists[0] {
		t.Fatal("handler called with exists false")
	}
}

// TestLoopFreeStopsWatcher: freeing the loop stops the Watcher without a
// last callback; Close afterwards does nothing.
func TestLoopFreeStopsWatcher(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config")
	c := &calls{}
	w, err := filewatch.Watch(e, path, c.handler, nil)
	if err != nil {
		e.Unref()
		t.Fatal(err)
	}
	write(t, path, "x")
	if _, err := e.Run(0); err != nil {
		t.Fatal(err)
	}
	e.Unref()
	if err := w.Close(); err != nil || c.n() != 0 {
		t.Fatalf("Close = %v, %d callbacks", err, c.n())
	}
}

// TestCloseInHandler: a Handler may close its Watcher; nothing comes
// after.
func TestCloseInHandler(t *testing.T) {
	e := newLoop(t)
	path := filepath.Join(t.TempDir(), "config")
	n := 0
	_, err := filewatch.Watch(e, path, func(w *filewatch.Watcher, _ bool, _ error) {
		n++
		_ = w.Close()
	}, &filewatch.Options{Delay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, "1")
	testutil.RunUntil(t, e, "the callback", func() bool { return n == 1 })
	write(t, path, "2")
	testutil.RunFor(t, e, 50*time.Millisecond)
	if n != 1 {
		t.Fatalf("%d callbacks after Close", n)
	}
}

// TestHotPathAllocatesNothing: an event of the file (re-arming the timer)
// and the end of a burst (the Handler) allocate nothing in steady state.
// The delay is 1 ns, so that the loop never sleeps: under -race, a sleep in
// epoll_pwait2 allocates in the runtime (a plain timer of the loop too).
func TestHotPathAllocatesNothing(t *testing.T) {
	e := newLoop(t)
	path, c, _ := watch(t, e, 1)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	c.content = nil // reading the file would allocate
	c.exists = make([]bool, 0, 1000)
	c.errs = make([]error, 0, 1000)
	c.at = make([]time.Time, 0, 1000)
	x := []byte{'x'}
	burst := func() {
		n := c.n()
		if _, err := unix.Write(fd, x); err != nil {
			t.Fatal(err)
		}
		for c.n() == n {
			if _, err := e.Run(sdevent.Infinity); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 10 {
		burst()
	}
	if n := testing.AllocsPerRun(100, burst); n != 0 {
		t.Fatalf("%v allocations per burst, want 0", n)
	}
}
