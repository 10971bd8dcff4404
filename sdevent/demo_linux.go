package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

const demoAbout = `Runs a small event loop and prints one line per dispatch: the time since
the start, the loop's iteration, the source's description, priority and
enablement as its handler sees them, and the loop's state.

The loop holds two floating ONESHOT defer sources (added in the wrong order:
priority decides), a periodic timer (ON, re-armed with SetTimeRelative in its
handler) that writes into a pipe, an IO source that reads the pipe, a post
source that runs after every burst of work, a function handed over with
Invoke from another goroutine, and an exit source that prints a summary.
The loop exits with 0 once the last tick has been read from the pipe. Last,
the demo prints what the loop's statistics (SetStatistics, Snapshot) say
of each source: dispatches, handler errors, handler time, and for the
timer how late it ran.`

func demo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "[-ticks n] [-interval d]", demoAbout, stderr)
	ticks := fs.Int("ticks", 4, "number of timer ticks before the loop exits (1 to 1000)")
	interval := fs.Duration("interval", 100*time.Millisecond, "time between ticks (1ms to 10s)")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *ticks < 1 || *ticks > 1000 {
		sayf(stderr, "sdevent demo: -ticks %d: want 1 to 1000\n", *ticks)
		return exitUsage
	}
	if *interval < time.Millisecond || *interval > 10*time.Second {
		sayf(stderr, "sdevent demo: -interval %v: want 1ms to 10s\n", *interval)
		return exitUsage
	}
	if err := runDemo(stdout, *ticks, *interval); err != nil {
		sayf(stderr, "sdevent demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// demoLoop is the state the demo's handlers share. All of it is touched on
// the loop's goroutine only.
type demoLoop struct {
	e        *sdevent.Event
	out      io.Writer
	start    time.Time
	ticks    int           // ticks wanted
	interval time.Duration // between ticks
	wfd      int           // write end of the pipe

	ticked  int  // ticks so far
	read    int  // lines read from the pipe
	bytes   int  // bytes read from the pipe
	posts   int  // post handler calls
	invoked bool // the Invoke function ran

	startInvoker func() // starts the goroutine that calls Invoke
}

// line prints one dispatch. s is nil for the function run by Invoke, which
// has no source of its own.
func (d *demoLoop) line(s *sdevent.Source, format string, a ...any) {
	desc, prio, enabled := "invoke", "-", "-"
	if s != nil {
		desc = describe(s)
		if p, err := s.Priority(); err == nil {
			prio = p.String()
		}
		if m, err := s.Enabled(); err == nil {
			enabled = m.String()
		}
	}
	ms := float64(time.Since(d.start).Microseconds()) / 1000
	sayf(d.out, "%8.1fms %4d  %-15s %-9s %-7s %-8s %s\n",
		ms, d.e.Iteration(), desc, prio, enabled, d.e.State(), fmt.Sprintf(format, a...))
}

func describe(s *sdevent.Source) string {
	desc, err := s.Description()
	if err != nil {
		return "?"
	}
	return desc
}

// named returns a function that takes what an Add* method returned and
// gives the new source its description and priority. Unless it is an exit
// source (which, as in C, cannot have it), it also makes any handler error
// end the loop, so that a failing demo cannot hang.
func named(desc string, p priority.Priority) func(*sdevent.Source, error) (*sdevent.Source, error) {
	return func(s *sdevent.Source, err error) (*sdevent.Source, error) {
		if err != nil {
			return nil, fmt.Errorf("add %s: %w", desc, err)
		}
		sets := []error{s.SetDescription(desc), s.SetPriority(p)}
		if !exitSource[desc] {
			sets = append(sets, s.SetExitOnFailure(true))
		}
		for _, set := range sets {
			if set != nil {
				s.Unref()
				return nil, fmt.Errorf("set up %s: %w", desc, set)
			}
		}
		return s, nil
	}
}

// exitSource names the demo's exit sources, on which SetExitOnFailure
// fails with EDOM.
var exitSource = map[string]bool{"summary": true}

func runDemo(out io.Writer, ticks int, interval time.Duration) (err error) {
	e, err := sdevent.New()
	if err != nil {
		return err
	}
	defer e.Unref()
	d := &demoLoop{e: e, out: out, ticks: ticks, interval: interval, start: time.Now()}
	if err := e.SetStatistics(true); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}

	var sources []*sdevent.Source
	defer func() {
		for _, s := range sources {
			s.Unref()
		}
	}()

	// Two defer sources, the less important one added first. Both start
	// ONESHOT and are switched off before their handler runs. Made floating,
	// they belong to the loop, which frees them when it goes.
	for _, def := range []struct {
		desc string
		p    priority.Priority
	}{{"defer-normal", priority.Normal}, {"defer-important", priority.Important}} {
		s, err := named(def.desc, def.p)(e.AddDefer(func(s *sdevent.Source) error {
			d.line(s, "ONESHOT, so already off as it runs; priority decides the order")
			return nil
		}))
		if err != nil {
			return err
		}
		if err := s.SetFloating(true); err != nil {
			s.Unref()
			return fmt.Errorf("make %s floating: %w", def.desc, err)
		}
		s.Unref()
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("pipe2: %w", err)
	}
	d.wfd = p[1]
	defer func() { _ = unix.Close(p[1]) }() // the write end; a pipe's close cannot fail usefully

	// The read end: the source owns it and closes it when freed.
	rs, err := named("pipe-reader", priority.Important)(e.AddIO(p[0], unix.EPOLLIN, d.onPipe))
	if err != nil {
		_ = unix.Close(p[0])
		return err
	}
	sources = append(sources, rs)
	if err := rs.SetIOFdOwn(true); err != nil {
		_ = unix.Close(p[0])
		return fmt.Errorf("own pipe fd: %w", err)
	}

	ts, err := named("tick", priority.Normal)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, interval, time.Millisecond, d.onTick))
	if err != nil {
		return err
	}
	sources = append(sources, ts)
	// Time sources start ONESHOT; ON keeps it enabled, and the handler
	// moves its deadline forward each time.
	if err := ts.SetEnabled(source.On); err != nil {
		return fmt.Errorf("enable tick: %w", err)
	}

	ps, err := named("post-counter", priority.Idle)(e.AddPost(d.onPost))
	if err != nil {
		return err
	}
	sources = append(sources, ps)

	xs, err := named("summary", priority.Normal)(e.AddExit(d.onExit))
	if err != nil {
		return err
	}
	sources = append(sources, xs)

	// The first tick starts a goroutine that calls Invoke. On success the
	// invoked function has run, so the goroutine is waited for; on failure
	// it may still be blocked, so it is not.
	var wg sync.WaitGroup
	invokeErr := make(chan error, 1)
	d.startInvoker = func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			invokeErr <- e.Invoke(d.onInvoke)
		}()
	}

	sayf(out, "sdevent demo: %d ticks every %v, one line per dispatch\n", ticks, interval)
	sayf(out, "%10s %4s  %-15s %-9s %-7s %-8s %s\n", "time", "iter", "source", "priority", "enabled", "loop", "what happened")

	// The demo ends by itself well before this; the deadline only keeps a
	// broken loop from hanging the terminal.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ticks)*interval+10*time.Second)
	defer cancel()
	code, err := e.LoopContext(ctx)
	if err == nil && code != 0 {
		err = fmt.Errorf("exited with code %d", code)
	}
	if err != nil {
		select {
		case ierr := <-invokeErr:
			if ierr != nil {
				return fmt.Errorf("loop: %w (invoke: %w)", err, ierr)
			}
		default:
		}
		return fmt.Errorf("loop: %w", err)
	}
	wg.Wait()
	if err := <-invokeErr; err != nil {
		return fmt.Errorf("invoke: %w", err)
	}
	snap, err := e.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	printSnapshot(out, snap)
	return nil
}

