//go:build linux && libsystemd && cgo

package difftest

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/source"
)

// Bounds of a fuzzed scenario, so that every input runs in milliseconds:
// run(0) only, never a sleep or a blocking wait.
const (
	fuzzMaxSrcs  = 6
	fuzzMaxSteps = 24
	fuzzMaxRuns  = 8
)

// Kinds of the sources a fuzzed scenario adds. Time sources are left out:
// when their coalesced wake-up is due at Prepare they hit the documented
// "prepare-due-timer" difference.
const (
	fuzzDefer = iota
	fuzzPost
	fuzzExit
	fuzzIO
	fuzzKinds
)

var fuzzKindNames = [fuzzKinds]string{"d", "p", "x", "io"}

// fuzzBytes hands out the bytes of a fuzz input; past the end it reports
// exhaustion.
type fuzzBytes struct {
	b []byte
}

func (f *fuzzBytes) next() (int64, bool) {
	if len(f.b) == 0 {
		return 0, false
	}
	v := f.b[0]
	f.b = f.b[1:]
	return int64(v), true
}

// fuzzEnablements are the values set_enabled is given.
var fuzzEnablements = []source.Enabled{source.Off, source.On, source.OneShot}

// fuzzScenario decodes a fuzz input into a valid scenario. The first byte
// gives the number of sources, the next one byte each their kind; then
// each step takes an opcode byte and its argument bytes. It leaves out the
// calls whose results differ by documented design: set_floating and
// set_exit_on_failure ("changed-not-reported"), set_exit_on_idle
// ("no-exit-on-idle"), and time sources ("prepare-due-timer"). Each slot is
// added at most once (a second add would drop the first source's
// reference). It returns false for an input too short to make a scenario.
func fuzzScenario(data []byte) (Scenario, bool) {
	in := &fuzzBytes{b: data}
	v, ok := in.next()
	if !ok {
		return Scenario{}, false
	}
	n := 1 + v%fuzzMaxSrcs
	kinds := make([]int64, n)
	sc := Scenario{Name: "fuzz"}
	hasIO := false
	for i := range kinds {
		k, ok := in.next()
		if !ok {
			return Scenario{}, false
		}
		kinds[i] = k % fuzzKinds
		if kinds[i] == fuzzPost && slices.Contains(kinds[:i], fuzzPost) {
			// One post source at most: sd-event makes all post sources
			// pending at once, walking a hash set, so among several of one
			// priority C's order is the set's and not a rule to compare.
			kinds[i] = fuzzDefer
		}
		hasIO = hasIO || kinds[i] == fuzzIO
		sc.Srcs = append(sc.Srcs, fuzzKindNames[kinds[i]]+strconv.Itoa(i))
	}
	if hasIO {
		sc.Steps = append(sc.Steps, eventfd(0))
	}
	added := make([]bool, n)
	add := func(s int64) Step {
		switch kinds[s] {
		case fuzzPost:
			return addPost(s)
		case fuzzExit:
			return addExit(s)
		case fuzzIO:
			return addIO(s, 0, 1) // EPOLLIN
		}
		return addDefer(s)
	}
	runs := 0
	arg := func(m int64) int64 {
		v, _ := in.next()
		return v % m
	}
	for len(sc.Steps) < fuzzMaxSteps {
		op, ok := in.next()
		if !ok {
			break
		}
		s := arg(n)
		switch op % 12 {
		case 0:
			if added[s] {
				continue
			}
			added[s] = true
			sc.Steps = append(sc.Steps, add(s))
		case 1:
			sc.Steps = append(sc.Steps, enable(s, fuzzEnablements[arg(3)]))
		case 2:
			sc.Steps = append(sc.Steps, setPriority(s, arg(4)-1))
		case 3:
			sc.Steps = append(sc.Steps, unref(s))
		case 4:
			// An interval no run(0) outlives: the rate limit never ends
			// within the scenario, so no expiry timer fires.
			sc.Steps = append(sc.Steps, setRatelimit(s, 10_000*ms, 1+arg(3)))
		case 5:
			sc.Steps = append(sc.Steps, exit(arg(4)))
		case 6, 7, 8:
			if runs < fuzzMaxRuns {
				runs++
				sc.Steps = append(sc.Steps, run(0))
			}
		case 9:
			if hasIO {
				sc.Steps = append(sc.Steps, write(0, 1))
			}
		case 10, 11:
			call := arg(3) // 0: every call
			var st Step
			switch arg(4) {
			case 0:
				st = enable(arg(n), fuzzEnablements[arg(3)])
			case 1:
				t := arg(n)
				if call == 0 || added[t] || kinds[t] != fuzzPost {
					continue
				}
				added[t] = true
				st = addPost(t)
			case 2:
				st = exit(arg(4))
			case 3:
				if !hasIO {
					continue
				}
				st = read(0)
			}
			sc.Steps = append(sc.Steps, handler(s, call, st)...)
		}
	}
	if runs == 0 {
		sc.Steps = append(sc.Steps, run(0))
	}
	if sc.Validate() != nil {
		return Scenario{}, false
	}
	return sc, true
}

