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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// workerdImpls are the implementations of examples/workerd/SPEC.md, by
// directory under examples/. TestWorkerd runs, as a subtest of its name,
// each one whose directory holds Go files; a required one that has none
// fails the test, so that losing one cannot go unnoticed.
var workerdImpls = []struct {
	name, dir string
	required  bool
}{
	{"plain", "workerd-plain", true},
	{"sdevent", "workerd", true},
}

// D-Bus names of SPEC.md.
const (
	workerdBusName = "io.github.go_sdevent.Workerd"
	workerdPath    = "/io/github/go_sdevent/Workerd"
)

// TestWorkerd runs each implementation of examples/workerd/SPEC.md under a
// real `systemd --user` as a Type=notify-reload unit with WatchdogSec=1s, a
// socket-activated status socket and a private session bus, and checks
// what the spec promises: readiness, the status socket and the D-Bus
// method, restarts with backoff after kill -9 of the worker, reloads on
// SIGHUP and on edits of the file (rename-over, in place, an invalid one),
// the watchdog, and a graceful stop of a worker that takes its time.
func TestWorkerd(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	m := notifyReloadManager(t)
	for _, impl := range workerdImpls {
		files, _ := filepath.Glob(filepath.Join(examples, impl.dir, "*.go"))
		if len(files) == 0 {
			if impl.required {
				t.Errorf("examples/%s has no Go files", impl.dir)
			} else {
				t.Logf("examples/%s has no Go files yet: %s not run", impl.dir, impl.name)
			}
			continue
		}
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			w := newWorkerd(t, m, buildWorkerd(t, examples, impl.dir))
			w.run()
		})
	}
}

// buildWorkerd builds examples/DIR, with the race detector, into a
// temporary directory and returns the binary's path.
func buildWorkerd(t *testing.T, examples, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-race", "-o", bin, "./"+dir)
	cmd.Dir = examples
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s in %s: %v\n%s", dir, examples, err, out)
	}
	return bin
}

// workerdStatus is a parsed status line of SPEC.md.
type workerdStatus struct {
	line                      string
	state                     string
	pid, restarts, generation int
	greeting                  string
}

func parseWorkerdStatus(line string) (workerdStatus, error) {
	s := workerdStatus{line: line}
	f := strings.SplitN(line, " ", 5)
	keys := []string{"state", "pid", "restarts", "generation", "greeting"}
	if len(f) != len(keys) {
		return s, fmt.Errorf("status line %q: want %d fields", line, len(keys))
	}
	var v [5]string
	for i, key := range keys {
		var ok bool
		if v[i], ok = strings.CutPrefix(f[i], key+"="); !ok {
			return s, fmt.Errorf("status line %q: field %d is not %s=", line, i+1, key)
		}
	}
	s.state, s.greeting = v[0], v[4]
	for i, n := range []*int{&s.pid, &s.restarts, &s.generation} {
		var err error
		if *n, err = strconv.Atoi(v[i+1]); err != nil {
			return s, fmt.Errorf("status line %q: %s: %w", line, keys[i+1], err)
		}
	}
	return s, nil
}

// workerd is one implementation under test, in a unit of its own.
type workerd struct {
	*unit
	socket string // the socket unit
	conf   string // the configuration file
	sock   string // the status socket
	bus    string // the session bus's address
}

const workerScript = `trap 'echo "worker $$: stopping"; sleep 1; echo "worker $$: stopped"; exit 0' TERM
echo "worker $$: started"
while :; do sleep 0.1; done
`

