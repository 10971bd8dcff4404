//go:build linux

package supervise

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// Group is the services of a daemon, and the daemon's life around them.
// Its graceful shutdown: Shutdown (or SIGTERM and SIGINT, with
// SetSignalShutdown) stops every service, each as its Stop does
// (KillSignal, FinalKillSignal after its TimeoutStop), waits on the loop
// until each has stopped, and only then exits the loop. Its reload:
// Reload (or SIGHUP, with SetSignalReload) calls the function of
// OnReload. And, with SetNotify, what it tells the service manager:
// READY=1, RELOADING=1, STOPPING=1 and STATUS= at the right moments.
//
// That is what (*sdevent.Event).SetSignalExit cannot do: after Exit only
// exit sources run, so a child's exit can no longer be seen, and a child
// source with SetChildProcessOwn is SIGKILLed when it is freed on the way
// out.
type Group struct {
	e        *sdevent.Event
	services []*Service
	shutting bool
	exited   bool
	code     int
	onStop   func()
	signals  []*sdevent.Source
	closed   bool

	onReload  func() error
	reloading bool            // inside Reload
	hup       *sdevent.Source // SetSignalReload's
	notify    *Notify         // SetNotify's copy; nil: tell nothing
	ready     bool            // READY=1 was sent for the start-up
	status    string          // the status line last sent
}

// NewGroup returns an empty group of services on e. A nil e is an error
// wrapping unix.EINVAL.
func NewGroup(e *sdevent.Event) (*Group, error) {
	if e == nil {
		return nil, fmt.Errorf("supervise: nil loop: %w", unix.EINVAL)
	}
	return &Group{e: e}, nil
}

// Start is the package's Start for a service of the group. While the
// group shuts down, it gives an error wrapping unix.ECANCELED.
func (g *Group) Start(spec Spec) (*Service, error) {
	if g.closed {
		return nil, errClosed
	}
	if g.shutting {
		return nil, errShutdown
	}
	sv, err := Start(g.e, spec)
	if err != nil {
		return nil, err
	}
	sv.group = g
	g.services = append(g.services, sv)
	return sv, nil
}

// Services returns the services of the group that are not closed, in the
// order they were started.
func (g *Group) Services() []*Service { return append([]*Service(nil), g.services...) }

// ShuttingDown reports whether Shutdown was called.
func (g *Group) ShuttingDown() bool { return g.shutting }

// Shutdown stops every service of the group (Service.Stop), refuses
// restarts and new services, and, once every service is inactive or
// failed and each has reported Done, exits the loop with code
// ((*sdevent.Event).Exit). Called again, it only replaces the code, as
// Exit does. A loop that is exiting already can see no child exit any
// more: then it gives an error wrapping unix.ESTALE and does nothing.
func (g *Group) Shutdown(code int) error {
	if g.closed {
		return errClosed
	}
	if st := g.e.State(); st == sdevent.Exiting || st == sdevent.Finished {
		return fmt.Errorf("supervise: shutdown: the loop is %v: %w", st, unix.ESTALE)
	}
	g.code = code
	if g.shutting {
		return nil
	}
	g.shutting = true
	for _, sv := range g.services {
		_ = sv.Stop() // open: it cannot fail
	}
	if g.onStop != nil {
		g.onStop()
	}
	if g.notify != nil && !g.closed {
		g.send("STOPPING=1")
	}
	g.check()
	return nil
}

// OnShutdown sets the function that Shutdown calls when a shutdown
// begins, once: after it asked every service to stop, and before the
// loop can exit, whatever called Shutdown (SIGTERM or SIGINT with
// SetSignalShutdown, or the program). ShuttingDown reports true already.
// It is where a daemon winds down what is not a service; with SetNotify
// the group sends STOPPING=1 right after it, else a daemon under systemd
// sends it there (sdevent.NotifyStopping). Unlike the callbacks of a
// Spec, it runs inside Shutdown; it may call the group's methods. nil:
// none.
func (g *Group) OnShutdown(f func()) { g.onStop = f }