// printSnapshot prints the loop's statistics, a line a source, oldest
// first, after a blank line and a header.
func printSnapshot(out io.Writer, snap sdevent.Snapshot) {
	sayf(out, "\nstatistics after %d iterations (Snapshot), one line per source:\n", snap.Iteration)
	sayf(out, "%-15s %-9s %-9s %-7s %10s %6s %10s %10s %s\n",
		"source", "kind", "priority", "enabled", "dispatches", "errors", "handlers", "longest", "late last/worst")
	for i := len(snap.Sources) - 1; i >= 0; i-- {
		r := snap.Sources[i]
		late := "-"
		if r.Kind.IsTime() {
			late = fmt.Sprintf("%v/%v", r.Lateness.Round(time.Microsecond), r.WorstLateness.Round(time.Microsecond))
		}
		sayf(out, "%-15s %-9s %-9s %-7s %10d %6d %10v %10v %s\n", r.Description, r.Kind, r.Priority, r.Enabled,
			r.Dispatches, r.Errors, r.HandlerTime.Round(time.Microsecond), r.LongestHandler.Round(time.Microsecond), late)
	}
}

func (d *demoLoop) onTick(s *sdevent.Source, t time.Duration) error {
	d.ticked++
	msg := fmt.Sprintf("tick %d", d.ticked)
	last := d.ticked == d.ticks
	if last {
		// Off: no further ticks. The timer stays in the loop until unref'd.
		if err := s.SetEnabled(source.Off); err != nil {
			return err
		}
		d.line(s, "%s of %d, the last: switched off; writes %q to the pipe", msg, d.ticks, msg)
	} else {
		if err := s.SetTimeRelative(d.interval); err != nil {
			return err
		}
		d.line(s, "%s of %d: re-armed for %v from now; writes %q to the pipe", msg, d.ticks, d.interval, msg)
	}
	if _, err := unix.Write(d.wfd, []byte(msg+"\n")); err != nil {
		return fmt.Errorf("write pipe: %w", err)
	}
	if d.ticked == 1 {
		d.startInvoker()
	}
	return nil
}

