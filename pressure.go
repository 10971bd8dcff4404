//go:build linux

package sdevent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// The default trigger, as sd-event's for every resource: "some" pressure of
// 200ms in a 2s window (the window the kernel lets unprivileged processes use).
const (
	pressureType      = "some"
	pressureThreshold = 200 * time.Millisecond
	pressureWindow    = 2 * time.Second
)

// pressureResource is what differs between memory, CPU and IO pressure
// sources: the names sd-event derives from the resource ("cpu":
// $CPU_PRESSURE_WATCH, $CPU_PRESSURE_WRITE, cpu.pressure,
// /proc/pressure/cpu) and the source kind, one per resource as in C.
type pressureResource struct {
	name string
	kind source.Type
}

var (
	memoryPressure = pressureResource{"memory", source.MemoryPressure}
	cpuPressure    = pressureResource{"cpu", source.CPUPressure}
	ioPressure     = pressureResource{"io", source.IOPressure}
)

func (r pressureResource) watchEnv() string { return strings.ToUpper(r.name) + "_PRESSURE_WATCH" }
func (r pressureResource) writeEnv() string { return strings.ToUpper(r.name) + "_PRESSURE_WRITE" }

// isPressure reports whether t is one of the pressure kinds.
func isPressure(t source.Type) bool {
	return t == source.MemoryPressure || t == source.CPUPressure || t == source.IOPressure
}

// pressure is a pressure source's part of Source.
type pressure struct {
	handler    Handler
	fd         int
	events     uint32 // EPOLLPRI for PSI files, EPOLLIN for sockets and fifos
	revents    uint32
	write      []byte // the trigger still to be written before watching
	locked     bool   // set from the environment or written: no changes
	registered bool
	inWrite    bool
}

// AddCPUPressure calls h when the service is under CPU pressure
// (sd_event_add_cpu_pressure, systemd 261+). It works as AddMemoryPressure,
// with $CPU_PRESSURE_WATCH and $CPU_PRESSURE_WRITE (systemd sets them for
// units with CPUPressureWatch=), the cgroup's cpu.pressure and
// /proc/pressure/cpu, and the same default trigger and errors. A nil h does
// nothing, as C's default handler for CPU pressure.
func (e *Event) AddCPUPressure(h Handler) (*Source, error) {
	if h == nil {
		h = func(*Source) error { return nil }
	}
	return e.addPressure("add cpu pressure", cpuPressure, h)
}

// AddIOPressure calls h when the service is under IO pressure
// (sd_event_add_io_pressure, systemd 261+). It works as AddMemoryPressure,
// with $IO_PRESSURE_WATCH and $IO_PRESSURE_WRITE (systemd sets them for
// units with IOPressureWatch=), the cgroup's io.pressure and
// /proc/pressure/io, and the same default trigger and errors. A nil h does
// nothing, as C's default handler for IO pressure.
func (e *Event) AddIOPressure(h Handler) (*Source, error) {
	if h == nil {
		h = func(*Source) error { return nil }
	}
	return e.addPressure("add io pressure", ioPressure, h)
}

// SetCPUPressureType is SetMemoryPressureType for a CPU pressure source
// (sd_event_source_set_cpu_pressure_type); any other source gives EDOM.
// Unlike C and SetMemoryPressureType, it does not report whether it changed
// anything (the API pins a plain error); the same holds for the other CPU
// and IO setters.
// The kernel's system-wide /proc/pressure/cpu may refuse "full" (before
// Linux 5.13 it has no "full" line): the source is then switched off when
// the trigger is written, as in C.
func (s *Source) SetCPUPressureType(ty string) error {
	_, err := s.setPressureType("set cpu pressure type", cpuPressure.kind, ty)
	return err
}

// SetCPUPressurePeriod is SetMemoryPressurePeriod for a CPU pressure source
// (sd_event_source_set_cpu_pressure_period); any other source gives EDOM.
func (s *Source) SetCPUPressurePeriod(threshold, window time.Duration) error {
	_, err := s.setPressurePeriod("set cpu pressure period", cpuPressure.kind, threshold, window)
	return err
}

