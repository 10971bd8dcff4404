//go:build linux

package sighub

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// The hub's goroutines must be gone after the tests, like everything else.
func TestMain(m *testing.M) { testutil.Main(m) }

func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// long bounds every wait, so that a bug is a failure and not a hang.
const long = 10 * time.Second

// sub is a subscriber whose wake function reports on a channel.
type sub struct {
	Subscriber
	woke chan struct{}
}

func newSub() *sub {
	s := &sub{woke: make(chan struct{}, 1)}
	s.Wake = func() {
		select {
		case s.woke <- struct{}{}:
		default:
		}
	}
	return s
}

// waitBit waits until the wake function of s ran and its mask has sig.
func (s *sub) waitBit(t *testing.T, sig syscall.Signal) {
	t.Helper()
	timeout := time.After(long)
	for s.Mask.Load()&Bit(int(sig)) == 0 {
		select {
		case <-s.woke:
		case <-timeout:
			t.Fatalf("%v did not reach the subscriber within %v", sig, long)
		}
	}
}

// woken reports whether the wake function ran since the last call.
func (s *sub) woken() bool {
	select {
	case <-s.woke:
		return true
	default:
		return false
	}
}

// barrier returns once no forwarder is delivering: they deliver under the
// hub's lock, to every subscriber at once.
func barrier() {
	hub.Lock()
	defer hub.Unlock()
}

func kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatalf("kill(self, %v): %v", sig, err)
	}
}

// forwarders counts the hub's goroutines: those running code of sighub.go,
// including one created and not yet started (its frame is Subscribe's
// wrapper of the go statement).
func forwarders() int {
	n := 0
	for _, g := range testutil.Goroutines() {
		if strings.Contains(g.Stack, "/internal/sighub/sighub.go:") {
			n++
		}
	}
	return n
}

