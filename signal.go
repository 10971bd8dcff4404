//go:build linux

package sdevent

import "golang.org/x/sys/unix"

// SignalHandler handles a signal source.
type SignalHandler func(s *Source, si *unix.SignalfdSiginfo) error

// AddSignal watches the signal sig (sd_event_add_signal). Not built yet: it
// returns EOPNOTSUPP.
func (e *Event) AddSignal(sig unix.Signal, h SignalHandler) (*Source, error) {
	return nil, errNotYet("add signal")
}

// SetSignalExit adds or removes floating SIGINT and SIGTERM sources that
// exit the loop (sd_event_set_signal_exit). Not built yet: EOPNOTSUPP when
// turning it on.
func (e *Event) SetSignalExit(on bool) (bool, error) {
	if e == nil {
		return false, opErr("set signal exit", unix.EINVAL)
	}
	if !on {
		return false, nil
	}
	return false, errNotYet("set signal exit")
}

// Signal returns the signal of a signal source (sd_event_source_get_signal).
func (s *Source) Signal() (unix.Signal, error) {
	if s == nil {
		return 0, opErr("signal", unix.EINVAL)
	}
	return 0, opErr("signal", unix.EDOM)
}
