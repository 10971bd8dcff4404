package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Idiomatic runs the workloads the way Go programs do without an event
// loop: goroutines and channels, reads parked in the runtime's netpoller,
// runtime timers, os/signal and exec.Cmd.
type Idiomatic struct{}

func (Idiomatic) Name() string { return "idiomatic" }

// Defer hands n tokens from one goroutine to another through an unbuffered
// channel.
func (Idiomatic) Defer(n int) (time.Duration, error) {
	ch := make(chan struct{})
	t0 := time.Now()
	go func() {
		for range n {
			ch <- struct{}{}
		}
		close(ch)
	}()
	count := 0
	for range ch {
		count++
	}
	return counted(time.Since(t0), nil, count, n)
}

// eventfdFile returns a non-blocking eventfd as an *os.File, which the
// runtime's netpoller watches.
func eventfdFile(name string) (*os.File, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// IO plays ping-pong between two goroutines over two eventfds, each side
// blocking in Read (parked in the netpoller) until the other wrote: n
// hand-offs, each one read and one write. idle more eventfds each have a
// goroutine blocked reading them.
func (Idiomatic) IO(n, idle int) (time.Duration, error) {
	ping, err := eventfdFile("ping")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ping.Close() }()
	pong, err := eventfdFile("pong")
	if err != nil {
		return 0, err
	}
	defer func() { _ = pong.Close() }()

	stopIdle, err := idleReaders(idle)
	defer stopIdle()
	if err != nil {
		return 0, err
	}

	// Hand-offs with odd numbers go from ping to the echoing goroutine,
	// even ones back through pong.
	echoed := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		for i := 1; i <= n; i += 2 {
			if _, err := io.ReadFull(ping, buf); err != nil {
				echoed <- err
				return
			}
			if i+1 <= n {
				if _, err := pong.Write(eventfdOne); err != nil {
					echoed <- err
					return
				}
			}
		}
		echoed <- nil
	}()
	buf := make([]byte, 8)
	t0 := time.Now()
	for i := 1; i <= n; i += 2 {
		if _, err := ping.Write(eventfdOne); err != nil {
			return 0, err
		}
		if i+1 <= n {
			if _, err := io.ReadFull(pong, buf); err != nil {
				return 0, err
			}
		}
	}
	err = <-echoed
	return time.Since(t0), err
}

// idleReaders starts n goroutines, each blocked reading an eventfd nobody
// writes to, and returns a function that closes the files and waits for the
// goroutines to return.
func idleReaders(n int) (stop func(), err error) {
	files := make([]*os.File, 0, n)
	var wg sync.WaitGroup
	stop = func() {
		for _, f := range files {
			_ = f.Close()
		}
		wg.Wait()
	}
	var started sync.WaitGroup
	for range n {
		f, err := eventfdFile("idle")
		if err != nil {
			return stop, err
		}
		files = append(files, f)
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			var buf [8]byte
			_, _ = f.Read(buf[:]) // until closed
		}()
	}
	started.Wait()
	return stop, nil
}

// Timers adds n time.AfterFunc timers, their deadlines spread over 200ms
// after a base time (each turned into a duration with time.Until), and
// waits until every callback has run.
func (Idiomatic) Timers(n int) (add, total time.Duration, err error) {
	var count atomic.Int64
	done := make(chan struct{})
	f := func() {
		if count.Add(1) == int64(n) {
			close(done)
		}
	}
	x := lcg(1)
	base := time.Now()
	t0 := time.Now()
	for range n {
		time.AfterFunc(time.Until(base.Add(x.timerOffset())), f)
	}
	add = time.Since(t0)
	<-done
	return add, time.Since(t0), nil
}

// TimerRearm receives from a time.Timer n times, Resetting it to 0 after
// every receive.
func (Idiomatic) TimerRearm(n int) (time.Duration, error) {
	t0 := time.Now()
	t := time.NewTimer(0)
	for i := 1; ; i++ {
		<-t.C
		if i >= n {
			break
		}
		t.Reset(0)
	}
	return time.Since(t0), nil
}

// Signal receives SIGUSR1 from os/signal n times, sending the next with
// kill to the process after every receive.
func (Idiomatic) Signal(n int) (time.Duration, error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGUSR1)
	defer signal.Stop(ch)
	pid := unix.Getpid()
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		return 0, os.NewSyscallError("kill", err)
	}
	t0 := time.Now()
	for i := 1; ; i++ {
		<-ch
		if i >= n {
			break
		}
		if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
			return 0, os.NewSyscallError("kill", err)
		}
	}
	return time.Since(t0), nil
}

// Children starts n children with exec.Cmd, blocked reading one pipe, with
// a goroutine per child blocked in cmd.Wait, closes the pipe and waits for
// every goroutine. A blocked cmd.Wait holds an OS thread (waitid on the
// child's pidfd), so the process grows a thread per child; Threads is read
// once the thread count stopped growing.
func (Idiomatic) Children(n int) (ChildrenRun, error) {
	var run ChildrenRun
	r, w, err := os.Pipe()
	if err != nil {
		return run, err
	}
	defer func() { _ = r.Close() }()
	defer func() { _ = w.Close() }()
	run.ThreadsBefore = osThreads()
	var (
		wg      sync.WaitGroup
		waiting atomic.Int64
		mu      sync.Mutex
		errs    []error
	)
	defer wg.Wait()
	for range n {
		cmd := exec.Command(shPath, shArgv[1:]...)
		cmd.Stdin = r
		if err := cmd.Start(); err != nil {
			_ = w.Close() // the children started so far exit
			return run, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Add(1)
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Exited() {
				err = nil // read's status at end of file
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("child %d: %w", cmd.Process.Pid, err))
				mu.Unlock()
			}
		}()
	}
	_ = r.Close()
	for waiting.Load() < int64(n) {
		runtime.Gosched()
	}
	run.Threads = settledThreads()
	t0 := time.Now()
	_ = w.Close()
	wg.Wait()
	run.Elapsed = time.Since(t0)
	return run, errors.Join(errs...)
}

// settledThreads returns the number of OS threads once it has not changed
// for 20ms (at most after 2s): the runtime adds a thread for each
// goroutine blocked in a system call only as it notices them.
func settledThreads() int {
	n, since := osThreads(), time.Now()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if m := osThreads(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 20*time.Millisecond {
			break
		}
	}
	return n
}
