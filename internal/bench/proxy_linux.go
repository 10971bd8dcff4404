package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// proxyReqSize is the size of a short connection's request, and of the
// response the backend echoes.
const proxyReqSize = 64

// proxyListenFd is the proxy's listening socket in the peer, its second
// extra file.
const proxyListenFd = 4

// proxyPipeSize is the size a proxy asks for each of its pipes, as
// systemd-socket-proxyd does (F_SETPIPE_SZ; it keeps what it gets).
const proxyPipeSize = 256 << 10

// mib is a mebibyte, the unit of the bulk transfer.
const mib = 1 << 20

// proxier is a contender's proxy, which runs in the peer process.
type proxier interface {
	// Proxy accepts connections on listenFd, a listening TCP socket, and
	// proxies each to 127.0.0.1:port, as systemd-socket-proxyd does, until
	// n connections have been proxied and closed. It leaves listenFd open.
	Proxy(listenFd, port, n int) error
}

var (
	errCorrupt = errors.New("the bytes that arrived are not those sent")
	// proxyPattern is the bulk transfer's MiB, sent again and again:
	// bytes of the timers' generator, so that a byte moved, lost or
	// doubled shows.
	proxyPattern = sync.OnceValue(func() []byte {
		b := make([]byte, mib)
		x := lcg(1)
		for i := range b {
			b[i] = byte(x.next())
		}
		return b
	})
)

// runProxy runs a proxy workload with c's proxy in a peer process (this
// executable started again, see Peer) between a client and a backend in
// this process: conns short connections one after the other (bulk 0), or
// one connection that carries bulk MiB from the client to the backend.
// The client and the backend are the same for every contender: blocking
// net calls, in this goroutine and another.
//
// A short connection: the client connects to the proxy, sends a request of
// proxyReqSize bytes, reads the response and closes; the backend accepts
// the proxy's connection, reads the request, sends it back and closes.
// The bulk connection: the client sends bulk MiB and closes; the backend
// reads until end of file and checks every byte.
//
// Elapsed runs from the first connect to the end of the last response
// read, or of the bulk transfer checked by the backend. CPU and Switches
// are the peer's getrusage(RUSAGE_SELF) from just before it says it is
// ready to the end of its proxy.
func runProxy(c interface {
	Contender
	proxier
}, conns, bulk int) (ProxyRun, error) {
	var run ProxyRun
	back, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return run, err
	}
	defer func() { _ = back.Close() }()
	front, addr, err := proxyListener()
	if err != nil {
		return run, err
	}
	n, limit := conns, time.Minute+time.Duration(conns)*time.Millisecond
	if bulk > 0 {
		n, limit = 1, time.Minute+time.Duration(bulk)*10*time.Millisecond
	}
	// A peer that hangs is killed, which closes its sockets and ends the
	// client's and the backend's waits on them; the backend's listener is
	// closed for a backend still waiting for a connection.
	v := fmt.Sprintf("proxy %s %d %d", c.Name(), n, back.Addr().(*net.TCPAddr).Port)
	p, err := startPeer(v, limit, func() { _ = back.Close() }, front)
	_ = front.Close()
	if err != nil {
		return run, err
	}
	defer p.close()
	served := make(chan error, 1)
	go func() { served <- backend(back, conns, bulk) }()
	t0 := time.Now()
	if bulk > 0 {
		err = bulkClient(addr, bulk)
	} else {
		err = connClient(addr, conns)
	}
	if err != nil {
		err = p.fail(err)
		_ = back.Close()
		return run, errors.Join(err, <-served)
	}
	if err := <-served; err != nil {
		return run, p.fail(err)
	}
	run.Elapsed = time.Since(t0)
	run.CPU, run.Switches, err = p.finish()
	return run, err
}

// proxyListener returns a listening TCP socket on 127.0.0.1 and a port of
// the kernel's choice, for the peer to inherit, and its address.
func proxyListener() (*os.File, *net.TCPAddr, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "proxy-listener")
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = f.Close()
		return nil, nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		_ = f.Close()
		return nil, nil, os.NewSyscallError("listen", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = f.Close()
		return nil, nil, os.NewSyscallError("getsockname", err)
	}
	return f, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}, nil
}