func (d *demoLoop) onPipe(s *sdevent.Source, fd int, revents uint32) error {
	var buf [512]byte
	n, err := unix.Read(fd, buf[:])
	if errors.Is(err, unix.EAGAIN) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pipe: %w", err)
	}
	got := string(buf[:n])
	d.bytes += n
	d.read += strings.Count(got, "\n")
	d.line(s, "revents=%s, read %q", eventNames(revents), got)
	d.maybeExit()
	return nil
}

func (d *demoLoop) onPost(s *sdevent.Source) error {
	d.posts++
	d.line(s, "post #%d: another source was dispatched since the last one", d.posts)
	return nil
}

func (d *demoLoop) onInvoke() {
	d.invoked = true
	d.line(nil, "a function from another goroutine, run on the loop by Invoke")
	d.maybeExit()
}

// maybeExit asks the loop to exit once the last tick has been read and the
// invoked function has run, so that the output is complete.
func (d *demoLoop) maybeExit() {
	if d.read < d.ticks || !d.invoked {
		return
	}
	if err := d.e.Exit(0); err != nil {
		sayf(d.out, "exit: %v\n", err)
	}
}

func (d *demoLoop) onExit(s *sdevent.Source) error {
	d.line(s, "exiting after %d iterations: %d ticks, %d lines (%d bytes) read, %d post runs, invoke ran: %v",
		d.e.Iteration(), d.ticked, d.read, d.bytes, d.posts, d.invoked)
	return nil
}

// eventNames spells an epoll event mask as "IN|HUP".
func eventNames(ev uint32) string {
	names := []struct {
		bit  uint32
		name string
	}{
		{unix.EPOLLIN, "IN"}, {unix.EPOLLPRI, "PRI"}, {unix.EPOLLOUT, "OUT"},
		{unix.EPOLLERR, "ERR"}, {unix.EPOLLHUP, "HUP"}, {unix.EPOLLRDHUP, "RDHUP"},
	}
	var parts []string
	for _, n := range names {
		if ev&n.bit != 0 {
			parts = append(parts, n.name)
			ev &^= n.bit
		}
	}
	if ev != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%#x", ev))
	}
	return strings.Join(parts, "|")
}
