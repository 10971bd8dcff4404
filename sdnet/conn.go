//go:build linux

package sdnet

import (
	"fmt"
	"io"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/attach"
	"github.com/go-sdevent/sdevent/source"
)

// A Conn is a stream on the loop: a connected stream socket, a pipe, a
// FIFO or a terminal. Writes go to the kernel at once when they can and
// are queued when they cannot, up to Options.WriteLimit; the queue is
// written when the descriptor becomes writable (EPOLLOUT), on the loop.
// Reading is callback-driven (SetReadHandler). The Conn watches its
// descriptor only while it has something to read for or to write; its IO
// source is off otherwise.
//
// A Conn belongs to the goroutine of its loop; see the package
// documentation for who closes what.
type Conn struct {
	src      *sdevent.Source
	fd       int
	closer   io.Closer // the net.Conn or *os.File taken over; nil: fd is ours alone
	socket   bool      // send(2) with MSG_NOSIGNAL rather than write(2)
	limit    int
	rsize    int
	out      []byte // out[head:] waits for the kernel
	head     int
	rbuf     []byte
	onRead   ReadHandler
	onClose  CloseHandler
	events   uint32 // what the source watches; 0 while it is off
	state    connState
	eof      bool  // reading ended: end of stream or a read error
	err      error // the write error that ended the Conn
	freed    bool  // the source is gone and the descriptor closed (or detached)
	detached bool  // NetConn took the descriptor
}

type connState uint8

const (
	connOpen    connState = iota
	connClosing           // Close was called: the queue is being written
	connClosed            // the descriptor is closed, or will be once the handler running returned
)

// keepBuffer is the largest write queue a Conn keeps for reuse once it
// was written out; a larger one goes back to the garbage collector.
const keepBuffer = 64 << 10

// NewConn puts a connected stream socket of package net on the loop. nc
// must be a syscall.Conn (*net.TCPConn and *net.UnixConn are; a
// *tls.Conn is not: EINVAL) and a SOCK_STREAM socket (else EPROTOTYPE).
// On success the Conn owns nc and closes it; on error nc stays the
// caller's. The socket is already non-blocking: nothing about it changes.
func NewConn(e *sdevent.Event, nc net.Conn, o *Options) (*Conn, error) {
	const op = "new conn"
	fd, err := rawFd(nc)
	if err != nil {
		return nil, opError(op, err)
	}
	c, err := newConn(e, fd, nc, o)
	if err != nil {
		return nil, opError(op, err)
	}
	return c, nil
}

// NewFileConn puts a connected stream socket, a pipe, a FIFO or a
// terminal given as an *os.File on the loop, and makes it non-blocking (on
// its open file description). A socket must be SOCK_STREAM (else
// EPROTOTYPE); a regular file or a directory is refused with EPERM, as
// epoll refuses it. On success the Conn owns f and closes it; on error f
// stays the caller's, in the mode it had.
func NewFileConn(e *sdevent.Event, f *os.File, o *Options) (*Conn, error) {
	const op = "new file conn"
	fd, restore, err := fileFd(f)
	if err != nil {
		return nil, opError(op, err)
	}
	c, err := newConn(e, fd, f, o)
	if err != nil {
		restore()
		return nil, opError(op, err)
	}
	return c, nil
}

// newConn makes the Conn of fd, whose closer is closed with it; a nil
// closer means fd came from accept4 and is closed itself. On error nothing
// is taken over.
func newConn(e *sdevent.Event, fd int, closer io.Closer, o *Options) (*Conn, error) {
	v, ok := o.withDefaults()
	if !ok {
		return nil, fmt.Errorf("options: %w", unix.EINVAL)
	}
	sock := true // closer nil: accepted from a stream socket, so one too
	if closer != nil {
		var err error
		if sock, err = isSocket(fd, false); err != nil {
			return nil, err
		}
	}
	c := &Conn{fd: fd, closer: closer, socket: sock, limit: v.WriteLimit, rsize: v.ReadBuffer}
	src, err := e.AddIO(fd, unix.EPOLLIN, c.ready)
	if err != nil {
		return nil, err
	}
	// Nothing to watch for yet. A watched descriptor is reported on
	// EPOLLHUP whatever the events, so an idle one is off, not watching 0.
	if err := src.SetEnabled(source.Off); err != nil {
		src.Unref()
		return nil, err
	}
	_ = src.SetDescription("sdnet conn") // an IO source just made: cannot fail
	if err := attach.Float(src, c.destroyed); err != nil {
		src.Unref()
		return nil, err
	}
	c.src = src
	return c, nil
}

// destroyed runs when the source is freed: the descriptor leaves epoll
// first (the loop did that), then it is closed, once.
func (c *Conn) destroyed() {
	c.freed, c.state = true, connClosed
	c.out, c.head, c.rbuf = nil, 0, nil
	if c.detached {
		return
	}
	// close(2) releases the descriptor also when it reports an error, and
	// the Conn is gone: nobody is left to report it to.
	if c.closer != nil {
		_ = c.closer.Close()
	} else {
		_ = unix.Close(c.fd)
	}
	c.fd = -1
	if h := c.onClose; h != nil {
		c.onClose = nil
		h(c, c.err)
	}
}

