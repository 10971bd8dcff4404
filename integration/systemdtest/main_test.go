//go:build linux

package systemdtest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// The test binary serves socket activation itself when run with this
// variable set (see activated_test.go).
const activatedEnv = "SDEVENT_SYSTEMDTEST_ACTIVATED"

func TestMain(m *testing.M) {
	if os.Getenv(activatedEnv) == "1" {
		os.Exit(serveActivated())
	}
	os.Exit(run(m))
}

// run runs the tests under go-sdevent's hygiene checks, stopping the
// manager and removing what setup made before checking for leaks.
func run(m *testing.M) int {
	// Open what the Go runtime keeps open for good before the snapshot.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before, err := testutil.TakeSnapshot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "systemdtest: %v\n", err)
		return 1
	}
	cgroupsBefore, _ := os.ReadFile("/proc/self/cgroup")
	code := m.Run()
	if err := teardown(); err != nil {
		fmt.Fprintf(os.Stderr, "systemdtest: %v\n", err)
		code = 1
	}
	// The manager must not have moved this process (nor, with it, the rest
	// of the machine) into cgroups of its own.
	if after, _ := os.ReadFile("/proc/self/cgroup"); string(after) != string(cgroupsBefore) {
		fmt.Fprintf(os.Stderr, "systemdtest: the manager moved the test process between cgroups:\nbefore:\n%safter:\n%s", cgroupsBefore, after)
		code = 1
	}
	r, err := before.Settle(testutil.Options{IgnoreFd: isTestLog})
	if err != nil {
		fmt.Fprintf(os.Stderr, "systemdtest: %v\n", err)
		return 1
	}
	if !r.Empty() {
		fmt.Fprint(os.Stderr, r.String())
		code = 1
	}
	return code
}

// isTestLog reports whether target is the log go test keeps open.
func isTestLog(target string) bool {
	f := flag.Lookup("test.testlogfile")
	return f != nil && f.Value.String() != "" && filepath.Clean(target) == filepath.Clean(f.Value.String())
}

var setup struct {
	programsOnce sync.Once
	programs     map[string]string
	programsErr  error

	managerOnce sync.Once
	manager     *Manager
	managerErr  error
	madeMarker  bool // /run/systemd/system was created here

	reloadOnce    sync.Once
	reloadManager *Manager // knows Type=notify-reload; may be manager
	reloadErr     error

	buildOnce sync.Once
	buildDir  string
	sdevent   string
	buildErr  error
}

// programs returns the paths of the systemd programs, failing t when one
// is missing.
func programs(t *testing.T) map[string]string {
	t.Helper()
	setup.programsOnce.Do(func() { setup.programs, setup.programsErr = LookPrograms() })
	if setup.programsErr != nil {
		t.Fatal(setup.programsErr)
	}
	return setup.programs
}

// bootedMarker is what sd_booted() looks for; `systemd --user` refuses to
// run without it.
const bootedMarker = "/run/systemd/system"

// manager returns the tests' `systemd --user`, started by the first call.
func manager(t *testing.T) *Manager {
	t.Helper()
	paths := programs(t)
	setup.managerOnce.Do(func() {
		if _, err := os.Stat(bootedMarker); os.IsNotExist(err) {
			if err := os.MkdirAll(bootedMarker, 0o755); err != nil {
				setup.managerErr = fmt.Errorf("systemd --user needs %s: %w", bootedMarker, err)
				return
			}
			setup.madeMarker = true
		}
		dir, err := os.MkdirTemp("", "sdevent-systemd-")
		if err != nil {
			setup.managerErr = err
			return
		}
		setup.manager, setup.managerErr = StartManager(paths["systemd"], dir, 30*time.Second)
		if setup.managerErr != nil {
			_ = os.RemoveAll(dir)
		}
	})
	if setup.managerErr != nil {
		t.Fatal(setup.managerErr)
	}
	return setup.manager
}

// notifyReloadManager returns a `systemd --user` that knows
// Type=notify-reload: the tests' manager when the machine's systemd does,
// otherwise a second one, of the systemd that .ci/systemd-notify-reload
// unpacked, started by the first call.
func notifyReloadManager(t *testing.T) *Manager {
	t.Helper()
	own := programs(t)
	base := manager(t) // which also made the booted marker, if needed
	setup.reloadOnce.Do(func() {
		sd, version, err := NotifyReloadSystemd(own)
		if err != nil {
			setup.reloadErr = err
			return
		}
		if sd.Paths["systemd"] == own["systemd"] {
			setup.reloadManager = base
			return
		}
		dir, err := os.MkdirTemp("", fmt.Sprintf("sdevent-systemd%d-", version))
		if err != nil {
			setup.reloadErr = err
			return
		}
		setup.reloadManager, setup.reloadErr = StartManagerOf(sd, dir, 30*time.Second)
		if setup.reloadErr != nil {
			_ = os.RemoveAll(dir)
		}
	})
	if setup.reloadErr != nil {
		t.Fatal(setup.reloadErr)
	}
	return setup.reloadManager
}

// sdeventBinary returns the path of the sdevent command, built by the
// first call from the module under test.
func sdeventBinary(t *testing.T) string {
	t.Helper()
	setup.buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sdevent-bin-")
		if err != nil {
			setup.buildErr = err
			return
		}
		setup.buildDir = dir
		bin := filepath.Join(dir, "sdevent")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/go-sdevent/sdevent/sdevent").CombinedOutput()
		if err != nil {
			setup.buildErr = fmt.Errorf("go build sdevent: %w\n%s", err, out)
			return
		}
		setup.sdevent = bin
	})
	if setup.buildErr != nil {
		t.Fatal(setup.buildErr)
	}
	return setup.sdevent
}

// teardown stops whatever test units are left, stops the manager, checks
// that nothing it ran survives it and removes the temporary directories.
func teardown() error {
	var errs []string
	managers := []*Manager{setup.manager}
	if setup.reloadManager != setup.manager {
		managers = append(managers, setup.reloadManager)
	}
	for _, m := range managers {
		if m == nil {
			continue
		}
		out, err := m.Systemctl("list-units", "--all", "--plain", "--no-legend", unitPrefix+"*")
		if err != nil {
			errs = append(errs, err.Error())
		}
		if left := strings.TrimSpace(out); left != "" {
			errs = append(errs, "test units left loaded after their tests:\n"+left)
			for _, line := range strings.Split(left, "\n") {
				_, _ = m.Systemctl("stop", strings.Fields(line)[0]) // reported above already
			}
		}
		if _, err := m.Systemctl("reset-failed"); err != nil {
			errs = append(errs, err.Error())
		}
		if err := m.Stop(10 * time.Second); err != nil {
			errs = append(errs, err.Error())
		}
		// Units' processes are gone when the manager is; allow the kernel a
		// moment to finish tearing them down.
		var procs []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			procs, err = m.Processes()
			if err != nil || len(procs) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
		if len(procs) > 0 {
			errs = append(errs, "processes of systemd --user left after it exited: "+strings.Join(procs, ", "))
		}
		if err := os.RemoveAll(m.Dir); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if setup.madeMarker {
		_ = os.Remove(bootedMarker)
	}
	if setup.buildDir != "" {
		if err := os.RemoveAll(setup.buildDir); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("teardown:\n%s", strings.Join(errs, "\n"))
	}
	return nil
}
