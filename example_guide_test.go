//go:build linux

package sdevent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// The examples of the package doc's section "For Go developers": each
// shows one Go habit on the loop, or one pitfall.

// time.AfterFunc, Timer.Reset and Timer.Stop, and time.Ticker, on the loop:
// AddTimer makes a timer that waits, stopped, for Reset; AddPeriodic a
// ticker. An accuracy of 0 asks for no coalescing window.
func Example_goTimers() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	var tick *sdevent.Source
	fired := 0
	h := func(s *sdevent.Source, _ time.Duration) error {
		if s == tick {
			fmt.Println("tick")
			return s.Event().Exit(0)
		}
		fired++
		fmt.Println("timer fired", fired)
		if fired == 1 {
			return s.Reset(5 * time.Millisecond) // re-armed by its own handler
		}
		return tick.Reset(10 * time.Millisecond) // the ticker starts from now
	}

	t, err := e.AddTimer(unix.CLOCK_MONOTONIC, 0, h) // stopped
	if err != nil {
		log.Fatal(err)
	}
	defer t.Unref()
	fmt.Println(t.Enabled())
	tick, err = e.AddPeriodic(unix.CLOCK_MONOTONIC, 10*time.Millisecond, 0, h)
	if err != nil {
		log.Fatal(err)
	}
	defer tick.Unref()
	if err := tick.Stop(); err != nil { // until the timer has fired twice
		log.Fatal(err)
	}

	// Stopped before it fired, a timer does not fire.
	if err := t.Reset(2 * time.Millisecond); err != nil {
		log.Fatal(err)
	}
	if err := t.Stop(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Enabled())
	if err := t.Reset(2 * time.Millisecond); err != nil {
		log.Fatal(err)
	}

	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// off <nil>
	// off <nil>
	// timer fired 1
	// timer fired 2
	// tick
}

// A context ends LoopContext between two iterations, without Exit: exit
// sources have not run and the loop goes on later. Another goroutine
// reaches loop state through Invoke only; here it also has the context
// cancelled on the loop, after its first function ran.
func Example_goContext() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	bye, err := e.AddExit(func(*sdevent.Source) error {
		fmt.Println("exit source")
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bye.Unref()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs := 0 // loop state
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.Invoke(func() { jobs++ }); err != nil {
			fmt.Println(err)
			return
		}
		// Invoked functions run in order: cancel after jobs++.
		if err := e.Invoke(cancel); err != nil {
			fmt.Println(err)
		}
	}()

	code, err := e.LoopContext(ctx)
	<-done
	fmt.Println(code, err, errors.Is(err, context.Canceled), e.State(), "jobs", jobs)

	// Exit, and the next Loop runs the exit sources and finishes.
	if err := e.Exit(3); err != nil {
		log.Fatal(err)
	}
	code, err = e.Loop()
	fmt.Println(code, err, e.State())
	// Output:
	// 0 sdevent: loop: context canceled true initial jobs 1
	// exit source
	// 3 <nil> finished
}

// cmd.Wait on the loop: AddCommand's handler gets the status as a
// ChildInfo. The loop calls cmd.Wait only after the handler has returned,
// so in the handler cmd.ProcessState is still nil.
func Example_goChildInfo() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	cmd := exec.Command("sh", "-c", "kill -TERM $$")
	child, err := e.AddCommand(cmd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		fmt.Println("in the handler: ProcessState nil:", cmd.ProcessState == nil)
		fmt.Println("ChildInfo:", ci, ci.Signaled(), ci.Signal() == unix.SIGTERM)
		return s.Event().Exit(0)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer child.Unref()

	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after the handler:", cmd.ProcessState)
	// Output:
	// in the handler: ProcessState nil: true
	// ChildInfo: killed by SIGTERM true true
	// after the handler: signal: terminated
}

// A handler's error switches its source off, and neither Run nor Loop
// returns it (SetLogger makes the loop log it). With SetExitOnFailure the
// error ends the loop instead.
func Example_goHandlerError() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	accept, err := e.AddDefer(func(*sdevent.Source) error {
		return unix.EMFILE // as accept4 might, once
	})
	if err != nil {
		log.Fatal(err)
	}
	defer accept.Unref()
	if err := accept.SetEnabled(source.On); err != nil { // OneShot by default
		log.Fatal(err)
	}
	ran, err := e.Run(0)
	fmt.Println("run:", ran, err)
	fmt.Println(accept.Enabled())

	must, err := e.AddDefer(func(*sdevent.Source) error { return unix.EMFILE })
	if err != nil {
		log.Fatal(err)
	}
	defer must.Unref()
	if err := must.SetExitOnFailure(true); err != nil {
		log.Fatal(err)
	}
	code, err := e.Loop()
	fmt.Println("loop:", code, err, errors.Is(err, unix.EMFILE))
	// Output:
	// run: true <nil>
	// off <nil>
	// loop: -24 sdevent: loop: exit on failure of defer source: too many open files true
}

// A child source freed before its child exited stops watching it. Without
// SetChildProcessOwn the child runs on, and nobody will reap it; with it,
// Unref kills and reaps the child.
func Example_goChildUnref() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	exited := func(*sdevent.Source, *sdevent.ChildInfo) error { return nil }

	cmd := exec.Command("sleep", "60")
	s, err := e.AddCommand(cmd, unix.WEXITED, exited)
	if err != nil {
		log.Fatal(err)
	}
	s.Unref()
	fmt.Println("not owned, after Unref: running", unix.Kill(cmd.Process.Pid, 0) == nil, "- reaped", cmd.ProcessState != nil)
	_ = cmd.Process.Kill() // it is ours to end now
	_ = cmd.Wait()         // the status of that kill

	cmd = exec.Command("sleep", "60")
	s, err = e.AddCommand(cmd, unix.WEXITED, exited)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.SetChildProcessOwn(true); err != nil {
		log.Fatal(err)
	}
	s.Unref()
	fmt.Println("owned, after Unref:", cmd.ProcessState)
	// Output:
	// not owned, after Unref: running true - reaped false
	// owned, after Unref: signal: killed
}