// newWorkerd writes the configuration, the worker script and the units for
// bin, and starts a session bus for it; everything is stopped and removed
// when t ends.
func newWorkerd(t *testing.T, m *Manager, bin string) *workerd {
	t.Helper()
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	stem := fmt.Sprintf("%s%d-%s-%d", unitPrefix, os.Getpid(), name, unitSeq.Add(1))
	w := &workerd{
		unit:   &unit{t: t, m: m, Name: stem + ".service", Dir: t.TempDir()},
		socket: stem + ".socket",
	}
	// The file watch sees its directory: keep the unit's output elsewhere.
	if err := os.Mkdir(w.path("etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.conf = w.path("etc/workerd.conf")
	w.sock = w.path("status.sock")
	w.bus = startSessionBus(t, w.path("bus"))
	w.writeConfig("greeting = hello from " + t.Name())
	script := w.writeScript("worker", workerScript)

	service := fmt.Sprintf(`[Unit]
Description=workerd %[1]s (%[2]s)
Requires=%[3]s
After=%[3]s

[Service]
Type=notify-reload
NotifyAccess=main
WatchdogSec=1s
ExecStart=%[2]s -config %[4]s
Environment=DBUS_SESSION_BUS_ADDRESS=%[5]s "GORACE=halt_on_error=1 atexit_sleep_ms=0" WORKER_SCRIPT=%[6]s
KillMode=mixed
TimeoutStopSec=30s
StandardOutput=append:%[7]s
StandardError=append:%[7]s
`, t.Name(), bin, w.socket, w.conf, w.bus, script, w.path("output"))
	socket := fmt.Sprintf("[Socket]\nListenStream=%s\n", w.sock)
	files := map[string]string{w.Name: service, w.socket: socket}
	for f, text := range files {
		if err := os.MkdirAll(m.UnitDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(m.UnitDir(), f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			status, _ := m.Systemctl("status", "--no-pager", "--full", w.Name, w.socket)
			t.Logf("%s\noutput:\n%s", status, w.output())
		}
		// Best effort: both have normally stopped; TestMain reports units
		// left loaded.
		_, _ = m.Systemctl("stop", w.Name, w.socket)
		for f := range files {
			_ = os.Remove(filepath.Join(m.UnitDir(), f))
		}
		_, _ = m.Systemctl("daemon-reload")
	})
	if _, err := m.Systemctl("daemon-reload"); err != nil {
		t.Fatal(err)
	}
	return w
}

// writeConfig replaces the configuration by rename-over, as editors do,
// with the worker command and lines.
func (w *workerd) writeConfig(lines ...string) {
	w.t.Helper()
	// The restart delays are the defaults: 100ms, 200ms, ...
	text := "# written by " + w.t.Name() + "\ncommand = /bin/sh " + w.path("worker.sh") + "\n" +
		"timeout_stop_sec = 5s\n" + strings.Join(lines, "\n") + "\n"
	tmp := w.conf + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, w.conf); err != nil {
		w.t.Fatal(err)
	}
}

// status asks the status socket.
func (w *workerd) status() workerdStatus {
	w.t.Helper()
	s, err := w.tryStatus()
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *workerd) tryStatus() (workerdStatus, error) {
	c, err := net.DialTimeout("unix", w.sock, 10*time.Second)
	if err != nil {
		return workerdStatus{}, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return workerdStatus{}, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return workerdStatus{}, fmt.Errorf("reading the status socket: %w (read %q)", err, line)
	}
	return parseWorkerdStatus(strings.TrimSuffix(line, "\n"))
}

// waitStatus polls the status socket until cond holds, for up to 10s.
func (w *workerd) waitStatus(what string, cond func(workerdStatus) bool) workerdStatus {
	w.t.Helper()
	var s workerdStatus
	poll(w.t, 10*time.Second, what, func() bool {
		s = w.status()
		return cond(s)
	})
	return s
}

// expectRunning fails the test unless s says that a worker runs, with
// these counts and greeting.
func (w *workerd) expectRunning(s workerdStatus, restarts, generation int, greeting string) {
	w.t.Helper()
	if s.state != "running" || s.pid <= 0 || s.restarts != restarts || s.generation != generation || s.greeting != greeting {
		w.t.Fatalf("status %q, want state=running, a pid, restarts=%d generation=%d greeting=%s",
			s.line, restarts, generation, greeting)
	}
}

// run is the scenario.
func (w *workerd) run() {
	t, m := w.t, w.m
	greeting := "hello from " + t.Name()

	// Start: systemctl start returns once the unit said READY=1.
	if _, err := m.Systemctl("start", w.Name); err != nil {
		t.Fatal(err)
	}
	p := w.show("MainPID", "StatusText", "NRestarts")
	w.expect(p, map[string]string{"ActiveState": "active", "SubState": "running"})
	mainPID := p["MainPID"]
	st := w.status()
	w.expectRunning(st, 0, 1, greeting)
	if p["StatusText"] != st.line {
		t.Errorf("StatusText=%q, want the status line %q", p["StatusText"], st.line)
	}
	w.checkWorker(st.pid, mainPID)

	// D-Bus: the method answers the status line.
	if got := w.callStatus(); got != st.line {
		t.Errorf("D-Bus Status() = %q, want %q", got, st.line)
	}

	// kill -9 of the worker: restarted after 100ms, then 200ms. The time
	// from the kill to the new pid is at least the delay.
	for i, delay := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		old := st.pid
		killed := time.Now()
		if err := unix.Kill(old, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st = w.waitStatus(fmt.Sprintf("a worker after pid %d was killed", old), func(s workerdStatus) bool {
			return s.state == "running" && s.pid != old
		})
		if took := time.Since(killed); took < delay {
			t.Errorf("restart %d came %v after the kill, want at least %v", i+1, took, delay)
		}
		w.expectRunning(st, i+1, 1, greeting)
		w.checkWorker(st.pid, mainPID)
	}
	w.expect(w.show("MainPID", "NRestarts"), map[string]string{"ActiveState": "active", "MainPID": mainPID, "NRestarts": "0"})

	// SIGHUP through systemctl reload: it returns once the daemon said
	// READY=1 after RELOADING=1, by when it has read the file.
	if _, err := m.Systemctl("reload", w.Name); err != nil {
		t.Fatal(err)
	}
	st = w.status()
	w.expectRunning(st, 2, 2, greeting)

	// An editor's rename-over: the daemon reloads by itself, once.
	greeting = "renamed over by " + t.Name()
	w.writeConfig("greeting = " + greeting)
	st = w.waitStatus("the reload after a rename-over", func(s workerdStatus) bool { return s.greeting == greeting })
	w.expectRunning(st, 2, 3, greeting)

	// A write in place (`>`).
	greeting = "written in place by " + t.Name()
	before := st.generation
	text, err := os.ReadFile(w.conf)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "greeting = "+st.greeting, "greeting = "+greeting, 1))
	if err := os.WriteFile(w.conf, text, 0o644); err != nil {
		t.Fatal(err)
	}
	st = w.waitStatus("the reload after a write in place", func(s workerdStatus) bool { return s.greeting == greeting })
	if st.generation <= before {
		t.Errorf("generation %d after a write in place, want more than %d", st.generation, before)
	}

	// An invalid file is not taken, and the reload still completes.
	before = st.generation
	w.writeConfig("greeting = never seen", "bogus line")
	if _, err := m.Systemctl("reload", w.Name); err != nil {
		t.Fatalf("reload with an invalid file: %v", err)
	}
	w.expectRunning(w.status(), 2, before, greeting)
	greeting = "valid again in " + t.Name()
	w.writeConfig("greeting = " + greeting)
	st = w.waitStatus("the reload after a valid file came back", func(s workerdStatus) bool { return s.greeting == greeting })
	if st.generation <= before {
		t.Errorf("generation %d after the file was valid again, want more than %d", st.generation, before)
	}
	w.expect(w.show("MainPID", "NRestarts"), map[string]string{"ActiveState": "active", "MainPID": mainPID, "NRestarts": "0"})

	w.checkWatchdog(mainPID)
	w.checkStop(st.pid, mainPID)
}

