//go:build linux

package sdevent

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sighub"
	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/source"
)

// SignalHandler handles a signal source. Of si only Signo is meaningful:
// signals come through the Go runtime, which does not pass on the sender's
// pid and uid, si_code or a sigqueue payload.
type SignalHandler func(s *Source, si *unix.SignalfdSiginfo) error

// signalSource is a signal source's part of Source.
type signalSource struct {
	handler SignalHandler
	signo   int
	info    unix.SignalfdSiginfo
}

// signals is a loop's end of the process-wide signal hub: the eventfd the
// hub wakes it through, the signal sources by number, and how many child
// sources need SIGCHLD.
type signals struct {
	sub       sighub.Subscriber
	fd        int
	parker    atomic.Pointer[sys.Parker] // the loop's, once it has one: sub.Wake kicks it
	sources   [sighub.NSIG]*Source
	childSubs int
}

// SignalProcmask is SD_EVENT_SIGNAL_PROCMASK (systemd 252), a flag ORed into
// AddSignal's signal number: AddSignal(unix.SIGTERM|SignalProcmask, h). In
// C it asks sd_event_add_signal to block the signal itself for as long as
// the source lives. go-sdevent never needs a signal blocked, so AddSignal
// accepts the flag and drops it: with or without it, a signal source
// behaves as a C source added with the flag. Source.Signal and the
// description give the bare signal, as in C.
const SignalProcmask unix.Signal = 1 << 30

// AddSignal calls h when the process receives sig (sd_event_add_signal). The
// source starts On. Unlike sd_event_add_signal the signal need not (and
// should not) be blocked: it comes through the Go runtime, so every loop
// that watches a signal sees each delivery, deliveries of one signal that
// arrive before its handler ran coalesce into one, and a signal that arrives
// while the source is off is dispatched once it is back on. When the last
// source for sig is freed, sig goes back to the Go runtime's default
// handling (os/signal): SIGTERM, SIGINT and SIGHUP end the process again,
// SIGUSR1, SIGUSR2 and real-time signals do nothing.
//
// Signals that could never reach a source are refused. SIGKILL, SIGSTOP
// and 32 and 33 (glibc's own) give EBUSY, as in C, which cannot block them
// either. SIGPROF and 34, glibc's SIGRTMIN, give EINVAL where C accepts
// them: the Go runtime keeps every SIGPROF for its profiler, and it has no
// handler for 34 (os/signal cannot catch it; it would end the process). The
// real-time signals SIGRTMIN+1 to SIGRTMIN+30 (35..64) work. SIGURG is
// accepted but also fires when nobody sent it: the Go runtime sends SIGURG
// to its own threads to preempt goroutines, and os/signal passes those on
// (GODEBUG=asyncpreemptoff=1 stops them).
//
// sig may carry SignalProcmask, which changes nothing here; with it, 32 and
// 33 give EINVAL as in C 262 (SIGKILL and SIGSTOP stay EBUSY, where C 262
// accepts them with the flag for a source that never fires).
//
// Other errors: a signal number outside 1..64, or any high bit but
// SignalProcmask, EINVAL; a second source for sig in this loop EBUSY. The description defaults to the signal's name as
// systemd writes it: "TERM", "USR1", "RTMIN+2".
func (e *Event) AddSignal(sig unix.Signal, h SignalHandler) (*Source, error) {
	s, err := e.addSignal(sig, h)
	if err != nil {
		return nil, opErr(fmt.Sprintf("add signal %d", int(sig&^SignalProcmask)), err)
	}
	return s, nil
}

