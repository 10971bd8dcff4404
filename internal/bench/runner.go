package bench

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contender runs the workloads one way. Every method runs one workload with
// n operations and returns the time they took, measured by the contender
// around the work alone: setting up and tearing down are left out.
type Contender interface {
	Name() string
	Defer(n int) (time.Duration, error)
	IO(n, idle int) (time.Duration, error)
	// Timers returns the time it took to add the n timers and the time
	// from the first add to the last dispatch.
	Timers(n int) (add, total time.Duration, err error)
	TimerRearm(n int) (time.Duration, error)
	Signal(n int) (time.Duration, error)
	Children(n int) (ChildrenRun, error)
	// PingPong plays n round trips with a peer process over a socketpair
	// (see PingPong in pingpong_linux.go).
	PingPong(n int) (PingPongRun, error)
	// ProxyConns proxies n short connections, one at a time, and
	// ProxyBulk one connection carrying mib MiB, through the contender's
	// proxy in a peer process (see runProxy in proxy_linux.go).
	ProxyConns(n int) (ProxyRun, error)
	ProxyBulk(mib int) (ProxyRun, error)
}

// PingPongRun is what one run of the pingpong workload measured.
type PingPongRun struct {
	Elapsed time.Duration // from the first message sent to the last reply read
	// CPU is the user and system time of both processes over the round
	// trips, Switches their voluntary and involuntary context switches.
	CPU      time.Duration
	Switches int64
}

// ProxyRun is what one run of a proxy workload measured.
type ProxyRun struct {
	Elapsed time.Duration // from the first connect to the last response read, or the backend's end of file
	// CPU is the user and system time of the proxy (the peer process), from
	// just before it was ready to its end, Switches its voluntary and
	// involuntary context switches.
	CPU      time.Duration
	Switches int64
}

// ChildrenRun is what one run of the children workload measured.
type ChildrenRun struct {
	Elapsed time.Duration // from the release of the children to the last exit handled
	// Threads is the number of OS threads of the process while the
	// children were watched, ThreadsBefore that number before they were
	// started; 0 when not measured.
	Threads, ThreadsBefore int
}

// Versioned is a contender that can tell which version of its library it
// ran (the C contender: which libsystemd the process loaded).
type Versioned interface {
	Version() string
}

// MemoryMeter is a contender that can tell what an idle source costs.
type MemoryMeter interface {
	// IdleMemory adds n idle IO sources, then n idle timers, and returns
	// the bytes each costs, as the memory in use grew.
	IdleMemory(n int) (ioBytes, timerBytes float64, err error)
}

// FloorMeter is a contender that can run io_idle0's system calls without a
// loop: the floor under the loop's figure.
type FloorMeter interface {
	// FloorEventfd makes n round trips of epoll_wait on an epoll fd that
	// watches one eventfd, a read of it and a write to it, and returns the
	// time they took.
	FloorEventfd(n int) (time.Duration, error)
}

// Missing is a contender that was not built: it runs nothing, and the table
// shows Why in its column.
type Missing struct {
	Label, Why string
}

var errMissing = errors.New("contender not built")

// ErrNoMatch is what Run returns when Config.Match selects nothing.
var ErrNoMatch = errors.New("no workload matches")

func (m Missing) Name() string                           { return m.Label }
func (Missing) Defer(int) (time.Duration, error)         { return 0, errMissing }
func (Missing) IO(int, int) (time.Duration, error)       { return 0, errMissing }
func (Missing) Timers(int) (_, _ time.Duration, _ error) { return 0, 0, errMissing }
func (Missing) TimerRearm(int) (time.Duration, error)    { return 0, errMissing }
func (Missing) Signal(int) (time.Duration, error)        { return 0, errMissing }
func (Missing) Children(int) (ChildrenRun, error)        { return ChildrenRun{}, errMissing }
func (Missing) PingPong(int) (PingPongRun, error)        { return PingPongRun{}, errMissing }
func (Missing) ProxyConns(int) (ProxyRun, error)         { return ProxyRun{}, errMissing }
func (Missing) ProxyBulk(int) (ProxyRun, error)          { return ProxyRun{}, errMissing }

