//go:build linux

package testutil

import (
	"testing"
	"time"
)

// Runner is what RunUntil and RunFor drive: the Run method of a loop
// (*sdevent.Event; this package cannot import it, as the loop's own
// tests import this package).
type Runner interface {
	Run(timeout time.Duration) (dispatched bool, err error)
}

// RunUntil runs iterations of r until done reports true, failing t after
// 10 s with what it was waiting for. Each iteration waits on the loop's
// descriptors, never on a sleep.
func RunUntil(t testing.TB, r Runner, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if _, err := r.Run(100 * time.Millisecond); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

// RunFor runs iterations of r for d: long enough for a callback that
// should not come to have come.
func RunFor(t testing.TB, r Runner, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := r.Run(time.Until(end)); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}
