//go:build linux

package sdevent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// hotLoops builds the three steady-state workloads of the reference suite:
// an On defer source, an eventfd ping-pong IO source and a timer re-armed
// for "now" in its own handler. Each Run dispatches exactly one handler.
func hotLoops(tb testing.TB) map[string]*sdevent.Event {
	tb.Helper()
	loops := map[string]*sdevent.Event{}
	add := func(name string, e *sdevent.Event, s *sdevent.Source, err error) {
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		loops[name] = e
		tb.Cleanup(func() { s.Unref(); e.Unref() })
	}

	e, _ := sdevent.New()
	s, err := e.AddDefer(func(*sdevent.Source) error { return nil })
	if err == nil {
		err = s.SetEnabled(source.On)
	}
	add("defer", e, s, err)

	fd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	e, _ = sdevent.New()
	var buf [8]byte
	s, err = e.AddIO(fd, unix.EPOLLIN, func(_ *sdevent.Source, fd int, _ uint32) error {
		if _, err := unix.Read(fd, buf[:]); err != nil {
			return err
		}
		_, err := unix.Write(fd, buf[:])
		return err
	})
	add("io", e, s, err)

	e, _ = sdevent.New()
	s, err = e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, func(s *sdevent.Source, _ time.Duration) error {
		if err := s.SetTime(0); err != nil {
			return err
		}
		return s.SetEnabled(source.OneShot)
	})
	add("timer_rearm", e, s, err)
	return loops
}

// infoLogger discards the records it takes, info and above.
var infoLogger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))

// TestHotPathAllocatesNothing: one dispatch of a defer, IO or re-armed timer
// source allocates nothing in steady state, without a logger and with one
// that takes info records and above (SetLogger).
func TestHotPathAllocatesNothing(t *testing.T) {
	testutil.Check(t)
	for _, logger := range []*slog.Logger{nil, infoLogger} {
		for name, e := range hotLoops(t) {
			hotPathAllocs(t, name, e, logger)
		}
	}
}

// observeModes are the ways of observing the loop (stats.go, profile.go)
// whose dispatches the hot path tests and benchmarks measure: none, the
// statistics, and all of it (statistics, a slow handler threshold no
// handler reaches, profile labels and trace regions, the delay histogram,
// and a logger that takes info records, which the histogram's debug
// records do not reach).
var observeModes = []struct {
	name   string
	logger *slog.Logger
	set    func(e *sdevent.Event) error
}{
	{"off", nil, func(*sdevent.Event) error { return nil }},
	{"statistics", nil, func(e *sdevent.Event) error { return e.SetStatistics(true) }},
	{"all", infoLogger, func(e *sdevent.Event) error {
		return errors.Join(e.SetStatistics(true), e.SetSlowHandlerThreshold(time.Hour),
			e.SetProfileLabels(context.Background(), true), e.SetProfileDelays(true))
	}},
}

// TestHotPathObservedAllocatesNothing: with statistics on, and with all the
// observation there is, a dispatch in steady state still allocates nothing
// (the record of a source and its labels are made at its first dispatch).
func TestHotPathObservedAllocatesNothing(t *testing.T) {
	testutil.Check(t)
	for _, mode := range observeModes[1:] {
		for name, e := range hotLoops(t) {
			if err := mode.set(e); err != nil {
				t.Fatal(err)
			}
			hotPathAllocs(t, name+"/"+mode.name, e, mode.logger)
		}
	}
}

// hotPathAllocs is TestHotPathAllocatesNothing's subtest for one workload
// and logger.
func hotPathAllocs(t *testing.T, name string, e *sdevent.Event, logger *slog.Logger) {
	if logger != nil {
		name += "+info_logger"
	}
	e.SetLogger(logger)
	t.Run(name, func(t *testing.T) {
		var failed error
		run := func() {
			d, err := e.Run(10 * time.Second)
			if err != nil || !d {
				failed = err
				if failed == nil {
					t.Errorf("Run dispatched nothing")
				}
			}
		}
		for i := 0; i < 100; i++ { // reach steady state
			run()
		}
		if allocs := testing.AllocsPerRun(1000, run); allocs != 0 {
			t.Errorf("%v allocations per dispatch, want 0", allocs)
		}
		if failed != nil {
			t.Fatal(failed)
		}
	})
}

