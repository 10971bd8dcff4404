//go:build linux

package sdevent

import (
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestInvokeAfterBareWakeDrainIsNotLost replays, step by step, the
// interleaving that once lost Invoke's wake-up for good: the loop wakes on a
// bare wake-up (LoopContext's), looks at the empty invoke queue, and an
// Invoke lands right then. Its function must run in a later iteration. The
// loop used to drain the eventfd after it had looked at the queue, outside
// the lock, swallowing the Invoke's write; since Invoke writes only when the
// queue goes from empty to one, no later Invoke woke the loop either.
func TestInvokeAfterBareWakeDrainIsNotLost(t *testing.T) {
	testutil.Check(t)
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Unref()

	ran, invoked := false, false
	testHookBareWakeDrained = func() {
		if invoked {
			return
		}
		invoked = true
		// The other goroutine's step, taken here so that it lands exactly
		// after the loop found no function queued.
		if err := e.Invoke(func() { ran = true }); err != nil {
			t.Errorf("Invoke: %v", err)
		}
	}
	defer func() { testHookBareWakeDrained = nil }()

	e.wake() // a bare wake-up, as a done context's
	deadline := time.Now().Add(5 * time.Second)
	for !ran && time.Now().Before(deadline) {
		if _, err := e.Run(100 * time.Millisecond); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if !invoked {
		t.Fatal("the loop never saw the bare wake-up")
	}
	if !ran {
		t.Fatal("the function invoked right after the loop drained a bare wake-up never ran")
	}

	// And the door stays open: a later Invoke wakes the loop as usual.
	again := false
	if err := e.Invoke(func() { again = true }); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	for !again && time.Now().Before(deadline) {
		if _, err := e.Run(100 * time.Millisecond); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if !again {
		t.Fatal("a later Invoke did not run")
	}
}
