// Package systemdtest runs go-sdevent against the real systemd programs,
// not imitations of them: a private `systemd --user` manager supervises
// `sdevent run` as Type=notify units with WatchdogSec=1s, and
// systemd-socket-activate hands a listening socket to AddListenFds.
// TestWorkerd runs the example daemons of examples/ (examples/workerd/SPEC.md)
// as Type=notify-reload units with socket activation and a private session
// bus.
//
// The tests need systemd, systemctl, systemd-run, systemd-notify and
// systemd-socket-activate (Debian package systemd), dbus-daemon (package
// dbus-daemon) and root, or at least an existing /run/systemd/system, which
// `systemd --user` insists on. Type=notify-reload needs systemd 253 or
// later: with an older one (Debian 12 has 252), TestWorkerd runs a second
// manager from the newer systemd that .ci/systemd-notify-reload unpacks
// into a private prefix (/opt/systemd-notify-reload, or
// $SDEVENT_SYSTEMD_NOTIFY_RELOAD). A missing program fails the tests; they
// never skip.
//
// The manager runs with its own XDG_RUNTIME_DIR, XDG_CONFIG_HOME and the
// other XDG directories in a temporary directory, talks to systemctl and
// systemd-run over $XDG_RUNTIME_DIR/systemd/private (no D-Bus session bus)
// and is stopped, reaped and removed when the tests end.
package systemdtest
