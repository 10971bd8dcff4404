//go:build linux

package systemdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NotifyReloadVersion is the first systemd that knows Type=notify-reload.
const NotifyReloadVersion = 253

// NotifyReloadPrefixEnv names the variable that says where
// .ci/systemd-notify-reload unpacked a newer systemd; DefaultNotifyReloadPrefix
// is its default, the script's too.
const (
	NotifyReloadPrefixEnv     = "SDEVENT_SYSTEMD_NOTIFY_RELOAD"
	DefaultNotifyReloadPrefix = "/opt/systemd-notify-reload"
)

// NotifyReloadSystemd returns systemd programs that know Type=notify-reload
// and their version: the machine's own (own, as LookPrograms found them)
// when they are new enough, otherwise those that .ci/systemd-notify-reload
// unpacked (Debian 12 has systemd 252; its backports suite has 254).
func NotifyReloadSystemd(own map[string]string) (Systemd, int, error) {
	v, err := SystemdVersion(Systemd{Paths: own})
	if err != nil {
		return Systemd{}, 0, err
	}
	if v >= NotifyReloadVersion {
		return Systemd{Paths: own}, v, nil
	}
	prefix := os.Getenv(NotifyReloadPrefixEnv)
	if prefix == "" {
		prefix = DefaultNotifyReloadPrefix
	}
	missing := fmt.Errorf("units of Type=notify-reload need systemd %d or later; this machine has %d and %s holds no newer one: run `bash .ci/systemd-notify-reload %s` (or set %s to where it unpacked one)",
		NotifyReloadVersion, v, prefix, prefix, NotifyReloadPrefixEnv)
	// The programs find their private library through RUNPATH, which names
	// the system's directory; LD_LIBRARY_PATH comes first.
	libs, _ := filepath.Glob(filepath.Join(prefix, "usr/lib/*/systemd/libsystemd-shared-*.so"))
	if len(libs) == 0 {
		return Systemd{}, 0, missing
	}
	shared := filepath.Dir(libs[0])
	sd := Systemd{
		Paths: map[string]string{},
		Env:   []string{"LD_LIBRARY_PATH=" + shared + ":" + filepath.Dir(shared)},
	}
	for _, name := range Programs {
		for _, dir := range []string{"bin", "usr/bin", "lib/systemd", "usr/lib/systemd"} {
			if p := inPrefix(prefix, filepath.Join(dir, name)); isExecutable(p) {
				sd.Paths[name] = p
				break
			}
		}
		if sd.Paths[name] == "" {
			return Systemd{}, 0, fmt.Errorf("%w (%s has no %s)", missing, prefix, name)
		}
	}
	if v, err = SystemdVersion(sd); err != nil {
		return Systemd{}, 0, err
	}
	if v < NotifyReloadVersion {
		return Systemd{}, 0, fmt.Errorf("%w (%s holds systemd %d)", missing, prefix, v)
	}
	return sd, v, nil
}

// SystemdVersion runs `systemctl --version` of sd and returns the version
// it names on its first line, "systemd 254 (254.26-1~bpo12+1)".
func SystemdVersion(sd Systemd) (int, error) {
	m := &Manager{env: append(privateEnv(), sd.Env...), paths: sd.Paths}
	out, err := m.Run("systemctl", "--version")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "systemd" {
		return 0, fmt.Errorf("systemctl --version: cannot read %q", out)
	}
	return strconv.Atoi(f[1])
}

// inPrefix returns the path of the file at rel in prefix, following a
// symbolic link whose target is absolute into prefix too: the package's
// bin/systemd points at /lib/systemd/systemd, which is the machine's.
func inPrefix(prefix, rel string) string {
	p := filepath.Join(prefix, rel)
	if target, err := os.Readlink(p); err == nil {
		if filepath.IsAbs(target) {
			return filepath.Join(prefix, target)
		}
		return filepath.Join(filepath.Dir(p), target)
	}
	return p
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
