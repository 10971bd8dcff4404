//go:build linux

package difftest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// Ties of sd-event's dispatch order.
//
// sd-event keeps its pending sources in a heap (prioq) ordered by
// pending_prioq_compare: enabled first, not rate-limited first, lower
// priority value first, then the iteration in which the source became
// pending (pending_iteration), oldest first. From 262 on source_dispatch
// also stamps a defer source, which stays pending, with the iteration it is
// dispatched in (a probe against 262.1: a ONESHOT defer source dispatched
// in iteration 2 and switched ON goes behind an IO source pending since
// iteration 1; 252 keeps the iteration it first became pending in). Nothing
// orders sources with equal keys: which of them the heap hands out depends
// on how it was built, and is no rule a port can follow. go-sdevent takes
// the one that became pending first (doc.go, "The loop").
//
// So where several sources were pending with the same, best key, C may
// dispatch any of them, and the two runs are each valid and go on
// differently. dispatches reads those keys off a trace recorded with
// Scenario.Observe, from what both interpreters record on both sides: a
// source's priority (set_priority steps), when it became pending (the
// iteration of the first RecState that shows it pending, or of the
// dispatch that stamped it), which sources were pending, enabled and not
// rate-limited before the dispatch. explainDivergence accepts a first
// difference between the traces only when it is a dispatch at which the two
// picked different sources of one tie; everything before it matched
// exactly, and what follows is not compared.

// dispatchEvent is one pick of the dispatch phase, as a trace shows it.
type dispatchEvent struct {
	start, end int   // the lines of the main step (Run) it happened in
	pick       int64 // the source slot dispatched
	best       int64 // bit mask: the candidates with the best key, the pick among them or not
	exiting    bool  // an exit source, ordered by priority alone (exit_prioq_compare)
	ratelimit  bool  // the pick hit its rate limit: no handler ran, it went offline
}

func (d dispatchEvent) String() string {
	how := "dispatched"
	switch {
	case d.exiting:
		how = "dispatched while exiting"
	case d.ratelimit:
		how = "hit its rate limit"
	}
	return fmt.Sprintf("src%d %s (lines %d-%d), best key shared by %s", d.pick, how, d.start, d.end, maskString(d.best))
}

func maskString(m int64) string {
	var s []string
	for i := range int64(MaxSrcs) {
		if m&(1<<i) != 0 {
			s = append(s, fmt.Sprintf("src%d", i))
		}
	}
	return "{" + strings.Join(s, " ") + "}"
}

// Loop states as Format writes them (stateNames).
const (
	stateRunning = 3
	stateExiting = 4
)

// slotKey is what the order knows of a source slot.
type slotKey struct {
	kind     Op    // the add step that made the source, 0 for none
	prio     int64 // its priority
	pendIter int64 // the iteration it became pending in (or, restamp, was last dispatched in as a defer source)
}

// dispatchScan walks the records of one trace.
type dispatchScan struct {
	sc      *Scenario
	restamp bool // a dispatched defer source is stamped with the iteration (262, not 252)
	slots   [MaxSrcs]slotKey
	cur     Record // the last RecState
	events  []dispatchEvent
}

// dispatches returns the picks of the dispatch phase that recs (recorded
// with Observe) show, with the key ties among their candidates. restamp
// says whether the library stamps a dispatched defer source with the
// iteration anew (262) or not (252).
func (sc *Scenario) dispatches(recs []Record, restamp bool) []dispatchEvent {
	d := &dispatchScan{sc: sc, restamp: restamp}
	var (
		lines     int  // lines of Format written so far
		runStart  int  // the first line of the current main step
		mainDone  bool // a main step just ended: a RecState may follow it
		handled   bool // a handler ran in the current main step
		call      = -1 // a handler call waiting for its entry RecState: its record index
		rlCheck   bool // a Run ended with no handler: look for a source that hit its rate limit
		stepFirst = 0  // index in events of the first event of the current main step
	)
	endStep := func() {
		for k := stepFirst; k < len(d.events); k++ {
			d.events[k].end = lines - 1
		}
		stepFirst = len(d.events)
		runStart, mainDone, handled = lines, false, false
	}
	for k, r := range recs {
		if mainDone && r[0] != RecState {
			endStep()
		}
		switch r[0] {
		case RecStep:
			st := sc.Steps[r[1]]
			d.step(st, r[2])
			lines++
			if st.In == InMain {
				mainDone = true
				rlCheck = (st.Op == OpRun || st.Op == OpDispatch) && r[2] == 1 && !handled
			}
		case RecCall:
			lines++
			if r[2] == InHandler {
				call, handled = k, true
			}
		case RecExtra:
			if k == 0 || recs[k-1][0] != RecCall {
				lines++
			}
		case RecState:
			lines++
			switch {
			case call >= 0:
				d.handlerDispatch(recs[call], r, runStart)
				call = -1
			case rlCheck:
				d.ratelimitDispatch(r, runStart)
			}
			rlCheck = false
			d.observe(r)
			if mainDone {
				endStep()
			}
		default:
			lines++
		}
	}
	endStep()
	return d.events
}

