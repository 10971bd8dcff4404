package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// pingSize is the size of every pingpong message, each way.
const pingSize = 64

// peerEnv names the environment variable that makes a process the peer of
// a pingpong run (see Peer): "CONTENDER N", the contender whose Echo runs
// and the number of messages it echoes. The peer's end of the socketpair
// is its descriptor 3.
const peerEnv = "SDEVENT_BENCH_PEER"

// peerFd is the peer's end of the socketpair, its first extra file.
const peerFd = 3

// pingPonger is a contender's two ends of the pingpong workload. Neither
// closes fd, a non-blocking AF_UNIX SOCK_SEQPACKET socket.
type pingPonger interface {
	// Ping sends a message of pingSize bytes and waits for the reply, n
	// times, and returns the time from the first send to the last reply.
	Ping(fd, n int) (time.Duration, error)
	// Echo waits for n messages and sends each back.
	Echo(fd, n int) error
}

// peerReady is what a peer sends once it is running, before it echoes:
// the parent's clock starts after it, not while the peer starts up.
var peerReady = []byte("ready")

// pingPong runs the pingpong workload with c at both ends: this process
// pings, a peer process (this executable started again, see Peer) echoes.
// The two talk over an AF_UNIX SOCK_SEQPACKET socketpair, which keeps
// message boundaries, so a read is one whole message. Each end is a loop
// that blocks in every iteration: one message each way is one operation.
//
// CPU and Switches add this process's getrusage(RUSAGE_SELF) over its Ping
// to the peer's over its Echo, which the peer reports: from just before it
// says it is ready (its start-up left out) to its last reply. The peer
// runs with this process's GOMAXPROCS and, as a child, its CPU affinity.
func pingPong(c interface {
	Contender
	pingPonger
}, n int) (PingPongRun, error) {
	var run PingPongRun
	if _, ok := os.LookupEnv(peerEnv); ok {
		// A program that does not call Peer first would otherwise start
		// peers of its own, without end.
		return run, fmt.Errorf("%s is set: a peer starts no peers (does the program call Peer first?)", peerEnv)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return run, os.NewSyscallError("socketpair", err)
	}
	defer func() { _ = unix.Close(fds[0]) }()
	peerEnd := os.NewFile(uintptr(fds[1]), "pingpong-peer")
	exe, err := os.Executable()
	if err != nil {
		_ = peerEnd.Close()
		return run, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), peerEnv+"="+c.Name()+" "+strconv.Itoa(n),
		"GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	cmd.ExtraFiles = []*os.File{peerEnd}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	_ = peerEnd.Close()
	if err != nil {
		return run, fmt.Errorf("start the peer: %w", err)
	}
	// A peer that hangs is killed; its end closes and this end's loop
	// reads end of file and fails.
	watchdog := time.AfterFunc(time.Minute+time.Duration(n)*time.Millisecond, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()
	fail := func(err error) (PingPongRun, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w (peer: %s)", err, s)
		}
		return run, err
	}
	var buf [256]byte
	msg, err := recvMessage(fds[0], buf[:])
	if err != nil {
		return fail(fmt.Errorf("peer not ready: %w", err))
	}
	if !bytes.Equal(msg, peerReady) {
		return fail(fmt.Errorf("peer said %q, want %q", msg, peerReady))
	}
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
		return fail(os.NewSyscallError("getrusage", err))
	}
	run.Elapsed, err = c.Ping(fds[0], n)
	if err != nil {
		return fail(err)
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru1); err != nil {
		return fail(os.NewSyscallError("getrusage", err))
	}
	msg, err = recvMessage(fds[0], buf[:])
	if err != nil {
		return fail(fmt.Errorf("peer's usage: %w", err))
	}
	peerCPU, peerSwitches, err := parseUsage(msg, runtime.GOMAXPROCS(0))
	if err != nil {
		return fail(err)
	}
	if err := cmd.Wait(); err != nil {
		return fail(fmt.Errorf("peer: %w", err))
	}
	cpu, switches := usageDelta(&ru0, &ru1)
	run.CPU, run.Switches = cpu+peerCPU, switches+peerSwitches
	return run, nil
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

