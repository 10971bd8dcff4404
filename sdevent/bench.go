//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/bench"
)

const benchAbout = `Runs the reference workloads of sdbench.c (defer, io_idle0, io_idle10000,
timers, timer_rearm, signal, children) with its counts, divided by -div,
and pingpong, proxy_conn and proxy_bulk, on three contenders: go-sdevent
through its public API, libsystemd's sd-event through cgo (only in a build
with -tags libsystemd), and the idiomatic Go way (goroutines and
channels, the netpoller, runtime timers, os/signal, exec.Cmd). The
contenders take turns, a different one first in every round; each cell is
the median ns/op over the rounds, and Go/C and idiom/C are the ratios of
the medians.

pingpong (50,000 round trips) runs between this process and a peer process
(this executable started again) over an AF_UNIX SOCK_SEQPACKET socketpair,
one 64-byte message each way per round trip, the same contender at both
ends, each end a loop that blocks in every iteration. Its rows: the time
per round trip, the CPU time (user+system) of both processes per round
trip, and their context switches (voluntary+involuntary) per round trip.

proxy_conn (10,000 connections) and proxy_bulk (1,024 MiB) run a proxy in
the manner of systemd-socket-proxyd in a peer process: it accepts on a
TCP socket on 127.0.0.1, connects to a backend in this process for each
connection and moves the bytes both ways with splice(2) through a pipe per
direction, a socket's events following its pipes' fill. The client and
backend, in this process, are the same for every contender (blocking net
calls); the proxy is a go-sdevent loop, an sd-event loop in C, or
goroutines with io.Copy (which splices). proxy_conn: one short connection
after the other, each a 64-byte request echoed by the backend; proxy_bulk:
one connection carrying the MiBs from client to backend, every byte
checked. Their rows: the time per connection or MiB, the proxy's CPU time
(user+system) per connection or MiB, and the proxy's context switches
per connection or MiB.

After the table: the bytes per idle IO source and per idle timer (10,000
of each; Go: live heap after GC, C: malloc'd bytes, mmapped blocks too),
the OS threads of the process while the children were watched, and the
cost per child exit of go-sdevent and libsystemd with 100 and 4,000
children exiting at once (each started with a call that returns after the
child's exec).

floor runs io_idle0's system calls without a loop, in Go through
x/sys/unix and in C: epoll_wait, read and write on one eventfd, the floor
under the loop's io_idle0 figure.

-cpus n pins the run to n CPUs: the command starts itself again with its
CPU affinity set to the first n CPUs it may use, so that the Go runtime
starts with that affinity (and GOMAXPROCS, unless set, follows it); peers
and children inherit it. -gomaxprocs 1,2 runs everything once per value,
one report each; the peers run with the same GOMAXPROCS. Each report's
header says the CPUs, the affinity, the pinning and GOMAXPROCS.

The times are wall-clock times on a machine that may be busy: compare
contenders within one run, not across runs.`

// pinnedEnv marks the process that 'sdevent bench -cpus N' started under
// an affinity of N CPUs; its value is N.
const pinnedEnv = "SDEVENT_BENCH_PINNED"

