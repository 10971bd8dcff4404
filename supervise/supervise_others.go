//go:build !linux

package supervise

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-sdevent/sdevent"
)

// Elsewhere than on Linux the API compiles, as package sdevent's does:
// Start, NewGroup, ParseExitStatusSet and every method that returns an
// error return one for which errors.Is(err, errors.ErrUnsupported) holds;
// the other methods return zero values. The vocabulary (Restart,
// KillMode, Result, State, Backoff, LineFunc) works everywhere.

// A Service is a supervised command (Linux only).
type Service struct{}

// A Group is the services of a daemon (Linux only).
type Group struct{}

func unsupported(op string) error { return fmt.Errorf("supervise: %s: %w", op, errors.ErrUnsupported) }

// Start is not supported on this platform.
func Start(e *sdevent.Event, spec Spec) (*Service, error) { return nil, unsupported("start") }

// Update is not supported on this platform.
func (sv *Service) Update(spec Spec) error { return unsupported("update") }

// State returns Inactive on this platform.
func (sv *Service) State() State { return Inactive }

// Result returns ResultSuccess on this platform.
func (sv *Service) Result() Result { return ResultSuccess }

// Pid returns 0 on this platform.
func (sv *Service) Pid() int { return 0 }

// Name returns "" on this platform.
func (sv *Service) Name() string { return "" }

// Restarts returns 0 on this platform.
func (sv *Service) Restarts() int { return 0 }

// Stop is not supported on this platform.
func (sv *Service) Stop() error { return unsupported("stop") }

// StopWith is not supported on this platform.
func (sv *Service) StopWith(sig syscall.Signal) error { return unsupported("stop") }

// Restart is not supported on this platform.
func (sv *Service) Restart() error { return unsupported("restart") }

// ResetFailed does nothing on this platform.
func (sv *Service) ResetFailed() {}

// Signal is not supported on this platform.
func (sv *Service) Signal(sig syscall.Signal) error { return unsupported("signal") }

// Close does nothing on this platform.
func (sv *Service) Close() {}

// NewGroup is not supported on this platform.
func NewGroup(e *sdevent.Event) (*Group, error) { return nil, unsupported("new group") }

// Start is not supported on this platform.
func (g *Group) Start(spec Spec) (*Service, error) { return nil, unsupported("start") }

// Services returns nil on this platform.
func (g *Group) Services() []*Service { return nil }

// ShuttingDown returns false on this platform.
func (g *Group) ShuttingDown() bool { return false }

// Shutdown is not supported on this platform.
func (g *Group) Shutdown(code int) error { return unsupported("shutdown") }

// OnShutdown does nothing on this platform.
func (g *Group) OnShutdown(f func()) {}

// SetSignalShutdown is not supported on this platform.
func (g *Group) SetSignalShutdown(on bool) (bool, error) {
	return false, unsupported("set signal shutdown")
}

// OnReload does nothing on this platform.
func (g *Group) OnReload(f func() error) {}

// Reload is not supported on this platform.
func (g *Group) Reload() error { return unsupported("reload") }

// SetSignalReload is not supported on this platform.
func (g *Group) SetSignalReload(on bool) (bool, error) {
	return false, unsupported("set signal reload")
}

// SetNotify does nothing on this platform.
func (g *Group) SetNotify(n *Notify) {}

// Close does nothing on this platform.
func (g *Group) Close() {}

// ParseExitStatusSet is not supported on this platform: signal names are
// Linux's.
func ParseExitStatusSet(s string) (ExitStatusSet, error) {
	return ExitStatusSet{}, unsupported("parse exit status set")
}

// String returns the set's statuses and signals as numbers.
func (set ExitStatusSet) String() string {
	var words []string
	for _, st := range set.Status {
		words = append(words, strconv.Itoa(st))
	}
	for _, sig := range set.Signal {
		words = append(words, strconv.Itoa(int(sig)))
	}
	return strings.Join(words, " ")
}
