//go:build linux

package sdnet_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/sdnet"
)

// A status socket served on the loop: each connection gets a line and is
// closed once the line was written, however slowly the client reads.
func Example() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	dir, err := os.MkdirTemp("", "status")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ln, err := net.Listen("unix", filepath.Join(dir, "status.sock"))
	if err != nil {
		log.Fatal(err)
	}
	jobs := 3 // loop state
	l, err := sdnet.NewListener(e, ln, func(_ *sdnet.Listener, c *sdnet.Conn) {
		_, _ = fmt.Fprintf(c, "running, %d jobs\n", jobs)
		_ = c.Close() // after the line was written
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close() // closes ln and removes the socket file

	done := make(chan struct{})
	go func() { // a client, as `socat - UNIX-CONNECT:status.sock` would be
		defer close(done)
		c, err := net.Dial("unix", filepath.Join(dir, "status.sock"))
		if err == nil {
			b, _ := io.ReadAll(c)
			fmt.Print(string(b))
			_ = c.Close()
		}
		_ = e.Invoke(func() { _ = e.Exit(0) })
	}()
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output: running, 3 jobs
}

// Reading on the loop: the read handler gets what each read returned, and
// io.EOF once the writer is done. Here the stream is a pipe, as from a
// child's standard output; a Conn accepted by a Listener reads the same
// way.
func ExampleConn_SetReadHandler() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	c, err := sdnet.NewFileConn(e, r, nil) // c owns r now
	if err != nil {
		log.Fatal(err)
	}
	var got strings.Builder
	err = c.SetReadHandler(func(c *sdnet.Conn, b []byte, err error) {
		got.Write(b)
		if err != nil { // io.EOF: the writer closed its end
			fmt.Printf("read %q, then %v\n", got.String(), err)
			_ = c.Close()
			_ = e.Exit(0)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	writer, err := e.AddDefer(func(*sdevent.Source) error {
		_, _ = w.WriteString("one line\nand another\n")
		return w.Close()
	})
	if err != nil {
		log.Fatal(err)
	}
	defer writer.Unref()
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	// Output: read "one line\nand another\n", then EOF
}

// The hybrid pattern: connections are accepted on the loop, then each is
// served by a goroutine of its own with blocking calls, which reaches loop
// state only through Invoke. Here a client sends numbers and gets back the
// running total, which lives on the loop.
func Example_hybrid() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	total := 0 // loop state: read and written on the loop only
	var serving sync.WaitGroup
	l, err := sdnet.NewListener(e, ln, func(_ *sdnet.Listener, c *sdnet.Conn) {
		nc, err := c.NetConn() // off the loop, into Go's poller
		if err != nil {
			return
		}
		serving.Add(1)
		go func() {
			defer serving.Done()
			defer nc.Close()
			lines := bufio.NewScanner(nc)
			for lines.Scan() {
				n, _ := strconv.Atoi(lines.Text())
				sum := make(chan int, 1)
				if e.Invoke(func() { total += n; sum <- total }) != nil {
					return // the loop is gone
				}
				_, _ = fmt.Fprintln(nc, <-sum)
			}
		}()
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			r := bufio.NewReader(c)
			for _, n := range []string{"1", "2", "39"} {
				_, _ = fmt.Fprintln(c, n)
				s, _ := r.ReadString('\n')
				fmt.Println("total", strings.TrimSpace(s))
			}
			_ = c.Close()
		}
		_ = e.Invoke(func() { _ = e.Exit(0) })
	}()
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	serving.Wait()
	// Output:
	// total 1
	// total 3
	// total 42
}

// A socket-activated daemon takes its listening sockets from systemd (a
// unit with ListenStream=) as Listeners.
func ExampleListenFds() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	listeners, others, err := sdnet.ListenFds(e, func(l *sdnet.Listener, c *sdnet.Conn) {
		_, _ = c.WriteString("hello from " + l.Name() + "\n")
		_ = c.Close()
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range others { // datagram sockets, FIFOs, OpenFile= files
		_ = f.Close()
	}
	if len(listeners) == 0 {
		fmt.Println("not socket-activated")
		return
	}
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
}