// Sample is what one run of a workload measured.
type Sample struct {
	// Elapsed has a time for each of the workload's first metrics, Counts
	// a number for each of the rest (context switches): together one per
	// metric.
	Elapsed []time.Duration
	Counts  []float64
	ChildrenRun
}

// Workload is one of the reference workloads.
type Workload struct {
	Name    string
	Metrics []string // the table rows it yields: its name, or timers_add and timers_total
	// Units has the unit of each metric that is not in ns/op: those that
	// come from Sample.Counts (context switches), and times per something
	// else than an operation ("ns/MiB").
	Units map[string]string
	Count int // operations with Div 1, as in sdbench.c
	Run   func(c Contender, n int) (Sample, error)
}

// Ops returns the number of operations with counts divided by div, at least 1.
func (w Workload) Ops(div int) int { return max(1, w.Count/max(1, div)) }

// IdleIO is the number of idle IO sources of io_idle10000.
const IdleIO = 10000

func one(d time.Duration, err error) (Sample, error) { return Sample{Elapsed: []time.Duration{d}}, err }

// Workloads are the seven workloads of sdbench.c, in its order, then
// pingpong and the two proxy workloads, which sdbench.c does not have.
var Workloads = []Workload{
	{"defer", []string{"defer"}, nil, 2_000_000, func(c Contender, n int) (Sample, error) { return one(c.Defer(n)) }},
	{"io_idle0", []string{"io_idle0"}, nil, 500_000, func(c Contender, n int) (Sample, error) { return one(c.IO(n, 0)) }},
	{"io_idle10000", []string{"io_idle10000"}, nil, 500_000, func(c Contender, n int) (Sample, error) { return one(c.IO(n, IdleIO)) }},
	{"timers", []string{"timers_add", "timers_total"}, nil, 200_000, func(c Contender, n int) (Sample, error) {
		add, total, err := c.Timers(n)
		return Sample{Elapsed: []time.Duration{add, total}}, err
	}},
	{"timer_rearm", []string{"timer_rearm"}, nil, 500_000, func(c Contender, n int) (Sample, error) { return one(c.TimerRearm(n)) }},
	{"signal", []string{"signal"}, nil, 200_000, func(c Contender, n int) (Sample, error) { return one(c.Signal(n)) }},
	{"children", []string{"children"}, nil, 1000, func(c Contender, n int) (Sample, error) {
		r, err := c.Children(n)
		return Sample{Elapsed: []time.Duration{r.Elapsed}, ChildrenRun: r}, err
	}},
	{"pingpong", []string{"pingpong", "pingpong_cpu", "pingpong_csw"}, map[string]string{"pingpong_csw": "switches/op"}, 50_000,
		func(c Contender, n int) (Sample, error) {
			r, err := c.PingPong(n)
			return Sample{Elapsed: []time.Duration{r.Elapsed, r.CPU}, Counts: []float64{float64(r.Switches)}}, err
		}},
	{"proxy_conn", []string{"proxy_conn", "proxy_conn_cpu", "proxy_conn_csw"},
		map[string]string{"proxy_conn": "ns/conn", "proxy_conn_cpu": "ns/conn", "proxy_conn_csw": "switches/conn"}, 10_000,
		func(c Contender, n int) (Sample, error) { return proxySample(c.ProxyConns(n)) }},
	{"proxy_bulk", []string{"proxy_bulk", "proxy_bulk_cpu", "proxy_bulk_csw"},
		map[string]string{"proxy_bulk": "ns/MiB", "proxy_bulk_cpu": "ns/MiB", "proxy_bulk_csw": "switches/MiB"}, 1024,
		func(c Contender, n int) (Sample, error) { return proxySample(c.ProxyBulk(n)) }},
}

// proxySample is a proxy run's time, the proxy's CPU time and its switches.
func proxySample(r ProxyRun, err error) (Sample, error) {
	return Sample{Elapsed: []time.Duration{r.Elapsed, r.CPU}, Counts: []float64{float64(r.Switches)}}, err
}