// SetSignalShutdown adds (on) or removes sources for SIGTERM and SIGINT
// that call Shutdown(0): a stop asked for by the service manager or the
// terminal is a success. It takes the place of SetSignalExit, whose
// sources for the same signals it cannot share (EBUSY). It reports whether
// it changed anything.
func (g *Group) SetSignalShutdown(on bool) (bool, error) {
	if g.closed {
		return false, errClosed
	}
	if !on || g.signals != nil {
		changed := on != (g.signals != nil)
		if !on {
			g.freeSignals()
		}
		return changed, nil
	}
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT} {
		s, err := g.e.AddSignal(sig, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
			// ESTALE: the loop exits already, and nothing more can be done.
			_ = g.Shutdown(0)
			return nil
		})
		if err != nil {
			g.freeSignals()
			return false, err
		}
		_ = s.SetDescription("supervise shutdown " + unix.SignalName(sig))
		g.signals = append(g.signals, s)
	}
	return true, nil
}

func (g *Group) freeSignals() {
	for _, s := range g.signals {
		s.Unref()
	}
	g.signals = nil
}

// OnReload sets the function that Reload calls: where the daemon reads
// its configuration again and applies it (Service.Update hands a
// service's new settings to its next start or stop). An error it returns
// says that the reload failed, and that the daemon goes on as it was;
// Reload logs it and returns it. nil: none (Reload then only notifies).
func (g *Group) OnReload(f func() error) { g.onReload = f }

// Reload reloads the daemon, as systemctl reload asks a
// Type=notify-reload service to with SIGHUP (SetSignalReload): with
// SetNotify, it sends RELOADING=1 with MONOTONIC_USEC= (the time of
// CLOCK_MONOTONIC, by which systemd tells this reload from an earlier
// one), calls the function of OnReload, and sends READY=1, which ends
// the reload job. Before the daemon is ready (Notify.ReadyWhenStarted
// and no READY=1 yet) it only calls the function: a READY=1 then would
// end the start-up too soon.
//
// If the function fails, Reload logs the error at warn level (to the
// loop's logger, (*sdevent.Event).Logger) and returns it, unwrapped, and
// READY=1 is sent all the same: the daemon goes on as it was, and
// systemd has no notification for a failed reload. READY=1 ends the
// reload job (service_notify_message in systemd's src/core/service.c),
// and nothing else does but the job's time-out, which fails the job, with
// `systemctl reload` waiting for it until then, and leaves the service
// running. A daemon that wants `systemctl status` to show the failure
// says so in its status line (Notify.Status).
//
// During a shutdown Reload does nothing and gives an error wrapping
// unix.ECANCELED, as a service being stopped is not reloaded; from inside
// the function, one wrapping unix.EBUSY; in a closed group, one wrapping
// unix.ESTALE.
func (g *Group) Reload() error {
	switch {
	case g.closed:
		return errClosed
	case g.shutting:
		return fmt.Errorf("supervise: reload: %w", unix.ECANCELED)
	case g.reloading:
		return fmt.Errorf("supervise: reload: already reloading: %w", unix.EBUSY)
	}
	g.reloading = true
	defer func() { g.reloading = false }()
	tell := g.notify != nil && g.ready
	if tell {
		g.send(reloading())
	}
	var err error
	if g.onReload != nil {
		err = g.onReload()
	}
	if err != nil {
		g.log(slog.LevelWarn, "reload failed", slog.Any("err", err))
	}
	switch {
	case g.notify == nil || g.closed:
	case tell && !g.shutting: // a shutdown begun inside said STOPPING=1
		g.send("READY=1")
	default:
		g.sendStatus()
	}
	return err
}

// reloading is the RELOADING=1 message of a reload that begins now.
func reloading() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // CLOCK_MONOTONIC with a valid pointer cannot fail
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}