// request fills b with the request of connection i: i, then bytes that
// follow from it.
func request(b *[proxyReqSize]byte, i int) {
	for j := range b {
		b[j] = byte(i>>(8*min(j, 7))) + byte(j)
	}
}

// connClient makes n short connections to the proxy at addr, one after
// the other: it sends a request, reads the response, which must be the
// request, and closes.
func connClient(addr *net.TCPAddr, n int) error {
	var req, resp [proxyReqSize]byte
	for i := range n {
		request(&req, i)
		conn, err := net.DialTCP("tcp4", nil, addr)
		if err == nil {
			_, err = conn.Write(req[:])
			if err == nil {
				_, err = io.ReadFull(conn, resp[:])
			}
			_ = conn.Close() // a failed exchange says more
		}
		if err == nil && resp != req {
			err = errCorrupt
		}
		if err != nil {
			return fmt.Errorf("client, connection %d: %w", i+1, err)
		}
	}
	return nil
}

// bulkClient sends mibs times proxyPattern through one connection to the
// proxy at addr and closes it.
func bulkClient(addr *net.TCPAddr, mibs int) error {
	conn, err := net.DialTCP("tcp4", nil, addr)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for range mibs {
		if _, err := conn.Write(proxyPattern()); err != nil {
			_ = conn.Close()
			return fmt.Errorf("client: %w", err)
		}
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// backend serves the proxy's connections on ln: conns short ones, each a
// request echoed, or one that carries bulk MiB, checked.
func backend(ln *net.TCPListener, conns, bulk int) error {
	if bulk > 0 {
		conn, err := ln.AcceptTCP()
		if err != nil {
			return fmt.Errorf("backend: %w", err)
		}
		defer func() { _ = conn.Close() }()
		if err := readPattern(conn, bulk*mib); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
		return nil
	}
	var buf [proxyReqSize]byte
	for i := range conns {
		conn, err := ln.AcceptTCP()
		if err == nil {
			_, err = io.ReadFull(conn, buf[:])
			if err == nil {
				_, err = conn.Write(buf[:])
			}
			if cerr := conn.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("backend, connection %d: %w", i+1, err)
		}
	}
	return nil
}

// readPattern reads r to its end and checks that it is proxyPattern
// repeated, size bytes in all.
func readPattern(r io.Reader, size int) error {
	buf := make([]byte, proxyPipeSize)
	got := 0
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if got+k > size || !isPattern(buf[:k], got) {
				return errCorrupt
			}
			got += k
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != size {
		return fmt.Errorf("%d bytes arrived, want %d", got, size)
	}
	return nil
}

// isPattern reports whether b is proxyPattern repeated, from offset off
// of the stream on.
func isPattern(b []byte, off int) bool {
	p := proxyPattern()
	for len(b) > 0 {
		at := off % len(p)
		k := min(len(b), len(p)-at)
		if !bytes.Equal(b[:k], p[at:at+k]) {
			return false
		}
		b, off = b[k:], off+k
	}
	return true
}

// ProxyConns runs the short connections through a go-sdevent proxy.
func (c GoSdevent) ProxyConns(n int) (ProxyRun, error) { return runProxy(c, n, 0) }

// ProxyBulk runs the bulk transfer through a go-sdevent proxy.
func (c GoSdevent) ProxyBulk(mibs int) (ProxyRun, error) { return runProxy(c, 0, mibs) }

// sdProxy is go-sdevent's proxy, systemd-socket-proxyd's logic on the
// loop: an IO source on the listening socket, and for each connection a
// connect without blocking, then a pipe for each direction and an IO
// source for each socket, whose events follow the pipes' fill.
type sdProxy struct {
	e       *sdevent.Event
	backend unix.SockaddrInet4
	n, done int
	conns   map[*sdConn]struct{} // the open ones, closed with the loop
}

// sdConn is a connection of sdProxy: front, the accepted socket, and back,
// the one to the backend; each -1 once closed.
type sdConn struct {
	p                 *sdProxy
	front, back       int
	frontSrc, backSrc *sdevent.Source
	toBack, toFront   splicePipe
	traffic           sdevent.IOHandler // c.shovel, made once
}

// splicePipe is the pipe bytes of one direction go through: full of size
// bytes are in it.
type splicePipe struct {
	r, w, full, size int
}

// Proxy runs the go-sdevent proxy (proxier).
func (GoSdevent) Proxy(listenFd, port, n int) error {
	if err := unix.SetNonblock(listenFd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	e, err := sdevent.New()
	if err != nil {
		return err
	}
	defer e.Unref()
	p := &sdProxy{e: e, backend: unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}, n: n, conns: map[*sdConn]struct{}{}}
	defer func() {
		for c := range p.conns {
			c.close()
		}
	}()
	s, err := exitOnFailure(e.AddIO(listenFd, unix.EPOLLIN, p.accept))
	if err != nil {
		return err
	}
	defer s.Unref()
	_, err = loop(e)
	_, err = counted(0, err, p.done, n)
	return err
}

// accept takes a connection and connects to the backend for it.
func (p *sdProxy) accept(_ *sdevent.Source, fd int, _ uint32) error {
	nfd, err := accept4(fd)
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED):
		return nil // gone again
	case err != nil:
		return os.NewSyscallError("accept4", err)
	}
	c := &sdConn{p: p, front: nfd, back: -1, toBack: splicePipe{r: -1, w: -1}, toFront: splicePipe{r: -1, w: -1}}
	c.traffic = c.shovel
	p.conns[c] = struct{}{}
	back, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	c.back = back
	switch err := unix.Connect(back, &p.backend); {
	case err == nil:
		return c.complete()
	case !errors.Is(err, unix.EINPROGRESS):
		return os.NewSyscallError("connect", err)
	}
	c.backSrc, err = exitOnFailure(p.e.AddIO(back, unix.EPOLLOUT, c.connected))
	if err != nil {
		return err
	}
	return c.backSrc.SetEnabled(source.OneShot)
}