// Peer runs the peer end of a pingpong run and exits, when this process was
// started as one (peerEnv set); otherwise it returns at once. Programs that
// run the pingpong workload (sdevent, the tests) call it first thing in main
// or TestMain. It echoes with the named contender's Echo on descriptor 3,
// then sends its CPU time and context switches over the same socket.
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
	name, count, _ := strings.Cut(v, " ")
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return fmt.Errorf("%s=%q: want CONTENDER N", peerEnv, v)
	}
	var p pingPonger
	for _, c := range Contenders() {
		if pp, ok := c.(pingPonger); ok && c.Name() == name {
			p = pp
		}
	}
	if p == nil {
		return fmt.Errorf("%s=%q: no such contender in this build", peerEnv, v)
	}
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
		return os.NewSyscallError("getrusage", err)
	}
	if _, err := unix.Write(peerFd, peerReady); err != nil {
		return os.NewSyscallError("write", err)
	}
	if err := p.Echo(peerFd, n); err != nil {
		return err
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru1); err != nil {
		return os.NewSyscallError("getrusage", err)
	}
	cpu, switches := usageDelta(&ru0, &ru1)
	_, err = unix.Write(peerFd, fmt.Appendf(nil, "usage %d %d %d", cpu.Nanoseconds(), switches, runtime.GOMAXPROCS(0)))
	return os.NewSyscallError("write", err)
}

// PingPong runs the pingpong workload with go-sdevent loops at both ends.
func (c GoSdevent) PingPong(n int) (PingPongRun, error) { return pingPong(c, n) }

// errShort is a message of the wrong size, or end of file.
var errShort = errors.New("pingpong message cut short")

// pingLoop runs a go-sdevent loop with an IO source on fd whose handler
// reads a message and sends one: the reply when echo, else the next ping
// while fewer than n replies came. Unless echo, the first ping is sent
// before the loop starts; it returns the time from that send to the loop's
// end.
func pingLoop(fd, n int, echo bool) (time.Duration, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	var buf [pingSize]byte
	count := 0
	h := func(_ *sdevent.Source, fd int, _ uint32) error {
		k, err := unix.Read(fd, buf[:])
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		if k != pingSize {
			return errShort
		}
		count++
		if echo || count < n {
			if _, err := unix.Write(fd, buf[:]); err != nil {
				return os.NewSyscallError("write", err)
			}
		}
		if count >= n {
			return e.Exit(0)
		}
		return nil
	}
	s, err := exitOnFailure(e.AddIO(fd, unix.EPOLLIN, h))
	if err != nil {
		return 0, err
	}
	defer s.Unref()
	t0 := time.Now()
	if !echo {
		if _, err := unix.Write(fd, buf[:]); err != nil {
			return 0, os.NewSyscallError("write", err)
		}
	}
	_, err = loop(e)
	return counted(time.Since(t0), err, count, n)
}

// Ping is the pinging end: a go-sdevent loop with one IO source.
func (GoSdevent) Ping(fd, n int) (time.Duration, error) { return pingLoop(fd, n, false) }

// Echo is the echoing end: a go-sdevent loop with one IO source.
func (GoSdevent) Echo(fd, n int) error {
	_, err := pingLoop(fd, n, true)
	return err
}

// PingPong runs the pingpong workload with a goroutine reading a net.Conn
// at both ends.
func (c Idiomatic) PingPong(n int) (PingPongRun, error) { return pingPong(c, n) }

// conn returns a net.Conn on a duplicate of fd: reads park in the netpoller.
func conn(fd int) (net.Conn, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(dup), "pingpong")
	defer func() { _ = f.Close() }()
	return net.FileConn(f)
}

// connLoop reads a message from fd's net.Conn and sends one, as pingLoop.
func connLoop(fd, n int, echo bool) (time.Duration, error) {
	c, err := conn(fd)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	buf := make([]byte, pingSize)
	t0 := time.Now()
	if !echo {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	for count := 1; count <= n; count++ {
		k, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		if k != pingSize {
			return 0, errShort
		}
		if echo || count < n {
			if _, err := c.Write(buf); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(t0), nil
}

// Ping is the pinging end: a goroutine blocked in net.Conn's Read.
func (Idiomatic) Ping(fd, n int) (time.Duration, error) { return connLoop(fd, n, false) }

// Echo is the echoing end: a goroutine blocked in net.Conn's Read.
func (Idiomatic) Echo(fd, n int) error {
	_, err := connLoop(fd, n, true)
	return err
}
