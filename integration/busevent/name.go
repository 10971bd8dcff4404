package busevent

import (
	"fmt"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// maxNameLen is the longest bus name (SD_BUS_MAXIMUM_NAME_LENGTH, and
// the D-Bus specification's limit).
const maxNameLen = 255

// RequestName asks the bus for the well-known name, as sd_bus_request_name
// does, and turns the bus's answer into an error, which
// dbus.Conn.RequestName leaves to the caller: it reports true when the
// connection is now the name's primary owner, false (and no error) when
// the request waits in the name's queue; a name the connection owns
// already is an error wrapping unix.EALREADY, and one another connection
// owns, when the request cannot wait (NameFlagDoNotQueue) or replace it,
// one wrapping unix.EEXIST.
//
// The flags are D-Bus's, as godbus spells them: NameFlagAllowReplacement,
// NameFlagReplaceExisting and NameFlagDoNotQueue. Unlike sd-bus, which
// does not queue unless asked to (SD_BUS_NAME_QUEUE), a request without
// NameFlagDoNotQueue waits in the queue when the name is taken, as the
// bus's own RequestName does. A daemon that must own its name at once
// passes NameFlagDoNotQueue.
//
// An invalid bus name, a unique name (":1.42"), the bus's own names
// (org.freedesktop.DBus and org.freedesktop.DBus.Local) and unknown flags
// are EINVAL, before anything is sent, as in C; a closed connection is
// ENOTCONN; an answer RequestName does not define is EIO; other errors
// are those of the call. Export the name's objects first, so that no call
// finds the name without them.
//
// It blocks until the bus answers, as sd_bus_request_name does; on the
// loop's goroutine that blocks the loop meanwhile (godbus reads the
// answer on its own goroutine, so it cannot deadlock). It may be called
// from any goroutine.
func (b *Bus) RequestName(name string, flags dbus.RequestNameFlags) (bool, error) {
	const op = "busevent: request name"
	const known = dbus.NameFlagAllowReplacement | dbus.NameFlagReplaceExisting | dbus.NameFlagDoNotQueue
	if flags&^known != 0 {
		return false, fmt.Errorf("%s %q: flags %#x: %w", op, name, uint32(flags), unix.EINVAL)
	}
	if err := checkWellKnownName(name); err != nil {
		return false, fmt.Errorf("%s %q: %w", op, name, err)
	}
	if !b.conn.Connected() {
		return false, fmt.Errorf("%s %q: %w", op, name, unix.ENOTCONN)
	}
	reply, err := b.conn.RequestName(name, flags)
	if err != nil {
		return false, fmt.Errorf("%s %q: %w", op, name, err)
	}
	switch reply {
	case dbus.RequestNameReplyPrimaryOwner:
		return true, nil
	case dbus.RequestNameReplyInQueue:
		return false, nil
	case dbus.RequestNameReplyAlreadyOwner:
		return false, fmt.Errorf("%s %q: owned by this connection already: %w", op, name, unix.EALREADY)
	case dbus.RequestNameReplyExists:
		return false, fmt.Errorf("%s %q: owned by another connection: %w", op, name, unix.EEXIST)
	}
	return false, fmt.Errorf("%s %q: unknown reply %d: %w", op, name, reply, unix.EIO)
}

// ReleaseName gives up the well-known name, or the connection's place in
// its queue, as sd_bus_release_name does: a name nobody owns is an error
// wrapping unix.ESRCH, one that another connection owns while this one
// does not wait in its queue either one wrapping unix.EADDRINUSE. Names are checked as by
// RequestName (EINVAL); a closed connection is ENOTCONN. It blocks until
// the bus answers, and may be called from any goroutine.
func (b *Bus) ReleaseName(name string) error {
	const op = "busevent: release name"
	if err := checkWellKnownName(name); err != nil {
		return fmt.Errorf("%s %q: %w", op, name, err)
	}
	if !b.conn.Connected() {
		return fmt.Errorf("%s %q: %w", op, name, unix.ENOTCONN)
	}
	reply, err := b.conn.ReleaseName(name)
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, name, err)
	}
	switch reply {
	case dbus.ReleaseNameReplyReleased:
		return nil
	case dbus.ReleaseNameReplyNonExistent:
		return fmt.Errorf("%s %q: not owned: %w", op, name, unix.ESRCH)
	case dbus.ReleaseNameReplyNotOwner:
		return fmt.Errorf("%s %q: owned by another connection: %w", op, name, unix.EADDRINUSE)
	}
	return fmt.Errorf("%s %q: unknown reply %d: %w", op, name, reply, unix.EIO)
}

// checkWellKnownName checks name as sd_bus_request_name checks it
// (service_name_is_valid in systemd's bus-internal.c, the D-Bus
// specification's rules for bus names): elements of ASCII letters,
// digits, '_' and '-', not starting with a digit, at least two, joined by
// '.', at most 255 bytes in all; not a unique name; not one of the bus's
// own. Each failure is EINVAL.
func checkWellKnownName(name string) error {
	switch name {
	case "":
		return fmt.Errorf("empty: %w", unix.EINVAL)
	case "org.freedesktop.DBus", "org.freedesktop.DBus.Local":
		return fmt.Errorf("the bus's own name: %w", unix.EINVAL)
	}
	if name[0] == ':' {
		return fmt.Errorf("a unique name: %w", unix.EINVAL)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("longer than %d bytes: %w", maxNameLen, unix.EINVAL)
	}
	elementStart, dots := true, 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if elementStart {
				return fmt.Errorf("an empty element: %w", unix.EINVAL)
			}
			elementStart = true
			dots++
			continue
		case c >= '0' && c <= '9':
			if elementStart {
				return fmt.Errorf("an element starts with a digit: %w", unix.EINVAL)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
		default:
			return fmt.Errorf("byte %#x: %w", c, unix.EINVAL)
		}
		elementStart = false
	}
	if elementStart {
		return fmt.Errorf("an empty element: %w", unix.EINVAL)
	}
	if dots == 0 {
		return fmt.Errorf("one element only: %w", unix.EINVAL)
	}
	return nil
}
