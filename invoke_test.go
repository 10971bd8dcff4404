//go:build linux

package sdevent_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"golang.org/x/sys/unix"
)

// spin busy-waits for d, to land a step a few microseconds into another
// goroutine's work (a sleep that short oversleeps by far).
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; { //nolint:revive // busy on purpose: the condition is the work
	}
}

// TestInvokeCrossingContextWake is the reproduction of the lost Invoke: a
// done context's wake-up is pending on the loop (Fd readable), and in each
// round another goroutine invokes a function a few microseconds into Run.
// Every function must run; with the wake-up drained outside the lock, one
// was lost within a few thousand rounds and the loop never ran another.
func TestInvokeCrossingContextWake(t *testing.T) {
	e := newLoop(t)
	rounds := 20000 // about 60 µs each
	if testing.Short() {
		rounds = 2000
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for round := range rounds {
		// A done context: LoopContext returns at once, and its wake-up
		// reaches the eventfd from the context's goroutine.
		if _, err := e.LoopContext(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("LoopContext with a done context: %v", err)
		}
		pollReadable(t, e.Fd())

		ran := make(chan struct{})
		go func() {
			spin(time.Duration(rand.IntN(60)) * time.Microsecond) // into the loop's iteration
			if err := e.Invoke(func() { close(ran) }); err != nil {
				t.Errorf("Invoke: %v", err)
				close(ran)
			}
		}()
		deadline := time.Now().Add(long)
	wait:
		for {
			select {
			case <-ran:
				break wait
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the invoked function never ran", round)
			}
			if _, err := e.Run(100 * time.Millisecond); err != nil {
				t.Fatalf("Run: %v", err)
			}
		}
	}
}

// TestInvokeStress: 8 goroutines invoke 2,000 functions each while the loop
// runs LoopContext with contexts that end at random moments, then Loop.
// Every function runs exactly once and in its goroutine's order; the
// function that ends the loop, invoked after all of them, finds them all
// run; once the loop finished, Invoke returns ESTALE and its function never
// runs.
func TestInvokeStress(t *testing.T) {
	e := newLoop(t)
	const goroutines = 8
	perGoroutine := 2000
	if testing.Short() {
		perGoroutine = 200
	}
	var got [goroutines][]int // appended on the loop's goroutine only
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				// Spread over many rounds, and let the queue run empty.
				time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
				if err := e.Invoke(func() { got[g] = append(got[g], i) }); err != nil {
					t.Errorf("goroutine %d: Invoke %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	rounds := 0
	for running := true; running; rounds++ {
		select {
		case <-done:
			running = false
			continue
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(50))*time.Microsecond)
		_, err := e.LoopContext(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LoopContext: %v", err)
		}
	}

	var seen int
	ok(t, "Invoke", e.Invoke(func() {
		for g := range got {
			seen += len(got[g])
		}
		if err := e.Exit(0); err != nil {
			t.Errorf("Exit: %v", err)
		}
	}))
	// Bounded: a lost wake-up leaves the functions queued and the loop
	// asleep.
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	if code, err := e.LoopContext(ctx); err != nil || code != 0 {
		t.Fatalf("final loop = %d, %v; want 0 (a lost wake-up leaves the loop asleep)", code, err)
	}
	if e.State() != sdevent.Finished {
		t.Fatalf("state %v after the loop, want finished", e.State())
	}
	if want := goroutines * perGoroutine; seen != want {
		t.Errorf("the last function saw %d functions run before it, want %d", seen, want)
	}
	for g := range got {
		if len(got[g]) != perGoroutine {
			t.Errorf("goroutine %d: %d functions ran, want %d", g, len(got[g]), perGoroutine)
			continue
		}
		for i, v := range got[g] {
			if v != i {
				t.Errorf("goroutine %d: function %d ran in place %d", g, v, i)
				break
			}
		}
	}

	late := false
	wantErrno(t, "Invoke after the loop finished", e.Invoke(func() { late = true }), unix.ESTALE)
	if _, err := e.Run(0); !errors.Is(err, unix.ESTALE) {
		t.Errorf("Run after the loop finished: %v, want ESTALE", err)
	}
	if late {
		t.Error("a function invoked after the loop finished ran")
	}
	t.Logf("%d LoopContext rounds", rounds)
}

// TestInvoke: Invoke from another goroutine wakes the loop and runs fn there,
// in a dispatch (state Running).
//
// From SEMANTICS.md, "The loop": Threads.
func TestInvoke(t *testing.T) {
	e := newLoop(t)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.Loop()
		done <- result{code, err}
	}()
	var st sdevent.State
	ok(t, "Invoke", e.Invoke(func() {
		st = e.State()
		if err := e.Exit(42); err != nil {
			t.Errorf("Exit: %v", err)
		}
	}))
	select {
	case r := <-done:
		if r.err != nil || r.code != 42 {
			t.Errorf("Loop = %d, %v; want 42", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not wake the loop")
	}
	if st != sdevent.Running {
		t.Errorf("fn ran in state %v, want Running", st)
	}
}

// TestInvokeMany: every fn given to Invoke runs once, also when many
// goroutines call it at the same time.
//
// From SEMANTICS.md, "The loop": Threads.
func TestInvokeMany(t *testing.T) {
	e := newLoop(t)
	const n = 50
	count := 0
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- e.Invoke(func() {
				count++
				if count == n {
					if err := e.Exit(0); err != nil {
						t.Errorf("Exit: %v", err)
					}
				}
			})
		}()
	}
	if code := loop(t, e); code != 0 || count != n {
		t.Errorf("Loop = %d with %d calls, want 0 and %d", code, count, n)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Invoke: %v", err)
		}
	}
}

// TestExitOnIdleRunsQueuedInvokes: functions queued with Invoke are work:
// an exit-on-idle loop runs them before it exits.
//
// Regression: a fix from the review of the core (commit 75f6e65).
func TestExitOnIdleRunsQueuedInvokes(t *testing.T) {
	e := newLoop(t)
	ok(t, "exit on idle", e.SetExitOnIdle(true))
	ran := false
	ok(t, "invoke", e.Invoke(func() { ran = true }))
	loop(t, e)
	if !ran {
		t.Fatal("the loop exited on idle with an Invoke queued")
	}
}