// SetIOPressureType is SetMemoryPressureType for an IO pressure source
// (sd_event_source_set_io_pressure_type); any other source gives EDOM.
func (s *Source) SetIOPressureType(ty string) error {
	_, err := s.setPressureType("set io pressure type", ioPressure.kind, ty)
	return err
}

// SetIOPressurePeriod is SetMemoryPressurePeriod for an IO pressure source
// (sd_event_source_set_io_pressure_period); any other source gives EDOM.
func (s *Source) SetIOPressurePeriod(threshold, window time.Duration) error {
	_, err := s.setPressurePeriod("set io pressure period", ioPressure.kind, threshold, window)
	return err
}

// addPressure is AddMemoryPressure, AddCPUPressure and AddIOPressure: h is
// the handler, never nil here.
func (e *Event) addPressure(op string, r pressureResource, h Handler) (*Source, error) {
	if err := e.addable(op); err != nil {
		return nil, err
	}
	watch, fallback, write, locked, err := r.target()
	if err != nil {
		return nil, opErr(op, err)
	}
	p, err := openPressure(watch, fallback, len(write) > 0, locked)
	if err != nil {
		return nil, opErr(op, err)
	}
	p.write, p.locked, p.handler = write, locked, h
	s := e.newSource(r.kind, source.On)
	s.part = p
	// The trigger must be written before the fd is polled; it is written
	// at the next Prepare, so that its type and period may still change.
	if len(p.write) > 0 {
		p.inWrite = true
		e.pressureWrite = append(e.pressureWrite, s)
	} else if err := e.pressureRegister(s, source.On); err != nil {
		s.nref = 0
		s.release()
		return nil, opErr(op, err)
	}
	return s, nil
}

// pressureDir holds the kernel's system-wide pressure files; the internal
// tests point it at a directory of their own.
var pressureDir = "/proc/pressure"

// target decides what to watch and what to write, as sd-event, which reads
// the variables with secure_getenv.
func (r pressureResource) target() (watch, fallback string, write []byte, locked bool, err error) {
	if env, ok := secureLookupEnv(r.watchEnv()); ok {
		if env == "" || env == "/dev/null" {
			return "", "", nil, false, fmt.Errorf("%s pressure watching is off ($%s=%q): %w", r.name, r.watchEnv(), env, unix.EHOSTDOWN)
		}
		if !filepath.IsAbs(env) || filepath.Clean(env) != env {
			return "", "", nil, false, fmt.Errorf("$%s is not a normalized absolute path: %q: %w", r.watchEnv(), env, unix.EBADMSG)
		}
		if w, _ := secureLookupEnv(r.writeEnv()); w != "" {
			if write, err = base64.StdEncoding.DecodeString(w); err != nil {
				return "", "", nil, false, fmt.Errorf("$%s: %w: %w", r.writeEnv(), err, unix.EINVAL)
			}
		}
		return env, "", write, true, nil
	}
	switch ok, err := pressureSupported(pressureDir); {
	case err != nil:
		return "", "", nil, false, err
	case !ok:
		return "", "", nil, false, fmt.Errorf("no usable pressure stall information in this kernel: %w", unix.EOPNOTSUPP)
	}
	proc := filepath.Join(pressureDir, r.name)
	write = fmt.Appendf(nil, "%s %d %d\x00", pressureType,
		pressureThreshold/time.Microsecond, pressureWindow/time.Microsecond)
	if cg, ok := unifiedCgroup(); ok {
		return filepath.Join("/sys/fs/cgroup", cg, r.name+".pressure"), proc, write, false, nil
	}
	return proc, "", write, false, nil
}

// pressureSupported reports whether the kernel's pressure stall information
// can be used, as sd-event's is_pressure_supported decides: each of the
// files cpu, io and memory in dir must open and read (they may exist while
// PSI is off, and then refuse the read). One that is missing or whose read
// is not supported means no; another error is returned. Unlike C the
// answer is not cached.
func pressureSupported(dir string) (bool, error) {
	for _, name := range [...]string{"cpu", "io", "memory"} {
		err := readOneByte(filepath.Join(dir, name))
		switch {
		case err == nil:
		case pressureUnsupported(err):
			return false, nil
		default:
			return false, err
		}
	}
	return true, nil
}

