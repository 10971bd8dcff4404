//go:build linux

package systemdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Programs are the systemd programs the tests run, all from Debian's
// systemd package.
var Programs = []string{"systemd", "systemctl", "systemd-run", "systemd-notify", "systemd-socket-activate"}

// LookPrograms finds Programs in $PATH and returns their paths by name, or
// an error naming every one that is missing.
func LookPrograms() (map[string]string, error) {
	paths := make(map[string]string, len(Programs))
	var missing []string
	for _, name := range Programs {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		paths[name] = p
	}
	if len(missing) > 0 {
		return paths, fmt.Errorf("systemd programs not found in $PATH: %s (install Debian package systemd; these end-to-end tests never skip)",
			strings.Join(missing, ", "))
	}
	return paths, nil
}

// Systemd is one installation of the systemd programs.
type Systemd struct {
	// Paths maps each name in Programs to the program's path.
	Paths map[string]string
	// Env is what the programs need in their environment, such as
	// LD_LIBRARY_PATH for a copy unpacked outside the system's paths.
	Env []string
}

// commandTimeout bounds every systemctl and systemd-run call.
const commandTimeout = 30 * time.Second

// Manager is a `systemd --user` instance of the tests' own.
type Manager struct {
	// Dir holds everything the manager writes: runtime, config, data,
	// state and cache directories and its log.
	Dir string
	// RuntimeDir is its $XDG_RUNTIME_DIR.
	RuntimeDir string
	// LogPath is where its stdout and stderr go.
	LogPath string

	env     []string
	paths   map[string]string // Systemd.Paths
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd.Wait returned
	cgroups []string      // the manager's own cgroups, removed by Stop
}

// privateEnv is the environment without the variables that would point a
// systemd program at another manager, bus or service.
func privateEnv() []string {
	drop := []string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=", "XDG_CONFIG_HOME=",
		"XDG_DATA_HOME=", "XDG_STATE_HOME=", "XDG_CACHE_HOME=", "NOTIFY_SOCKET=",
		"WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=",
		"MANAGERPID=", "INVOCATION_ID=", "SYSTEMD_EXEC_PID="}
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// StartManager starts `systemd --user` (found at path) with its
// directories under dir, which must exist, and waits up to timeout for
// `systemctl --user is-system-running` to say running or degraded.
func StartManager(path, dir string, timeout time.Duration) (*Manager, error) {
	return StartManagerOf(Systemd{Paths: map[string]string{"systemd": path}}, dir, timeout)
}

// StartManagerOf is StartManager for the systemd programs of sd: its
// `systemd --user`, and its systemctl and systemd-run in Run.
func StartManagerOf(sd Systemd, dir string, timeout time.Duration) (*Manager, error) {
	path := sd.Paths["systemd"]
	m := &Manager{
		Dir:        dir,
		RuntimeDir: filepath.Join(dir, "runtime"),
		LogPath:    filepath.Join(dir, "manager.log"),
		paths:      sd.Paths,
		done:       make(chan struct{}),
	}
	m.env = append(privateEnv(), sd.Env...)
	for _, d := range []struct{ name, sub string }{
		{"XDG_RUNTIME_DIR", "runtime"}, {"XDG_CONFIG_HOME", "config"}, {"XDG_DATA_HOME", "data"},
		{"XDG_STATE_HOME", "state"}, {"XDG_CACHE_HOME", "cache"},
	} {
		p := filepath.Join(dir, d.sub)
		if err := os.Mkdir(p, 0o700); err != nil {
			return nil, err
		}
		m.env = append(m.env, d.name+"="+p)
	}
	log, err := os.Create(m.LogPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the child has its own copy
	// systemd --user creates init.scope below its own cgroup and moves
	// every process of that cgroup into it, with a TasksMax limit. Started
	// in the test's cgroup, as root, that could be the root cgroup: the
	// whole machine. It is started in cgroups of its own instead, made here
	// and removed by Stop, so that what it does stays below them.
	m.cgroups, err = makeCgroups(fmt.Sprintf("sdevent-test-%d-%s", os.Getpid(), filepath.Base(dir)))
	if err != nil {
		return nil, fmt.Errorf("confine systemd --user: %w", err)
	}
	const wrapper = `for d in $SDEVENT_TEST_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 125; done; exec "$@"`
	m.cmd = exec.Command("/bin/sh", "-c", wrapper, "sh", path, "--user", "--log-target=console", "--log-color=no",
		"--default-standard-output=inherit", "--default-standard-error=inherit")
	m.cmd.Env = append(m.env, "SDEVENT_TEST_CGROUPS="+strings.Join(m.cgroups, " "))
	m.cmd.Stdout, m.cmd.Stderr = log, log
	// Should the test binary die, the manager stops its units and exits.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		removeCgroups(m.cgroups)
		return nil, fmt.Errorf("start %s --user: %w", path, err)
	}
	go func() {
		_ = m.cmd.Wait() // the status stays in m.cmd.ProcessState
		close(m.done)
	}()

	deadline := time.Now().Add(timeout)
	state := ""
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		out, _ := m.Run("systemctl", "--user", "is-system-running")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			return m, nil
		}
		select {
		case <-m.done:
			removeCgroups(m.cgroups)
			return nil, fmt.Errorf("systemd --user exited (%v) before it was running; its log:\n%s", m.cmd.ProcessState, m.Log())
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			_ = m.Stop(10 * time.Second) // the error below says more
			return nil, fmt.Errorf("systemd --user not running after %v (is-system-running: %q); its log:\n%s", timeout, state, m.Log())
		}
	}
}

