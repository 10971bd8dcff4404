//go:build linux

package sdnet_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/sdnet"
)

// echo is an AcceptHandler that writes back what it reads and closes at
// the end of the stream; served counts the connections it closed.
func echo(served *int) sdnet.AcceptHandler {
	return func(_ *sdnet.Listener, c *sdnet.Conn) {
		_ = c.SetCloseHandler(func(*sdnet.Conn, error) { *served++ })
		_ = c.SetReadHandler(func(c *sdnet.Conn, b []byte, err error) {
			if err != nil {
				_ = c.Close()
				return
			}
			if _, err := c.Write(b); err != nil {
				c.Abort()
			}
		})
	}
}

// dialEcho dials addr in a goroutine, sends each line, reads each echo and
// closes; the channel gets the lines read back, or the error.
func dialEcho(network, addr string, lines ...string) <-chan any {
	ch := make(chan any, 1)
	go func() {
		c, err := net.Dial(network, addr)
		if err != nil {
			ch <- err
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var got []string
		for _, l := range lines {
			if _, err := io.WriteString(c, l+"\n"); err != nil {
				ch <- err
				return
			}
			s, err := r.ReadString('\n')
			if err != nil {
				ch <- err
				return
			}
			got = append(got, s[:len(s)-1])
		}
		ch <- got
	}()
	return ch
}

// TestListenerEcho serves an echo over TCP loopback and over a unix
// socket, several clients at once; closing the Listener closes the
// net.Listener it took (for a unix socket: removes its file, as
// net.UnixListener.Close does), once.
func TestListenerEcho(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			e := newLoop(t)
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = unixPath(t)
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			served := 0
			l, err := sdnet.NewListener(e, ln, echo(&served), nil)
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			if l.Name() != ln.Addr().String() || l.Addr().String() != ln.Addr().String() {
				t.Fatalf("Name %q, Addr %v; want %v", l.Name(), l.Addr(), ln.Addr())
			}
			const clients = 5
			var results []<-chan any
			for range clients {
				results = append(results, dialEcho(network, ln.Addr().String(), "one", "two"))
			}
			testutil.RunUntil(t, e, "the clients to be served", func() bool { return served == clients })
			for _, ch := range results {
				if got, ok := (<-ch).([]string); !ok || len(got) != 2 || got[0] != "one" || got[1] != "two" {
					t.Fatalf("client got %v", got)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close = %v", err)
			}
			if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the Listener did not close the net.Listener: Close = %v", err)
			}
			if network == "unix" {
				if _, err := os.Stat(addr); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the socket file is still there: %v", err)
				}
			}
			if l.Addr() != nil {
				t.Fatal("a closed Listener has an address")
			}
		})
	}
}

// TestListenerCloseInHandler: a Listener closed by its own handler stops
// accepting and closes its socket once the handler returned; the Conn it
// was handed stays usable.
func TestListenerCloseInHandler(t *testing.T) {
	e := newLoop(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conn *sdnet.Conn
	l, err := sdnet.NewListener(e, ln, func(l *sdnet.Listener, c *sdnet.Conn) {
		conn = c
		_ = l.Close()
		_, _ = c.WriteString("last\n")
		_ = c.Close()
	}, nil)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	got := dialEcho("tcp", ln.Addr().String(), "x")
	testutil.RunUntil(t, e, "the connection", func() bool { return conn != nil })
	if r, _ := (<-got).([]string); len(r) != 1 || r[0] != "last" {
		t.Fatalf("client got %v", r)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("net.Listener still open: %v", err)
	}
	_ = l.Close()
}

// TestNewListenerErrors: what cannot be a Listener is refused and stays
// the caller's, unchanged.
func TestNewListenerErrors(t *testing.T) {
	e := newLoop(t)
	h := func(*sdnet.Listener, *sdnet.Conn) {}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := sdnet.NewListener(e, ln, nil, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil handler: %v, want EINVAL", err)
	}
	if _, err := sdnet.NewListener(e, ln, h, &sdnet.Options{ReadBuffer: -1}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ReadBuffer -1: %v, want EINVAL", err)
	}
	if _, err := sdnet.NewListener(nil, ln, h, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil loop: %v, want EINVAL", err)
	}
	if _, err := sdnet.NewListener(e, nil, h, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil listener: %v, want EINVAL", err)
	}
	// The refused listener still works for its owner.
	got := dialEcho("tcp", ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the refused net.Listener does not accept: %v", err)
	}
	c.Close()
	<-got

	a, _ := socketpair(t) // connected, not listening
	if _, err := sdnet.NewFileListener(e, a, h, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("a connected socket: %v, want EINVAL", err)
	}
	if flags, _ := unix.FcntlInt(a.Fd(), unix.F_GETFL, 0); flags&unix.O_NONBLOCK != 0 {
		t.Error("a refused file was left non-blocking")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := sdnet.NewFileListener(e, r, h, nil); !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("a pipe: %v, want ENOTSOCK", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dgram := os.NewFile(uintptr(fd), "dgram")
	defer dgram.Close()
	if _, err := sdnet.NewFileListener(e, dgram, h, nil); !errors.Is(err, unix.EPROTOTYPE) {
		t.Errorf("a datagram socket: %v, want EPROTOTYPE", err)
	}
	if _, err := sdnet.NewFileListener(e, nil, h, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("nil file: %v, want EINVAL", err)
	}
}

// TestNewFileListener: a blocking listening socket given as a file is made
// non-blocking, accepts on the loop, and is closed through its *os.File.
func TestNewFileListener(t *testing.T) {
	e := newLoop(t)
	path := unixPath(t)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "inherited")
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		f.Close()
		t.Fatal(err)
	}
	served := 0
	l, err := sdnet.NewFileListener(e, f, echo(&served), nil)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	if l.Name() != "inherited" {
		t.Fatalf("Name = %q", l.Name())
	}
	if a, ok := l.Addr().(*net.UnixAddr); !ok || a.Name != path {
		t.Fatalf("Addr = %v, want %s", l.Addr(), path)
	}
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the listening socket is still blocking")
	}
	got := dialEcho("unix", path, "hi")
	testutil.RunUntil(t, e, "the client", func() bool { return served == 1 })
	if r, _ := (<-got).([]string); len(r) != 1 || r[0] != "hi" {
		t.Fatalf("client got %v", r)
	}
	_ = l.Close()
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the file was not closed: %v", err)
	}
}

// TestLoopFreeClosesListener: freeing the loop closes the Listener's
// socket, once; Close afterwards does nothing.
func TestLoopFreeClosesListener(t *testing.T) {
	testutil.Check(t)
	e := newLoopNoCleanup(t)
	ln, err := net.Listen("unix", unixPath(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := sdnet.NewListener(e, ln, func(*sdnet.Listener, *sdnet.Conn) {}, nil)
	if err != nil {
		ln.Close()
		e.Unref()
		t.Fatal(err)
	}
	e.Unref()
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("freeing the loop left the net.Listener open: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
