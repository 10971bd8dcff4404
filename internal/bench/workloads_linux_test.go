package bench

import (
	"os"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestMain fails the run when a workload left a descriptor open, a
// goroutine running or a child unreaped. Started as a pingpong peer, the
// test binary is that peer (Peer) instead.
func TestMain(m *testing.M) {
	Peer()
	testutil.Main(m)
}

func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// check puts the test under the per-test leak checks.
func check(t *testing.T) { testutil.Check(t) }

// built returns the contenders this build has: go-sdevent, idiomatic and,
// with -tags libsystemd, libsystemd.
func built() []Contender {
	var cs []Contender
	for _, c := range Contenders() {
		if _, ok := c.(Missing); !ok {
			cs = append(cs, c)
		}
	}
	return cs
}

// tiny returns the small count a test runs w with.
func tiny(w Workload) int {
	switch w.Name {
	case "children":
		return 5
	case "proxy_bulk":
		return 4
	}
	return 50
}

// runTiny runs w on c with a tiny count; under the race detector
// io_idle10000 gets 1000 idle sources only.
func runTiny(c Contender, w Workload) (Sample, error) {
	n := tiny(w)
	if w.Name == "io_idle10000" && raceEnabled {
		return one(c.IO(n, 1000))
	}
	return w.Run(c, n)
}

// TestWorkloads: every workload runs on every contender built at a tiny
// count, reports a positive time per operation for each of its metrics,
// and leaves no descriptor open and no child behind.
func TestWorkloads(t *testing.T) {
	check(t)
	for _, c := range built() {
		for _, w := range Workloads {
			t.Run(c.Name()+"/"+w.Name, func(t *testing.T) {
				fds, err := testutil.OpenFds()
				if err != nil {
					t.Fatal(err)
				}
				s, err := runTiny(c, w)
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Elapsed)+len(s.Counts) != len(w.Metrics) {
					t.Fatalf("%d times and %d counts for metrics %v", len(s.Elapsed), len(s.Counts), w.Metrics)
				}
				for i, d := range s.Elapsed {
					if ns := nsPerOp(d, tiny(w)); !(ns > 0) {
						t.Errorf("%s: %v ns/op, want > 0", w.Metrics[i], ns)
					}
				}
				for i, c := range s.Counts {
					if !(c > 0) {
						t.Errorf("%s: %v, want > 0", w.Metrics[len(s.Elapsed)+i], c)
					}
				}
				if w.Name == "timers" && s.Elapsed[0] > s.Elapsed[1] {
					t.Errorf("adding took %v, longer than adding and dispatching (%v)", s.Elapsed[0], s.Elapsed[1])
				}
				after, err := testutil.OpenFds()
				if err != nil {
					t.Fatal(err)
				}
				if leaked := fds.Leaked(after, nil); len(leaked) > 0 {
					t.Errorf("left open: %v", leaked)
				}
				if kids, err := testutil.Children(os.Getpid()); err != nil || len(kids) > 0 {
					t.Errorf("children left behind: %v %v", kids, err)
				}
			})
		}
	}
}

// TestChildrenThreads: go-sdevent and the idiomatic contender report the
// process's threads while the children are watched; the idiomatic one holds
// a thread per child blocked in cmd.Wait, so it has at least that many.
func TestChildrenThreads(t *testing.T) {
	check(t)
	const n = 20
	for _, c := range []Contender{GoSdevent{}, Idiomatic{}} {
		r, err := c.Children(n)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		if r.Threads <= 0 || r.ThreadsBefore <= 0 {
			t.Errorf("%s: threads %d, before %d: want both > 0", c.Name(), r.Threads, r.ThreadsBefore)
		}
		if _, idiomatic := c.(Idiomatic); idiomatic && r.Threads < n {
			t.Errorf("%s: %d threads with %d goroutines blocked in cmd.Wait, want at least %d", c.Name(), r.Threads, n, n)
		}
	}
}

// TestIdleMemory: the contenders that measure memory report a positive
// cost per idle source of each kind.
func TestIdleMemory(t *testing.T) {
	check(t)
	for _, c := range built() {
		mm, ok := c.(MemoryMeter)
		if !ok {
			continue
		}
		io, timer, err := mm.IdleMemory(500)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		if !(io > 0) || !(timer > 0) {
			t.Errorf("%s: %v bytes per IO source, %v per timer: want > 0", c.Name(), io, timer)
		}
	}
}

// TestRunReal runs the runner end to end with the contenders of this build
// at tiny counts: one round of defer, children with ChildrenCounts (on
// go-sdevent and libsystemd, not idiomatic), pingpong, the proxy
// workloads and memory.
func TestRunReal(t *testing.T) {
	check(t)
	rep, err := Run(Config{Rounds: 1, Div: 1000, Contenders: Contenders(), ChildrenCounts: []int{1000, 2000}, MemorySources: 100,
		Match: regexpMust(t, "^(defer|children|pingpong|proxy_conn|proxy_bulk|memory)$")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 11 || len(rep.Scaling) != 2 || rep.Scaling[0].Children != 1 || rep.Scaling[1].Children != 2 ||
		rep.ScalingThreads == nil || rep.ScalingThreads.Children != 2 || len(rep.Threads) != 2 || len(rep.Memory) == 0 {
		t.Errorf("report %+v", rep)
	}
	for _, row := range rep.Rows {
		for _, c := range built() {
			if !(row.Median[c.Name()] > 0) {
				t.Errorf("%s, %s: median %v", row.Metric, c.Name(), row.Median[c.Name()])
			}
		}
	}
	for _, sc := range rep.Scaling {
		for _, c := range built() {
			_, idiomatic := c.(Idiomatic)
			if m, ok := sc.Median[c.Name()]; ok == idiomatic || (ok && !(m > 0)) {
				t.Errorf("%d children, %s: median %v (%v)", sc.Children, c.Name(), m, ok)
			}
		}
	}
}
