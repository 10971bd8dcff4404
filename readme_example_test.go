//go:build linux

package sdevent_test

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
	"github.com/go-sdevent/sdevent/supervise"
)

// Example_stdin is the README's example, kept compiling here: echo stdin
// until end of input, give up after five seconds. (Compiled, not run: it
// reads the terminal.)
func Example_stdin() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	// Print what arrives on stdin, at normal priority.
	in, _ := e.AddIO(0, unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf)
		if n <= 0 {
			return s.Event().Exit(0) // end of input
		}
		fmt.Printf("read %q\n", buf[:n])
		return err
	})
	defer in.Unref()

	// Give up after five seconds: a nil handler exits with the userdata as code.
	timeout, _ := e.AddTimeRelative(unix.CLOCK_MONOTONIC, 5*time.Second, 0, nil)
	timeout.SetUserdata(1)
	defer timeout.Unref()

	code, err := e.Loop()
	os.Exit(int(exitcode.FromLoop(code, err)))
}

// Example_daemon is the README's systemd daemon: compiled, not run.
func Example_daemon() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	g, err := supervise.NewGroup(e)
	if err != nil {
		log.Fatal(err)
	}
	// SIGINT/SIGTERM: stop the worker (SIGTERM, SIGKILL after 90s), wait for it, then Loop returns 0.
	if _, err := g.SetSignalShutdown(true); err != nil {
		log.Fatal(err)
	}
	// READY=1 once the worker runs; STOPPING=1 as a stop begins, not once the worker is gone.
	g.SetNotify(&supervise.Notify{ReadyWhenStarted: true})
	_, err = g.Start(supervise.Spec{ // restarted when it fails, after 100ms growing to 1m
		Command: func() *exec.Cmd {
			cmd := exec.Command("/usr/local/bin/worker")
			cmd.Stdout = supervise.LineFunc(func(line []byte) { log.Printf("worker: %s", line) })
			cmd.Env = supervise.Environ() // no NOTIFY_SOCKET, WATCHDOG_*: it is not the service
			return cmd
		},
		Restart:         supervise.RestartOnFailure,
		RestartSteps:    5,
		RestartMaxDelay: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	accept := func(s *sdevent.Source, fd int, revents uint32) error {
		conn, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err == nil {
			unix.Close(conn) // serve it here
		}
		return nil
	}
	if _, err := e.AddListenFds(unix.EPOLLIN, accept); err != nil { // the LISTEN_FDS sockets, one source each
		log.Fatal(err)
	}
	if _, err := e.SetWatchdog(true); err != nil { // WATCHDOG_USEC: pings from the loop
		log.Fatal(err)
	}
	code, err := e.Loop()
	os.Exit(int(exitcode.FromLoop(code, err)))
}