// Run runs a program that talks to the manager, killing it after
// commandTimeout, and returns its standard output. A failure's error holds
// its standard error. A name in the manager's Systemd.Paths runs that
// program.
func (m *Manager) Run(name string, args ...string) (string, error) {
	if p := m.paths[name]; p != "" {
		name = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = m.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

// Systemctl runs `systemctl --user args...`.
func (m *Manager) Systemctl(args ...string) (string, error) {
	return m.Run("systemctl", append([]string{"--user"}, args...)...)
}

// Show returns properties of unit as `systemctl --user show` reports them.
func (m *Manager) Show(unit string, props ...string) (map[string]string, error) {
	out, err := m.Systemctl("show", unit, "-p", strings.Join(props, ","))
	if err != nil {
		return nil, err
	}
	p := make(map[string]string, len(props))
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			p[k] = v
		}
	}
	return p, nil
}

// UnitDir is where unit files for the manager go ($XDG_CONFIG_HOME/systemd/user).
func (m *Manager) UnitDir() string { return filepath.Join(m.Dir, "config", "systemd", "user") }

// Log returns what the manager wrote so far.
func (m *Manager) Log() string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Pid is the manager's process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Stop sends the manager SIGTERM, on which it stops its units and exits,
// and waits for it to be reaped. After timeout it sends SIGKILL, waits again
// and reports the timeout as an error.
func (m *Manager) Stop(timeout time.Duration) error {
	defer removeCgroups(m.cgroups)
	_ = m.cmd.Process.Signal(syscall.SIGTERM) // fails once it exited; done tells
	select {
	case <-m.done:
		return nil
	case <-time.After(timeout):
	}
	_ = m.cmd.Process.Kill() // as above
	<-m.done
	return fmt.Errorf("systemd --user (pid %d) did not exit within %v of SIGTERM; killed", m.Pid(), timeout)
}

// makeCgroups makes a cgroup called name below this process's cgroup in
// every hierarchy it is in (cgroup v1 and v2) and returns their paths.
func makeCgroups(name string) ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		mnt, ok := mounts[f[1]]
		if !ok {
			continue // a hierarchy that is not mounted
		}
		d := filepath.Join(mnt, f[2], name)
		if err := os.Mkdir(d, 0o755); err != nil {
			removeCgroups(dirs)
			return nil, err
		}
		dirs = append(dirs, d)
		// A new v1 cpuset has no CPUs and memory nodes: no task may join
		// it before it gets its parent's.
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(filepath.Dir(d), file)); err == nil {
				if err := os.WriteFile(filepath.Join(d, file), v, 0); err != nil {
					removeCgroups(dirs)
					return nil, err
				}
			}
		}
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return dirs, nil
}

// cgroupMounts maps the controller list of each mounted cgroup hierarchy,
// as /proc/self/cgroup writes it ("pids", "name=systemd", "" for v2), to
// its mount point.
func cgroupMounts() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mounts := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			mounts[""] = pf[4]
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(qf[2], ",") {
				if o != "rw" && o != "ro" && !strings.HasPrefix(o, "xattr") && o != "nsdelegate" && !strings.HasPrefix(o, "release_agent") && o != "clone_children" && o != "noprefix" {
					ctrls = append(ctrls, o)
				}
			}
			mounts[strings.Join(ctrls, ",")] = pf[4]
		}
	}
	return mounts, nil
}

// removeCgroups removes the cgroups makeCgroups made, with everything the
// manager made below them; a process still in one is moved up first.
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		var all []string
		// Best effort throughout: the walk collects what exists; a process
		// that will not move or a cgroup that stays busy is left to the
		// next run, which removes it the same way.
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if procs, err := os.ReadFile(filepath.Join(all[i], "cgroup.procs")); err == nil {
				for _, pid := range strings.Fields(string(procs)) {
					_ = os.WriteFile(filepath.Join(filepath.Dir(d), "cgroup.procs"), []byte(pid), 0)
				}
			}
			_ = os.Remove(all[i])
		}
	}
}

// Processes lists the processes that carry the manager's XDG_RUNTIME_DIR
// in their environment: the manager, what it runs, and any systemctl
// still talking to it. After Stop there must be none.
func (m *Manager) Processes() ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	mark := []byte("XDG_RUNTIME_DIR=" + m.RuntimeDir)
	var procs []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) || errors.Is(err, fs.ErrPermission) {
			continue // gone, or not ours to read
		}
		if err != nil {
			return nil, err
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, mark) {
				comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
				procs = append(procs, fmt.Sprintf("pid %s (%s)", e.Name(), bytes.TrimSpace(comm)))
				break
			}
		}
	}
	return procs, nil
}