// benchSelf returns the command that runs this program with args (the
// tests replace it: their executable is the test binary).
var benchSelf = func(args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// benchCommand is 'sdevent bench'.
func benchCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "[-rounds n] [-div d] [-run regexp] [-cpus n] [-gomaxprocs list] [-json]", benchAbout, stderr)
	rounds := fs.Int("rounds", 5, "rounds of every workload on every contender (1 to 1000)")
	div := fs.Int("div", 1, "divide every count by `d`, like sdbench's second argument (1 to 1000000)")
	match := fs.String("run", "", "run only the workloads whose name matches `regexp`; \"memory\" selects the memory figures")
	cpus := fs.Int("cpus", 0, "pin the run, its peers and children to the first `n` CPUs it may use; 0: no pinning")
	procs := fs.String("gomaxprocs", "", "run everything once with each GOMAXPROCS of the comma-separated `list` (e.g. 1,2); empty: the runtime's")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table (an array of reports with several -gomaxprocs)")
	asMarkdown := fs.Bool("markdown", false, "print the report as Markdown, as the README's speed tables")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *rounds < 1 || *rounds > 1000 {
		sayf(stderr, "sdevent bench: -rounds %d: want 1 to 1000\n", *rounds)
		return exitUsage
	}
	if *div < 1 || *div > 1000000 {
		sayf(stderr, "sdevent bench: -div %d: want 1 to 1000000\n", *div)
		return exitUsage
	}
	gomaxprocs, err := parseGOMAXPROCS(*procs)
	if err != nil {
		sayf(stderr, "sdevent bench: -gomaxprocs %q: %v\n", *procs, err)
		return exitUsage
	}
	cfg := bench.Config{Rounds: *rounds, Div: *div, Contenders: bench.Contenders(), ChildrenCounts: []int{100, 4000}}
	format := formatTable
	switch {
	case *asJSON && *asMarkdown:
		sayf(stderr, "sdevent bench: -json and -markdown: choose one\n")
		return exitUsage
	case *asJSON:
		format = formatJSON
	case *asMarkdown:
		format = formatMarkdown
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			sayf(stderr, "sdevent bench: -run: %v\n", err)
			return exitUsage
		}
		cfg.Match = re
	}
	if *cpus != 0 {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			sayf(stderr, "sdevent bench: %v\n", os.NewSyscallError("sched_getaffinity", err))
			return exitFailure
		}
		if *cpus < 0 || *cpus > set.Count() {
			sayf(stderr, "sdevent bench: -cpus %d: want 0 to %d, the CPUs this process may run on\n", *cpus, set.Count())
			return exitUsage
		}
		if os.Getenv(pinnedEnv) != strconv.Itoa(*cpus) {
			return benchPinned(args, *cpus, &set, stdout, stderr)
		}
		if set.Count() != *cpus {
			sayf(stderr, "sdevent bench: started pinned to %d CPUs, may run on %d\n", *cpus, set.Count())
			return exitFailure
		}
		cfg.Pinned = *cpus
	}

	var reps []*bench.Report
	for _, n := range gomaxprocs {
		if n > 0 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
		}
		rep, err := bench.Run(cfg)
		if err != nil {
			sayf(stderr, "sdevent bench: %v\n", err)
			if errors.Is(err, bench.ErrNoMatch) {
				return exitUsage
			}
			return exitFailure
		}
		reps = append(reps, rep)
	}
	if err := writeReports(stdout, reps, format); err != nil {
		sayf(stderr, "sdevent bench: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// parseGOMAXPROCS parses -gomaxprocs: numbers from 1 to 1024, separated by
// commas. Empty is one run at the runtime's GOMAXPROCS, written as 0.
func parseGOMAXPROCS(list string) ([]int, error) {
	if list == "" {
		return []int{0}, nil
	}
	var ns []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("%q: want numbers from 1 to 1024, separated by commas", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// benchPinned runs 'sdevent bench args' again in a process whose CPU
// affinity is the first n CPUs of set: the calling thread, locked, takes
// that affinity just for the fork, and the child inherits it from there
// (sched_setaffinity sets one thread's; a child gets its parent thread's).
// It returns the child's exit status.
func benchPinned(args []string, n int, set *unix.CPUSet, stdout, stderr io.Writer) int {
	var mask unix.CPUSet
	for cpu, k := 0, 0; k < n; cpu++ {
		if set.IsSet(cpu) {
			mask.Set(cpu)
			k++
		}
	}
	cmd, err := benchSelf(append([]string{"bench"}, args...))
	if err != nil {
		sayf(stderr, "sdevent bench: %v\n", err)
		return exitFailure
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, pinnedEnv+"="+strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runtime.LockOSThread()
	if err := unix.SchedSetaffinity(0, &mask); err != nil {
		runtime.UnlockOSThread()
		sayf(stderr, "sdevent bench: %v\n", os.NewSyscallError("sched_setaffinity", err))
		return exitFailure
	}
	err = cmd.Start()
	if unix.SchedSetaffinity(0, set) == nil {
		// Otherwise the thread stays locked, and ends with this goroutine.
		runtime.UnlockOSThread()
	}
	if err == nil {
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		sayf(stderr, "sdevent bench: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// The formats of writeReports.
const (
	formatTable = iota
	formatJSON
	formatMarkdown
)

// writeReports prints the reports as tables or as Markdown, a blank line
// apart, or as JSON: one report as an object, several as an array.
func writeReports(w io.Writer, reps []*bench.Report, format int) error {
	if format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(reps) == 1 {
			return enc.Encode(reps[0])
		}
		return enc.Encode(reps)
	}
	for i, rep := range reps {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		write := rep.WriteTable
		if format == formatMarkdown {
			write = rep.WriteMarkdown
		}
		if err := write(w); err != nil {
			return err
		}
	}
	return nil
}