// fuzzSeeds are scripts worth starting from, in fuzzScenario's encoding.
// They keep clear of the differences libsystemd 252 has (defer sources
// taking turns, a post source added in a handler, an IO source switched
// OFF->ONESHOT->ON), since plain go test replays them against 252 too.
var fuzzSeeds = [][]byte{
	// Two defer sources of different priorities, one switched ONESHOT,
	// three iterations.
	{1, 0, 0, 0, 0, 0, 1, 2, 1, 1, 1, 1, 2, 6, 0, 6, 0, 6, 0},
	// A defer source that makes a post source run, then exit with
	// code 2 and an exit source.
	{2, 0, 1, 2, 0, 0, 0, 1, 0, 2, 6, 0, 5, 0, 2, 6, 0, 6, 0},
	// An eventfd IO source made readable, read in its handler on its
	// second call, then ONESHOT.
	{1, 3, 3, 0, 0, 0, 9, 0, 6, 0, 10, 1, 2, 3, 6, 0, 1, 1, 2, 6, 0, 9, 0, 6, 0, 6, 0},
	// A rate-limited defer source that disables another in its handler;
	// unref from the top.
	{1, 0, 0, 0, 0, 0, 1, 4, 0, 0, 2, 1, 1, 10, 0, 0, 0, 1, 0, 6, 0, 6, 0, 3, 1, 6, 0},
	// exit from a handler, with an exit source of its own; then runs on
	// a finished loop.
	{1, 0, 2, 0, 0, 0, 1, 10, 0, 1, 2, 3, 6, 0, 6, 0, 6, 0, 1, 0, 0},
	// A post source enabled ONESHOT, rate limits on post and exit sources
	// (-EDOM), a priority change while pending.
	{2, 0, 1, 2, 0, 0, 0, 1, 0, 2, 1, 1, 2, 4, 1, 0, 4, 2, 0, 6, 0, 2, 1, 0, 6, 0, 6, 0},
}

// FuzzDifferential runs fuzzed scenarios on go-sdevent and on libsystemd's
// sd-event and requires the two traces to be equal. The generator keeps out
// the calls whose results differ by documented design; against libsystemd
// 262 nothing else may differ. (252 has its own differences, see
// exceptions; the seeds avoid them.) Fuzzing it against 262 still finds,
// within seconds, sources of one priority that became pending in the same
// iteration and were never dispatched: C leaves their order to its heap,
// go-sdevent takes the first to become pending. The target does not
// normalise that yet, so CI replays the seeds (go test -tags libsystemd,
// against 252 and 262) and does not fuzz.
func FuzzDifferential(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, ok := fuzzScenario(data)
		if !ok {
			return
		}
		crecs, err := RunC(&sc)
		if err != nil {
			t.Fatal(err)
		}
		grecs, err := RunGo(&sc)
		if err != nil {
			t.Fatal(err)
		}
		c, g := sc.Format(crecs), sc.Format(grecs)
		if *dump {
			t.Logf("trace of %v:\n%s", data, strings.Join(c, "\n"))
		}
		if d := diffLines(g, c); d != "" {
			t.Fatalf("go-sdevent (got) against libsystemd (want):\n%s\nlibsystemd trace:\n%s\ngo-sdevent trace:\n%s",
				d, strings.Join(c, "\n"), strings.Join(g, "\n"))
		}
	})
}
