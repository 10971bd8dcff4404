//go:build linux

package testutil

import (
	"runtime"
	"strconv"
	"strings"
)

// Goroutine is one entry of a runtime.Stack(buf, true) dump.
type Goroutine struct {
	ID    uint64
	State string // what the header says in brackets: "running", "chan receive", ...
	Top   string // the function of the innermost frame
	Stack string // the whole entry, header included
}

// Goroutines returns the goroutines that exist now, as runtime.Stack sees
// them (system goroutines of the runtime are not listed).
func Goroutines() []Goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return ParseGoroutines(string(buf[:n]))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// ParseGoroutines splits a runtime.Stack(buf, true) dump into its entries.
// Entries it cannot read are skipped.
func ParseGoroutines(dump string) []Goroutine {
	var gs []Goroutine
	for _, entry := range strings.Split(strings.TrimSpace(dump), "\n\n") {
		entry = strings.TrimSpace(entry)
		header, rest, _ := strings.Cut(entry, "\n")
		// "goroutine 17 [chan receive, 2 minutes]:"
		idText, ok := strings.CutPrefix(header, "goroutine ")
		if !ok {
			continue
		}
		idText, state, ok := strings.Cut(idText, " [")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(idText, 10, 64)
		if err != nil {
			continue
		}
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		top, _, _ := strings.Cut(rest, "\n")
		if i := strings.LastIndexByte(top, '('); i > 0 {
			top = top[:i]
		}
		gs = append(gs, Goroutine{ID: id, State: state, Top: top, Stack: entry})
	}
	return gs
}

// benignGoroutines are functions whose goroutines live for the rest of the
// process once started and are no test's to stop.
var benignGoroutines = []string{
	"os/signal.signal_recv", // started by the first signal.Notify
	"os/signal.loop",
	"runtime.ensureSigM",
	"testing.(*M).startAlarm",
	"testing.runFuzzing",
}

// LeakedGoroutines returns the goroutines of after that do not appear in
// before (by id) and are not known to live forever, in the order of after.
// ignore, which may be nil, leaves out more.
func LeakedGoroutines(before, after []Goroutine, ignore func(Goroutine) bool) []Goroutine {
	seen := make(map[uint64]bool, len(before))
	for _, g := range before {
		seen[g.ID] = true
	}
	var leaked []Goroutine
next:
	for _, g := range after {
		if seen[g.ID] {
			continue
		}
		for _, fn := range benignGoroutines {
			if strings.Contains(g.Stack, fn) {
				continue next
			}
		}
		if ignore != nil && ignore(g) {
			continue
		}
		leaked = append(leaked, g)
	}
	return leaked
}
