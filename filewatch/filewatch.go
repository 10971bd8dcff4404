//go:build linux

package filewatch

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/attach"
	"github.com/go-sdevent/sdevent/source"
)

// dirMask is what the directory is watched for. IN_ONLYDIR refuses a path
// that is not a directory (ENOTDIR) without a race.
const dirMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE |
	unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// gone are the events that end the watch: the directory was removed or
// renamed, its file system unmounted, or the kernel dropped the watch.
const gone = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_UNMOUNT | unix.IN_IGNORED

// A Watcher watches one file through its directory.
type Watcher struct {
	src      *sdevent.Source // inotify, on the directory
	timer    *sdevent.Source // the end of the burst
	path     string
	name     string
	pathz    []byte // path and a NUL, for faccessat without allocating
	h        Handler
	delay    time.Duration
	maxDelay time.Duration
	first    time.Duration // when the burst began; -1 between bursts
	closed   bool          // by Close, or both sources freed with the loop
}

// Watch calls h on the loop after each burst of changes of the file at
// path, as the package documentation describes. The directory must exist
// (ENOENT otherwise; ENOTDIR when it is not a directory); the file need
// not. A relative path is made absolute now. Errors: EINVAL for a nil
// loop or handler, bad options, or a path that names no file in a
// directory ("", "/", a path ending in "/"); the errors of
// (*sdevent.Event).AddInotify for the directory.
//
// Make the Watcher before reading the file for the first time, so that no
// change falls between the read and the watch.
func Watch(e *sdevent.Event, path string, h Handler, o *Options) (*Watcher, error) {
	op := "watch " + path
	delay, maxDelay, ok := o.durations()
	switch {
	case !ok, h == nil, path == "", strings.HasSuffix(path, "/"), strings.IndexByte(path, 0) >= 0:
		return nil, opError(op, unix.EINVAL)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, opError(op, err)
	}
	w := &Watcher{path: abs, name: filepath.Base(abs), pathz: append([]byte(abs), 0),
		h: h, delay: delay, maxDelay: maxDelay, first: -1}
	// A coarse accuracy lets the kernel coalesce the wake-up: a tenth of
	// the delay is late by nothing anybody waiting for a debounce notices.
	timer, err := e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, max(delay/10, 1), w.fire)
	if err != nil {
		return nil, opError(op, err)
	}
	if err := timer.SetEnabled(source.Off); err != nil {
		timer.Unref()
		return nil, opError(op, err)
	}
	src, err := e.AddInotify(filepath.Dir(abs), dirMask, w.event)
	if err != nil {
		timer.Unref()
		return nil, opError(op, err)
	}
	_ = timer.SetDescription("filewatch " + abs) // a source just made: cannot fail
	if err := attach.Float(timer, w.destroyed); err != nil {
		src.Unref()
		timer.Unref()
		return nil, opError(op, err)
	}
	w.timer = timer
	if err := attach.Float(src, w.destroyed); err != nil {
		src.Unref()
		attach.Free(timer)
		return nil, opError(op, err)
	}
	w.src = src
	return w, nil
}

// opError names the operation: "filewatch: watch /etc/x.conf: ...".
func opError(op string, err error) error { return fmt.Errorf("filewatch: %s: %w", op, err) }

// event is the inotify handler.
func (w *Watcher) event(_ *sdevent.Source, ev *sdevent.InotifyEvent) error {
	switch {
	case ev.Mask&unix.IN_Q_OVERFLOW != 0:
		return w.changed() // events were lost; the file's may be among them
	case ev.Mask&gone != 0:
		w.stop(ev.Mask)
		return nil
	case ev.Name == w.name:
		return w.changed()
	}
	return nil
}

// changed starts or prolongs the burst: the timer goes to Delay from now,
// but no later than MaxDelay after the burst's first event.
func (w *Watcher) changed() error {
	now, err := w.src.Event().Now(unix.CLOCK_MONOTONIC)
	if err != nil {
		return err
	}
	if w.first < 0 {
		w.first = now
	}
	if err := w.timer.SetTime(min(now+w.delay, w.first+w.maxDelay)); err != nil {
		return err
	}
	return w.timer.SetEnabled(source.OneShot)
}

// fire ends the burst.
func (w *Watcher) fire(_ *sdevent.Source, _ time.Duration) error {
	w.first = -1
	w.h(w, w.exists(), nil)
	return nil
}

// exists reports whether the path resolves: faccessat(F_OK), through a
// NUL-terminated copy of the path made once, as x/sys/unix would allocate
// one per call.
func (w *Watcher) exists() bool {
	cwd := unix.AT_FDCWD // negative: converted at run time
	_, _, errno := unix.Syscall6(unix.SYS_FACCESSAT, uintptr(cwd),
		uintptr(unsafe.Pointer(&w.pathz[0])), unix.F_OK, 0, 0, 0)
	return errno == 0
}

// stop ends the watch when the directory went away, and says so.
func (w *Watcher) stop(mask uint32) {
	what := "removed"
	switch {
	case mask&unix.IN_MOVE_SELF != 0:
		what = "renamed"
	case mask&unix.IN_UNMOUNT != 0:
		what = "unmounted"
	}
	dir := filepath.Dir(w.path)
	_ = w.Close()
	w.h(w, false, opError("watch "+w.path, fmt.Errorf("directory %s %s: %w", dir, what, unix.ENOENT)))
}

// Close stops the watch; a burst under way is dropped. Close on a stopped
// Watcher does nothing.
func (w *Watcher) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	attach.Free(w.timer)
	attach.Free(w.src) // after this handler, if it is the one running
	return nil
}

// destroyed runs as each source is freed: by Close, or with the loop,
// which frees both (so Close must not free either again).
func (w *Watcher) destroyed() { w.closed = true }

// Path returns the absolute path of the watched file.
func (w *Watcher) Path() string { return w.path }
