//go:build linux

package sdnet_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/sdnet"
)

// TestConnHotPathAllocatesNothing: in steady state, a Write the kernel
// takes at once, a Write that is queued and written out on EPOLLOUT, and
// a dispatch of the read handler allocate nothing.
func TestConnHotPathAllocatesNothing(t *testing.T) {
	e := newLoop(t)
	a, b := socketpair(t)
	peer := int(b.Fd())
	if err := unix.SetNonblock(peer, true); err != nil {
		t.Fatal(err)
	}
	c, err := sdnet.NewFileConn(e, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	got := 0
	if err := c.SetReadHandler(func(_ *sdnet.Conn, p []byte, _ error) { got += len(p) }); err != nil {
		t.Fatal(err)
	}
	msg := []byte("0123456789")
	sink := make([]byte, 1<<20)
	drain := func() {
		for {
			if n, _ := unix.Read(peer, sink); n <= 0 {
				return
			}
		}
	}
	run := func() {
		if _, err := e.Run(sdevent.Infinity); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]func(){
		"write": func() {
			if _, err := c.WriteString("0123456789"); err != nil {
				t.Fatal(err)
			}
			drain()
		},
		"read": func() {
			if _, err := unix.Write(peer, msg); err != nil {
				t.Fatal(err)
			}
			before := got
			for got == before {
				run()
			}
		},
		"queue": func() {
			for c.Buffered() == 0 { // the socket is full: the rest is queued
				if _, err := c.Write(sink[:64<<10]); err != nil {
					t.Fatal(err)
				}
			}
			for c.Buffered() > 0 { // the peer reads, the loop writes the queue
				drain()
				run()
			}
			drain()
		},
	}
	for _, name := range []string{"write", "read", "queue"} {
		f := cases[name]
		for range 10 { // buffers reach their size
			f()
		}
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}
