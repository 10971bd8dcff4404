//go:build linux

package supervise

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// Group is the services of a daemon, and its graceful shutdown: Shutdown
// (or SIGTERM and SIGINT, with SetSignalShutdown) stops every service,
// each as its Stop does (KillSignal, FinalKillSignal after its
// TimeoutStop), waits on the loop until each has stopped, and only then
// exits the loop.
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
	g.check()
	return nil
}

// OnShutdown sets the function that Shutdown calls when a shutdown
// begins, once: after it asked every service to stop, and before the
// loop can exit, whatever called Shutdown (SIGTERM or SIGINT with
// SetSignalShutdown, or the program). It is where a daemon tells the
// service manager that it is stopping (sdevent.NotifyStopping), as
// ShuttingDown already reports true. Unlike the callbacks of a Spec, it
// runs inside Shutdown; it may call the group's methods. nil: none.
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