// checkWorker checks that the worker is the daemon's child, leads a
// process group of its own and did not inherit what systemd gave the
// daemon alone.
func (w *workerd) checkWorker(pid int, mainPID string) {
	w.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		w.t.Fatalf("worker %d: %v", pid, err)
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 3 || f[1] != mainPID || f[2] != strconv.Itoa(pid) {
		w.t.Errorf("worker %d: stat %q: want parent %s and its own process group", pid, stat, mainPID)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		w.t.Fatalf("worker %d: %v", pid, err)
	}
	if !strings.Contains(string(env), "\x00WORKER_SCRIPT=") {
		w.t.Errorf("worker %d lacks the daemon's WORKER_SCRIPT in its environment", pid)
	}
	for _, kv := range strings.Split(string(env), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			w.t.Errorf("worker %d inherited %s", pid, kv)
		}
	}
}

// callStatus calls the D-Bus method.
func (w *workerd) callStatus() string {
	w.t.Helper()
	conn, err := dbus.Connect(w.bus)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s string
	if err := conn.Object(workerdBusName, workerdPath).CallWithContext(ctx, workerdBusName+".Status", 0).Store(&s); err != nil {
		w.t.Fatalf("D-Bus %s.Status: %v", workerdBusName, err)
	}
	return s
}