// accept4 accepts a connection, non-blocking and close-on-exec, without
// asking for the peer's address, as socket-proxyd does: unix.Accept4 asks
// for it, allocates it and, for AF_INET, calls getsockopt(SO_PROTOCOL) to
// decode it, a system call more per connection than C.
func accept4(fd int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// connected runs once the connect to the backend ended.
func (c *sdConn) connected(_ *sdevent.Source, fd int, _ uint32) error {
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if soErr != 0 {
		return fmt.Errorf("connect to the backend: %w", unix.Errno(soErr))
	}
	c.backSrc.Unref()
	c.backSrc = nil
	return c.complete()
}

// complete makes the pipes and starts the traffic.
func (c *sdConn) complete() error {
	if err := c.toBack.open(); err != nil {
		return err
	}
	if err := c.toFront.open(); err != nil {
		return err
	}
	return c.watch()
}

func (b *splicePipe) open() error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	b.r, b.w = p[0], p[1]
	_, _ = unix.FcntlInt(uintptr(b.r), unix.F_SETPIPE_SZ, proxyPipeSize) // a smaller pipe will do
	size, err := unix.FcntlInt(uintptr(b.r), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	b.size = size
	return nil
}

// shovel moves what it can both ways, and closes the connection once
// both sides ended, or one did and what it sent is through.
func (c *sdConn) shovel(*sdevent.Source, int, uint32) error {
	if err := c.move(&c.front, &c.toBack, &c.back, &c.frontSrc, &c.backSrc); err != nil {
		return err
	}
	if err := c.move(&c.back, &c.toFront, &c.front, &c.backSrc, &c.frontSrc); err != nil {
		return err
	}
	if c.front < 0 && c.toBack.full == 0 || c.back < 0 && c.toFront.full == 0 {
		c.close()
		if c.p.done++; c.p.done == c.p.n {
			return c.p.e.Exit(0)
		}
		return nil
	}
	return c.watch()
}

// move splices from *from into b and from b to *to while either moves
// bytes; a side that ended, or hung up, is closed and its source freed.
func (c *sdConn) move(from *int, b *splicePipe, to *int, fromSrc, toSrc **sdevent.Source) error {
	const flags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
	for moved := true; moved; {
		moved = false
		if b.full < b.size && *from >= 0 && *to >= 0 {
			k, err := unix.Splice(*from, nil, b.w, nil, b.size-b.full, flags)
			switch {
			case err == nil && k > 0:
				b.full += int(k)
				moved = true
			case err == nil || hungUp(err):
				hangUp(from, fromSrc)
			case err != unix.EAGAIN && err != unix.EINTR:
				return os.NewSyscallError("splice", err)
			}
		}
		if b.full > 0 && *to >= 0 {
			k, err := unix.Splice(b.r, nil, *to, nil, b.full, flags)
			switch {
			case err == nil && k > 0:
				b.full -= int(k)
				moved = true
			case err == nil || hungUp(err):
				hangUp(to, toSrc)
			case err != unix.EAGAIN && err != unix.EINTR:
				return os.NewSyscallError("splice", err)
			}
		}
	}
	return nil
}

// hungUp: err says the other end went away, which ends a side as end of
// file does.
func hungUp(err error) bool {
	for _, hup := range []unix.Errno{unix.ECONNRESET, unix.EPIPE, unix.ENOTCONN, unix.ECONNABORTED, unix.ESHUTDOWN} {
		if errors.Is(err, hup) {
			return true
		}
	}
	return false
}

func hangUp(fd *int, src **sdevent.Source) {
	(*src).Unref()
	*src = nil
	_ = unix.Close(*fd)
	*fd = -1
}

// watch sets each socket's events from the pipes: EPOLLIN while the pipe
// it feeds has room, EPOLLOUT while the pipe it drains has bytes. It adds
// the sources the first time.
func (c *sdConn) watch() error {
	var front, back uint32
	if c.toFront.full > 0 {
		front |= unix.EPOLLOUT
	}
	if c.toFront.full < c.toFront.size {
		back |= unix.EPOLLIN
	}
	if c.toBack.full > 0 {
		back |= unix.EPOLLOUT
	}
	if c.toBack.full < c.toBack.size {
		front |= unix.EPOLLIN
	}
	if err := c.watchSide(c.front, &c.frontSrc, front); err != nil {
		return err
	}
	return c.watchSide(c.back, &c.backSrc, back)
}

func (c *sdConn) watchSide(fd int, src **sdevent.Source, events uint32) error {
	if *src != nil {
		return (*src).SetIOEvents(events)
	}
	if fd < 0 {
		return nil
	}
	s, err := exitOnFailure(c.p.e.AddIO(fd, events, c.traffic))
	*src = s
	return err
}

// close frees the sources and closes the sockets and pipes.
func (c *sdConn) close() {
	if c.front >= 0 {
		hangUp(&c.front, &c.frontSrc)
	}
	if c.back >= 0 {
		hangUp(&c.back, &c.backSrc)
	}
	for _, fd := range []int{c.toBack.r, c.toBack.w, c.toFront.r, c.toFront.w} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	delete(c.p.conns, c)
}

// ProxyConns runs the short connections through goroutines that io.Copy.
func (c Idiomatic) ProxyConns(n int) (ProxyRun, error) { return runProxy(c, n, 0) }

// ProxyBulk runs the bulk transfer through goroutines that io.Copy.
func (c Idiomatic) ProxyBulk(mibs int) (ProxyRun, error) { return runProxy(c, 0, mibs) }

// Proxy is the way of plain Go (proxier): a goroutine per connection
// dials the backend and copies each way in a goroutine with io.Copy,
// which splices from one *net.TCPConn to the other (through a pipe of
// the runtime's pool); once a direction ends, both connections are
// closed, as socket-proxyd does.
func (Idiomatic) Proxy(listenFd, port, n int) error {
	f, err := dupFile(listenFd, "proxy-listener")
	if err != nil {
		return err
	}
	ln, err := net.FileListener(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }()
	backend := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	defer wg.Wait()
	for range n {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := proxyConn(conn.(*net.TCPConn), backend); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// proxyConn proxies front to a new connection to backend until either
// direction ends.
func proxyConn(front *net.TCPConn, backend *net.TCPAddr) error {
	back, err := net.DialTCP("tcp4", nil, backend)
	if err != nil {
		_ = front.Close()
		return err
	}
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(back, front)
		done <- err
	}()
	go func() {
		_, err := io.Copy(front, back)
		done <- err
	}()
	err = <-done
	_ = front.Close()
	_ = back.Close()
	// The other direction, cut short by the close.
	if err2 := <-done; err == nil && !errors.Is(err2, net.ErrClosed) {
		err = err2
	}
	return err
}

// dupFile returns an *os.File on a duplicate of fd.
func dupFile(fd int, name string) (*os.File, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(dup), name), nil
}
