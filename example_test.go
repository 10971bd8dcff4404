//go:build linux

package sdevent_test

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// A one-shot timer 10ms from now on the monotonic clock, with 1ms of
// accuracy, that ends the loop.
func ExampleEvent_AddTimeRelative() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	s, err := e.AddTimeRelative(unix.CLOCK_MONOTONIC, 10*time.Millisecond, time.Millisecond,
		func(s *sdevent.Source, t time.Duration) error {
			now, _ := s.Event().Now(unix.CLOCK_MONOTONIC)
			fmt.Println("timer fired, on time:", now >= t)
			return s.Event().Exit(0)
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unref()

	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// timer fired, on time: true
	// loop returned 0 <nil>
}

// Watching the read end of a pipe: the handler runs when data arrives.
func ExampleEvent_AddIO() {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(p[1])

	e, err := sdevent.New()
	if err != nil {
		unix.Close(p[0])
		fmt.Println(err)
		return
	}
	defer e.Unref()

	s, err := e.AddIO(p[0], unix.EPOLLIN, func(s *sdevent.Source, fd int, revents uint32) error {
		buf := make([]byte, 64)
		n, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		fmt.Printf("read %q\n", buf[:n])
		return s.Event().Exit(0)
	})
	if err != nil {
		unix.Close(p[0])
		fmt.Println(err)
		return
	}
	// The source closes the read end when it goes.
	if err := s.SetIOFdOwn(true); err != nil {
		s.Unref()
		unix.Close(p[0])
		fmt.Println(err)
		return
	}
	defer s.Unref()

	if _, err := unix.Write(p[1], []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// read "hello"
	// loop returned 0 <nil>
}

// A defer source left ON runs in every iteration; it ends the loop when its
// work is done, and the exit source runs on the way out.
func ExampleEvent_Loop() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	n := 0
	work, err := e.AddDefer(func(s *sdevent.Source) error {
		n++
		fmt.Println("step", n)
		if n == 3 {
			return s.Event().Exit(n)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer work.Unref()
	if err := work.SetEnabled(source.On); err != nil {
		fmt.Println(err)
		return
	}

	bye, err := e.AddExit(func(*sdevent.Source) error {
		fmt.Println("exiting")
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bye.Unref()

	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// step 1
	// step 2
	// step 3
	// exiting
	// loop returned 3 <nil>
}

// Invoke is how another goroutine gets work done on the loop: fn runs there,
// between two dispatches of the loop's sources.
func ExampleEvent_Invoke() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	done := make(chan struct{})
	go func() {
		defer close(done)
		err := e.Invoke(func() {
			fmt.Println("running on the loop, state", e.State() == sdevent.Running)
			if err := e.Exit(7); err != nil {
				fmt.Println(err)
			}
		})
		if err != nil {
			fmt.Println(err)
		}
	}()

	code, err := e.Loop()
	<-done
	fmt.Println("loop returned", code, err)
	// Output:
	// running on the loop, state true
	// loop returned 7 <nil>
}