// pressureUnsupported reports whether err, from reading a pressure file,
// means that the kernel has no usable PSI: ENOENT, or one of the errnos
// systemd counts as "not supported" (ERRNO_IS_NOT_SUPPORTED).
func pressureUnsupported(err error) bool {
	for _, errno := range [...]unix.Errno{unix.ENOENT, unix.EOPNOTSUPP, unix.ENOTTY, unix.ENOSYS, unix.EAFNOSUPPORT,
		unix.EPFNOSUPPORT, unix.EPROTONOSUPPORT, unix.ESOCKTNOSUPPORT, unix.ENOPROTOOPT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// readOneByte reads at most one byte of the regular file path, as
// read_virtual_file does with no size to keep: a file that is not regular
// is EBADF.
func readOneByte(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // only read from
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &os.PathError{Op: "read", Path: path, Err: unix.EBADF}
	}
	if _, err := f.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
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

// openPressure opens what to watch, the way sd-event does for each
// kind of file.
func openPressure(watch, fallback string, writing, locked bool) (*pressure, error) {
	pathFd, watch, err := openPressurePath(watch, fallback, locked)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sys.Close(pathFd) }() // an O_PATH fd, only looked through
	var st unix.Stat_t
	if err := unix.Fstat(pathFd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	p := &pressure{fd: -1}
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
		p.fd, p.events = fd, unix.EPOLLIN
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFCHR:
		flags := unix.O_RDONLY
		if writing {
			flags = unix.O_RDWR
		}
		fd, err := sys.Open("/proc/self/fd/"+strconv.Itoa(pathFd), flags|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: watch, Err: err}
		}
		p.fd, p.events = fd, unix.EPOLLIN
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			// A regular file must be a PSI file, where the kernel signals
			// with EPOLLPRI.
			if err := checkPSI(fd, watch); err != nil {
				_ = sys.Close(fd)
				return nil, err
			}
			p.events = unix.EPOLLPRI
		}
	case unix.S_IFDIR:
		return nil, &os.PathError{Op: "watch", Path: watch, Err: unix.EISDIR}
	default:
		return nil, &os.PathError{Op: "watch", Path: watch, Err: unix.EBADF}
	}
	return p, nil
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

// pressureRegister polls the fd: for writability while the trigger is still being
// written, else for the pressure events.
func (e *Event) pressureRegister(s *Source, enabled source.Enabled) error {
	p := s.pressure()
	if p.inWrite {
		return nil // the next Prepare writes the trigger, then registers
	}
	events := p.events
	if len(p.write) > 0 {
		events, enabled = unix.EPOLLOUT, source.On
	}
	return e.pollRegister(s, p.fd, events, enabled, &p.registered)
}

// writePressure writes the trigger. It reports true while part of it
// is still to be written. A kernel that refuses it (PSI built but disabled
// answers EOPNOTSUPP only here) switches the source off, as a failing
// handler would.
func (e *Event) writePressure(s *Source) (bool, error) {
	p := s.pressure()
	p.locked = true
	if len(p.write) == 0 {
		return false, nil
	}
	n, err := unix.Write(p.fd, p.write)
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR {
			p.write = nil
			if e.debugOn() {
				// As source_memory_pressure_write.
				e.logSource("writing pressure trigger failed, disabling source", s, os.NewSyscallError("write", err))
			}
			_ = e.setEnabled(s, source.Off) // turning off cannot fail; C asserts it
			return false, nil
		}
		n = 0
	}
	p.write = p.write[n:]
	if len(p.write) > 0 {
		return n > 0, nil
	}
	p.write = nil
	if s.online() {
		return false, e.pressureRegister(s, s.enabled())
	}
	return false, nil
}

// writePressureTriggers runs before each iteration polls: it writes
// the triggers of new pressure sources and starts watching them.
func (e *Event) writePressureTriggers() error {
	for len(e.pressureWrite) > 0 {
		s := e.pressureWrite[0]
		e.pressureWrite = e.pressureWrite[1:]
		s.pressure().inWrite = false
		if _, err := e.writePressure(s); err != nil {
			return err
		}
		if len(s.pressure().write) > 0 && s.online() && !s.pressure().registered {
			if err := e.pressureRegister(s, s.enabled()); err != nil {
				return err
			}
		}
	}
	e.pressureWrite = nil
	return nil
}

