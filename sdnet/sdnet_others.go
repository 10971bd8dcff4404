//go:build !linux

package sdnet

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/go-sdevent/sdevent"
)

// Elsewhere than on Linux the API compiles, as package sdevent's does, and
// every function and method that returns an error returns one for which
// errors.Is(err, errors.ErrUnsupported) holds; the others return zero
// values.

// A Conn is a stream on the loop (Linux only).
type Conn struct{}

// A Listener accepts connections on the loop (Linux only).
type Listener struct{}

func unsupported(op string) error { return fmt.Errorf("sdnet: %s: %w", op, errors.ErrUnsupported) }

// NewConn is not supported on this platform.
func NewConn(e *sdevent.Event, nc net.Conn, o *Options) (*Conn, error) {
	return nil, unsupported("new conn")
}

// NewFileConn is not supported on this platform.
func NewFileConn(e *sdevent.Event, f *os.File, o *Options) (*Conn, error) {
	return nil, unsupported("new file conn")
}

// NewListener is not supported on this platform.
func NewListener(e *sdevent.Event, ln net.Listener, h AcceptHandler, o *Options) (*Listener, error) {
	return nil, unsupported("new listener")
}

// NewFileListener is not supported on this platform.
func NewFileListener(e *sdevent.Event, f *os.File, h AcceptHandler, o *Options) (*Listener, error) {
	return nil, unsupported("new file listener")
}

// ListenFds is not supported on this platform.
func ListenFds(e *sdevent.Event, h AcceptHandler, o *Options) ([]*Listener, []*os.File, error) {
	return nil, nil, unsupported("listen fds")
}

// Write is not supported on this platform.
func (c *Conn) Write(p []byte) (int, error) { return 0, unsupported("write") }

// WriteString is not supported on this platform.
func (c *Conn) WriteString(s string) (int, error) { return 0, unsupported("write") }

// SetReadHandler is not supported on this platform.
func (c *Conn) SetReadHandler(h ReadHandler) error { return unsupported("set read handler") }

// SetCloseHandler is not supported on this platform.
func (c *Conn) SetCloseHandler(h CloseHandler) error { return unsupported("set close handler") }

// Close is not supported on this platform.
func (c *Conn) Close() error { return unsupported("close") }

// Abort does nothing on this platform.
func (c *Conn) Abort() {}

// Err returns nil on this platform.
func (c *Conn) Err() error { return nil }

// Buffered returns 0 on this platform.
func (c *Conn) Buffered() int { return 0 }

// Fd returns -1 on this platform.
func (c *Conn) Fd() int { return -1 }

// LocalAddr returns nil on this platform.
func (c *Conn) LocalAddr() net.Addr { return nil }

// RemoteAddr returns nil on this platform.
func (c *Conn) RemoteAddr() net.Addr { return nil }

// NetConn is not supported on this platform.
func (c *Conn) NetConn() (net.Conn, error) { return nil, unsupported("net conn") }

// Source returns nil on this platform.
func (c *Conn) Source() *sdevent.Source { return nil }

// Close is not supported on this platform.
func (l *Listener) Close() error { return unsupported("close") }

// Name returns "" on this platform.
func (l *Listener) Name() string { return "" }

// Addr returns nil on this platform.
func (l *Listener) Addr() net.Addr { return nil }
