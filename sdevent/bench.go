//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"

	"github.com/go-sdevent/sdevent/internal/bench"
)

const benchAbout = `Runs the reference workloads of sdbench.c (defer, io_idle0, io_idle10000,
timers, timer_rearm, signal, children) with its counts, divided by -div, on
three contenders in this one process: go-sdevent through its public API,
libsystemd's sd-event through cgo (only in a build with -tags libsystemd),
and the idiomatic Go way (goroutines and channels, the netpoller, runtime
timers, os/signal, exec.Cmd). The contenders take turns, a different one
first in every round; each cell is the median ns/op over the rounds, and
Go/C and idiom/C are the ratios of the medians.

After the table: the bytes per idle IO source and per idle timer (10,000
of each; Go: live heap after GC, C: malloc'd bytes, mmapped blocks too),
the OS threads of the process while the children were watched, and
go-sdevent's cost per child exit with four times as many children watched.

The times are wall-clock times on a machine that may be busy: compare
contenders within one run, not across runs.`

// benchCommand is 'sdevent bench'.
func benchCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "[-rounds n] [-div d] [-run regexp] [-json]", benchAbout, stderr)
	rounds := fs.Int("rounds", 5, "rounds of every workload on every contender (1 to 1000)")
	div := fs.Int("div", 1, "divide every count by `d`, like sdbench's second argument (1 to 1000000)")
	match := fs.String("run", "", "run only the workloads whose name matches `regexp`; \"memory\" selects the memory figures")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
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
	cfg := bench.Config{Rounds: *rounds, Div: *div, Contenders: bench.Contenders(), ScaleChildren: 4}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			sayf(stderr, "sdevent bench: -run: %v\n", err)
			return exitUsage
		}
		cfg.Match = re
	}
	rep, err := bench.Run(cfg)
	if err != nil {
		sayf(stderr, "sdevent bench: %v\n", err)
		if errors.Is(err, bench.ErrNoMatch) {
			return exitUsage
		}
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		sayf(stderr, "sdevent bench: %v\n", err)
		return exitFailure
	}
	return exitOK
}
