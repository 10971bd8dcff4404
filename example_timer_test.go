//go:build linux

package sdevent_test

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// A timeout made disarmed, as a stopped time.Timer, and armed when there is
// something to time out.
func ExampleEvent_AddTimer() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	timeout, err := e.AddTimer(unix.CLOCK_MONOTONIC, 0, func(s *sdevent.Source, _ time.Duration) error {
		fmt.Println("timed out")
		return s.Event().Exit(3)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer timeout.Unref()
	fmt.Println(timeout.Enabled())

	if err := timeout.Reset(10 * time.Millisecond); err != nil {
		fmt.Println(err)
		return
	}
	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// off <nil>
	// timed out
	// loop returned 3 <nil>
}

// Debouncing: every change pushes the timer back, so that it fires once,
// when the changes have stopped for 20ms.
func ExampleSource_Reset() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	settle, err := e.AddTimer(unix.CLOCK_MONOTONIC, time.Millisecond, func(s *sdevent.Source, _ time.Duration) error {
		fmt.Println("quiet for 20ms: reload")
		return s.Event().Exit(0)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer settle.Unref()

	// Three changes in a row, one per iteration.
	changes := 0
	burst, err := e.AddDefer(func(s *sdevent.Source) error {
		changes++
		fmt.Println("change", changes)
		if changes == 3 {
			if err := s.SetEnabled(source.Off); err != nil {
				return err
			}
		}
		return settle.Reset(20 * time.Millisecond)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer burst.Unref()
	if err := burst.SetEnabled(source.On); err != nil {
		fmt.Println(err)
		return
	}

	if _, err := e.Loop(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// change 1
	// change 2
	// change 3
	// quiet for 20ms: reload
}

// A ticker: the handler gets each tick, all on one grid, however late the
// loop runs it.
func ExampleEvent_AddPeriodic() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	const period = 10 * time.Millisecond
	var first time.Duration
	n := 0
	ticker, err := e.AddPeriodic(unix.CLOCK_MONOTONIC, period, 0, func(s *sdevent.Source, t time.Duration) error {
		if n == 0 {
			first = t
		}
		n++
		now, err := s.Event().Now(unix.CLOCK_MONOTONIC)
		if err != nil {
			return err
		}
		fmt.Printf("tick %d: on the grid %v, not early %v\n", n, (t-first)%period == 0, now >= t)
		if n == 3 {
			return s.Event().Exit(0)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ticker.Unref()

	if _, err := e.Loop(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// tick 1: on the grid true, not early true
	// tick 2: on the grid true, not early true
	// tick 3: on the grid true, not early true
}

// Sources the loop owns, added and forgotten in one call each: C's Add
// calls with a NULL source pointer. The loop frees them with itself.
func ExampleFloat() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	for i := 1; i <= 3; i++ {
		err := sdevent.Float(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Duration(i)*time.Millisecond, time.Microsecond,
			func(*sdevent.Source, time.Duration) error {
				fmt.Println("timer", i)
				return nil
			}))
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	// A nil handler exits the loop.
	if err := sdevent.Float(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 10*time.Millisecond, time.Microsecond, nil)); err != nil {
		fmt.Println(err)
		return
	}
	// An Add call's error comes back unchanged.
	fmt.Println(sdevent.Float(e.AddTimeRelative(unix.CLOCK_TAI, 0, 0, nil)))

	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// sdevent: add time relative 11: operation not supported
	// timer 1
	// timer 2
	// timer 3
	// loop returned 0 <nil>
}
