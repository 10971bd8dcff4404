package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// peerEnv names the environment variable that makes a process the peer of
// a workload run in two processes (see Peer): "WORKLOAD CONTENDER N [ARG]",
// the workload's peer end to run, the contender that runs it and its count
// (pingpong: messages to echo; proxy: connections to proxy, ARG the
// backend's port). The peer's end of a control socketpair is its
// descriptor 3 (pingpong's messages go through it too), further files
// follow.
const peerEnv = "SDEVENT_BENCH_PEER"

// peerFd is the peer's end of the control socketpair, its first extra file.
const peerFd = 3

// peerReady is what a peer sends once it is running, before its part of
// the workload: the parent's clock starts after it, not while the peer
// starts up.
var peerReady = []byte("ready")

// peerProc is a peer process that startPeer started, ready.
type peerProc struct {
	cmd      *exec.Cmd
	ctl      int // this end of the control socketpair, non-blocking SOCK_SEQPACKET
	stderr   bytes.Buffer
	watchdog *time.Timer
}

// startPeer starts this executable again as a peer with peerEnv set to v
// and this process's GOMAXPROCS, its end of a new AF_UNIX SOCK_SEQPACKET
// socketpair as descriptor 3 and extra from descriptor 4 on, and waits for
// it to say it is ready. A peer not done after limit is killed, and
// onKill (if not nil) runs then too: its end of every socket closes, and
// whatever this process waits for on them ends. The caller ends the peer
// with finish or fail, then calls close.
func startPeer(v string, limit time.Duration, onKill func(), extra ...*os.File) (*peerProc, error) {
	if _, ok := os.LookupEnv(peerEnv); ok {
		// A program that does not call Peer first would otherwise start
		// peers of its own, without end.
		return nil, fmt.Errorf("%s is set: a peer starts no peers (does the program call Peer first?)", peerEnv)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	peerEnd := os.NewFile(uintptr(fds[1]), "peer-control")
	exe, err := os.Executable()
	if err != nil {
		_ = peerEnd.Close()
		_ = unix.Close(fds[0])
		return nil, err
	}
	p := &peerProc{cmd: exec.Command(exe), ctl: fds[0]}
	p.cmd.Env = append(os.Environ(), peerEnv+"="+v, "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	p.cmd.ExtraFiles = append([]*os.File{peerEnd}, extra...)
	p.cmd.Stderr = &p.stderr
	err = p.cmd.Start()
	_ = peerEnd.Close()
	if err != nil {
		_ = unix.Close(fds[0])
		return nil, fmt.Errorf("start the peer: %w", err)
	}
	p.watchdog = time.AfterFunc(limit, func() {
		_ = p.cmd.Process.Kill()
		if onKill != nil {
			onKill()
		}
	})
	var buf [256]byte
	msg, err := recvMessage(p.ctl, buf[:])
	if err == nil && !bytes.Equal(msg, peerReady) {
		err = fmt.Errorf("peer said %q, want %q", msg, peerReady)
	}
	if err != nil {
		err = p.fail(fmt.Errorf("peer not ready: %w", err))
		p.close()
		return nil, err
	}
	return p, nil
}

// fail kills and reaps the peer and returns err with what the peer wrote
// to its standard error.
func (p *peerProc) fail(err error) error {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		err = fmt.Errorf("%w (peer: %s)", err, s)
	}
	return err
}

// finish reads the peer's report of its CPU time and context switches and
// reaps it; on failure the peer is killed and reaped (fail).
func (p *peerProc) finish() (cpu time.Duration, switches int64, err error) {
	var buf [256]byte
	msg, err := recvMessage(p.ctl, buf[:])
	if err != nil {
		return 0, 0, p.fail(fmt.Errorf("peer's usage: %w", err))
	}
	cpu, switches, err = parseUsage(msg, runtime.GOMAXPROCS(0))
	if err != nil {
		return 0, 0, p.fail(err)
	}
	if err := p.cmd.Wait(); err != nil {
		return 0, 0, p.fail(fmt.Errorf("peer: %w", err))
	}
	return cpu, switches, nil
}

// close stops the watchdog and closes this end of the control socketpair.
func (p *peerProc) close() {
	p.watchdog.Stop()
	_ = unix.Close(p.ctl)
}

// recvMessage waits up to a minute for a message on the non-blocking
// SOCK_SEQPACKET socket fd and returns it; end of file is an error.
func recvMessage(fd int, buf []byte) ([]byte, error) {
	for {
		k, err := unix.Read(fd, buf)
		switch {
		case err == nil && k == 0:
			return nil, io.EOF
		case err == nil:
			return buf[:k], nil
		case err != unix.EAGAIN && err != unix.EINTR:
			return nil, os.NewSyscallError("read", err)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err = unix.Poll(pfd, int(time.Minute/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return nil, os.NewSyscallError("poll", err)
		}
		if err == nil && k == 0 {
			return nil, os.ErrDeadlineExceeded
		}
	}
}

// usageDelta returns the CPU time (user and system) and the context
// switches (voluntary and involuntary) from a to b.
func usageDelta(a, b *unix.Rusage) (time.Duration, int64) {
	cpu := time.Duration(b.Utime.Nano()-a.Utime.Nano()) + time.Duration(b.Stime.Nano()-a.Stime.Nano())
	return cpu, (b.Nvcsw - a.Nvcsw) + (b.Nivcsw - a.Nivcsw)
}

// parseUsage reads the peer's report, "usage CPU_NS SWITCHES GOMAXPROCS",
// or its error, "error TEXT"; a GOMAXPROCS other than gomaxprocs is an
// error.
func parseUsage(msg []byte, gomaxprocs int) (time.Duration, int64, error) {
	if text, ok := bytes.CutPrefix(msg, []byte("error ")); ok {
		return 0, 0, fmt.Errorf("peer: %s", text)
	}
	var cpu, switches int64
	var procs int
	if _, err := fmt.Sscanf(string(msg), "usage %d %d %d", &cpu, &switches, &procs); err != nil {
		return 0, 0, fmt.Errorf("peer's usage %q: %w", msg, err)
	}
	if procs != gomaxprocs {
		return 0, 0, fmt.Errorf("peer ran with GOMAXPROCS %d, want %d", procs, gomaxprocs)
	}
	return time.Duration(cpu), switches, nil
}

// Peer runs the peer end of a workload and exits, when this process was
// started as one (peerEnv set); otherwise it returns at once. Programs that
// run the pingpong or proxy workloads (sdevent, the tests) call it first
// thing in main or TestMain. It runs the named contender's end (pingpong:
// Echo on descriptor 3; proxy: Proxy on the listening socket, descriptor
// 4), then sends its CPU time and context switches over descriptor 3.
func Peer() {
	v, ok := os.LookupEnv(peerEnv)
	if !ok {
		return
	}
	err := peer(v)
	if err != nil {
		_, _ = unix.Write(peerFd, []byte("error "+err.Error()))
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func peer(v string) error {
	f := strings.Fields(v)
	var n int
	var err error
	if len(f) >= 3 {
		n, err = strconv.Atoi(f[2])
	}
	if len(f) < 3 || err != nil || n < 1 {
		return fmt.Errorf("%s=%q: want WORKLOAD CONTENDER N [ARG]", peerEnv, v)
	}
	var c Contender
	for _, cc := range Contenders() {
		if cc.Name() == f[1] {
			c = cc
		}
	}
	var run func() error
	switch {
	case f[0] == "pingpong" && len(f) == 3:
		if p, ok := c.(pingPonger); ok {
			run = func() error { return p.Echo(peerFd, n) }
		}
	case f[0] == "proxy" && len(f) == 4:
		port, err := strconv.ParseUint(f[3], 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("%s=%q: backend port %q", peerEnv, v, f[3])
		}
		if p, ok := c.(proxier); ok {
			run = func() error { return p.Proxy(proxyListenFd, int(port), n) }
		}
	default:
		return fmt.Errorf("%s=%q: want pingpong CONTENDER N, or proxy CONTENDER N PORT", peerEnv, v)
	}
	if run == nil {
		return fmt.Errorf("%s=%q: no such contender in this build", peerEnv, v)
	}
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
		return os.NewSyscallError("getrusage", err)
	}
	if _, err := unix.Write(peerFd, peerReady); err != nil {
		return os.NewSyscallError("write", err)
	}
	if err := run(); err != nil {
		return err
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru1); err != nil {
		return os.NewSyscallError("getrusage", err)
	}
	cpu, switches := usageDelta(&ru0, &ru1)
	_, err = unix.Write(peerFd, fmt.Appendf(nil, "usage %d %d %d", cpu.Nanoseconds(), switches, runtime.GOMAXPROCS(0)))
	return os.NewSyscallError("write", err)
}
