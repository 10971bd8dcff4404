package busevent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// TestRequestName: RequestName and ReleaseName turn the bus's answers
// into results and errnos as sd_bus_request_name and sd_bus_release_name
// do, against a real dbus-daemon: owned at once (true), owned already
// (EALREADY), owned by another (EEXIST, or queued without
// NameFlagDoNotQueue: false), taken over from the queue when released,
// not owned (ESRCH), owned by another while not queued (EADDRINUSE), and
// ENOTCONN once the bridge was closed.
func TestRequestName(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	first, second := attach(t, e, d), attach(t, e, d)
	const name = "org.gosdevent.Name"
	owner := func() string {
		t.Helper()
		var s string
		if err := first.Conn().BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, name).Store(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	if got, err := first.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || !got {
		t.Fatalf("first request: %v, %v; want true, nil", got, err)
	}
	if got, err := first.RequestName(name, dbus.NameFlagDoNotQueue); !errors.Is(err, unix.EALREADY) || got {
		t.Fatalf("again: %v, %v; want false, EALREADY", got, err)
	}
	for _, flags := range []dbus.RequestNameFlags{dbus.NameFlagDoNotQueue, dbus.NameFlagDoNotQueue | dbus.NameFlagReplaceExisting} {
		if got, err := second.RequestName(name, flags); !errors.Is(err, unix.EEXIST) || got {
			t.Fatalf("another's name, flags %d: %v, %v; want false, EEXIST", flags, got, err)
		}
	}
	if got, err := second.RequestName(name, 0); err != nil || got {
		t.Fatalf("another's name, queued: %v, %v; want false, nil", got, err)
	}
	if err := first.ReleaseName(name); err != nil {
		t.Fatal(err)
	}
	if got, want := owner(), second.Conn().Names()[0]; got != want {
		t.Fatalf("after the release the owner is %s, want the queued %s", got, want)
	}
	if err := first.ReleaseName(name); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("release of another's name: %v, want EADDRINUSE", err)
	}
	if err := first.ReleaseName("org.gosdevent.Nobody"); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("release of a name nobody owns: %v, want ESRCH", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.RequestName(name, 0); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("request on a closed bridge: %v, want ENOTCONN", err)
	}
	if err := first.ReleaseName(name); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("release on a closed bridge: %v, want ENOTCONN", err)
	}
}

// TestRequestNameInvalid: names that are not well-known bus names, the
// bus's own names and unknown flags are EINVAL before anything is sent
// (service_name_is_valid and the checks of sd_bus_request_name); the
// daemon refuses each such name too, but org.freedesktop.DBus.Local.
// Valid names at the edges are owned.
func TestRequestNameInvalid(t *testing.T) {
	checkLeaks(t)
	d := startDaemon(t)
	e := newEvent(t)
	b := attach(t, e, d)
	plain := d.connect(t)
	long := "a." + strings.Repeat("b", 253)
	for _, name := range []string{
		"", ":1.42", "org.freedesktop.DBus", "org.freedesktop.DBus.Local", "nodot",
		".a.b", "a..b", "a.b.", "a.1b", "1a.b", "a.b$", "a.é", long + "c",
	} {
		if got, err := b.RequestName(name, dbus.NameFlagDoNotQueue); !errors.Is(err, unix.EINVAL) || got {
			t.Errorf("RequestName(%q) = %v, %v; want false, EINVAL", name, got, err)
		}
		if err := b.ReleaseName(name); !errors.Is(err, unix.EINVAL) {
			t.Errorf("ReleaseName(%q) = %v; want EINVAL", name, err)
		}
		if name == "" || name == "org.freedesktop.DBus.Local" {
			// An empty name: godbus would send no string at all. The
			// local name dbus-daemon grants; sd-bus refuses it, as it
			// names its own messages about a connection (Disconnected).
			continue
		}
		if reply, err := plain.RequestName(name, dbus.NameFlagDoNotQueue); err == nil {
			t.Errorf("dbus-daemon granted %q (%v), which RequestName refuses", name, reply)
		}
	}
	if _, err := b.RequestName("a.b", 8); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unknown flag: %v, want EINVAL", err)
	}
	for _, name := range []string{"a.b", "a.b1", "_a.-b", "A-b.c_D.e", long} {
		if got, err := b.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || !got {
			t.Errorf("RequestName(%q) = %v, %v; want true, nil", name, got, err)
		}
	}
}
