package supervise

import (
	"os"
	"slices"
	"strings"
)

// serviceOnly are the variables the service manager sets for the main
// process of a service alone (systemd.exec(5), "Environment Variables
// Set or Propagated by the Service Manager"; sd_notify(3),
// sd_watchdog_enabled(3), sd_listen_fds(3)).
var serviceOnly = []string{
	"NOTIFY_SOCKET",
	"WATCHDOG_USEC", "WATCHDOG_PID",
	"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID",
}

// Environ returns the environment of the process (os.Environ) without the
// variables through which the service manager speaks to the service's
// main process alone: $NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID and
// the $LISTEN_ variables of socket activation. A daemon sets it as the Env
// of the commands it supervises, which are not the service systemd
// knows: with the daemon's environment they would send READY=1 or
// watchdog pings on its behalf, or take its sockets.
//
// The daemon itself keeps them: sdevent.Notify reads $NOTIFY_SOCKET at
// each call. (sd_notify and sd_watchdog_enabled unset them instead, when
// asked to, which a daemon that goes on notifying cannot do.)
func Environ() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(serviceOnly, name)
	})
}