// SetSignalReload adds (on) or removes a source for SIGHUP that calls
// Reload, the signal systemd sends a Type=notify-reload service for
// systemctl reload (ReloadSignal=, SIGHUP by default; for another one,
// call Reload from its own signal source). A SIGHUP during a shutdown is
// ignored; a reload that fails is logged by Reload. It gives EBUSY when
// the loop has a SIGHUP source already. It reports whether it changed
// anything.
func (g *Group) SetSignalReload(on bool) (bool, error) {
	if g.closed {
		return false, errClosed
	}
	if on == (g.hup != nil) {
		return false, nil
	}
	if !on {
		g.hup.Unref()
		g.hup = nil
		return true, nil
	}
	s, err := g.e.AddSignal(unix.SIGHUP, func(*sdevent.Source, *unix.SignalfdSiginfo) error {
		_ = g.Reload() // logged by Reload, or ECANCELED during a shutdown
		return nil
	})
	if err != nil {
		return false, err
	}
	_ = s.SetDescription("supervise reload SIGHUP")
	g.hup = s
	return true, nil
}

// SetNotify makes the group tell the service manager what the daemon
// does, over $NOTIFY_SOCKET (sdevent.Notify: nothing without it, as
// outside systemd), as a Type=notify or Type=notify-reload service must:
// STOPPING=1 when Shutdown begins, after the function of OnShutdown;
// RELOADING=1 with MONOTONIC_USEC= when Reload begins and READY=1 when it
// ends; and what n asks for: READY=1 once every service has started
// (ReadyWhenStarted), STATUS= as the daemon's status line changes.
// Messages go out on the loop, in the calls named; one that cannot be
// sent is logged at warn level to the loop's logger. Set it before the
// first service starts. nil: tell nothing (the default).
func (g *Group) SetNotify(n *Notify) {
	if n == nil {
		g.notify = nil
		return
	}
	c := *n
	g.notify = &c
	if !c.ReadyWhenStarted {
		g.ready = true
	}
}

// changed follows an event of a service of the group: READY=1 if that
// makes the daemon ready, else STATUS= if the status line changed.
func (g *Group) changed() {
	if g.notify == nil || g.closed {
		return
	}
	if !g.ready && !g.shutting && g.allStarted() {
		g.ready = true
		g.send("READY=1")
		return
	}
	g.sendStatus()
}

// allStarted reports whether the group has services, and each has
// started once.
func (g *Group) allStarted() bool {
	for _, sv := range g.services {
		if !sv.everStarted {
			return false
		}
	}
	return len(g.services) > 0
}

// send sends state to the service manager, with the status line.
func (g *Group) send(state string) {
	if f := g.notify.Status; f != nil {
		g.status = firstLine(f())
		state += "\nSTATUS=" + g.status
	}
	g.sendState(state)
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// sendStatus sends the status line if it changed since it was last sent.
func (g *Group) sendStatus() {
	f := g.notify.Status
	if f == nil {
		return
	}
	if s := firstLine(f()); s != g.status {
		g.status = s
		g.sendState("STATUS=" + s)
	}
}

func (g *Group) sendState(state string) {
	if _, err := sdevent.Notify(state); err != nil {
		g.log(slog.LevelWarn, "notify failed", slog.Any("err", err))
	}
}

// log logs to the loop's logger.
func (g *Group) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if l := g.e.Logger(); l != nil && l.Enabled(context.Background(), level) {
		l.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

// Close closes every service of the group (Service.Close: what still runs
// is killed) and frees the signal sources. Closing again does nothing.
func (g *Group) Close() {
	if g.closed {
		return
	}
	g.closed = true
	for len(g.services) > 0 {
		g.services[0].Close() // removes itself
	}
	g.freeSignals()
	if g.hup != nil {
		g.hup.Unref()
		g.hup = nil
	}
}

// check exits the loop once a shutdown has stopped every service.
func (g *Group) check() {
	if !g.shutting || g.exited || g.closed {
		return
	}
	for _, sv := range g.services {
		if sv.state.active() || sv.doneDue {
			return
		}
	}
	g.exited = true
	_ = g.e.Exit(g.code) // the loop was not exiting when Shutdown began; ESTALE is all Exit could give
}

// remove forgets a closed service; the shutdown may be complete then.
func (g *Group) remove(sv *Service) {
	for i, x := range g.services {
		if x == sv {
			g.services = append(g.services[:i], g.services[i+1:]...)
			break
		}
	}
	g.check()
}
