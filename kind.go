//go:build linux

package sdevent

import "github.com/go-sdevent/sdevent/source"

// What each kind of source does at each step of the loop. The generic code
// (poll, dispatch, setEnabled, disconnect, release) calls these switches,
// as sd-event's source_dispatch switches on the source type, and each case
// calls a function in the kind's own file. Inotify's work around its
// handler is in callInotify, since it must also be done when the handler
// panics.

// ready is the kind's work when the poll reported its fd ready with events.
func (e *Event) ready(s *Source, events uint32) error {
	switch {
	case s.kind() == source.Child:
		return e.processPidfd(s)
	case isPressure(s.kind()):
		e.pressureReady(s, events)
		return nil
	case s == e.inv.src:
		return e.invokeReady(s, events)
	}
	e.ioReady(s, events)
	return nil
}

// beforeHandler is the kind's work before its handler runs; it reports
// whether the handler runs, and an error counts as the handler's.
func (e *Event) beforeHandler(s *Source) (bool, error) {
	switch {
	case isPressure(s.kind()):
		return e.pressureBeforeHandler(s)
	case s.periodic() != nil:
		e.periodicTick(s)
	}
	return true, nil
}

// call runs the source's handler, or the default handler, which exits the
// loop with the userdata as code when it is an int.
func (s *Source) call() error {
	switch {
	case s.kind() == source.IO:
		if h, _ := s.handler.(IOHandler); h != nil {
			return h(s, int(s.io.fd), s.io.revents)
		}
	case s.kind().IsTime():
		if h, _ := s.handler.(TimeHandler); h != nil {
			return h(s, s.timeFired())
		}
	case s.kind() == source.Signal:
		if s.signal().handler != nil {
			return s.signal().handler(s, &s.signal().info)
		}
	case s.kind() == source.Child:
		if s.child().handler != nil {
			return s.child().handler(s, &s.child().info)
		}
	case s.kind() == source.Inotify:
		return s.callInotify()
	case isPressure(s.kind()):
		if s.pressure().handler != nil {
			return s.pressure().handler(s)
		}
	default:
		if h, _ := s.handler.(Handler); h != nil {
			return h(s)
		}
	}
	code, _ := s.userdata().(int)
	return s.e.Exit(code)
}

// afterHandler is the kind's work once its handler returned, before the
// outcome applies (which may free the source).
func (s *Source) afterHandler() {
	if s.kind() == source.Child {
		s.reapChild()
	}
}

// afterDispatch is the kind's work once the outcome applied, on a source
// still connected to e.
func (e *Event) afterDispatch(s *Source) {
	switch s.kind() {
	case source.Signal:
		e.signalAgain(s)
	}
}

// register puts an online source's kernel object into epoll with the
// enablement's flags.
func (e *Event) register(s *Source, enabled source.Enabled) error {
	switch s.kind() {
	case source.IO:
		return e.ioRegister(s, enabled, s.io.events)
	case source.Child:
		return e.childRegister(s, enabled)
	case source.MemoryPressure, source.CPUPressure, source.IOPressure:
		return e.pressureRegister(s, enabled)
	}
	return nil
}

// kindOffline is the kind's work once s went offline (Off, or into its
// rate limit).
func (e *Event) kindOffline(s *Source) {
	switch s.kind() {
	case source.IO:
		e.ioUnregister(s)
	case source.Child:
		e.childUnregister(s)
	case source.MemoryPressure, source.CPUPressure, source.IOPressure:
		e.pressureUnregister(s)
	case source.Exit:
		e.exit.Reshuffle(s)
	}
}

// kindOnline is the kind's work once the enablement or rate limit of s
// changed other than by going offline.
func (e *Event) kindOnline(s *Source) {
	switch s.kind() {
	case source.Exit:
		e.exit.Reshuffle(s)
	case source.Signal:
		e.signalOnline(s)
	case source.Child:
		e.childOnline(s)
	}
}

// disconnectKind takes s out of its kind's part of the loop.
func (e *Event) disconnectKind(s *Source) {
	switch {
	case s.kind() == source.IO:
		e.disconnectIO(s)
	case s.kind().IsTime():
		e.disconnectTime(s)
	case s.kind() == source.Signal:
		e.disconnectSignal(s)
	case s.kind() == source.Child:
		e.disconnectChild(s)
	case s.kind() == source.Inotify:
		e.disconnectInotify(s)
	case isPressure(s.kind()):
		e.disconnectPressure(s)
	case s.kind() == source.Post:
		e.removePost(s)
	case s.kind() == source.Exit:
		e.exit.Remove(s)
	}
}

// releaseKind frees what the kind of a freed source owns.
func (s *Source) releaseKind() {
	switch s.kind() {
	case source.IO:
		s.releaseIO()
	case source.Child:
		s.releaseChild()
	case source.MemoryPressure, source.CPUPressure, source.IOPressure:
		s.releasePressure()
	}
}
