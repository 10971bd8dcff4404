//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Fd is one open file descriptor of the process and what /proc/self/fd says
// it refers to ("pipe:[1234]", "anon_inode:[eventpoll]", "/tmp/x", ...).
type Fd struct {
	Num    int
	Target string
}

func (f Fd) String() string { return "fd " + strconv.Itoa(f.Num) + " -> " + f.Target }

// FdTable maps each open descriptor of the process to its readlink target.
type FdTable map[int]string

// OpenFds lists the open descriptors of the process by reading /proc/self/fd.
// It uses raw system calls so that listing never opens a descriptor that the
// Go runtime keeps (an *os.File would initialise the netpoller).
func OpenFds() (FdTable, error) {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/fd: %w", err)
	}
	defer func() { _ = unix.Close(dir) }()

	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			return nil, fmt.Errorf("getdents /proc/self/fd: %w", err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}

	t := make(FdTable, len(names))
	link := make([]byte, unix.PathMax)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dir {
			continue
		}
		n, err := unix.Readlinkat(dir, name, link)
		if errors.Is(err, unix.ENOENT) {
			continue // closed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("readlink /proc/self/fd/%s: %w", name, err)
		}
		t[fd] = string(link[:n])
	}
	return t, nil
}

// Leaked returns the descriptors of after that were not open in before or
// that refer to something else now, ordered by number. Targets for which
// ignore returns true are left out; ignore may be nil.
func (before FdTable) Leaked(after FdTable, ignore func(target string) bool) []Fd {
	var leaked []Fd
	for fd, target := range after {
		if old, ok := before[fd]; ok && old == target {
			continue
		}
		if ignore != nil && ignore(target) {
			continue
		}
		leaked = append(leaked, Fd{fd, target})
	}
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].Num < leaked[j].Num })
	return leaked
}

// FdCount returns the number of open descriptors of the process, or -1 when
// /proc/self/fd cannot be read.
func FdCount() int {
	t, err := OpenFds()
	if err != nil {
		return -1
	}
	return len(t)
}

// FdOpen reports whether fd is an open descriptor, asking fcntl(F_GETFD),
// which fails with EBADF for a closed one.
func FdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return !errors.Is(err, unix.EBADF)
}

// tracked is a descriptor that a test's cleanup will close unless the test
// closed it or handed it over first. The entry, not the number, is what the
// cleanup remembers, so that a number reused by a later test is never closed
// by an earlier test's cleanup.
type tracked struct {
	fd   int
	open bool
}

var (
	trackMu  sync.Mutex
	trackTab = map[testing.TB]map[int]*tracked{}
)

func track(t testing.TB, fd int) {
	trackMu.Lock()
	m := trackTab[t]
	if m == nil {
		m = map[int]*tracked{}
		trackTab[t] = m
		t.Cleanup(func() {
			trackMu.Lock()
			delete(trackTab, t)
			trackMu.Unlock()
		})
	}
	e := &tracked{fd: fd, open: true}
	m[fd] = e
	trackMu.Unlock()

	t.Cleanup(func() {
		trackMu.Lock()
		defer trackMu.Unlock()
		if e.open {
			e.open = false
			_ = unix.Close(e.fd)
		}
	})
}

// untrack reports whether fd was tracked and open, and forgets it.
func untrack(t testing.TB, fd int) bool {
	trackMu.Lock()
	defer trackMu.Unlock()
	e, ok := trackTab[t][fd]
	if !ok || !e.open {
		return false
	}
	e.open = false
	delete(trackTab[t], fd)
	return true
}

// Close closes a descriptor made by Pipe or Eventfd before the test ends.
func Close(t testing.TB, fd int) {
	t.Helper()
	if !untrack(t, fd) {
		t.Fatalf("testutil.Close: fd %d is not an open descriptor of this test", fd)
	}
	if err := unix.Close(fd); err != nil {
		t.Fatalf("close fd %d: %v", fd, err)
	}
}

// Disown tells the cleanup of t not to close fd: its ownership went
// elsewhere (an IO source with SetIOFdOwn(true), say).
func Disown(t testing.TB, fd int) {
	t.Helper()
	if !untrack(t, fd) {
		t.Fatalf("testutil.Disown: fd %d is not an open descriptor of this test", fd)
	}
}

// Pipe makes a pipe with O_CLOEXEC|O_NONBLOCK and returns its read and
// write ends. Both are closed when the test ends (see Close and Disown).
func Pipe(t testing.TB) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	track(t, p[0])
	track(t, p[1])
	return p[0], p[1]
}

// Eventfd makes an eventfd with counter 0 and EFD_CLOEXEC|EFD_NONBLOCK. It is
// closed when the test ends (see Close and Disown).
func Eventfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	track(t, fd)
	return fd
}

// Write writes b to fd in one write(2) and fails the test unless all of it
// was written.
func Write(t testing.TB, fd int, b []byte) {
	t.Helper()
	n, err := unix.Write(fd, b)
	if err != nil || n != len(b) {
		t.Fatalf("write fd %d: n=%d err=%v", fd, n, err)
	}
}

// samePath reports whether target names path, comparing cleaned absolute
// paths.
func samePath(target, path string) bool {
	if path == "" {
		return false
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return filepath.Clean(target) == filepath.Clean(path)
}
