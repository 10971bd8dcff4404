//go:build linux

package sdnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/attach"
	"github.com/go-sdevent/sdevent/source"
)

// A Listener accepts connections on a listening stream socket, on the loop,
// one per dispatch: an IO source on EPOLLIN that calls accept4(2) and hands
// the connection to its AcceptHandler. See the package documentation for
// the errors it rides out and who closes what.
type Listener struct {
	e      *sdevent.Event
	src    *sdevent.Source
	timer  *sdevent.Source // switches src back on after a pause
	fd     int
	closer io.Closer // the net.Listener or *os.File taken over
	name   string
	h      AcceptHandler
	o      Options
	pause  time.Duration // of the last pause; 0 after an accept
	state  connState     // open or closed: a Listener has no closing
}

// The pause after an accept that ran out of descriptors or memory: as
// long as net/http's Server waits after a temporary accept error.
const (
	minPause = 5 * time.Millisecond
	maxPause = time.Second
)

// NewListener puts a listening socket of package net on the loop: ln must
// be a syscall.Conn (*net.TCPListener and *net.UnixListener are; else
// EINVAL) listening on a SOCK_STREAM socket (else EINVAL or EPROTOTYPE),
// and h not nil (EINVAL). On success the Listener owns ln: do not Accept on
// it or close it; Listener.Close closes it. On error ln stays the
// caller's.
func NewListener(e *sdevent.Event, ln net.Listener, h AcceptHandler, o *Options) (*Listener, error) {
	const op = "new listener"
	fd, err := rawFd(ln)
	if err != nil {
		return nil, opError(op, err)
	}
	l, err := newListener(e, fd, ln, ln.Addr().String(), h, o)
	if err != nil {
		return nil, opError(op, err)
	}
	return l, nil
}

// NewFileListener is NewListener for a listening socket given as an
// *os.File (one inherited from a parent, say), which it makes non-blocking
// (on its open file description). On success the Listener owns f; on
// error f stays the caller's, in the mode it had. The Listener's name is
// f.Name().
func NewFileListener(e *sdevent.Event, f *os.File, h AcceptHandler, o *Options) (*Listener, error) {
	const op = "new file listener"
	fd, restore, err := fileFd(f)
	if err != nil {
		return nil, opError(op, err)
	}
	l, err := newListener(e, fd, f, f.Name(), h, o)
	if err != nil {
		restore()
		return nil, opError(op, err)
	}
	return l, nil
}

// newListener makes the Listener of fd; on error nothing is taken over.
func newListener(e *sdevent.Event, fd int, closer io.Closer, name string, h AcceptHandler, o *Options) (*Listener, error) {
	v, ok := o.withDefaults()
	switch {
	case !ok:
		return nil, fmt.Errorf("options: %w", unix.EINVAL)
	case h == nil:
		return nil, fmt.Errorf("nil handler: %w", unix.EINVAL)
	}
	if _, err := isSocket(fd, true); err != nil {
		return nil, err
	}
	l := &Listener{e: e, fd: fd, name: name, h: h, o: v}
	// The timer comes first: a pause needs it when descriptors ran out,
	// and its clock's timerfd is made now, while there are some.
	timer, err := e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, time.Millisecond, l.resume)
	if err != nil {
		return nil, err
	}
	if err := timer.SetEnabled(source.Off); err != nil {
		timer.Unref()
		return nil, err
	}
	src, err := e.AddIO(fd, unix.EPOLLIN, l.ready)
	if err != nil {
		timer.Unref()
		return nil, err
	}
	_ = src.SetDescription(name) // sources just made: neither can fail
	_ = timer.SetDescription(name + " pause")
	if err := attach.Float(timer, l.timerDestroyed); err != nil {
		src.Unref()
		timer.Unref()
		return nil, err
	}
	l.timer = timer
	if err := attach.Float(src, l.destroyed); err != nil {
		src.Unref()
		attach.Free(timer)
		return nil, err
	}
	l.src = src
	l.closer = closer // taken over only now: a failure above closes nothing
	return l, nil
}

