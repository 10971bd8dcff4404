//go:build linux

package systemdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// TestSocketActivation has systemd-socket-activate listen on a socket and
// exec the test binary on it (as serveActivated), which takes the socket
// with AddListenFds and echoes one line, prefixed with the socket's name.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	activate := programs(t)["systemd-socket-activate"]
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "echo.sock")
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// systemd-socket-activate passes on only the variables given with -E;
	// it execs the program at the first connection. GORACE spares a -race
	// binary its second of sleep at exit.
	cmd := exec.CommandContext(ctx, activate, "-l", sock, "--fdname=echo",
		"-E", activatedEnv+"=1", "-E", "GORACE=atexit_sleep_ms=0", self)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("output of systemd-socket-activate and the activated program:\n%s", b)
		}
	}()

	// The socket exists once systemd-socket-activate listens; a connection
	// made before the program runs waits in the backlog.
	var conn net.Conn
	poll(t, 10*time.Second, "systemd-socket-activate to listen on "+sock, func() bool {
		conn, err = net.Dial("unix", sock)
		return err == nil
	})
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "hello from %s\n", t.Name()); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if want := "echo: hello from " + t.Name() + "\n"; reply != want {
		t.Errorf("echo %q, want %q", reply, want)
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("activated program: %v", err)
	}
}

// serveActivated is the activated program: it takes the sockets passed by
// systemd-socket-activate with AddListenFds, answers one connection with
// "<socket name>: <line>" and exits 0. Anything unexpected is said on
// stderr and ends it with status 1.
func serveActivated() int {
	if err := serveOne(); err != nil {
		fmt.Fprintf(os.Stderr, "activated: %v\n", err)
		return 1
	}
	return 0
}

func serveOne() error {
	if pid := os.Getenv("LISTEN_PID"); pid != fmt.Sprint(os.Getpid()) {
		return fmt.Errorf("LISTEN_PID=%q, want %d", pid, os.Getpid())
	}
	e, err := sdevent.New()
	if err != nil {
		return err
	}
	defer e.Unref()
	served := errors.New("no connection served")
	sources, err := e.AddListenFds(unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		served = echo(s, fd)
		return s.Event().Exit(0)
	})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sources {
			s.Unref()
		}
	}()
	if len(sources) != 1 {
		return fmt.Errorf("AddListenFds made %d sources, want 1", len(sources))
	}
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		if val, ok := os.LookupEnv(v); ok {
			return fmt.Errorf("%s=%s still set after AddListenFds", v, val)
		}
	}
	timeout, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, 20*time.Second, 0, nil)
	if err != nil {
		return err
	}
	defer timeout.Unref()
	timeout.SetUserdata(1)
	code, err := e.Loop()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("no connection within 20s")
	}
	return served
}

// echo accepts one connection on the listening socket fd and answers its
// first line.
func echo(s *sdevent.Source, fd int) error {
	name, err := s.Description()
	if err != nil {
		return err
	}
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	c := os.NewFile(uintptr(nfd), "connection")
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	_, err = fmt.Fprintf(c, "%s: %s", name, strings.TrimSuffix(line, "\n")+"\n")
	return err
}