// step applies what a step did to the keys: adds, priorities, unrefs.
func (d *dispatchScan) step(st Step, ret int64) {
	s := &d.slots[st.Src]
	switch st.Op {
	case OpAddDefer, OpAddPost, OpAddExit, OpAddExitNil, OpAddTime, OpAddIO, OpAddIORawFd:
		if ret == 0 {
			*s = slotKey{kind: st.Op}
		}
	case OpSetPriority:
		if ret == 0 {
			s.prio = st.A
		}
	case OpUnref, OpDisableUnref:
		if ret != NoSrc {
			*s = slotKey{}
		}
	}
}

// observe takes in a RecState: a source seen pending that was not is
// stamped with the iteration.
func (d *dispatchScan) observe(r Record) {
	for i := range d.slots {
		bit := int64(1) << i
		if r[1]&bit != 0 && d.cur[1]&bit == 0 {
			d.slots[i].pendIter = r[4]
		}
	}
	d.cur = r
}

// handlerDispatch records the pick of a handler call; now is the RecState
// its handler saw on entry, d.cur the one before the dispatch.
func (d *dispatchScan) handlerDispatch(call, now Record, start int) {
	pick := call[1]
	bit := int64(1) << pick
	ev := dispatchEvent{start: start, end: -1, pick: pick}
	prev := d.cur
	switch call[4] {
	case stateExiting:
		// exit_prioq_compare: enabled, then priority; the exit sources
		// enabled before the dispatch (the pick was switched off if ONESHOT).
		ev.exiting = true
		cand := bit
		for i, s := range d.slots {
			if (s.kind == OpAddExit || s.kind == OpAddExitNil) && prev[2]&(1<<i) != 0 {
				cand |= 1 << i
			}
		}
		ev.best = d.best(cand, prev, now, true)
	case stateRunning:
		cand := prev[1] | now[1] | bit
		if d.slots[pick].kind != OpAddPost {
			// Post sources that became pending at this dispatch were
			// marked after the pick.
			for i, s := range d.slots {
				if s.kind == OpAddPost && now[1]&^prev[1]&(1<<i) != 0 {
					cand &^= 1 << i
				}
			}
		}
		online := (now[2] &^ now[3]) | bit
		ev.best = d.best(cand&online, prev, now, false)
	default:
		return // not a dispatch of the loop
	}
	d.events = append(d.events, ev)
	if d.restamp && call[4] == stateRunning && d.slots[pick].kind == OpAddDefer {
		d.slots[pick].pendIter = now[4] // it stays pending, so observe leaves this
	}
}

// ratelimitDispatch records a dispatch that hit the pick's rate limit:
// source_dispatch returns before the handler, before post sources are
// marked and before any stamp. now is the RecState after the Run.
func (d *dispatchScan) ratelimitDispatch(now Record, start int) {
	hit := now[3] &^ d.cur[3]
	if hit == 0 || hit&(hit-1) != 0 {
		return
	}
	var pick int64
	for hit>>pick != 1 {
		pick++
	}
	prev := d.cur
	cand := prev[1] | now[1] | hit
	online := (now[2] &^ now[3]) | hit
	d.events = append(d.events, dispatchEvent{start: start, end: -1, pick: pick, ratelimit: true,
		best: d.best(cand&online, prev, now, false)})
}

// best returns the sources of cand with the best key: the lowest priority
// value and, unless exiting, the oldest pending iteration, a source not
// pending before the dispatch having become pending in now's iteration.
func (d *dispatchScan) best(cand int64, prev, now Record, exiting bool) int64 {
	var best int64
	var bp, bi int64
	for i, s := range d.slots {
		bit := int64(1) << i
		if cand&bit == 0 {
			continue
		}
		it := now[4]
		if prev[1]&bit != 0 {
			it = s.pendIter
		}
		if exiting {
			it = 0
		}
		switch {
		case best == 0 || s.prio < bp || s.prio == bp && it < bi:
			best, bp, bi = bit, s.prio, it
		case s.prio == bp && it == bi:
			best |= bit
		}
	}
	return best
}

// eventAt returns the dispatch of events made in the main step that holds
// line i.
func eventAt(events []dispatchEvent, i int) (dispatchEvent, bool) {
	for _, e := range events {
		if e.start <= i && i <= e.end {
			return e, true
		}
	}
	return dispatchEvent{}, false
}

// firstDiff returns the index of the first line where got and want differ,
// or -1.
func firstDiff(got, want []string) int {
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || got[i] != want[i] {
			return i
		}
	}
	return -1
}

