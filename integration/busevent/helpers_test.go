package busevent_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/integration/busevent"
	"github.com/godbus/dbus/v5"
)

// The programs these tests run. They are required: a missing one fails
// the test, with or without SDEVENT_INTEGRATION=1, and is never a skip,
// because CI installs them (Debian: dbus-daemon, dbus-bin, systemd).
var programs = map[string]string{
	"dbus-daemon": "dbus-daemon (Debian package dbus-daemon, pulled in by dbus)",
	"dbus-send":   "dbus-send (Debian package dbus-bin)",
	"busctl":      "busctl (Debian package systemd)",
}

func TestMain(m *testing.M) {
	// The Go runtime opens its netpoller's descriptors on first use, and
	// godbus uses the netpoller: open them before any test counts fds.
	if l, err := net.Listen("unix", "@busevent-warmup-"+strconv.Itoa(os.Getpid())); err == nil {
		l.Close()
	}
	os.Exit(m.Run())
}

// program returns the path of a required program or fails the test.
func program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		mode := "without SDEVENT_INTEGRATION"
		if os.Getenv("SDEVENT_INTEGRATION") != "" {
			mode = "with SDEVENT_INTEGRATION=" + os.Getenv("SDEVENT_INTEGRATION")
		}
		t.Fatalf("%s is required by the busevent integration tests (%s they fail, never skip): install %s: %v",
			name, mode, programs[name], err)
	}
	return p
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
</busconfig>
`

// daemon is a dbus-daemon started for one test.
type daemon struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed once the daemon was reaped
}

// startDaemon starts a private dbus-daemon with a minimal session
// configuration listening in a new temporary directory, and kills it when
// the test ends.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	bin := program(t, "dbus-daemon")
	// os.MkdirTemp, not t.TempDir: a socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "busevent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, filepath.Join(dir, "bus")), 0o600); err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case d.addr = <-line:
	case <-time.After(20 * time.Second):
	}
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(d.kill)
	if d.addr == "" {
		d.kill()
		t.Fatalf("dbus-daemon printed no address; stderr: %s", stderr.String())
	}
	return d
}

// kill kills the daemon and waits until it was reaped.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// dialer connects to the daemon's address.
func (d *daemon) dialer() busevent.Dialer {
	return func(opts ...dbus.ConnOption) (*dbus.Conn, error) {
		return dbus.Connect(d.addr, opts...)
	}
}

// connect makes a plain godbus connection (a peer, not attached to a
// loop), closed when the test ends.
func (d *daemon) connect(t *testing.T) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(d.addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", d.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// attach attaches a new connection to e and closes it when the test ends.
func attach(t *testing.T, e *sdevent.Event, d *daemon, opts ...busevent.Option) *busevent.Bus {
	t.Helper()
	b, err := busevent.Attach(e, d.dialer(), opts...)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newEvent makes a loop, unreferenced when the test ends.
func newEvent(t *testing.T) *sdevent.Event {
	t.Helper()
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Unref)
	return e
}

// goid returns the id of the calling goroutine, as runtime.Stack prints
// it.
func goid() uint64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	s, _, _ = strings.Cut(s, " ")
	id, _ := strconv.ParseUint(s, 10, 64)
	return id
}

// loop is a goroutine that runs a loop, for at most a minute.
type loop struct {
	id   atomic.Uint64 // the loop goroutine's id
	done chan struct{}
	code int
	err  error
}

func newLoop() *loop { return &loop{done: make(chan struct{})} }

// start runs e on a goroutine of its own, which from then on owns e.
func (l *loop) start(t *testing.T, e *sdevent.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	started := make(chan struct{})
	go func() {
		defer close(l.done)
		defer cancel()
		l.id.Store(goid())
		close(started)
		l.code, l.err = e.LoopContext(ctx)
	}()
	<-started
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
}

// onLoop reports whether the caller runs on the loop's goroutine.
func (l *loop) onLoop() bool { return goid() == l.id.Load() }

// wait waits for the loop to end and fails the test if it failed.
func (l *loop) wait(t *testing.T) {
	t.Helper()
	<-l.done
	if l.err != nil || l.code != 0 {
		t.Fatalf("loop: code %d, %v", l.code, l.err)
	}
}

// exit asks the loop to exit, from any goroutine.
func exit(t *testing.T, e *sdevent.Event) {
	t.Helper()
	if err := e.Invoke(func() {
		if err := e.Exit(0); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatalf("invoke: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkLeaks fails the test when it ends with more goroutines or open
// descriptors than it began with, once they had up to ten seconds to go
// away. Call it first, so that its check runs after every other cleanup.
func checkLeaks(t *testing.T) {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	fds := openFds(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			g, f := runtime.NumGoroutine(), openFds(t)
			if g <= goroutines && len(f) <= len(fds) {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("leaked: %d goroutines (%d before), %d fds (%d before)\nfds now: %v\nfds before: %v\n%s",
					g, goroutines, len(f), len(fds), f, fds, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// openFds lists the process's descriptors and what they refer to.
func openFds(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := make(map[string]string, len(ents))
	for _, ent := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + ent.Name()); err == nil {
			fds[ent.Name()] = target
		}
	}
	return fds
}

// run runs an external client and returns its output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, program(t, name), args...).CombinedOutput()
	return string(out), err
}
