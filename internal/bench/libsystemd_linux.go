//go:build libsystemd && cgo

package bench

/*
#cgo pkg-config: libsystemd
#include <stdint.h>

int64_t sdb_defer(long n);
int64_t sdb_io(long n, int idle);
int sdb_timers(long n, int64_t *add, int64_t *total);
int64_t sdb_rearm(long n);
int64_t sdb_signal(long n);
int64_t sdb_children(long n);
int sdb_memory(int n, double *io_bytes, double *timer_bytes);
int64_t sdb_ping(int fd, long n);
int64_t sdb_echo(int fd, long n);
int sdb_spawn_exe(char *buf, int size);
int64_t sdb_floor_eventfd(long n);
int sdb_proxy(int listen_fd, int port, long n);
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"

	"github.com/go-sdevent/sdevent/internal/sdlib"
)

// Libsystemd runs the workloads on libsystemd's sd-event, the C original,
// with the code of sdbench.c (libsystemd_linux.c): each workload is one cgo
// call that runs a loop of its own in the calling thread and measures
// itself, so cgo's cost is not counted.
//
// Two workloads differ from sdbench.c because the process is a Go process:
// the signal one blocks SIGUSR1 in the C thread and sends it with tgkill to
// that thread (a process-directed kill would go to a Go thread), and the
// children one starts the children with posix_spawn instead of fork. Both
// restore the thread's signal mask before returning.
type Libsystemd struct{}

func libsystemd() Contender { return Libsystemd{} }

func (Libsystemd) Name() string { return "libsystemd" }

// Version says which libsystemd the process loaded: its systemd version
// and file, as sdlib finds them.
func (Libsystemd) Version() string {
	path, version, err := sdlib.Loaded()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("%d (%s)", version, path)
}

// elapsed turns the result of a C workload into a duration or an error.
func elapsed(what string, r C.int64_t) (time.Duration, error) {
	if r < 0 {
		return 0, fmt.Errorf("sd-event %s: %w", what, syscall.Errno(-r))
	}
	return time.Duration(r), nil
}

func (Libsystemd) Defer(n int) (time.Duration, error) {
	return elapsed("defer", C.sdb_defer(C.long(n)))
}

func (Libsystemd) IO(n, idle int) (time.Duration, error) {
	return elapsed("io", C.sdb_io(C.long(n), C.int(idle)))
}

func (Libsystemd) Timers(n int) (add, total time.Duration, err error) {
	var a, t C.int64_t
	if r := C.sdb_timers(C.long(n), &a, &t); r < 0 {
		return 0, 0, fmt.Errorf("sd-event timers: %w", syscall.Errno(-r))
	}
	return time.Duration(a), time.Duration(t), nil
}

func (Libsystemd) TimerRearm(n int) (time.Duration, error) {
	return elapsed("timer rearm", C.sdb_rearm(C.long(n)))
}

func (Libsystemd) Signal(n int) (time.Duration, error) {
	return elapsed("signal", C.sdb_signal(C.long(n)))
}

func (Libsystemd) Children(n int) (ChildrenRun, error) {
	d, err := elapsed("children", C.sdb_children(C.long(n)))
	return ChildrenRun{Elapsed: d}, err
}

// PingPong runs the pingpong workload with libsystemd's sd-event at both
// ends; the peer is a Go process too, whose C loop runs in a cgo call.
func (c Libsystemd) PingPong(n int) (PingPongRun, error) { return pingPong(c, n) }

// Ping is the pinging end: a C sd-event loop with one IO source.
func (Libsystemd) Ping(fd, n int) (time.Duration, error) {
	return elapsed("ping", C.sdb_ping(C.int(fd), C.long(n)))
}

// Echo is the echoing end: a C sd-event loop with one IO source.
func (Libsystemd) Echo(fd, n int) error {
	_, err := elapsed("echo", C.sdb_echo(C.int(fd), C.long(n)))
	return err
}

// ProxyConns runs the short connections through a C sd-event proxy; the
// peer is a Go process, whose proxy runs in a cgo call.
func (c Libsystemd) ProxyConns(n int) (ProxyRun, error) { return runProxy(c, n, 0) }

// ProxyBulk runs the bulk transfer through a C sd-event proxy.
func (c Libsystemd) ProxyBulk(mibs int) (ProxyRun, error) { return runProxy(c, 0, mibs) }

// Proxy is systemd-socket-proxyd's logic on a C sd-event loop (proxier).
func (Libsystemd) Proxy(listenFd, port, n int) error {
	if r := C.sdb_proxy(C.int(listenFd), C.int(port), C.long(n)); r < 0 {
		return fmt.Errorf("sd-event proxy: %w", syscall.Errno(-r))
	}
	return nil
}

// spawnExe starts a child the way the C children workload does and returns
// what its /proc/PID/exe pointed to as soon as the start returned.
func (Libsystemd) spawnExe() (string, error) {
	var buf [4096]C.char
	if r := C.sdb_spawn_exe(&buf[0], C.int(len(buf))); r < 0 {
		return "", fmt.Errorf("spawn: %w", syscall.Errno(-r))
	}
	return C.GoString(&buf[0]), nil
}

// IdleMemory measures the bytes malloc hands out per idle IO source and per
// idle timer (mallinfo2's uordblks and hblkhd: mmapped blocks count, as Go's
// slices do), the kernel's share left out as for Go.
func (Libsystemd) IdleMemory(n int) (ioBytes, timerBytes float64, err error) {
	var io, timer C.double
	if r := C.sdb_memory(C.int(n), &io, &timer); r < 0 {
		return 0, 0, fmt.Errorf("sd-event memory: %w", syscall.Errno(-r))
	}
	return float64(io), float64(timer), nil
}

// FloorEventfd is io_idle0 in C without a loop (FloorMeter).
func (Libsystemd) FloorEventfd(n int) (time.Duration, error) {
	return elapsed("floor eventfd", C.sdb_floor_eventfd(C.long(n)))
}
