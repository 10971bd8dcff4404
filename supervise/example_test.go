//go:build linux

package supervise_test

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/supervise"
)

// A command that keeps failing is restarted after RestartDelay until the
// start limit gives up on it; its output comes line by line, from the
// loop.
func ExampleStart() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	sv, err := supervise.Start(e, supervise.Spec{
		Command: func() *exec.Cmd {
			cmd := exec.Command("sh", "-c", "echo working; exit 1")
			cmd.Stdout = supervise.LineFunc(func(line []byte) { fmt.Printf("output: %s\n", line) })
			return cmd
		},
		Restart:         supervise.RestartOnFailure,
		RestartDelay:    10 * time.Millisecond,
		StartLimitBurst: 2, // a third start within 10s is one too many
		Exited: func(_ *supervise.Service, ci *sdevent.ChildInfo) {
			fmt.Println("exited:", ci)
		},
		Restarting: func(_ *supervise.Service, in time.Duration) {
			fmt.Println("restarting in", in)
		},
		Done: func(sv *supervise.Service, r supervise.Result) {
			fmt.Println("gave up:", r, sv.State())
			_ = e.Exit(0)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sv.Close()
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// output: working
	// exited: exited 1
	// restarting in 10ms
	// output: working
	// exited: exited 1
	// restarting in 10ms
	// gave up: start-limit-hit failed
}

// A daemon's workers, stopped gracefully: Shutdown (which SIGTERM and
// SIGINT call, with SetSignalShutdown) stops each worker, tells
// OnShutdown's function, waits for each worker on the loop, and then
// exits the loop.
func ExampleGroup() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	g, err := supervise.NewGroup(e)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	if _, err := g.SetSignalShutdown(true); err != nil { // SIGTERM, SIGINT: Shutdown(0)
		log.Fatal(err)
	}
	g.OnShutdown(func() { fmt.Println("stopping") })
	up := 0
	for _, name := range []string{"worker-1", "worker-2"} {
		_, err := g.Start(supervise.Spec{
			Name:     name,
			Command:  func() *exec.Cmd { return exec.Command("sleep", "30") },
			Restart:  supervise.RestartOnFailure,
			KillMode: supervise.KillMixed,
			Started: func(*supervise.Service, int) {
				if up++; up == 2 {
					_ = g.Shutdown(0) // as SIGTERM would
				}
			},
			Exited: func(sv *supervise.Service, ci *sdevent.ChildInfo) {
				fmt.Println(sv.Name(), ci)
			},
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	code, err := e.Loop()
	fmt.Println("loop:", code, err)
	// Unordered output:
	// stopping
	// worker-1 killed by SIGTERM
	// worker-2 killed by SIGTERM
	// loop: 0 <nil>
}

// A Type=notify-reload daemon whose work is its worker: the group tells
// systemd that the daemon is ready once the worker runs, wraps each reload
// (SIGHUP, from systemctl reload) in RELOADING=1 and READY=1, says
// STOPPING=1 when SIGTERM stops it, and keeps the status line of systemctl
// status up to date. Here a socket stands in for systemd's, to show what
// it receives.
func ExampleGroup_SetNotify() {
	manager := listenNotify() // sets $NOTIFY_SOCKET, as systemd does
	defer manager.Close()

	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	g, err := supervise.NewGroup(e)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	generation := 1
	var worker *supervise.Service
	g.SetNotify(&supervise.Notify{
		ReadyWhenStarted: true,
		Status: func() string {
			return fmt.Sprintf("configuration %d, worker %v", generation, worker.State())
		},
	})
	g.OnReload(func() error {
		// Read the configuration again, and Update the worker.
		generation++
		// As systemctl stop would, later.
		_ = unix.Kill(os.Getpid(), unix.SIGTERM)
		return nil
	})
	if _, err := g.SetSignalShutdown(true); err != nil { // SIGTERM, SIGINT
		log.Fatal(err)
	}
	if _, err := g.SetSignalReload(true); err != nil { // SIGHUP
		log.Fatal(err)
	}
	worker, err = g.Start(supervise.Spec{
		Command: func() *exec.Cmd { return exec.Command("sleep", "30") },
		Started: func(*supervise.Service, int) {
			_ = unix.Kill(os.Getpid(), unix.SIGHUP) // as systemctl reload would
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	manager.print()
	// Output:
	// READY=1 STATUS=configuration 1, worker running
	// RELOADING=1 MONOTONIC_USEC=… STATUS=configuration 1, worker running
	// READY=1 STATUS=configuration 2, worker running
	// STOPPING=1 STATUS=configuration 2, worker stopping
	// STATUS=configuration 2, worker inactive
}

// notifySocket stands in for systemd's notification socket.
type notifySocket struct {
	dir  string
	conn *net.UnixConn
}

// listenNotify listens on a notifySocket and points $NOTIFY_SOCKET at it.
func listenNotify() *notifySocket {
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		log.Fatal(err)
	}
	if err := os.Setenv("NOTIFY_SOCKET", path); err != nil {
		log.Fatal(err)
	}
	return &notifySocket{dir: dir, conn: conn}
}

// Close closes the socket and removes it.
func (s *notifySocket) Close() {
	_ = os.Unsetenv("NOTIFY_SOCKET") // cannot fail: the name is valid
	_ = s.conn.Close()               // read to the end already
	_ = os.RemoveAll(s.dir)          // best effort: a temporary directory
}

// print prints what the socket received, one message a line, with the
// time in MONOTONIC_USEC= left out.
func (s *notifySocket) print() {
	usec := regexp.MustCompile(`MONOTONIC_USEC=[0-9]+`)
	buf := make([]byte, 4096)
	for {
		// The messages are there already: wait for no more.
		_ = s.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := s.conn.Read(buf)
		if err != nil {
			return
		}
		msg := strings.ReplaceAll(string(buf[:n]), "\n", " ")
		fmt.Println(usec.ReplaceAllString(msg, "MONOTONIC_USEC=…"))
	}
}

// The delays of RestartSteps=4 between RestartSec=100ms and
// RestartMaxDelaySec=10s.
func ExampleBackoff() {
	for n := 1; n <= 6; n++ {
		fmt.Println(n, supervise.Backoff(100*time.Millisecond, 10*time.Second, 4, n))
	}
	// Output:
	// 1 100ms
	// 2 316.227ms
	// 3 1s
	// 4 3.162277s
	// 5 10s
	// 6 10s
}

// A daemon's worker does not inherit the variables systemd meant for the
// daemon alone: it would speak for the daemon (READY=1, watchdog pings).
func ExampleEnviron() {
	// As systemd sets it for a Type=notify daemon.
	if err := os.Setenv("NOTIFY_SOCKET", "/run/systemd/notify"); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.Unsetenv("NOTIFY_SOCKET") }() // cannot fail: the name is valid

	cmd := exec.Command("sh", "-c", `echo "NOTIFY_SOCKET=${NOTIFY_SOCKET:-unset}"`)
	cmd.Env = supervise.Environ()
	out, err := cmd.Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: NOTIFY_SOCKET=unset
}
