package bench

import (
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// pingSize is the size of every pingpong message, each way.
const pingSize = 64

// pingPonger is a contender's two ends of the pingpong workload. Neither
// closes fd, a non-blocking AF_UNIX SOCK_SEQPACKET socket.
type pingPonger interface {
	// Ping sends a message of pingSize bytes and waits for the reply, n
	// times, and returns the time from the first send to the last reply.
	Ping(fd, n int) (time.Duration, error)
	// Echo waits for n messages and sends each back.
	Echo(fd, n int) error
}

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
	// A peer that hangs is killed; its end closes and this end's loop
	// reads end of file and fails.
	p, err := startPeer("pingpong "+c.Name()+" "+strconv.Itoa(n), time.Minute+time.Duration(n)*time.Millisecond, nil)
	if err != nil {
		return run, err
	}
	defer p.close()
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
		return run, p.fail(os.NewSyscallError("getrusage", err))
	}
	run.Elapsed, err = c.Ping(p.ctl, n)
	if err != nil {
		return run, p.fail(err)
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru1); err != nil {
		return run, p.fail(os.NewSyscallError("getrusage", err))
	}
	peerCPU, peerSwitches, err := p.finish()
	if err != nil {
		return run, err
	}
	cpu, switches := usageDelta(&ru0, &ru1)
	run.CPU, run.Switches = cpu+peerCPU, switches+peerSwitches
	return run, nil
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
	f, err := dupFile(fd, "pingpong")
	if err != nil {
		return nil, err
	}
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