// BenchmarkDispatch measures one iteration (prepare, poll, dispatch) of
// each steady-state workload; -benchmem shows the allocations.
func BenchmarkDispatch(b *testing.B) {
	for _, name := range []string{"defer", "io", "timer_rearm"} {
		b.Run(name, func(b *testing.B) {
			e := hotLoops(b)[name]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Run(sdevent.Infinity); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBlockingIterationAllocatesNothing: an iteration in which the loop
// has to block (a timer re-armed 20 µs ahead: the loop parks in the
// runtime's poller until its timerfd fires) allocates nothing, with no
// timeout and with one that the runtime's timer bounds.
func TestBlockingIterationAllocatesNothing(t *testing.T) {
	e := newLoop(t)
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, 20*time.Microsecond, time.Nanosecond, func(s *sdevent.Source, _ time.Duration) error {
		if err := s.SetTimeRelative(20 * time.Microsecond); err != nil {
			return err
		}
		return s.SetEnabled(source.OneShot)
	}))
	for _, timeout := range []time.Duration{sdevent.Infinity, time.Hour} {
		var failed error
		iteration := func() {
			if d, err := e.Run(timeout); err != nil || !d {
				failed = fmt.Errorf("Run(%v) = %v, %w", timeout, d, err)
			}
		}
		for range 100 {
			iteration()
		}
		if allocs := testing.AllocsPerRun(1000, iteration); allocs != 0 {
			t.Errorf("Run(%v): %v allocations per blocking iteration, want 0", timeout, allocs)
		}
		if failed != nil {
			t.Fatal(failed)
		}
	}
}

// BenchmarkDispatchObserved is BenchmarkDispatch with each of observeModes,
// for a side-by-side comparison of what observing costs:
//
//	go test -run '^$' -bench DispatchObserved -count 10 . > obs.txt
//	benchstat -col /observe obs.txt
func BenchmarkDispatchObserved(b *testing.B) {
	for _, name := range []string{"defer", "io", "timer_rearm"} {
		for _, mode := range observeModes {
			b.Run(name+"/observe="+mode.name, func(b *testing.B) {
				e := hotLoops(b)[name]
				e.SetLogger(mode.logger)
				if err := mode.set(e); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := e.Run(sdevent.Infinity); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDispatchObservedPaired measures what observing costs on a
// machine too busy for BenchmarkDispatchObserved's separate runs to tell:
// one defer loop for each of observeModes, run in turn in slices of 1000
// dispatches (the order rotating), and reported as the median over the
// slices of each mode's time against the time of the "off" slice beside
// it ("statistics/off", "all/off"), with each mode's median ns per
// dispatch. b.N counts rounds, one slice of each mode.
//
//	go test -run '^$' -bench DispatchObservedPaired -benchtime 3000x .
func BenchmarkDispatchObservedPaired(b *testing.B) {
	const slice = 1000
	loops := make([]*sdevent.Event, len(observeModes))
	for i, mode := range observeModes {
		loops[i] = hotLoops(b)["defer"]
		loops[i].SetLogger(mode.logger)
		if err := mode.set(loops[i]); err != nil {
			b.Fatal(err)
		}
	}
	per := make([][]float64, len(observeModes))
	ratios := make([][]float64, len(observeModes))
	took := make([]float64, len(observeModes))
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		for k := range observeModes {
			i := (k + r) % len(observeModes)
			start := time.Now()
			for range slice {
				if _, err := loops[i].Run(0); err != nil {
					b.Fatal(err)
				}
			}
			took[i] = float64(time.Since(start).Nanoseconds()) / slice
			per[i] = append(per[i], took[i])
		}
		for i := 1; i < len(observeModes); i++ {
			ratios[i] = append(ratios[i], took[i]/took[0])
		}
	}
	b.StopTimer()
	median := func(x []float64) float64 {
		slices.Sort(x)
		return x[len(x)/2]
	}
	for i, mode := range observeModes {
		b.ReportMetric(median(per[i]), "ns/dispatch-"+mode.name)
		if i > 0 {
			b.ReportMetric(median(ratios[i]), mode.name+"/off")
		}
	}
}