// waitNoForwarders waits until the hub runs no goroutine. Nothing can be
// waited on for a goroutine's end, so it polls.
func waitNoForwarders(t *testing.T) {
	const n = 0
	t.Helper()
	deadline := time.Now().Add(long)
	for forwarders() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the hub runs %d goroutines, want %d", forwarders(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Every subscriber of a signal sees every delivery: its bit is set in each
// mask and each wake function runs. After one unsubscribes, only the other
// sees the next delivery. One goroutine serves a signal, and none remains
// after its last subscriber has gone.
func TestSignalHubEverySubscriberSees(t *testing.T) {
	testutil.Check(t)
	const sig = syscall.SIGUSR1
	a, b := newSub(), newSub()
	Subscribe(&a.Subscriber, int(sig))
	Subscribe(&b.Subscriber, int(sig))
	if n := forwarders(); n != 1 {
		t.Errorf("two subscribers of one signal: %d hub goroutines, want 1", n)
	}

	kill(t, sig)
	a.waitBit(t, sig)
	b.waitBit(t, sig)
	if got := a.Take(Bit(int(sig))); got != Bit(int(sig)) {
		t.Errorf("Take = %#x, want %#x", got, Bit(int(sig)))
	}
	if a.Mask.Load() != 0 {
		t.Errorf("mask after Take = %#x, want 0", a.Mask.Load())
	}
	b.Take(Bit(int(sig)))
	a.woken()

	Unsubscribe(&a.Subscriber, int(sig))
	kill(t, sig)
	b.waitBit(t, sig)
	barrier()
	if a.Mask.Load() != 0 || a.woken() {
		t.Errorf("an unsubscribed subscriber saw the signal: mask %#x", a.Mask.Load())
	}

	Unsubscribe(&b.Subscriber, int(sig))
	waitNoForwarders(t)
}

// Subscriptions are counted: a subscriber that subscribed twice keeps
// seeing the signal after one Unsubscribe, and an Unsubscribe without a
// Subscribe changes nothing.
func TestSignalHubCountedSubscriptions(t *testing.T) {
	testutil.Check(t)
	const sig = syscall.SIGUSR2
	a, other := newSub(), newSub()
	Unsubscribe(&a.Subscriber, int(sig)) // never subscribed: a no-op
	Subscribe(&a.Subscriber, int(sig))
	Subscribe(&a.Subscriber, int(sig))
	Unsubscribe(&a.Subscriber, int(sig))
	Unsubscribe(&other.Subscriber, int(sig)) // not a subscriber of sig
	kill(t, sig)
	a.waitBit(t, sig)
	Unsubscribe(&a.Subscriber, int(sig))
	waitNoForwarders(t)
}

// Signals are separate: a subscriber sees only the signals it subscribed
// to, each with its own bit, and each signal has its own goroutine.
func TestSignalHubSeparateSignals(t *testing.T) {
	testutil.Check(t)
	a, b := newSub(), newSub()
	Subscribe(&a.Subscriber, int(syscall.SIGUSR1))
	Subscribe(&b.Subscriber, int(syscall.SIGUSR2))
	Subscribe(&b.Subscriber, int(syscall.SIGUSR1))
	if n := forwarders(); n != 2 {
		t.Errorf("two signals in use: %d hub goroutines, want 2", n)
	}
	kill(t, syscall.SIGUSR2)
	b.waitBit(t, syscall.SIGUSR2)
	barrier()
	if a.Mask.Load() != 0 {
		t.Errorf("a subscriber of SIGUSR1 only got mask %#x from SIGUSR2", a.Mask.Load())
	}
	kill(t, syscall.SIGUSR1)
	a.waitBit(t, syscall.SIGUSR1)
	b.waitBit(t, syscall.SIGUSR1)
	if want := Bit(int(syscall.SIGUSR1)) | Bit(int(syscall.SIGUSR2)); b.Mask.Load() != want {
		t.Errorf("mask %#x, want %#x", b.Mask.Load(), want)
	}
	Unsubscribe(&a.Subscriber, int(syscall.SIGUSR1))
	Unsubscribe(&b.Subscriber, int(syscall.SIGUSR1))
	Unsubscribe(&b.Subscriber, int(syscall.SIGUSR2))
	waitNoForwarders(t)
}

// The hub never calls signal.Reset or signal.Ignore: another user of
// os/signal keeps receiving the signal while the hub uses it and after the
// hub gave it up, and the signal is never reported ignored.
func TestSignalHubLeavesOtherUsersAlone(t *testing.T) {
	testutil.Check(t)
	const sig = syscall.SIGUSR1
	c := make(chan os.Signal, 1)
	signal.Notify(c, sig)
	defer signal.Stop(c)
	wait := func(what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(long):
			t.Fatalf("%s: the other os/signal user got no signal", what)
		}
	}

	a := newSub()
	Subscribe(&a.Subscriber, int(sig))
	kill(t, sig)
	a.waitBit(t, sig)
	wait("while the hub uses the signal")
	Unsubscribe(&a.Subscriber, int(sig))
	if signal.Ignored(sig) {
		t.Errorf("%v ignored after the hub gave it up", sig)
	}
	kill(t, sig)
	wait("after the hub gave the signal up")
	waitNoForwarders(t)
}

// Every signal has a bit of its own, the first and the last included: a
// delivery of signal 64 reaches its subscriber (with a bit per signal
// number, 1<<64 would have been no bit at all) and sets no other bit.
func TestSignalHubSignal64(t *testing.T) {
	testutil.Check(t)
	if Bit(1) != 1 || Bit(64) != 1<<63 {
		t.Errorf("Bit(1) = %#x, Bit(64) = %#x; want 1 and 1<<63", Bit(1), Bit(64))
	}
	const sig = syscall.Signal(64)
	a := newSub()
	Subscribe(&a.Subscriber, int(sig))
	if !Watched(int(sig)) {
		t.Errorf("signal 64 subscribed, Watched says no")
	}
	kill(t, sig)
	a.waitBit(t, sig)
	if m := a.Mask.Load(); m != Bit(int(sig)) {
		t.Errorf("mask %#x after signal 64, want %#x", m, Bit(int(sig)))
	}
	Unsubscribe(&a.Subscriber, int(sig))
	if Watched(int(sig)) {
		t.Errorf("signal 64 unsubscribed, Watched says yes")
	}
	waitNoForwarders(t)
}