// addSignal is AddSignal with a bare errno for an error.
func (e *Event) addSignal(sig unix.Signal, h SignalHandler) (*Source, error) {
	procmask := sig&SignalProcmask != 0
	sig &^= SignalProcmask
	switch {
	case !e.valid():
		return nil, unix.EINVAL
	case e.state == Finished:
		return nil, unix.ESTALE
	case sig <= 0 || int(sig) >= sighub.NSIG:
		return nil, unix.EINVAL
	case !sighub.Deliverable(int(sig)):
		return nil, undeliverable(sig, procmask)
	case e.sig.sources[sig] != nil:
		return nil, unix.EBUSY
	}
	if err := e.setupSignals(); err != nil {
		return nil, err
	}
	s := e.newSource(source.Signal, source.On)
	s.part = &signalSource{handler: h, signo: int(sig), info: unix.SignalfdSiginfo{Signo: uint32(sig)}}
	s.description, s.hasDesc = signalString(sig), true
	e.sig.sources[sig] = s
	sighub.Subscribe(&e.sig.sub, int(sig))
	return s, nil
}

// undeliverable is the errno for a signal no source can see. sd-event 252
// says EBUSY for a signal the caller has not blocked, so always for those
// that cannot be blocked: SIGKILL and SIGSTOP (the kernel) and 32 and 33
// (glibc's sigprocmask drops them). It accepts the others; EINVAL here.
// With SD_EVENT_SIGNAL_PROCMASK sd-event 262 blocks the signal itself:
// glibc's sigaddset refuses 32 and 33 with EINVAL, and the kernel's
// silent refusal to block SIGKILL and SIGSTOP lets those through, into a
// source that never fires; EBUSY stays for them here.
func undeliverable(sig unix.Signal, procmask bool) unix.Errno {
	switch {
	case procmask && (sig == 32 || sig == 33):
		return unix.EINVAL
	case sig == unix.SIGKILL, sig == unix.SIGSTOP, sig == 32, sig == 33:
		return unix.EBUSY
	}
	return unix.EINVAL
}

// sigrtmin is SIGRTMIN as glibc defines it (it keeps 32 and 33 for itself).
const sigrtmin = 34

// signalString names sig as systemd's signal_to_string does: "TERM",
// "RTMIN+2", else the number.
func signalString(sig unix.Signal) string {
	if sig >= sigrtmin && int(sig) < sighub.NSIG {
		return "RTMIN+" + strconv.Itoa(int(sig)-sigrtmin)
	}
	if name, ok := strings.CutPrefix(unix.SignalName(sig), "SIG"); ok {
		return name
	}
	return strconv.Itoa(int(sig))
}

// setupSignals creates the eventfd through which the hub wakes the loop.
func (e *Event) setupSignals() error {
	if e.sig.sub.Wake != nil {
		return nil
	}
	fd, err := sys.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if fd, err = e.pollNew(fd, err, "eventfd", tagSignal); err != nil {
		return err
	}
	e.sig.fd = fd
	// A loop parked in the runtime's poller is readied on the hub's P,
	// which then runs it: the eventfd would also wake the thread that waits
	// in the poller. The hub's goroutine has nobody to tell of a failure; a
	// saturated counter (EAGAIN) leaves the fd readable, which is all a
	// wake-up needs.
	e.sig.sub.Wake = func() {
		if p := e.sig.parker.Load(); p == nil || !p.Kick() {
			_ = sys.WriteCounter(fd)
		}
	}
	return nil
}

// processSignals turns the signals the hub delivered into pending sources.
// A signal whose source is off or still pending stays in the mask until the
// source can take it; one that nobody watches is dropped.
func (e *Event) processSignals() error {
	if err := sys.ReadCounter(e.sig.fd); err != nil {
		return err
	}
	return e.processSignalMask()
}

// processSignalMask is processSignals without the eventfd: after a Kick
// from the hub, which sets the mask and writes nothing.
func (e *Event) processSignalMask() error {
	if e.sig.sub.Wake == nil {
		return nil
	}
	mask := e.sig.sub.Mask.Load()
	if mask&sighub.Bit(int(unix.SIGCHLD)) != 0 && e.sig.childSubs > 0 {
		e.needChild = true
	}
	var take uint64
	for sig := 1; sig < sighub.NSIG; sig++ {
		bit := sighub.Bit(sig)
		if mask&bit == 0 {
			continue
		}
		s := e.sig.sources[sig]
		switch {
		case s == nil:
			take |= bit
		case s.offline() || s.pending:
		default:
			take |= bit
			s.signal().info = unix.SignalfdSiginfo{Signo: uint32(sig)}
			e.setPending(s, true)
		}
	}
	e.sig.sub.Take(take)
	return nil
}