// end makes the Conn closed and frees its source, which closes the
// descriptor (after the running handler, if the Conn's own is running).
func (c *Conn) end() {
	if c.state == connClosed {
		return
	}
	c.state = connClosed
	if !c.freed {
		attach.Free(c.src)
	}
}

// fail ends the Conn with a write error.
func (c *Conn) fail(err error) {
	c.err = opError("write", err)
	c.end()
}

// Write writes p to the kernel as far as it takes it now and queues the
// rest, to be written on the loop when the descriptor is writable. It
// returns len(p) and nil when all of p was written or queued. A Write that
// would put more than Options.WriteLimit bytes in the queue (a peer that
// stopped reading) queues nothing and returns 0 and an error wrapping
// ENOBUFS; the Conn stays open. Any other error ends the Conn (its
// descriptor is closed and its CloseHandler called with the error) and is
// returned again by every later Write: EPIPE or ECONNRESET when the peer
// went away. A Write after Close returns an error matching net.ErrClosed.
//
// Write allocates only when the queue must grow.
func (c *Conn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.state != connOpen {
		return 0, opError("write", errClosed)
	}
	queued := len(c.out) - c.head
	if len(p) > c.limit-queued {
		return 0, opError("write", fmt.Errorf("%d bytes queued, %d more would pass the limit of %d: %w",
			queued, len(p), c.limit, unix.ENOBUFS))
	}
	n := 0
	if queued == 0 {
		var errno unix.Errno
		if n, errno = c.writeOut(p); errno != 0 {
			c.fail(errno)
			return n, c.err
		}
		if n == len(p) {
			return n, nil
		}
	}
	c.enqueue(p[n:])
	if err := c.watch(); err != nil {
		c.fail(err)
		return n, c.err
	}
	return len(p), nil
}

// WriteString is Write of a string, without copying it first.
func (c *Conn) WriteString(s string) (int, error) {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s))) // Write never changes p
}

// writeOut writes p until the kernel takes no more (EAGAIN, not an error)
// and returns how much it took.
func (c *Conn) writeOut(p []byte) (int, unix.Errno) {
	done := 0
	for done < len(p) {
		var n int
		var errno unix.Errno
		if c.socket {
			n, errno = send(c.fd, p[done:])
		} else {
			n, errno = write(c.fd, p[done:])
		}
		done += n
		if errno == unix.EAGAIN || (errno == 0 && n == 0) {
			break
		}
		if errno != 0 {
			return done, errno
		}
	}
	return done, 0
}

// enqueue appends p to the queue, moving what waits to the front first
// when that saves growing it.
func (c *Conn) enqueue(p []byte) {
	if c.head > 0 && len(c.out)+len(p) > cap(c.out) {
		n := copy(c.out, c.out[c.head:])
		c.out, c.head = c.out[:n], 0
	}
	c.out = append(c.out, p...)
}

// ready is the IO handler: write what is queued, read, then watch what is
// left to do. It handles every error itself, so the source stays on.
func (c *Conn) ready(_ *sdevent.Source, _ int, revents uint32) error {
	if c.head < len(c.out) && revents&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.flush()
	}
	if c.state == connOpen && c.onRead != nil && !c.eof && revents&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.read()
	}
	if c.state != connClosed {
		if err := c.watch(); err != nil {
			c.fail(err)
		}
	}
	return nil
}