// Config says what Run runs.
type Config struct {
	Rounds int            // rounds of every workload on every contender, at least 1
	Div    int            // divides every count, like sdbench's second argument; at least 1
	Match  *regexp.Regexp // selects workloads by name or metric, and "memory"; nil: all
	// Contenders are go-sdevent, libsystemd and idiomatic, in this order:
	// the ratios are the first and the third over the second.
	Contenders []Contender
	// ChildrenCounts are numbers of children (each divided by Div, at
	// least 1) that the children workload also runs with, on go-sdevent
	// and libsystemd only, alternating them, every round. These runs come
	// first, before any contender ran: the cgroup's pids limit counts
	// threads, and Go keeps the threads the idiomatic contender's
	// cmd.Wait calls made, one per child.
	ChildrenCounts []int
	// Pinned is the number of CPUs the process was pinned to (sdevent
	// bench -cpus), 0 when it was not; the report says so.
	Pinned int
	// MemorySources is the number of idle sources of each kind the
	// memory measurement adds (default 10,000).
	MemorySources int
	// Workloads replaces the package's Workloads (for tests).
	Workloads []Workload
}

// Report is what Run measured. The JSON form of a report is what the
// command prints with -json.
type Report struct {
	Rounds     int            `json:"rounds"`
	Div        int            `json:"div"`
	Go         string         `json:"go"`
	CPUs       int            `json:"cpus"`
	Affinity   string         `json:"affinity"`         // the CPUs the process may run on, as a list
	Pinned     int            `json:"pinned,omitempty"` // Config.Pinned
	GOMAXPROCS int            `json:"gomaxprocs"`
	Contenders []ContenderRow `json:"contenders"`
	Rows       []Row          `json:"rows"`
	Memory     []Memory       `json:"memory,omitempty"`
	Floor      []Floor        `json:"floor,omitempty"`
	Threads    []Threads      `json:"threads,omitempty"`
	Scaling    []Scaling      `json:"children_scaling,omitempty"`
	// ScalingThreads are go-sdevent's OS threads while the most children
	// of ChildrenCounts were watched, in its first run, and before.
	ScalingThreads *Threads `json:"children_scaling_threads,omitempty"`
}

// ContenderRow names a contender and, when it was not built, why.
type ContenderRow struct {
	Name    string `json:"name"`
	Missing string `json:"missing,omitempty"`
	Version string `json:"version,omitempty"` // what Versioned said
}

// Row is one metric: its samples by contender name, in the order of the
// rounds, their medians, and the ratios of the medians.
type Row struct {
	Metric  string               `json:"metric"`
	Unit    string               `json:"unit,omitempty"` // empty: ns/op
	Ops     int                  `json:"ops"`
	Samples map[string][]float64 `json:"ns_per_op"`
	Median  map[string]float64   `json:"median_ns_per_op"`
	GoC     *float64             `json:"go_over_c,omitempty"`
	IdiomC  *float64             `json:"idiomatic_over_c,omitempty"`
}

// Memory is the cost of an idle source of a contender.
type Memory struct {
	Contender  string  `json:"contender"`
	Sources    int     `json:"sources"`
	IOBytes    float64 `json:"io_bytes"`
	TimerBytes float64 `json:"timer_bytes"`
}

// Threads is the number of OS threads of the process while a contender
// watched Children children, in the first round, and before it started them.
type Threads struct {
	Contender string `json:"contender"`
	Children  int    `json:"children"`
	During    int    `json:"during"`
	Before    int    `json:"before"`
}

// Scaling is the children workload with one of Config.ChildrenCounts:
// the cost per child exit of go-sdevent and libsystemd, over the rounds.
type Scaling struct {
	Children int                  `json:"children"`
	Samples  map[string][]float64 `json:"ns_per_exit"`
	Median   map[string]float64   `json:"median_ns_per_exit"`
	GoC      *float64             `json:"go_over_c,omitempty"`
}

// order returns the indexes of n contenders in the order round r (from 0)
// runs them: each round starts one further, so 0 1 2, then 1 2 0, then 2 0 1.
func order(r, n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = (r + i) % n
	}
	return o
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio returns a/b, or nil when either is missing.
func ratio(a, b float64, okA, okB bool) *float64 {
	if !okA || !okB || b == 0 {
		return nil
	}
	r := a / b
	return &r
}

