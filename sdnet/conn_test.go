//go:build linux

package sdnet_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/sdnet"
	"github.com/go-sdevent/sdevent/source"
)

// TestConnWriteLimit: a peer that stops reading fills the socket buffer,
// then the queue up to its limit; the next Write fails at once with
// ENOBUFS, queues nothing and leaves the Conn open; the loop never blocks.
// Once the peer reads again, the queue goes out on the loop, in order and
// complete, and Close after it ends the stream.
func TestConnWriteLimit(t *testing.T) {
	e := newLoop(t)
	a, b := socketpair(t)
	if err := unix.SetsockoptInt(int(a.Fd()), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	const limit, chunk = 64 << 10, 5000
	c, err := sdnet.NewFileConn(e, a, &sdnet.Options{WriteLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	closed := closes(c)
	sent := 0
	start := time.Now()
	for {
		n, err := c.Write(pattern(sent, chunk))
		if err != nil {
			isErrno(t, "Write past the limit", err, unix.ENOBUFS)
			if n != 0 {
				t.Fatalf("a refused Write wrote %d bytes", n)
			}
			break
		}
		if n != chunk {
			t.Fatalf("Write = %d, nil; want %d", n, chunk)
		}
		sent += n
		if sent > 100*limit {
			t.Fatalf("no ENOBUFS after %d bytes: the peer is not reading", sent)
		}
		if _, err := e.Run(0); err != nil { // the loop tries to write and must not block
			t.Fatal(err)
		}
	}
	if q := c.Buffered(); q > limit || q+chunk <= limit {
		t.Fatalf("Buffered = %d when a Write of %d was refused with limit %d", q, chunk, limit)
	}
	if c.Err() != nil || len(*closed) != 0 {
		t.Fatalf("ENOBUFS ended the Conn: Err %v, close handler %v", c.Err(), *closed)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("filling took %v: something blocked", d)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Write([]byte("late"))
	if !errors.Is(err, net.ErrClosed) || !errors.Is(err, unix.EBADF) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed and EBADF", err)
	}
	got := readAll(b)
	testutil.RunUntil(t, e, "the queue to be written and the Conn closed", func() bool { return len(*closed) > 0 })
	if data := <-got; !bytes.Equal(data, pattern(0, sent)) {
		t.Fatalf("the peer read %d bytes, want the %d written, in order", len(data), sent)
	}
	if (*closed)[0] != nil || len(*closed) != 1 {
		t.Fatalf("close handler got %v, want one nil", *closed)
	}
}

// TestConnWriteErrorEndsConn: when the peer goes away, the write that
// fails (on the loop, or inside Write) ends the Conn: its descriptor is
// closed, the close handler gets EPIPE or ECONNRESET, and later Writes
// return the same error.
func TestConnWriteErrorEndsConn(t *testing.T) {
	for _, onLoop := range []bool{true, false} {
		name := map[bool]string{true: "queued", false: "direct"}[onLoop]
		t.Run(name, func(t *testing.T) {
			e := newLoop(t)
			server, client := tcpPair(t)
			c, err := sdnet.NewConn(e, server, nil)
			if err != nil {
				t.Fatal(err)
			}
			closed := closes(c)
			if onLoop {
				fill(t, c)
			}
			_ = client.SetLinger(0) // close with a reset
			client.Close()
			if onLoop {
				testutil.RunUntil(t, e, "the write error", func() bool { return len(*closed) > 0 })
			} else {
				for len(*closed) == 0 { // the reset takes a moment to arrive
					if _, err := c.Write([]byte("x")); err != nil {
						break
					}
					if _, err := e.Run(10 * time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(*closed) != 1 {
				t.Fatalf("close handler called %d times", len(*closed))
			}
			isErrno(t, "close handler", (*closed)[0], unix.EPIPE, unix.ECONNRESET)
			if _, err := c.Write([]byte("x")); err == nil || err != c.Err() { //nolint:errorlint // the very error Err returns
				t.Fatalf("Write after the error = %v, want Err() %v", err, c.Err())
			}
			if c.Fd() != -1 || c.Source() != nil {
				t.Fatalf("a Conn ended by an error still has fd %d", c.Fd())
			}
			if err := server.Close(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the Conn did not close the net.Conn it took: Close = %v", err)
			}
		})
	}
}

// TestConnRead: the read handler gets what arrives, then io.EOF once when
// the peer shuts its side down, and nothing after; a reset connection
// gives ECONNRESET instead. Writing goes on after EOF.
func TestConnRead(t *testing.T) {
	t.Run("eof", func(t *testing.T) {
		e := newLoop(t)
		a, b := socketpair(t)
		c, err := sdnet.NewFileConn(e, a, &sdnet.Options{ReadBuffer: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Abort()
		var got bytes.Buffer
		var errs []error
		err = c.SetReadHandler(func(_ *sdnet.Conn, p []byte, err error) {
			if len(p) > 3 {
				t.Errorf("read %d bytes into a buffer of 3", len(p))
			}
			got.Write(p)
			if err != nil {
				errs = append(errs, err)
				_, _ = c.WriteString("bye")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write([]byte("hello world")); err != nil {
			t.Fatal(err)
		}
		if err := unix.Shutdown(int(b.Fd()), unix.SHUT_WR); err != nil {
			t.Fatal(err)
		}
		testutil.RunUntil(t, e, "EOF", func() bool { return len(errs) > 0 })
		for range 3 { // no second EOF
			if _, err := e.Run(0); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != "hello world" || len(errs) != 1 || !errors.Is(errs[0], io.EOF) {
			t.Fatalf("read %q then %v; want \"hello world\" then one io.EOF", got.String(), errs)
		}
		if on, _ := c.Source().Enabled(); on != source.Off {
			t.Fatalf("after EOF with nothing queued the source is %v, want off", on)
		}
		reply := make([]byte, 8)
		if n, _ := b.Read(reply); string(reply[:n]) != "bye" {
			t.Fatalf("the peer read %q after its EOF, want \"bye\"", reply[:n])
		}
	})
	t.Run("reset", func(t *testing.T) {
		e := newLoop(t)
		server, client := tcpPair(t)
		c, err := sdnet.NewConn(e, server, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Abort()
		var errs []error
		_ = c.SetReadHandler(func(_ *sdnet.Conn, _ []byte, err error) {
			if err != nil {
				errs = append(errs, err)
			}
		})
		_ = client.SetLinger(0)
		client.Close()
		testutil.RunUntil(t, e, "the read error", func() bool { return len(errs) > 0 })
		isErrno(t, "read handler", errs[0], unix.ECONNRESET)
	})
}

// TestConnStopReading: SetReadHandler(nil) stops reading, and a handler
// set again reads what arrived meanwhile.
func TestConnStopReading(t *testing.T) {
	e := newLoop(t)
	a, b := socketpair(t)
	c, err := sdnet.NewFileConn(e, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	var got []string
	h := func(_ *sdnet.Conn, p []byte, _ error) { got = append(got, string(p)) }
	_ = c.SetReadHandler(h)
	_, _ = b.Write([]byte("one"))
	testutil.RunUntil(t, e, "one", func() bool { return len(got) == 1 })
	_ = c.SetReadHandler(nil)
	_, _ = b.Write([]byte("two"))
	for range 3 {
		if _, err := e.Run(0); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 {
		t.Fatalf("read %q with no read handler", got[1:])
	}
	_ = c.SetReadHandler(h)
	testutil.RunUntil(t, e, "two", func() bool { return len(got) == 2 })
	if got[1] != "two" {
		t.Fatalf("read %q, want two", got[1])
	}
}

// TestConnAbort drops the queue, closes at once and calls the close
// handler with nil; Close and Abort after it do nothing.
func TestConnAbort(t *testing.T) {
	e := newLoop(t)
	a, b := socketpair(t)
	c, err := sdnet.NewFileConn(e, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := closes(c)
	fill(t, c)
	_ = c.Close() // closing, waiting for the peer
	c.Abort()
	if len(*closed) != 1 || (*closed)[0] != nil {
		t.Fatalf("close handler got %v, want one nil", *closed)
	}
	if c.Buffered() != 0 {
		t.Fatalf("Abort kept %d bytes", c.Buffered())
	}
	c.Abort()
	if err := c.Close(); err != nil || len(*closed) != 1 {
		t.Fatalf("Close after Abort = %v, close handler called %d times", err, len(*closed))
	}
	if err := a.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the Conn did not close the file it took: Close = %v", err)
	}
	if data := <-readAll(b); len(data) == 0 {
		t.Fatal("the peer read nothing of what was written before Abort")
	}
}

// TestNewConnErrors: what cannot be a Conn is refused with the errno of
// the package documentation, and stays the caller's, unchanged.
func TestNewConnErrors(t *testing.T) {
	e := newLoop(t)
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, err := sdnet.NewConn(e, p1, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewConn(net.Pipe) = %v, want EINVAL", err)
	}
	if _, err := sdnet.NewConn(e, nil, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewConn(nil) = %v, want EINVAL", err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := sdnet.NewConn(e, udp, nil); !errors.Is(err, unix.EPROTOTYPE) {
		t.Errorf("NewConn(UDP) = %v, want EPROTOTYPE", err)
	}
	server, _ := tcpPair(t)
	if _, err := sdnet.NewConn(e, server, &sdnet.Options{WriteLimit: -1}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewConn with WriteLimit -1 = %v, want EINVAL", err)
	}
	if _, err := sdnet.NewConn(nil, server, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewConn(nil loop) = %v, want EINVAL", err)
	}
	if _, err := server.Write([]byte("x")); err != nil {
		t.Errorf("the refused net.Conn does not work any more: %v", err)
	}
	server.Close()
	if _, err := sdnet.NewConn(e, server, nil); !errors.Is(err, unix.EBADF) {
		t.Errorf("NewConn(closed) = %v, want EBADF", err)
	}
	if _, err := sdnet.NewFileConn(e, nil, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewFileConn(nil) = %v, want EINVAL", err)
	}
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := sdnet.NewFileConn(e, f, nil); !errors.Is(err, unix.EPERM) {
		t.Errorf("NewFileConn(regular file) = %v, want EPERM", err)
	}
	if flags, _ := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); flags&unix.O_NONBLOCK != 0 {
		t.Error("a refused file was left non-blocking")
	}
}

// TestNewFileConnPipe: a blocking pipe goes on the loop non-blocking, and
// a write end's queue drains as the reader reads.
func TestNewFileConnPipe(t *testing.T) {
	e := newLoop(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	defer r.Close()
	c, err := sdnet.NewFileConn(e, w, nil)
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	if flags, _ := unix.FcntlInt(uintptr(p[1]), unix.F_GETFL, 0); flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the pipe is still blocking")
	}
	if c.RemoteAddr() != nil || c.LocalAddr() != nil {
		t.Fatal("a pipe has an address")
	}
	if _, err := c.NetConn(); !errors.Is(err, unix.ENOTSOCK) {
		t.Fatalf("NetConn of a pipe = %v, want ENOTSOCK", err)
	}
	want := pattern(0, 256<<10) // more than a pipe holds
	if n, err := c.Write(want); n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if c.Buffered() == 0 {
		t.Fatal("nothing queued: the pipe took 256 KiB at once")
	}
	_ = c.Close()
	got := readAll(r)
	testutil.RunUntil(t, e, "the pipe to drain", func() bool { return c.Fd() == -1 })
	if !bytes.Equal(<-got, want) {
		t.Fatal("the reader did not get what was written")
	}
}

// TestConnAddrs: a TCP Conn reports the addresses package net reports.
func TestConnAddrs(t *testing.T) {
	e := newLoop(t)
	server, client := tcpPair(t)
	local, remote := server.LocalAddr().String(), server.RemoteAddr().String()
	c, err := sdnet.NewConn(e, server, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if c.LocalAddr().String() != local || c.RemoteAddr().String() != remote {
		t.Fatalf("addresses %v %v, want %s %s", c.LocalAddr(), c.RemoteAddr(), local, remote)
	}
	if client.LocalAddr().String() != remote {
		t.Fatal("the pair is not what it seems")
	}
}

// TestNetConnDetach: NetConn hands the connection to Go's poller, without
// the close handler; it refuses while bytes are queued (EBUSY). Both the
// Conn's original descriptor and the net.Conn are closed exactly once.
func TestNetConnDetach(t *testing.T) {
	e := newLoop(t)
	a, b := socketpair(t)
	c, err := sdnet.NewFileConn(e, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	called := false
	_ = c.SetCloseHandler(func(*sdnet.Conn, error) { called = true })
	written := fill(t, c)
	if _, err := c.NetConn(); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("NetConn with a queue = %v, want EBUSY", err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 64<<10)
		for n := 0; n < written; {
			m, err := b.Read(buf)
			if err != nil {
				return
			}
			n += m
		}
	}()
	testutil.RunUntil(t, e, "the queue to drain", func() bool { return c.Buffered() == 0 })
	<-drained
	nc, err := c.NetConn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if called || c.Fd() != -1 {
		t.Fatalf("after NetConn: close handler called %v, Fd %d", called, c.Fd())
	}
	if err := a.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("NetConn left the original file open: Close = %v", err)
	}
	if _, err := nc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
	if _, err := c.NetConn(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("NetConn twice = %v, want net.ErrClosed", err)
	}
}

// TestLoopFreeClosesConns: freeing the loop closes a Conn still open,
// once: the close handler runs, the file it took is closed, and Close and
// Abort afterwards touch nothing (a descriptor that reused the number
// stays open).
func TestLoopFreeClosesConns(t *testing.T) {
	testutil.Check(t)
	e := newLoopNoCleanup(t)
	a, _ := socketpair(t)
	c, err := sdnet.NewFileConn(e, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	fd := c.Fd()
	closed := closes(c)
	_, _ = c.WriteString("queued?")
	e.Unref()
	if len(*closed) != 1 || (*closed)[0] != nil {
		t.Fatalf("freeing the loop: close handler got %v, want one nil", *closed)
	}
	if testutil.FdOpen(fd) {
		t.Fatalf("fd %d still open after the loop was freed", fd)
	}
	r, w := testutil.Pipe(t) // likely reuses the number
	_ = c.Close()
	c.Abort()
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after the loop was freed = %v", err)
	}
	if !testutil.FdOpen(r) || !testutil.FdOpen(w) {
		t.Fatal("Close or Abort after the loop was freed closed a reused descriptor")
	}
	if err := a.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the file was not closed through its *os.File: Close = %v", err)
	}
}