// explainDivergence says whether the first difference, at line i, between
// go-sdevent's trace (grecs) and libsystemd's (crecs, of the given version)
// is one that sd-event's order allows, and names it: "tie" when the two
// picked different sources that shared the best key, or "defer-round-robin"
// against a libsystemd that does not stamp a dispatched defer source (252)
// when each picked the best by its own library's key. Otherwise it returns
// false and what it found.
func (sc *Scenario) explainDivergence(i int, version int, grecs, crecs []Record) (string, bool) {
	gev, gok := eventAt(sc.dispatches(grecs, true), i)
	restamp := !exceptions["defer-round-robin"].holdsFor("c", version)
	cev, cok := eventAt(sc.dispatches(crecs, restamp), i)
	switch {
	case !gok || !cok:
		return fmt.Sprintf("line %d is no dispatch on both sides (go-sdevent: %v, libsystemd: %v)", i, gok, cok), false
	case gev.start != cev.start || gev.pick == cev.pick || gev.exiting != cev.exiting:
		return fmt.Sprintf("not two picks of one dispatch: go-sdevent %v; libsystemd %v", gev, cev), false
	}
	gb, cb := int64(1)<<gev.pick, int64(1)<<cev.pick
	switch {
	case gev.best&gb == 0:
		return fmt.Sprintf("go-sdevent picked outside the best key: %v", gev), false
	case cev.best&cb == 0:
		return fmt.Sprintf("libsystemd picked outside the best key as this test reads it: %v", cev), false
	case gev.best == cev.best:
		return "tie", true
	case restamp:
		return fmt.Sprintf("the best keys differ: go-sdevent %v; libsystemd %v", gev, cev), false
	}
	return "defer-round-robin", true
}

// tieScenario: three defer sources pending from iteration 0, a and b ON, c
// at priority 1; a and b tie for the first dispatch.
func tieScenario() Scenario {
	const a, b, c = 0, 1, 2
	return Scenario{Name: "ties", Srcs: []string{"a", "b", "c"}, Observe: true,
		Steps: script(addDefer(a), enable(a, source.On), addDefer(b), enable(b, source.On),
			addDefer(c), setPriority(c, 1), run(0), run(0), run(0))}
}

// runTies runs tieScenario on go-sdevent, under the leak checks.
func runTies(t *testing.T) (Scenario, []Record) {
	t.Helper()
	testutil.Check(t)
	sc := tieScenario()
	recs, err := RunGo(&sc)
	if err != nil {
		t.Fatal(err)
	}
	return sc, recs
}

// TestDispatchesKeys: the keys read off an observed trace: a and b tie for
// iteration 1; then b, pending since 0, goes before a, stamped at its
// dispatch in 1; then a, stamped in 1, before b, stamped in 2, and c, of a
// higher priority value.
func TestDispatchesKeys(t *testing.T) {
	sc, recs := runTies(t)
	var got []string
	for _, e := range sc.dispatches(recs, true) {
		got = append(got, fmt.Sprintf("%d %s", e.pick, maskString(e.best)))
	}
	want := []string{"0 {src0 src1}", "1 {src1}", "0 {src0}"}
	if !slices.Equal(got, want) {
		t.Errorf("dispatches %q, want %q\n%s", got, want, strings.Join(sc.Format(recs), "\n"))
	}
}

// swapSlots returns recs with source slots i and j swapped from record k
// on: the trace of the run in which a dispatch from k on picked the other.
func swapSlots(recs []Record, k int, i, j int64) []Record {
	out := slices.Clone(recs)
	for n := k; n < len(out); n++ {
		r := &out[n]
		switch r[0] {
		case RecCall, RecExtra, RecDestroy:
			switch r[1] {
			case i:
				r[1] = j
			case j:
				r[1] = i
			}
		case RecState:
			for f := 1; f <= 3; f++ {
				bi, bj := r[f]>>i&1, r[f]>>j&1
				r[f] = r[f]&^(1<<i|1<<j) | bi<<j | bj<<i
			}
		}
	}
	return out
}

// TestExplainDivergence: a first difference where the other side picked
// another source of the tie is accepted, one where it picked a source of a
// worse key is not, nor a difference that is no dispatch.
func TestExplainDivergence(t *testing.T) {
	sc, grecs := runTies(t)
	call := slices.IndexFunc(grecs, func(r Record) bool { return r[0] == RecCall })
	for _, tc := range []struct {
		name    string
		other   int64
		at      int // the record the other trace parts at
		explain string
	}{
		{"tie", 1, call, "tie"},
		{"worse priority", 2, call, ""},
		{"no dispatch", 1, 0, ""},
	} {
		crecs := swapSlots(grecs, tc.at, 0, tc.other)
		g, c := sc.Format(grecs), sc.Format(crecs)
		i := firstDiff(g, c)
		if i < 0 {
			t.Fatalf("%s: the traces do not differ", tc.name)
		}
		why, ok := sc.explainDivergence(i, 262, grecs, crecs)
		if ok != (tc.explain != "") || ok && why != tc.explain {
			t.Errorf("%s: first difference at line %d explained %v (%s), want %q", tc.name, i, ok, why, tc.explain)
		}
	}
}
