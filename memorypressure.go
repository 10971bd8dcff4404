//go:build linux

package sdevent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// The default trigger, as sd-event's: "some" pressure of 200ms in a 2s window
// (the window the kernel lets unprivileged processes use).
const (
	memoryPressureType      = "some"
	memoryPressureThreshold = 200 * time.Millisecond
	memoryPressureWindow    = 2 * time.Second
)

// memoryPressure is a memory pressure source's part of Source.
type memoryPressure struct {
	handler    Handler
	fd         int
	events     uint32 // EPOLLPRI for PSI files, EPOLLIN for sockets and fifos
	revents    uint32
	write      []byte // the trigger still to be written before watching
	locked     bool   // set from the environment or written: no changes
	registered bool
	inWrite    bool
}

// AddMemoryPressure calls h when the service is under memory pressure, read
// from the kernel's pressure stall information (sd_event_add_memory_pressure,
// systemd 254+). What is watched: $MEMORY_PRESSURE_WATCH (a PSI file, FIFO,
// character device or AF_UNIX socket) with the trigger in
// $MEMORY_PRESSURE_WRITE (base64), as systemd sets them for units with
// MemoryPressureWatch=; else the cgroup's memory.pressure (cgroup v2); else
// /proc/pressure/memory. The default trigger is "some 200ms per 2s"; change it
// before the first iteration with SetMemoryPressureType and
// SetMemoryPressurePeriod. A nil h releases memory to the system
// (debug.FreeOSMemory, the analogue of sd_event_trim_memory). The source
// starts On. Errors: $MEMORY_PRESSURE_WATCH empty or /dev/null EHOSTDOWN
// (explicitly off); not an absolute, normalized path EBADMSG; no PSI in the
// kernel EOPNOTSUPP; a regular file outside procfs and cgroupfs ENOTTY; a
// directory EISDIR. As in C, a PSI file named by $MEMORY_PRESSURE_WATCH
// without $MEMORY_PRESSURE_WRITE gets no trigger, and the kernel reports a
// PSI file without a trigger as always ready: the source then fires at
// every iteration.
func (e *Event) AddMemoryPressure(h Handler) (*Source, error) {
	const op = "add memory pressure"
	if err := e.addable(op); err != nil {
		return nil, err
	}
	watch, fallback, write, locked, err := memoryPressureTarget()
	if err != nil {
		return nil, opErr(op, err)
	}
	mp, err := openMemoryPressure(watch, fallback, len(write) > 0, locked)
	if err != nil {
		return nil, opErr(op, err)
	}
	mp.write, mp.locked = write, locked
	s := e.newSource(source.MemoryPressure, source.On)
	s.mp = mp
	mp.handler = h
	if h == nil {
		mp.handler = func(*Source) error { debug.FreeOSMemory(); return nil }
	}
	// The trigger must be written before the fd is polled; it is written
	// at the next Prepare, so that its type and period may still change.
	if len(mp.write) > 0 {
		mp.inWrite = true
		e.mpWrite = append(e.mpWrite, s)
	} else if err := e.mpRegister(s, source.On); err != nil {
		s.nref = 0
		s.release()
		return nil, opErr(op, err)
	}
	return s, nil
}

// memoryPressureTarget decides what to watch and what to write, as sd-event.
func memoryPressureTarget() (watch, fallback string, write []byte, locked bool, err error) {
	if env, ok := os.LookupEnv("MEMORY_PRESSURE_WATCH"); ok {
		if env == "" || env == "/dev/null" {
			return "", "", nil, false, fmt.Errorf("memory pressure watching is off ($MEMORY_PRESSURE_WATCH=%q): %w", env, unix.EHOSTDOWN)
		}
		if !filepath.IsAbs(env) || filepath.Clean(env) != env {
			return "", "", nil, false, fmt.Errorf("$MEMORY_PRESSURE_WATCH is not a normalized absolute path: %q: %w", env, unix.EBADMSG)
		}
		if w := os.Getenv("MEMORY_PRESSURE_WRITE"); w != "" {
			if write, err = base64.StdEncoding.DecodeString(w); err != nil {
				return "", "", nil, false, fmt.Errorf("$MEMORY_PRESSURE_WRITE: %w: %w", err, unix.EINVAL)
			}
		}
		return env, "", write, true, nil
	}
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		return "", "", nil, false, fmt.Errorf("no pressure stall information in this kernel: %w", unix.EOPNOTSUPP)
	}
	write = fmt.Appendf(nil, "%s %d %d\x00", memoryPressureType,
		memoryPressureThreshold/time.Microsecond, memoryPressureWindow/time.Microsecond)
	if cg, ok := unifiedCgroup(); ok {
		return filepath.Join("/sys/fs/cgroup", cg, "memory.pressure"), "/proc/pressure/memory", write, false, nil
	}
	return "/proc/pressure/memory", "", write, false, nil
}