// destroyed runs when the IO source is freed, by Close or with the loop:
// the descriptor has left epoll, and is closed now, once.
func (l *Listener) destroyed() {
	l.state = connClosed
	if c := l.closer; c != nil {
		l.closer = nil
		_ = c.Close() // the descriptor is released whatever close reports
	}
}

// timerDestroyed runs when the timer is freed.
func (l *Listener) timerDestroyed() { l.state = connClosed }

// ready is the IO handler: it accepts one connection.
func (l *Listener) ready(_ *sdevent.Source, _ int, _ uint32) error {
	fd, errno := accept4(l.fd)
	if errno != 0 {
		return l.acceptFailed(errno)
	}
	c, err := newConn(l.e, fd, nil, &l.o)
	if err != nil {
		_ = unix.Close(fd) // never handed out: nobody else has it
		l.paused(err)      // the loop could not watch it: out of memory or watches
		return nil
	}
	l.pause = 0
	l.h(l, c)
	return nil
}

// acceptFailed decides what an accept4 error means (accept(2), ERRORS
// and RETURN VALUE): nothing to accept after all, a connection that went
// away, a network error to be treated like EAGAIN, a shortage to wait out,
// or a Listener that cannot accept at all.
func (l *Listener) acceptFailed(errno unix.Errno) error {
	switch errno {
	case unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO, unix.EPERM,
		unix.ENETDOWN, unix.ENOPROTOOPT, unix.EHOSTDOWN, unix.ENONET,
		unix.EHOSTUNREACH, unix.EOPNOTSUPP, unix.ENETUNREACH:
		return nil
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		l.paused(os.NewSyscallError("accept4", errno))
		return nil
	}
	err := opError("accept", os.NewSyscallError("accept4", errno))
	if lg := l.logger(); lg != nil {
		lg.LogAttrs(context.Background(), slog.LevelError, "sdnet: accepting stopped",
			slog.String("listener", l.name), slog.Any("err", err))
	}
	return err // the source goes off, as a failing handler's does
}

// paused switches the IO source off and arms the timer that switches it
// back on: the socket stays readable while a connection waits, so the
// loop would otherwise run the handler again at once, forever.
func (l *Listener) paused(err error) {
	l.pause = min(max(2*l.pause, minPause), maxPause)
	err1 := l.src.SetEnabled(source.Off)
	err2 := l.timer.SetTimeRelative(l.pause)
	err3 := l.timer.SetEnabled(source.OneShot)
	if lg := l.logger(); lg != nil {
		lg.LogAttrs(context.Background(), slog.LevelWarn, "sdnet: accepting paused",
			slog.String("listener", l.name), slog.Any("err", err), slog.Duration("retry_in", l.pause))
		if err := errors.Join(err1, err2, err3); err != nil {
			lg.LogAttrs(context.Background(), slog.LevelError, "sdnet: pausing failed",
				slog.String("listener", l.name), slog.Any("err", err))
		}
	}
}

// resume is the timer's handler: accept again.
func (l *Listener) resume(_ *sdevent.Source, _ time.Duration) error {
	return l.src.SetEnabled(source.On)
}

// logger returns Options.Logger, else the loop's (nil when it has none).
func (l *Listener) logger() *slog.Logger {
	if l.o.Logger != nil {
		return l.o.Logger
	}
	return l.e.Logger()
}

// Close stops accepting and closes the listening socket: the net.Listener
// or *os.File the Listener took over is closed, once. Connections already
// accepted stay open. Close on a closed Listener does nothing.
func (l *Listener) Close() error {
	if l.state == connClosed {
		return nil
	}
	l.state = connClosed
	attach.Free(l.timer)
	attach.Free(l.src) // closes the descriptor, after the handler if it runs
	return nil
}

// Name returns the Listener's name: the address of a net.Listener, the
// name of an *os.File, the name systemd gave a socket-activated one
// ($LISTEN_FDNAMES).
func (l *Listener) Name() string { return l.name }

// Addr returns the socket's address, nil once the Listener is closed.
func (l *Listener) Addr() net.Addr {
	if l.state == connClosed {
		return nil
	}
	return sockAddr(unix.Getsockname(l.fd))
}