// signalAgain wakes the loop when the signal of s arrived again while it
// was pending or off, so that it is dispatched once more.
func (e *Event) signalAgain(s *Source) {
	if e.sig.sub.Mask.Load()&sighub.Bit(s.signal().signo) != 0 {
		e.sig.sub.Wake()
	}
}

// signalOnline: a signal that arrived while the source was off or
// rate-limited is dispatched now that it is back.
func (e *Event) signalOnline(s *Source) {
	if s.online() {
		e.signalAgain(s)
	}
}

func (e *Event) disconnectSignal(s *Source) {
	if e.sig.sources[s.signal().signo] == s {
		e.sig.sources[s.signal().signo] = nil
		sighub.Unsubscribe(&e.sig.sub, s.signal().signo)
	}
}

// closeSignals gives up the loop's hub subscriptions and its eventfd.
func (e *Event) closeSignals() {
	if e.sig.sub.Wake == nil {
		return
	}
	for e.sig.childSubs > 0 {
		e.sig.childSubs--
		sighub.Unsubscribe(&e.sig.sub, int(unix.SIGCHLD))
	}
	_ = sys.Close(e.sig.fd)
	e.sig.fd = -1
	e.sig.sub.Wake = nil
}

// SetSignalExit adds (on) or removes floating SIGINT and SIGTERM sources
// whose default handler exits the loop with code 0
// (sd_event_set_signal_exit). It reports whether it changed anything. On a
// finished loop it is ESTALE, either way, as in C.
//
// It stops the loop, not what the loop supervises: after Exit only exit
// sources are dispatched, so the exit of a child that was asked to stop
// can no longer be seen, and a child source with SetChildProcessOwn sends
// its child SIGKILL when it is freed on the way out. A daemon whose
// children should stop gracefully (their stop signal, a time-out, then
// SIGKILL) calls SetSignalShutdown of a Group of package
// github.com/go-sdevent/sdevent/supervise instead, which stops them, waits
// for them on the loop, and then exits it.
func (e *Event) SetSignalExit(on bool) (bool, error) {
	const op = "set signal exit"
	if !e.valid() {
		return false, opErr(op, unix.EINVAL)
	}
	if e.state == Finished {
		return false, opErr(op, unix.ESTALE)
	}
	changed := false
	if !on {
		for _, p := range []**Source{&e.sigint, &e.sigterm} {
			if *p != nil {
				// Our own source, attached while *p holds it: this cannot
				// fail, and Unref then frees it.
				_ = (*p).SetFloating(false)
				(*p).Unref()
				*p = nil
				changed = true
			}
		}
		return changed, nil
	}
	for _, x := range []struct {
		p   **Source
		sig unix.Signal
	}{{&e.sigint, unix.SIGINT}, {&e.sigterm, unix.SIGTERM}} {
		if *x.p != nil {
			continue
		}
		s, err := e.addSignal(x.sig, nil)
		if err != nil {
			if changed {
				_, _ = e.SetSignalExit(false) // undo; removing cannot fail
			}
			return false, opErr(op, err)
		}
		_ = s.SetFloating(true) // a source just made: cannot fail
		*x.p = s
		changed = true
	}
	return changed, nil
}

// Signal returns the signal of a signal source (sd_event_source_get_signal).
func (s *Source) Signal() (unix.Signal, error) {
	if s == nil {
		return 0, opErr("signal", unix.EINVAL)
	}
	if s.kind() != source.Signal {
		return 0, opErr("signal", unix.EDOM)
	}
	return unix.Signal(s.signal().signo), nil
}