// flush writes the queue; once it is empty, a Conn being closed is.
func (c *Conn) flush() {
	n, errno := c.writeOut(c.out[c.head:])
	c.head += n
	if errno != 0 {
		c.fail(errno)
		return
	}
	if c.head < len(c.out) {
		return
	}
	c.head = 0
	if cap(c.out) > keepBuffer {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	if c.state == connClosing {
		c.end()
	}
}

// read reads once and hands the result to the read handler.
func (c *Conn) read() {
	if c.rbuf == nil {
		c.rbuf = make([]byte, c.rsize)
	}
	n, errno := read(c.fd, c.rbuf)
	switch {
	case errno == unix.EAGAIN:
	case errno != 0:
		c.eof = true
		c.onRead(c, nil, opError("read", errno))
	case n == 0:
		c.eof = true
		c.onRead(c, nil, io.EOF)
	default:
		c.onRead(c, c.rbuf[:n], nil)
	}
}

// watch makes the source watch what the Conn waits for: EPOLLIN while it
// reads, EPOLLOUT while its queue is not empty, and nothing (off)
// otherwise.
func (c *Conn) watch() error {
	var ev uint32
	if c.state == connOpen && c.onRead != nil && !c.eof {
		ev |= unix.EPOLLIN
	}
	if c.head < len(c.out) {
		ev |= unix.EPOLLOUT
	}
	if ev == c.events {
		return nil
	}
	if ev == 0 {
		c.events = 0
		return c.src.SetEnabled(source.Off)
	}
	if err := c.src.SetIOEvents(ev); err != nil {
		return err
	}
	if c.events == 0 {
		if err := c.src.SetEnabled(source.On); err != nil {
			return err
		}
	}
	c.events = ev
	return nil
}

// SetReadHandler makes the Conn read on the loop whenever data arrives,
// calling h with it; nil stops reading (the kernel buffers what arrives,
// and the peer is held back once that is full). Reading stops for good at
// the end of the stream, at a read error, and at Close.
func (c *Conn) SetReadHandler(h ReadHandler) error {
	const op = "set read handler"
	if c.state != connOpen {
		return opError(op, errClosed)
	}
	old := c.onRead
	c.onRead = h
	if err := c.watch(); err != nil {
		c.onRead = old
		return opError(op, err)
	}
	return nil
}

// SetCloseHandler sets the function called once the Conn's descriptor was
// closed (nil: none). A Conn that is closed already gives an error
// matching net.ErrClosed.
func (c *Conn) SetCloseHandler(h CloseHandler) error {
	if c.state == connClosed {
		return opError("set close handler", errClosed)
	}
	c.onClose = h
	return nil
}

// Close stops reading and closes the descriptor once the queue was
// written, on the loop. It returns at once. If writing fails meanwhile,
// the CloseHandler gets the error. A peer that never reads keeps a closing
// Conn (and its descriptor) until Abort or until its loop is freed. Close
// on a Conn that is closing or closed does nothing.
func (c *Conn) Close() error {
	if c.state != connOpen {
		return nil
	}
	if c.head == len(c.out) {
		c.end()
		return nil
	}
	c.state = connClosing
	if err := c.watch(); err != nil {
		c.fail(err)
		return c.err
	}
	return nil
}

// Abort closes the Conn now, dropping what is queued; after Close it ends
// the wait for the queue to be written. The CloseHandler gets nil.
func (c *Conn) Abort() {
	if c.state == connClosed {
		return
	}
	c.out, c.head = nil, 0
	c.end()
}

// Err returns the write error that ended the Conn, or nil.
func (c *Conn) Err() error { return c.err }

// Buffered returns how many bytes are queued and not yet written.
func (c *Conn) Buffered() int { return len(c.out) - c.head }

// Fd returns the Conn's descriptor, -1 once it is closed. It is for
// system calls that leave the descriptor open (getsockopt SO_PEERCRED,
// say); closing it or changing its blocking mode breaks the Conn.
func (c *Conn) Fd() int {
	if c.state == connClosed {
		return -1
	}
	return c.fd
}

// LocalAddr returns the socket's address, nil for what is not a socket or
// is closed.
func (c *Conn) LocalAddr() net.Addr {
	if c.state == connClosed || !c.socket {
		return nil
	}
	return sockAddr(unix.Getsockname(c.fd))
}

// RemoteAddr returns the peer's address, nil for what is not a socket or
// is closed.
func (c *Conn) RemoteAddr() net.Addr {
	if c.state == connClosed || !c.socket {
		return nil
	}
	return sockAddr(unix.Getpeername(c.fd))
}

// NetConn takes the connection off the loop and hands it to Go's own
// poller as a net.Conn, for a goroutine to serve with blocking calls (the
// hybrid pattern of the package documentation). The Conn is closed
// afterwards, without its CloseHandler being called; the net.Conn is the
// caller's to close. A Conn made by NewConn gives back the net.Conn it
// took; any other is duplicated into one by net.FileConn and its own
// descriptor closed, also when that fails. Errors: a closed Conn
// (net.ErrClosed), one with bytes still queued (EBUSY), one that is not a
// socket (ENOTSOCK).
func (c *Conn) NetConn() (net.Conn, error) {
	const op = "net conn"
	switch {
	case c.state != connOpen:
		return nil, opError(op, errClosed)
	case !c.socket:
		return nil, opError(op, unix.ENOTSOCK)
	case c.head < len(c.out):
		return nil, opError(op, fmt.Errorf("%d bytes not yet written: %w", len(c.out)-c.head, unix.EBUSY))
	}
	c.detached = true
	c.end() // off epoll now; the descriptor stays open
	if nc, ok := c.closer.(net.Conn); ok {
		return nc, nil
	}
	f, ok := c.closer.(*os.File)
	if !ok {
		f = os.NewFile(uintptr(c.fd), "sdnet conn")
	}
	nc, err := net.FileConn(f) // a duplicate, in Go's poller
	_ = f.Close()              // the original: closing it cannot hurt the duplicate
	if err != nil {
		return nil, opError(op, err)
	}
	return nc, nil
}

// Source returns the Conn's IO source, for SetPriority or SetDescription.
// The Conn owns it: its fd, events, enablement, handler and lifetime are
// not the caller's to change. nil once the Conn is closed.
func (c *Conn) Source() *sdevent.Source {
	if c.state == connClosed {
		return nil
	}
	return c.src
}
