//go:build linux

package sdnet_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

// Every test runs under the hygiene checks: no descriptor, goroutine or
// child process may outlive it. A re-executed test binary runs one of the
// subprocess helpers instead of the tests.
func TestMain(m *testing.M) {
	if helper := os.Getenv(helperEnv); helper != "" {
		os.Exit(runHelper(helper))
	}
	testutil.Main(m)
}

// TestEveryTestChecksLeaks: a test that calls neither testutil.Check nor a
// helper that does (newLoop) would leak unnamed.
func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// newLoop makes a loop for the test, freed at its end, after the hygiene
// check was set up.
func newLoop(t *testing.T) *sdevent.Event {
	t.Helper()
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Unref)
	return e
}

// socketpair returns the two ends of a connected AF_UNIX stream socket as
// blocking *os.Files, closed at the end of the test unless closed before.
func socketpair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// tcpPair returns a connected TCP loopback pair: the server's end and the
// client's, both closed at the end of the test unless closed before.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*net.TCPConn), client.(*net.TCPConn)
}

// unixPath returns a socket path in the test's temporary directory.
func unixPath(t *testing.T) string { return filepath.Join(t.TempDir(), "sock") }

// readAll reads r to its end in a goroutine of its own; the channel gets
// what was read once r ended, the goroutine having returned.
func readAll(r io.Reader) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		ch <- b
	}()
	return ch
}

// isErrno fails the test unless err wraps one of want.
func isErrno(t *testing.T, what string, err error, want ...unix.Errno) {
	t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("%s: %v, want an error wrapping %v", what, err, want)
}

// pattern is n bytes of a sequence that shows a byte lost, repeated or
// reordered: byte i is i*7 mod 251 (251 is prime, so no short period
// lines up with a write size).
func pattern(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((from + i) * 7 % 251)
	}
	return b
}

// newLoopNoCleanup makes a loop that the test frees itself.
func newLoopNoCleanup(t *testing.T) *sdevent.Event {
	t.Helper()
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	return e
}
