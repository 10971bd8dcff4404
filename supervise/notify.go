package supervise

// Notify is what a Group tells the service manager about the daemon, once
// SetNotify gave it one. The group always sends STOPPING=1 when Shutdown
// begins, and RELOADING=1 (with MONOTONIC_USEC=) and READY=1 around
// Reload, as a Type=notify-reload service must (systemd.service(5)); the
// fields add the rest.
type Notify struct {
	// ReadyWhenStarted makes the group send READY=1 once every service in
	// it has started (Started) at least once: the daemon's start-up is
	// over when its commands run, as systemd holds a Type=exec unit
	// started once its command runs. A service that fails to start, and
	// waits for a restart, holds READY=1 back until it does start, and if
	// none ever does, systemd's TimeoutStartSec= ends the daemon. Without
	// it the program sends READY=1 itself (sdevent.NotifyReady), and the
	// group considers the daemon ready from the start.
	ReadyWhenStarted bool

	// Status, if not nil, returns the daemon's status line, which
	// `systemctl status` shows. It is sent as STATUS= with each message of
	// the group, and on its own, if it changed, after each event of a
	// service of the group (its start, its end and what follows, a stop
	// time-out), once the callbacks that report the event have run. Only
	// the text up to its first newline is sent: the protocol is one
	// assignment per line. It runs on the loop, inside Shutdown and
	// Reload too.
	Status func() string
}