// pressureBeforeHandler finishes a trigger write, drains what the fd has to read,
// and reports whether the handler should run. Hang-up or error without
// pressure is EIO, handled like a handler's error.
func (e *Event) pressureBeforeHandler(s *Source) (bool, error) {
	p := s.pressure()
	if more, err := e.writePressure(s); err != nil || more {
		return false, err
	}
	if p.revents&(unix.EPOLLIN|unix.EPOLLPRI) == 0 {
		if p.revents&(unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
			return false, fmt.Errorf("pressure fd hung up: %w", unix.EIO)
		}
		return false, nil
	}
	if p.revents&unix.EPOLLIN != 0 {
		// Drain what is queued. As in C, only a transient failure is no
		// error; any other counts as the handler's.
		var buf [unix.PathMax]byte
		if _, err := unix.Read(p.fd, buf[:]); err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return false, fmt.Errorf("drain pressure fd: %w", os.NewSyscallError("read", err))
		}
	}
	return true, nil
}

func (e *Event) pressureUnregister(s *Source) {
	e.pollUnregister(s, s.pressure().fd, &s.pressure().registered)
}

// pressureReady makes the source pending with the events the poll reported.
func (e *Event) pressureReady(s *Source, events uint32) {
	e.markReady(s, &s.pressure().revents, events)
}

// releasePressure closes the fd of a freed source.
func (s *Source) releasePressure() {
	if s.pressure().fd >= 0 {
		_ = sys.Close(s.pressure().fd)
		s.pressure().fd = -1
	}
}

func (e *Event) disconnectPressure(s *Source) {
	p := s.pressure()
	if p.inWrite {
		for i, x := range e.pressureWrite {
			if x == s {
				e.pressureWrite = append(e.pressureWrite[:i], e.pressureWrite[i+1:]...)
				break
			}
		}
		p.inWrite = false
	}
	e.pressureUnregister(s)
	e.releaseSlot(s)
}

// setPressureType is SetMemoryPressureType, SetCPUPressureType and
// SetIOPressureType.
func (s *Source) setPressureType(op string, kind source.Type, ty string) (bool, error) {
	if err := s.pressureOnly(op, kind); err != nil {
		return false, err
	}
	if ty != "some" && ty != "full" {
		return false, opErr(op, unix.EINVAL)
	}
	p, old, rest, err := s.pressureTrigger(op)
	if err != nil {
		return false, err
	}
	if old == ty {
		return false, nil
	}
	p.write = append(append([]byte(ty), ' '), rest...)
	return true, nil
}

// setPressurePeriod is SetMemoryPressurePeriod, SetCPUPressurePeriod and
// SetIOPressurePeriod.
func (s *Source) setPressurePeriod(op string, kind source.Type, threshold, window time.Duration) (bool, error) {
	if err := s.pressureOnly(op, kind); err != nil {
		return false, err
	}
	if threshold < time.Microsecond || window < time.Microsecond || window == Infinity {
		return false, opErr(op, unix.ERANGE)
	}
	if threshold > window {
		return false, opErr(op, unix.EINVAL)
	}
	p, ty, _, err := s.pressureTrigger(op)
	if err != nil {
		return false, err
	}
	w := fmt.Appendf(nil, "%s %d %d\x00", ty, threshold/time.Microsecond, window/time.Microsecond)
	if bytes.Equal(w, p.write) {
		return false, nil
	}
	p.write = w
	return true, nil
}

// pressureOnly refuses a source of another kind than the setter's, as C:
// a CPU pressure setter on a memory pressure source is EDOM too.
func (s *Source) pressureOnly(op string, kind source.Type) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind() != kind {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// pressureTrigger returns what a pressure source writes, split into its
// type and the rest, once the arguments were checked: the trigger is locked
// (EBUSY) only after that, as in C.
func (s *Source) pressureTrigger(op string) (p *pressure, ty string, rest []byte, err error) {
	p = s.pressure()
	if p.locked {
		return nil, "", nil, opErr(op, unix.EBUSY)
	}
	t, rest, ok := bytes.Cut(p.write, []byte(" "))
	if !ok || (string(t) != "some" && string(t) != "full") {
		return nil, "", nil, opErr(op, unix.EINVAL)
	}
	return p, string(t), rest, nil
}