func nsPerOp(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

// Run runs the workloads cfg selects, cfg.Rounds times on every contender,
// alternating them, and returns what it measured. It stops at the first
// failure.
func Run(cfg Config) (*Report, error) {
	switch {
	case cfg.Rounds < 1:
		return nil, fmt.Errorf("rounds %d: want at least 1", cfg.Rounds)
	case cfg.Div < 1:
		return nil, fmt.Errorf("div %d: want at least 1", cfg.Div)
	case len(cfg.Contenders) != 3:
		return nil, fmt.Errorf("%d contenders: want go-sdevent, libsystemd and idiomatic", len(cfg.Contenders))
	}
	all := cfg.Workloads
	if all == nil {
		all = Workloads
	}
	selected := func(names ...string) bool {
		if cfg.Match == nil {
			return true
		}
		return slices.ContainsFunc(names, cfg.Match.MatchString)
	}
	var work []Workload
	for _, w := range all {
		if selected(append([]string{w.Name}, w.Metrics...)...) {
			work = append(work, w)
		}
	}
	memory := selected("memory")
	floor := selected("floor")
	if len(work) == 0 && !memory && !floor {
		return nil, fmt.Errorf("%w %q", ErrNoMatch, cfg.Match)
	}

	cs := cfg.Contenders
	rep := &Report{
		Rounds:     cfg.Rounds,
		Div:        cfg.Div,
		Go:         runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		Affinity:   affinity(),
		Pinned:     cfg.Pinned,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	missing := make([]bool, len(cs))
	for i, c := range cs {
		row := ContenderRow{Name: c.Name()}
		if m, ok := c.(Missing); ok {
			row.Missing, missing[i] = m.Why, true
		} else if v, ok := c.(Versioned); ok {
			row.Version = v.Version()
		}
		rep.Contenders = append(rep.Contenders, row)
	}
	rows := map[string]*Row{}
	for _, w := range work {
		for _, m := range w.Metrics {
			rep.Rows = append(rep.Rows, Row{Metric: m, Unit: w.Units[m], Ops: w.Ops(cfg.Div), Samples: map[string][]float64{}, Median: map[string]float64{}})
		}
	}
	for i := range rep.Rows {
		rows[rep.Rows[i].Metric] = &rep.Rows[i]
	}
	threads := make([]*Threads, len(cs))
	for _, w := range work {
		if w.Name != "children" {
			continue
		}
		if err := runScaling(cfg, w, missing, rep); err != nil {
			return nil, err
		}
	}

	for r := 0; r < cfg.Rounds; r++ {
		for _, w := range work {
			n := w.Ops(cfg.Div)
			for _, i := range order(r, len(cs)) {
				if missing[i] {
					continue
				}
				s, err := measure(w, cs[i], n)
				if err != nil {
					return nil, fmt.Errorf("round %d: %w", r+1, err)
				}
				for k, m := range w.Metrics {
					v := 0.0
					if k < len(s.Elapsed) {
						v = nsPerOp(s.Elapsed[k], n)
					} else {
						v = s.Counts[k-len(s.Elapsed)] / float64(n)
					}
					rows[m].Samples[cs[i].Name()] = append(rows[m].Samples[cs[i].Name()], v)
				}
				if s.Threads > 0 && threads[i] == nil {
					threads[i] = &Threads{Contender: cs[i].Name(), Children: n, During: s.Threads, Before: s.ThreadsBefore}
				}
			}
		}
	}

	for i := range rep.Rows {
		row := &rep.Rows[i]
		for name, xs := range row.Samples {
			row.Median[name] = median(xs)
		}
		goNs, okGo := row.Median[cs[0].Name()]
		cNs, okC := row.Median[cs[1].Name()]
		idNs, okID := row.Median[cs[2].Name()]
		row.GoC = ratio(goNs, cNs, okGo, okC)
		row.IdiomC = ratio(idNs, cNs, okID, okC)
	}
	for _, t := range threads {
		if t != nil {
			rep.Threads = append(rep.Threads, *t)
		}
	}
	if memory {
		n := cfg.MemorySources
		if n <= 0 {
			n = 10000
		}
		for i, c := range cs {
			mm, ok := c.(MemoryMeter)
			if !ok || missing[i] {
				continue
			}
			runtime.GC()
			ioB, timerB, err := mm.IdleMemory(n)
			if err != nil {
				return nil, fmt.Errorf("memory, %s: %w", c.Name(), err)
			}
			rep.Memory = append(rep.Memory, Memory{Contender: c.Name(), Sources: n, IOBytes: ioB, TimerBytes: timerB})
		}
	}
	if floor {
		if err := runFloor(cfg, missing, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// Floor is the median time of a contender's io_idle0 round trip without a
// loop (FloorMeter).
type Floor struct {
	Contender string  `json:"contender"`
	Ops       int     `json:"ops"`
	Ns        float64 `json:"ns_per_op"`
}

// floorOps is FloorEventfd's count with Div 1, io_idle0's.
const floorOps = 500_000

// runFloor runs FloorEventfd on the contenders that have it, alternating
// them, cfg.Rounds times, and adds the medians to rep.
func runFloor(cfg Config, missing []bool, rep *Report) error {
	n := max(floorOps/cfg.Div, 1)
	samples := map[string][]float64{}
	for r := range cfg.Rounds {
		for _, i := range order(r, len(cfg.Contenders)) {
			c := cfg.Contenders[i]
			fm, ok := c.(FloorMeter)
			if !ok || missing[i] {
				continue
			}
			runtime.GC()
			d, err := fm.FloorEventfd(n)
			if err != nil {
				return fmt.Errorf("floor, %s: %w", c.Name(), err)
			}
			samples[c.Name()] = append(samples[c.Name()], nsPerOp(d, n))
		}
	}
	for _, c := range cfg.Contenders {
		if xs, ok := samples[c.Name()]; ok {
			rep.Floor = append(rep.Floor, Floor{Contender: c.Name(), Ops: n, Ns: median(xs)})
		}
	}
	return nil
}

// runScaling runs the children workload w with each of cfg.ChildrenCounts
// children on go-sdevent and libsystemd (cfg.Contenders[0] and [1]),
// alternating them, cfg.Rounds times, and adds the figures to rep.
func runScaling(cfg Config, w Workload, missing []bool, rep *Report) error {
	cs := cfg.Contenders[:2]
	largest := 0
	for _, count := range cfg.ChildrenCounts {
		largest = max(largest, max(1, count/cfg.Div))
	}
	for _, count := range cfg.ChildrenCounts {
		n := max(1, count/cfg.Div)
		sc := Scaling{Children: n, Samples: map[string][]float64{}, Median: map[string]float64{}}
		for r := 0; r < cfg.Rounds; r++ {
			for _, i := range order(r, len(cs)) {
				if missing[i] {
					continue
				}
				s, err := measure(w, cs[i], n)
				if err != nil {
					return fmt.Errorf("round %d, %d children: %w", r+1, n, err)
				}
				sc.Samples[cs[i].Name()] = append(sc.Samples[cs[i].Name()], nsPerOp(s.Elapsed[0], n))
				if i == 0 && n == largest && s.Threads > 0 && rep.ScalingThreads == nil {
					rep.ScalingThreads = &Threads{Contender: cs[0].Name(), Children: n, During: s.Threads, Before: s.ThreadsBefore}
				}
			}
		}
		for name, xs := range sc.Samples {
			sc.Median[name] = median(xs)
		}
		goNs, okGo := sc.Median[cs[0].Name()]
		cNs, okC := sc.Median[cs[1].Name()]
		sc.GoC = ratio(goNs, cNs, okGo, okC)
		rep.Scaling = append(rep.Scaling, sc)
	}
	return nil
}

// measure runs w on c with n operations, after a garbage collection so that
// no contender pays for the garbage of the one before.
func measure(w Workload, c Contender, n int) (Sample, error) {
	runtime.GC()
	s, err := w.Run(c, n)
	if err == nil && len(s.Elapsed)+len(s.Counts) != len(w.Metrics) {
		err = fmt.Errorf("%d times and %d counts for %d metrics", len(s.Elapsed), len(s.Counts), len(w.Metrics))
	}
	if err == nil {
		for _, d := range s.Elapsed {
			if d <= 0 {
				err = fmt.Errorf("elapsed time %v", d)
			}
		}
		for _, c := range s.Counts {
			if !(c >= 0) {
				err = fmt.Errorf("count %v", c)
			}
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s, %s: %w", w.Name, c.Name(), err)
	}
	return s, nil
}

// WriteTable writes the report as the command prints it: one line per
// metric with the median ns/op of every contender and the ratios, what the
// rows of the workloads run in two processes measure, then the memory,
// thread and scaling figures.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString(rep.heading() + "\n")
	for _, c := range rep.Contenders {
		if c.Version != "" {
			fmt.Fprintf(&b, "%s: %s\n", c.Name, c.Version)
		}
	}
	b.WriteString("\n")
	if len(rep.Rows) > 0 {
		writeColumns(&b, rep.rowTable())
		for _, note := range rep.notes() {
			b.WriteString(note + "\n")
		}
	}
	if len(rep.Memory) > 0 {
		fmt.Fprintf(&b, "\nbytes per idle source (%d IO sources, then %d timers; Go: heap after GC, C: malloc'd):\n",
			rep.Memory[0].Sources, rep.Memory[0].Sources)
		table := [][]string{}
		for _, m := range rep.Memory {
			table = append(table, []string{"  " + m.Contender, "IO source", strconv.FormatFloat(m.IOBytes, 'f', 0, 64),
				"timer", strconv.FormatFloat(m.TimerBytes, 'f', 0, 64)})
		}
		writeColumns(&b, table)
	}
	if len(rep.Floor) > 0 {
		b.WriteString("\nio_idle0 without a loop (epoll_wait, read, write on one eventfd), median ns/op:\n")
		table := [][]string{}
		for _, f := range rep.Floor {
			table = append(table, []string{"  " + f.Contender, strconv.FormatFloat(f.Ns, 'f', 1, 64)})
		}
		writeColumns(&b, table)
	}
	if len(rep.Threads) > 0 {
		fmt.Fprintf(&b, "\nOS threads of the process while %d children were watched (first round; before starting them):\n",
			rep.Threads[0].Children)
		table := [][]string{}
		for _, t := range rep.Threads {
			table = append(table, []string{"  " + t.Contender, strconv.Itoa(t.During), "(" + strconv.Itoa(t.Before) + ")"})
		}
		writeColumns(&b, table)
	}
	if len(rep.Scaling) > 0 {
		names := []string{rep.Contenders[0].Name, rep.Contenders[1].Name}
		b.WriteString("\nchildren exiting at once, median ns per exit (run before the other workloads):\n")
		table := [][]string{append(append([]string{"", "children"}, names...), "Go/C")}
		for _, sc := range rep.Scaling {
			line := []string{"", strconv.Itoa(sc.Children)}
			for i, name := range names {
				cell := "-"
				if m, ok := sc.Median[name]; ok {
					cell = strconv.FormatFloat(m, 'f', 1, 64)
				} else if rep.Contenders[i].Missing != "" {
					cell = rep.Contenders[i].Missing
				}
				line = append(line, cell)
			}
			table = append(table, append(line, ratioCell(sc.GoC)))
		}
		writeColumns(&b, table)
	}
	if t := rep.ScalingThreads; t != nil {
		fmt.Fprintf(&b, "%s: %d OS threads while %d children were watched (%d before)\n", t.Contender, t.During, t.Children, t.Before)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// rowNotes say what the rows of the workloads run in two processes
// measure, one line of the table's width at a time.
var rowNotes = map[string]string{
	"pingpong": "pingpong: ns per round trip with a peer process; _cpu: user+system ns of both processes\n" +
		"per round trip; _csw: context switches (voluntary+involuntary) of both per round trip",
	"proxy_conn": "proxy_conn: ns per short connection (connect, 64 bytes each way, close) through a proxy\n" +
		"in a peer process; _cpu: user+system ns of the proxy per connection; _csw: its context\n" +
		"switches (voluntary+involuntary) per connection",
	"proxy_bulk": "proxy_bulk: ns per MiB sent from client to backend through the proxy on one connection;\n" +
		"_cpu: user+system ns of the proxy per MiB; _csw: its context switches per MiB",
}

// notes returns the rowNotes of the report's rows, in their order.
func (rep *Report) notes() []string {
	var notes []string
	for _, row := range rep.Rows {
		if note, ok := rowNotes[row.Metric]; ok {
			notes = append(notes, note)
		}
	}
	return notes
}

// heading is the report's first line: rounds, counts, Go, CPUs, GOMAXPROCS.
func (rep *Report) heading() string {
	pinned := ""
	if rep.Pinned > 0 {
		pinned = fmt.Sprintf(", pinned with -cpus %d", rep.Pinned)
	}
	return fmt.Sprintf("median ns/op over %d rounds, counts of sdbench.c divided by %d; %s, %d CPUs (affinity %s%s), GOMAXPROCS=%d",
		rep.Rounds, rep.Div, rep.Go, rep.CPUs, rep.Affinity, pinned, rep.GOMAXPROCS)
}

// rowTable is the table of the metrics: a head line, then a line per
// metric with every contender's median and the two ratios.
func (rep *Report) rowTable() [][]string {
	head := []string{"workload", "ops"}
	for _, c := range rep.Contenders {
		head = append(head, c.Name)
	}
	head = append(head, "Go/C", "idiom/C")
	table := [][]string{head}
	for _, row := range rep.Rows {
		line := []string{row.Metric, strconv.Itoa(row.Ops)}
		for _, c := range rep.Contenders {
			cell := "-"
			if c.Missing != "" {
				cell = c.Missing
			} else if m, ok := row.Median[c.Name]; ok {
				cell = strconv.FormatFloat(m, 'f', 1, 64)
				if row.Unit != "" && !strings.HasPrefix(row.Unit, "ns/") {
					cell = strconv.FormatFloat(m, 'f', 2, 64)
				}
			}
			line = append(line, cell)
		}
		line = append(line, ratioCell(row.GoC), ratioCell(row.IdiomC))
		table = append(table, line)
	}
	return table
}

// WriteMarkdown writes the report for a README: its heading and the
// libsystemd it ran as a paragraph, the metrics as a Markdown table, what
// the rows of the workloads run in two processes measure, and the memory,
// thread and children figures as a list.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString(rep.heading())
	for _, c := range rep.Contenders {
		if c.Version != "" {
			fmt.Fprintf(&b, "; %s %s", c.Name, c.Version)
		}
	}
	b.WriteString(":\n\n")
	if len(rep.Rows) > 0 {
		for i, line := range rep.rowTable() {
			b.WriteString("| " + strings.Join(line, " | ") + " |\n")
			if i == 0 {
				b.WriteString("|---|" + strings.Repeat("---:|", len(line)-1) + "\n")
			}
		}
		b.WriteString("\n")
		for _, note := range rep.notes() {
			b.WriteString(strings.ReplaceAll(note, "\n", " ") + "\n\n")
		}
	}
	for _, m := range rep.Memory {
		fmt.Fprintf(&b, "- %s: %.0f bytes per idle IO source, %.0f per idle timer (%d of each)\n", m.Contender, m.IOBytes, m.TimerBytes, m.Sources)
	}
	for _, f := range rep.Floor {
		fmt.Fprintf(&b, "- %s: io_idle0 without a loop (epoll_wait, read, write on one eventfd) %.1f ns/op\n", f.Contender, f.Ns)
	}
	for _, t := range rep.Threads {
		fmt.Fprintf(&b, "- %s: %d OS threads while %d children were watched (%d before)\n", t.Contender, t.During, t.Children, t.Before)
	}
	for _, sc := range rep.Scaling {
		fmt.Fprintf(&b, "- %d children exiting at once, ns per exit:", sc.Children)
		for _, c := range rep.Contenders[:2] {
			if m, ok := sc.Median[c.Name]; ok {
				fmt.Fprintf(&b, " %s %.1f,", c.Name, m)
			}
		}
		fmt.Fprintf(&b, " Go/C %s\n", ratioCell(sc.GoC))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ratioCell(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 2, 64)
}

// writeColumns writes table with its first column aligned left and the
// others right, two spaces apart.
func writeColumns(b *strings.Builder, table [][]string) {
	var width []int
	for _, line := range table {
		for i, cell := range line {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(cell))
		}
	}
	for _, line := range table {
		var l strings.Builder
		for i, cell := range line {
			pad := strings.Repeat(" ", width[i]-len(cell))
			if i == 0 {
				l.WriteString(cell + pad)
			} else {
				l.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
}
