// Command workerd-plain is the daemon of examples/workerd/SPEC.md written
// in plain Go, as a Go developer would without go-sdevent: os/exec and
// os/signal, go-systemd for notifications and socket activation, godbus,
// fsnotify, and a goroutine for each thing that waits.
//
//	workerd-plain -config FILE
//
// One goroutine, run's select loop, owns the worker and the timers; the
// status socket and D-Bus read the state under a mutex.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/fsnotify/fsnotify"
	"github.com/godbus/dbus/v5"
)

const (
	busName    = "io.github.go_sdevent.Workerd"
	objectPath = "/io/github/go_sdevent/Workerd"
	debounce   = 100 * time.Millisecond
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("workerd: ")
	path := flag.String("config", "", "the configuration `file`")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*path); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// supervisor is the daemon's state. The fields under mu are read by the
// status socket and D-Bus goroutines; run's goroutine alone writes them
// and owns the rest.
type supervisor struct {
	path string

	mu         sync.Mutex
	cfg        *config
	pid        int // the worker's, 0 when none runs
	restarts   int
	generation int
	stopping   bool

	cmd    *exec.Cmd
	ready  bool       // READY=1 was sent
	exited chan error // cmd.Wait's result

	restart <-chan time.Time // a pending restart
	kill    <-chan time.Time // the stop timeout
	reload  <-chan time.Time // the end of the file watch's quiet period
}

func run(path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	s := &supervisor{path: path, cfg: cfg, generation: 1, exited: make(chan error, 1)}

	// Subscribe before anything starts, so that an early SIGTERM is seen.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	listeners, err := activation.Listeners()
	if err != nil {
		return err
	}
	if len(listeners) != 1 || listeners[0] == nil {
		return fmt.Errorf("want exactly one activated listening socket, got %d", len(listeners))
	}
	defer listeners[0].Close()

	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("session bus: %w", err)
	}
	defer conn.Close()
	if err := conn.Export(s, objectPath, busName); err != nil {
		return err
	}
	reply, err := conn.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return err
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("%s is owned by another connection", busName)
	}

	// Watch the directory: an editor's rename-over replaces the file, and a
	// watch on the file itself would end with the old one.
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer watcher.Close()
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		return err
	}

	// go-systemd checks WATCHDOG_PID and unsets WATCHDOG_*, which the
	// worker must not inherit.
	var watchdog <-chan time.Time
	if interval, err := daemon.SdWatchdogEnabled(true); err != nil {
		return err
	} else if interval > 0 {
		ticker := time.NewTicker(interval / 2)
		defer ticker.Stop()
		watchdog = ticker.C
	}

	s.startWorker()
	go s.serve(listeners[0])
	for {
		select {
		case sig := <-signals:
			if s.stopping {
				continue
			}
			if sig == syscall.SIGHUP {
				s.reloadConfig()
			} else if s.stop() {
				return nil
			}
		case err := <-s.exited:
			if s.workerExited(err) {
				return nil
			}
		case <-s.restart:
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
			s.startWorker()
		case <-s.kill:
			log.Printf("worker %d still running after %v: SIGKILL", s.cmd.Process.Pid, s.config().stopTimeout)
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // fails only if it is gone: its exit is on the way
		case ev := <-watcher.Events:
			if filepath.Base(ev.Name) == filepath.Base(path) && ev.Has(fsnotify.Write|fsnotify.Create) && !s.stopping {
				s.reload = time.After(debounce)
			}
		case err := <-watcher.Errors:
			log.Printf("watching %s: %v", path, err)
		case <-s.reload:
			s.reload = nil
			s.reloadConfig()
		case <-watchdog:
			notify(daemon.SdNotifyWatchdog)
		}
	}
}

func (s *supervisor) startWorker() {
	cfg := s.config()
	cmd := exec.Command(cfg.command[0], cfg.command[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The worker is not the service systemd knows: it must not notify.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NOTIFY_SOCKET=") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.failed(err)
		return
	}
	s.cmd = cmd
	go func() { s.exited <- cmd.Wait() }()
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	s.mu.Unlock()
	log.Printf("worker %d started: %s", s.pid, strings.Join(cfg.command, " "))
	if !s.ready {
		s.ready = true
		s.notifyStatus(daemon.SdNotifyReady + "\n")
	} else {
		s.notifyStatus("")
	}
}

// workerExited handles the end of the worker and reports whether the daemon
// is done.
func (s *supervisor) workerExited(err error) bool {
	log.Printf("worker %d ended: %v", s.cmd.Process.Pid, s.cmd.ProcessState)
	s.cmd = nil
	s.mu.Lock()
	s.pid = 0
	s.mu.Unlock()
	switch {
	case s.stopping:
		return true
	case err == nil:
		s.stop()
		return true
	}
	s.failed(err)
	return false
}

// failed schedules the next start after a worker that failed or could not
// start.
func (s *supervisor) failed(err error) {
	delay := s.config().delay(s.restarts + 1)
	log.Printf("worker failed (%v): restarting in %v", err, delay)
	s.restart = time.After(delay)
	s.notifyStatus("")
}

// stop begins the stop and reports whether it is over already.
func (s *supervisor) stop() bool {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.restart, s.reload = nil, nil
	s.notifyStatus(daemon.SdNotifyStopping + "\n")
	if s.cmd == nil {
		return true
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM) // as for SIGKILL above
	s.kill = time.After(s.config().stopTimeout)
	return false
}

func (s *supervisor) reloadConfig() {
	if s.ready { // before the first READY=1, a READY=1 would end the start-up
		notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
	}
	if cfg, err := loadConfig(s.path); err != nil {
		log.Printf("reload: %v; keeping the configuration of generation %d", err, s.generation)
	} else {
		s.mu.Lock()
		s.cfg = cfg
		s.generation++
		s.mu.Unlock()
		log.Printf("reloaded %s: generation %d", s.path, s.generation)
	}
	if s.ready {
		s.notifyStatus(daemon.SdNotifyReady + "\n")
	}
}

func (s *supervisor) config() *config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func (s *supervisor) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := "backoff"
	if s.stopping {
		state = "stopping"
	} else if s.pid != 0 {
		state = "running"
	}
	return fmt.Sprintf("state=%s pid=%d restarts=%d generation=%d greeting=%s",
		state, s.pid, s.restarts, s.generation, s.cfg.greeting)
}

// Status is the D-Bus method io.github.go_sdevent.Workerd.Status.
func (s *supervisor) Status() (string, *dbus.Error) { //nolint:unparam // godbus wants the *dbus.Error
	return s.status(), nil
}

func (s *supervisor) notifyStatus(state string) {
	notify(state + "STATUS=" + s.status())
}

func notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Printf("notify: %v", err)
	}
}

// serve answers each connection with the status line.
func (s *supervisor) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors, say: try again later rather than spin.
			log.Printf("status socket: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := fmt.Fprintln(c, s.status()); err != nil {
				log.Printf("status socket: %v", err)
			}
		}()
	}
}
