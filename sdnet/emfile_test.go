//go:build linux

package sdnet_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/sdnet"
)

func init() { helpers["emfile"] = emfileHelper }

// TestAcceptEMFILEPauses runs a Listener in a subprocess whose descriptor
// table is full: accept4 fails with EMFILE while a connection waits. The
// Listener must pause (three warnings, 5, 10 and 20 ms apart, the loop
// idle in between rather than spinning on the readable socket) and accept
// the connection once a descriptor is free again, instead of switching
// off for good as a handler returning the error would (issue 11).
func TestAcceptEMFILEPauses(t *testing.T) {
	testutil.Check(t)
	runSubprocess(t, "emfile", "EMFILE-OK", nil, "SOCK="+unixPath(t))
}

// pauses is a slog.Handler that counts the Listener's pause warnings and
// frees a descriptor at the third.
type pauses struct {
	retries []time.Duration
	iter    []uint64
	e       *sdevent.Event
	free    func()
}

func (p *pauses) Enabled(context.Context, slog.Level) bool { return true }
func (p *pauses) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *pauses) WithGroup(string) slog.Handler            { return p }
func (p *pauses) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" {
			p.retries = append(p.retries, a.Value.Duration())
		}
		if a.Key == "err" {
			if err, _ := a.Value.Any().(error); !errors.Is(err, unix.EMFILE) {
				fmt.Printf("logged %v, want EMFILE\n", err)
			}
		}
		return true
	})
	p.iter = append(p.iter, p.e.Iteration())
	if len(p.retries) == 3 {
		p.free()
	}
	return nil
}

// emfileHelper is the subprocess of TestAcceptEMFILEPauses.
func emfileHelper() int {
	fail := func(format string, a ...any) int {
		fmt.Printf(format+"\n", a...)
		return 1
	}
	e, err := sdevent.New()
	if err != nil {
		return fail("New: %v", err)
	}
	defer e.Unref()
	path := os.Getenv("SOCK")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fail("%v", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fail("listen: %v", err)
	}
	log := &pauses{e: e}
	served := uint64(0)
	l, err := sdnet.NewListener(e, ln, func(_ *sdnet.Listener, c *sdnet.Conn) {
		served = e.Iteration()
		_, _ = c.WriteString("hello\n")
		_ = c.Close()
	}, &sdnet.Options{Logger: slog.New(log)})
	if err != nil {
		return fail("NewListener: %v", err)
	}
	defer l.Close()
	client, err := net.Dial("unix", path) // waits in the backlog
	if err != nil {
		return fail("dial: %v", err)
	}
	defer client.Close()

	freeOne, restore, err := fillFds()
	if err != nil {
		return fail("fill: %v", err)
	}
	defer restore()
	log.free = freeOne // on the loop, at the third pause
	deadline := time.Now().Add(10 * time.Second)
	for served == 0 {
		if time.Now().After(deadline) {
			return fail("not accepted after 10s; pauses %v", log.retries)
		}
		if _, err := e.Run(time.Second); err != nil {
			return fail("Run: %v", err)
		}
	}
	restore()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if fmt.Sprint(log.retries) != fmt.Sprint(want) {
		return fail("pauses %v, want %v", log.retries, want)
	}
	// Each pause costs an iteration for the timer and one for the retry;
	// a loop spinning on the readable socket would run thousands.
	if n := served - log.iter[0]; n > 12 {
		return fail("%d iterations from the first pause to the accept (pauses at %v)", n, log.iter)
	}
	line, err := bufio.NewReader(client).ReadString('\n')
	if err != nil || line != "hello\n" {
		return fail("client read %q, %v", line, err)
	}
	fmt.Println("EMFILE-OK")
	return 0
}

// fillFds lowers the soft RLIMIT_NOFILE to a little above the highest open
// descriptor and takes every free number below it with a duplicate of
// /dev/null. freeOne closes one of them; restore closes the others and
// restores the limit, and may be called more than once.
func fillFds() (freeOne, restore func(), err error) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return nil, nil, err
	}
	fds, err := testutil.OpenFds()
	if err != nil {
		return nil, nil, err
	}
	null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	highest := null
	for fd := range fds {
		highest = max(highest, fd)
	}
	lim := syscall.Rlimit{Cur: uint64(highest) + 8, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = unix.Close(null)
		return nil, nil, err
	}
	fillers := []int{null}
	freeOne = func() {
		_ = unix.Close(fillers[len(fillers)-1])
		fillers = fillers[:len(fillers)-1]
	}
	restore = func() {
		for _, fd := range fillers {
			_ = unix.Close(fd)
		}
		fillers = nil
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	}
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			return freeOne, restore, nil
		}
		if err != nil {
			restore()
			return nil, nil, err
		}
		fillers = append(fillers, fd)
	}
}
