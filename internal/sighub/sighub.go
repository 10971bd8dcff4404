// Package sighub delivers process signals to event loops through the Go
// runtime (os/signal), so that no loop needs the signal blocked. Every
// subscriber of a signal sees every delivery: the hub sets the signal's bit
// in the subscriber's mask and calls its wake function.
//
// A signal is handed to os/signal (signal.Notify) when its first subscriber
// comes and released (signal.Stop) when its last one goes; one goroutine per
// signal in use forwards deliveries. signal.Reset and signal.Ignore are never
// called, so other users of os/signal keep what they asked for.
package sighub

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// NSIG is one more than the largest signal number (64 on Linux).
const NSIG = 65

// Subscriber is one event loop's end: a mask of signals seen and not yet
// taken, and a function that wakes the loop.
type Subscriber struct {
	Mask atomic.Uint64 // Bit(n): signal n arrived
	Wake func()
}

// Bit is the bit of sig (1..64) in a mask: bit n-1 for signal n, as in the
// kernel's sigset_t, so that signal 64 has one too.
func Bit(sig int) uint64 { return 1 << (sig - 1) }

// Take returns and clears the bits of mask that are set.
func (s *Subscriber) Take(mask uint64) uint64 {
	for {
		old := s.Mask.Load()
		if s.Mask.CompareAndSwap(old, old&^mask) {
			return old & mask
		}
	}
}

type forwarder struct {
	ch   chan os.Signal
	done chan struct{}
	subs map[*Subscriber]int // subscriber -> how many times it subscribed
}

var hub struct {
	sync.Mutex
	sigs [NSIG]*forwarder
}

// Deliverable reports whether os/signal can ever hand sig to the hub. It
// cannot for
//   - SIGKILL and SIGSTOP, which no process can catch;
//   - SIGPROF, which the runtime's signal handler keeps for the CPU
//     profiler, whether or not a profile is being taken: it never passes
//     it on to os/signal;
//   - 32, 33 and 34, which the runtime's signal table does not mark
//     notifiable (sigtab_linux_generic.go): signal.Notify installs no
//     handler for them. They belong to the C library (glibc's SIGCANCEL
//     and SIGSETXID, musl's SIGSYNCCALL); a cgo-free Go program uses 33
//     for its own all-threads syscalls, and 32 and 34 keep the default
//     action, which ends the process.
//
// Subscribing to a signal that is not deliverable is a bug of the caller.
func Deliverable(sig int) bool {
	switch syscall.Signal(sig) {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGPROF, 32, 33, 34:
		return false
	}
	return sig > 0 && sig < NSIG
}

// Subscribe makes sub see sig. Subscriptions are counted: each needs an
// Unsubscribe.
func Subscribe(sub *Subscriber, sig int) {
	hub.Lock()
	defer hub.Unlock()
	f := hub.sigs[sig]
	if f == nil {
		f = &forwarder{ch: make(chan os.Signal, 16), done: make(chan struct{}), subs: map[*Subscriber]int{}}
		hub.sigs[sig] = f
		signal.Notify(f.ch, syscall.Signal(sig))
		go f.run(sig)
	}
	f.subs[sub]++
}

// Unsubscribe undoes one Subscribe. When sig's last subscriber goes, the
// signal is given back to the runtime's default handling.
func Unsubscribe(sub *Subscriber, sig int) {
	hub.Lock()
	defer hub.Unlock()
	f := hub.sigs[sig]
	if f == nil || f.subs[sub] == 0 {
		return
	}
	if f.subs[sub]--; f.subs[sub] == 0 {
		delete(f.subs, sub)
	}
	if len(f.subs) == 0 {
		signal.Stop(f.ch)
		close(f.done)
		hub.sigs[sig] = nil
	}
}

// Watched reports whether the hub has handed sig to os/signal, that is
// whether sig has a subscriber.
func Watched(sig int) bool {
	hub.Lock()
	defer hub.Unlock()
	return sig > 0 && sig < NSIG && hub.sigs[sig] != nil
}

func (f *forwarder) run(sig int) {
	bit := Bit(sig)
	for {
		select {
		case <-f.done:
			return
		case <-f.ch:
		}
		hub.Lock()
		if hub.sigs[sig] == f {
			for sub := range f.subs {
				sub.Mask.Or(bit)
				sub.Wake()
			}
		}
		hub.Unlock()
	}
}