// unifiedCgroup returns this process's cgroup when the hierarchy is cgroup
// v2 only (as sd-event, legacy and hybrid set-ups watch the system).
func unifiedCgroup() (string, bool) {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", false
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// openMemoryPressure opens what to watch, the way sd-event does for each
// kind of file.
func openMemoryPressure(watch, fallback string, writing, locked bool) (*memoryPressure, error) {
	pathFd, watch, err := openPressurePath(watch, fallback, locked)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sys.Close(pathFd) }() // an O_PATH fd, only looked through
	var st unix.Stat_t
	if err := unix.Fstat(pathFd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	mp := &memoryPressure{fd: -1}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		fd, err := sys.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(pathFd)}); err != nil && err != unix.EINPROGRESS {
			_ = sys.Close(fd)
			return nil, &os.PathError{Op: "connect", Path: watch, Err: err}
		}
		mp.fd, mp.events = fd, unix.EPOLLIN
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFCHR:
		flags := unix.O_RDONLY
		if writing {
			flags = unix.O_RDWR
		}
		fd, err := sys.Open("/proc/self/fd/"+strconv.Itoa(pathFd), flags|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: watch, Err: err}
		}
		mp.fd, mp.events = fd, unix.EPOLLIN
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			// A regular file must be a PSI file, where the kernel signals
			// with EPOLLPRI.
			if err := checkPSI(fd, watch); err != nil {
				_ = sys.Close(fd)
				return nil, err
			}
			mp.events = unix.EPOLLPRI
		}
	case unix.S_IFDIR:
		return nil, &os.PathError{Op: "watch", Path: watch, Err: unix.EISDIR}
	default:
		return nil, &os.PathError{Op: "watch", Path: watch, Err: unix.EBADF}
	}
	return mp, nil
}

// openPressurePath opens watch, or fallback when watch does not exist,
// with O_PATH, and returns it and which of them it is.
func openPressurePath(watch, fallback string, locked bool) (int, string, error) {
	pathFd, err := sys.Open(watch, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) && fallback != "" {
		pathFd, err = sys.Open(fallback, unix.O_PATH|unix.O_CLOEXEC, 0)
		watch = fallback
		if errors.Is(err, unix.ENOENT) {
			return -1, watch, fmt.Errorf("no pressure stall information at %s: %w", watch, unix.EOPNOTSUPP)
		}
	} else if errors.Is(err, unix.ENOENT) && !locked {
		return -1, watch, fmt.Errorf("no pressure stall information at %s: %w", watch, unix.EOPNOTSUPP)
	}
	if err != nil {
		return -1, watch, &os.PathError{Op: "open", Path: watch, Err: err}
	}
	return pathFd, watch, nil
}

// checkPSI refuses a regular file that is not in procfs or cgroupfs, where
// PSI files are.
func checkPSI(fd int, watch string) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return os.NewSyscallError("fstatfs", err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC && sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is neither in procfs nor in cgroupfs: %w", watch, unix.ENOTTY)
	}
	return nil
}

// mpRegister polls the fd: for writability while the trigger is still being
// written, else for the pressure events.
func (e *Event) mpRegister(s *Source, enabled source.Enabled) error {
	mp := s.mp
	if mp.inWrite {
		return nil // the next Prepare writes the trigger, then registers
	}
	events := mp.events
	if len(mp.write) > 0 {
		events, enabled = unix.EPOLLOUT, source.On
	}
	return e.pollRegister(s, mp.fd, events, enabled, &mp.registered)
}

// writeMemoryPressure writes the trigger. It reports true while part of it
// is still to be written. A kernel that refuses it (PSI built but disabled
// answers EOPNOTSUPP only here) switches the source off, as a failing
// handler would.
func (e *Event) writeMemoryPressure(s *Source) (bool, error) {
	mp := s.mp
	mp.locked = true
	if len(mp.write) == 0 {
		return false, nil
	}
	n, err := unix.Write(mp.fd, mp.write)
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR {
			mp.write = nil
			_ = e.setEnabled(s, source.Off) // turning off cannot fail; C asserts it
			return false, nil
		}
		n = 0
	}
	mp.write = mp.write[n:]
	if len(mp.write) > 0 {
		return n > 0, nil
	}
	mp.write = nil
	if s.online() {
		return false, e.mpRegister(s, s.enabled)
	}
	return false, nil
}

// writeMemoryPressureTriggers runs before each iteration polls: it writes
// the triggers of new memory pressure sources and starts watching them.
func (e *Event) writeMemoryPressureTriggers() error {
	for len(e.mpWrite) > 0 {
		s := e.mpWrite[0]
		e.mpWrite = e.mpWrite[1:]
		s.mp.inWrite = false
		if _, err := e.writeMemoryPressure(s); err != nil {
			return err
		}
		if len(s.mp.write) > 0 && s.online() && !s.mp.registered {
			if err := e.mpRegister(s, s.enabled); err != nil {
				return err
			}
		}
	}
	e.mpWrite = nil
	return nil
}

