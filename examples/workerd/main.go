// Command workerd is the daemon of SPEC.md written on go-sdevent and its
// toolkit: supervise runs the worker and speaks to systemd (READY=1,
// RELOADING=1, STOPPING=1, STATUS=), sdnet serves the activated status
// socket, filewatch follows the configuration file, busevent answers
// D-Bus, and the loop feeds the watchdog.
//
//	workerd -config FILE
//
// Everything happens on the loop's goroutine, so the state needs no lock.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"

	"github.com/godbus/dbus/v5"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/filewatch"
	"github.com/go-sdevent/sdevent/integration/busevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/sdnet"
	"github.com/go-sdevent/sdevent/supervise"
)

const (
	busName    = "io.github.go_sdevent.Workerd"
	objectPath = "/io/github/go_sdevent/Workerd"
)

func main() {
	path := flag.String("config", "", "the configuration `file`")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	code, err := run(*path, log)
	if err != nil {
		log.Error("workerd", "err", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// daemon is workerd's state. It belongs to the loop's goroutine.
type daemon struct {
	path       string
	log        *slog.Logger
	cfg        *config
	generation int
	group      *supervise.Group
	worker     *supervise.Service
}

func run(path string, log *slog.Logger) (int, error) {
	e, err := sdevent.New()
	if err != nil {
		return 0, err
	}
	defer e.Unref()
	e.SetLogger(log) // supervise and sdnet log through it

	d := &daemon{path: path, log: log, generation: 1}
	// Watch before the first read, so that no change falls in between.
	if _, err := filewatch.Watch(e, path, d.fileChanged, nil); err != nil {
		return 0, err
	}
	if d.cfg, err = loadConfig(path); err != nil {
		return 0, err
	}

	listeners, files, err := sdnet.ListenFds(e, d.serve, nil)
	if err != nil {
		return 0, err
	}
	if len(listeners) != 1 || len(files) != 0 {
		return 0, fmt.Errorf("want exactly one activated listening socket, got %d and %d other fds", len(listeners), len(files))
	}

	bus, err := busevent.Attach(e, dbus.ConnectSessionBus)
	if err != nil {
		return 0, fmt.Errorf("session bus: %w", err)
	}
	defer bus.Close()
	if err := bus.Export(d, objectPath, busName); err != nil {
		return 0, err
	}
	if _, err := bus.RequestName(busName, dbus.NameFlagDoNotQueue); err != nil {
		return 0, err
	}

	// SIGTERM, SIGINT and a worker that exited 0 stop the daemon: the group
	// stops the worker, waits for it, and then exits the loop with 0.
	// SIGHUP and file changes reload it. The group tells systemd: READY=1
	// once the worker started, RELOADING=1 and READY=1 around each reload,
	// STOPPING=1, and the status line as it changes.
	if d.group, err = supervise.NewGroup(e); err != nil {
		return 0, err
	}
	defer d.group.Close()
	d.group.SetNotify(&supervise.Notify{ReadyWhenStarted: true, Status: d.status})
	d.group.OnReload(d.reload)
	if _, err := d.group.SetSignalShutdown(true); err != nil {
		return 0, err
	}
	if _, err := d.group.SetSignalReload(true); err != nil {
		return 0, err
	}
	if d.worker, err = d.group.Start(d.spec(d.cfg)); err != nil {
		return 0, err
	}
	if _, err := e.SetWatchdog(true); err != nil {
		return 0, err
	}
	return e.Loop()
}

// spec is the worker's service as cfg says.
func (d *daemon) spec(cfg *config) supervise.Spec {
	delay := cfg.firstDelay
	if delay == 0 {
		delay = -1 // none: supervise's 0 is systemd's default
	}
	return supervise.Spec{
		Name: "worker",
		Command: func() *exec.Cmd {
			cmd := exec.Command(cfg.command[0], cfg.command[1:]...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			cmd.Env = supervise.Environ() // no NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*
			return cmd
		},
		// Restarted after anything but exit status 0, which ends the daemon.
		Restart:                  supervise.RestartAlways,
		RestartPreventExitStatus: supervise.ExitStatusSet{Status: []int{0}},
		RestartDelay:             delay,
		RestartSteps:             cfg.steps,
		RestartMaxDelay:          cfg.maxDelay,
		StartLimitBurst:          -1, // no start limit
		TimeoutStop:              cfg.stopTimeout,
		Priority:                 priority.Important, // the worker's news before status queries
		Done: func(*supervise.Service, supervise.Result) {
			_ = d.group.Shutdown(0) // ESTALE only: the loop exits already
		},
	}
}

// reload reads the configuration again; the worker gets it at its next
// start or stop. The group logs an error, and the old configuration stays.
func (d *daemon) reload() error {
	cfg, err := loadConfig(d.path)
	if err == nil {
		err = d.worker.Update(d.spec(cfg))
	}
	if err != nil {
		return fmt.Errorf("keeping the configuration of generation %d: %w", d.generation, err)
	}
	d.cfg = cfg
	d.generation++
	d.log.Info("reloaded", "path", d.path, "generation", d.generation)
	return nil
}

// fileChanged reloads once the file was changed and is there again.
func (d *daemon) fileChanged(_ *filewatch.Watcher, exists bool, err error) {
	switch {
	case err != nil:
		d.log.Error("watching the configuration", "err", err)
	case exists:
		_ = d.group.Reload() // logged; ECANCELED during a stop, which reloads nothing
	}
}

// serve answers a connection to the status socket with the status line.
func (d *daemon) serve(_ *sdnet.Listener, c *sdnet.Conn) {
	if _, err := c.WriteString(d.status() + "\n"); err != nil {
		d.log.Warn("status socket", "err", err)
	}
	_ = c.Close() // once the line is written; it fails only when closed already
}

func (d *daemon) status() string {
	state := "backoff"
	if d.group.ShuttingDown() {
		state = "stopping"
	} else if d.worker.Pid() != 0 {
		state = "running"
	}
	return fmt.Sprintf("state=%s pid=%d restarts=%d generation=%d greeting=%s",
		state, d.worker.Pid(), d.worker.Restarts(), d.generation, d.cfg.greeting)
}

// Status is the D-Bus method io.github.go_sdevent.Workerd.Status. It runs
// on the loop, as busevent calls exported methods there.
func (d *daemon) Status() (string, *dbus.Error) { //nolint:unparam // godbus wants the *dbus.Error
	return d.status(), nil
}