// checkWatchdog watches the unit for 2.5 watchdog periods: it must stay
// up, and systemd must see its pings.
func (w *workerd) checkWatchdog(mainPID string) {
	w.t.Helper()
	pings := map[string]bool{}
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; {
		p := w.show("MainPID", "WatchdogTimestampMonotonic")
		if p["ActiveState"] != "active" || p["MainPID"] != mainPID {
			w.t.Fatalf("%v into the watchdog check: %s MainPID=%s, want active, MainPID=%s",
				time.Since(start).Round(time.Millisecond), brief(p), p["MainPID"], mainPID)
		}
		if ts := p["WatchdogTimestampMonotonic"]; ts != "0" {
			pings[ts] = true
		}
		time.Sleep(50 * time.Millisecond) // sampling rate, not synchronisation
	}
	if len(pings) < 3 {
		w.t.Errorf("systemd saw %d distinct watchdog pings in 2.5s with WatchdogSec=1s, want at least 3", len(pings))
	}
}

// checkStop stops the unit while the worker takes a second to handle
// SIGTERM: the daemon must wait for it, exit 0, and leave nothing behind.
func (w *workerd) checkStop(worker int, mainPID string) {
	w.t.Helper()
	cgroup := w.show("ControlGroup")["ControlGroup"]
	dirs := cgroupDirs(cgroup)
	if len(dirs) == 0 {
		w.t.Fatalf("the unit's cgroup %q is in no mounted hierarchy", cgroup)
	}
	for _, d := range dirs {
		if procs := cgroupProcs(d); !strings.Contains(" "+procs+" ", " "+mainPID+" ") || !strings.Contains(" "+procs+" ", " "+strconv.Itoa(worker)+" ") {
			w.t.Fatalf("%s holds %q, want the daemon %s and the worker %d in it", d, procs, mainPID, worker)
		}
	}
	start := time.Now()
	if _, err := w.m.Systemctl("stop", w.Name); err != nil {
		w.t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		w.t.Errorf("systemctl stop took %v: the worker takes a second to stop", took)
	}
	w.expect(w.show(), map[string]string{"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"})
	if out, want := w.output(), fmt.Sprintf("worker %d: stopped", worker); !strings.Contains(out, want) {
		w.t.Errorf("no %q in the output: the worker did not finish its stop", want)
	}
	for _, pid := range []string{mainPID, strconv.Itoa(worker)} {
		n, _ := strconv.Atoi(pid)
		if err := unix.Kill(n, 0); !errors.Is(err, unix.ESRCH) {
			w.t.Errorf("pid %s still there after the stop (kill 0: %v)", pid, err)
		}
	}
	for _, d := range dirs {
		if procs := cgroupProcs(d); procs != "" {
			w.t.Errorf("%s still holds %s after the stop", d, procs)
		}
	}
}

// cgroupDirs returns the directories of the cgroup (a ControlGroup
// property) in the mounted hierarchies that have it.
func cgroupDirs(cgroup string) []string {
	mounts, err := cgroupMounts()
	if err != nil || cgroup == "" {
		return nil
	}
	var dirs []string
	for _, mnt := range mounts {
		if d := filepath.Join(mnt, cgroup); cgroupProcs(d) != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// cgroupProcs returns the pids in the cgroup directory, space-separated,
// or "" if there are none or it is gone.
func cgroupProcs(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")) // gone: empty
	return strings.Join(strings.Fields(string(b)), " ")
}

// startSessionBus starts a dbus-daemon with the session configuration
// listening on the socket path, and stops it when t ends.
func startSessionBus(t *testing.T, path string) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is required (Debian package dbus-daemon; these tests never skip): %v", err)
	}
	addr := "unix:path=" + path
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--address="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := os.Create(path + ".log")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed below
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	poll(t, 10*time.Second, "dbus-daemon to listen on "+path, func() bool {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}