// mpBeforeHandler finishes a trigger write, drains what the fd has to read,
// and reports whether the handler should run. Hang-up or error without
// pressure is EIO, handled like a handler's error.
func (e *Event) mpBeforeHandler(s *Source) (bool, error) {
	mp := s.mp
	if more, err := e.writeMemoryPressure(s); err != nil || more {
		return false, err
	}
	if mp.revents&(unix.EPOLLIN|unix.EPOLLPRI) == 0 {
		if mp.revents&(unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
			return false, fmt.Errorf("memory pressure fd hung up: %w", unix.EIO)
		}
		return false, nil
	}
	if mp.revents&unix.EPOLLIN != 0 {
		// Drain what is queued. As in C, only a transient failure is no
		// error; any other counts as the handler's.
		var buf [unix.PathMax]byte
		if _, err := unix.Read(mp.fd, buf[:]); err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return false, fmt.Errorf("drain memory pressure fd: %w", os.NewSyscallError("read", err))
		}
	}
	return true, nil
}

func (e *Event) mpUnregister(s *Source) { e.pollUnregister(s.mp.fd, &s.mp.registered) }

// mpReady makes the source pending with the events the poll reported.
func (e *Event) mpReady(s *Source, events uint32) { e.markReady(s, &s.mp.revents, events) }

// releaseMemoryPressure closes the fd of a freed source.
func (s *Source) releaseMemoryPressure() {
	if s.mp.fd >= 0 {
		_ = sys.Close(s.mp.fd)
		s.mp.fd = -1
	}
}

func (e *Event) disconnectMemoryPressure(s *Source) {
	mp := s.mp
	if mp.inWrite {
		for i, x := range e.mpWrite {
			if x == s {
				e.mpWrite = append(e.mpWrite[:i], e.mpWrite[i+1:]...)
				break
			}
		}
		mp.inWrite = false
	}
	e.mpUnregister(s)
	e.releaseSlot(s)
}

// SetMemoryPressureType sets the pressure kind of the trigger, "some" or
// "full" (sd_event_source_set_memory_pressure_type). It reports whether it
// changed anything. Once the trigger was written, or when what is watched
// came from $MEMORY_PRESSURE_WATCH (with or without $MEMORY_PRESSURE_WRITE),
// it gives EBUSY.
func (s *Source) SetMemoryPressureType(ty string) (bool, error) {
	const op = "set memory pressure type"
	if err := s.mpOnly(op); err != nil {
		return false, err
	}
	if ty != "some" && ty != "full" {
		return false, opErr(op, unix.EINVAL)
	}
	mp, err := s.mpTrigger(op)
	if err != nil {
		return false, err
	}
	old, rest, ok := bytes.Cut(mp.write, []byte(" "))
	if !ok || (string(old) != "some" && string(old) != "full") {
		return false, opErr(op, unix.EINVAL)
	}
	if string(old) == ty {
		return false, nil
	}
	mp.write = append(append([]byte(ty), ' '), rest...)
	return true, nil
}

// SetMemoryPressurePeriod sets the trigger's threshold: pressure of
// threshold within window (sd_event_source_set_memory_pressure_period). Both
// must be at least a microsecond and the window below Infinity (ERANGE), and
// threshold <= window (EINVAL); EBUSY as SetMemoryPressureType. It reports
// whether it changed anything.
func (s *Source) SetMemoryPressurePeriod(threshold, window time.Duration) (bool, error) {
	const op = "set memory pressure period"
	if err := s.mpOnly(op); err != nil {
		return false, err
	}
	if threshold < time.Microsecond || window < time.Microsecond || window == Infinity {
		return false, opErr(op, unix.ERANGE)
	}
	if threshold > window {
		return false, opErr(op, unix.EINVAL)
	}
	mp, err := s.mpTrigger(op)
	if err != nil {
		return false, err
	}
	ty, _, ok := bytes.Cut(mp.write, []byte(" "))
	if !ok || (string(ty) != "some" && string(ty) != "full") {
		return false, opErr(op, unix.EINVAL)
	}
	w := fmt.Appendf(nil, "%s %d %d\x00", ty, threshold/time.Microsecond, window/time.Microsecond)
	if bytes.Equal(w, mp.write) {
		return false, nil
	}
	mp.write = w
	return true, nil
}

func (s *Source) mpOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind != source.MemoryPressure {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// mpTrigger returns what a memory pressure source writes, once the
// arguments were checked: the trigger is locked (EBUSY) only after that,
// as in C.
func (s *Source) mpTrigger(op string) (*memoryPressure, error) {
	if s.mp.locked {
		return nil, opErr(op, unix.EBUSY)
	}
	return s.mp, nil
}
