package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fake is a contender that logs its runs and reports the ns/op of perOp,
// one after the other, cycling.
type fake struct {
	name    string
	log     *[]string
	perOp   []float64
	runs    int
	fail    string // the workload that fails
	threads int    // what Children reports as Threads
	memory  [2]float64
}

func (f *fake) Name() string { return f.name }

func (f *fake) next(w string, n int) (time.Duration, error) {
	*f.log = append(*f.log, fmt.Sprintf("%s %s %d", f.name, w, n))
	if w == f.fail {
		return 0, errors.New("boom")
	}
	v := f.perOp[f.runs%len(f.perOp)]
	f.runs++
	return time.Duration(v * float64(n)), nil
}

func (f *fake) Defer(n int) (time.Duration, error)    { return f.next("defer", n) }
func (f *fake) IO(n, idle int) (time.Duration, error) { return f.next(fmt.Sprintf("io%d", idle), n) }
func (f *fake) Timers(n int) (_, _ time.Duration, err error) {
	d, err := f.next("timers", n)
	return d / 4, d, err
}
func (f *fake) TimerRearm(n int) (time.Duration, error) { return f.next("rearm", n) }
func (f *fake) Signal(n int) (time.Duration, error)     { return f.next("signal", n) }
func (f *fake) Children(n int) (ChildrenRun, error) {
	d, err := f.next("children", n)
	r := ChildrenRun{Elapsed: d}
	if f.threads > 0 {
		r.Threads, r.ThreadsBefore = f.threads+n, f.threads
	}
	return r, err
}
func (f *fake) PingPong(n int) (PingPongRun, error) {
	d, err := f.next("pingpong", n)
	return PingPongRun{Elapsed: d, CPU: 2 * d, Switches: int64(4 * n)}, err
}
func (f *fake) ProxyConns(n int) (ProxyRun, error) { return f.proxy("proxy_conn", n) }
func (f *fake) ProxyBulk(n int) (ProxyRun, error)  { return f.proxy("proxy_bulk", n) }
func (f *fake) proxy(w string, n int) (ProxyRun, error) {
	d, err := f.next(w, n)
	return ProxyRun{Elapsed: d, CPU: d / 2, Switches: int64(3 * n)}, err
}
func (f *fake) IdleMemory(n int) (float64, float64, error) {
	*f.log = append(*f.log, fmt.Sprintf("%s memory %d", f.name, n))
	return f.memory[0], f.memory[1], nil
}

func fakes(log *[]string) (a, b, c *fake) {
	return &fake{name: "a", log: log, perOp: []float64{10}},
		&fake{name: "b", log: log, perOp: []float64{20}},
		&fake{name: "c", log: log, perOp: []float64{40}}
}

func TestOrder(t *testing.T) {
	check(t)
	for _, tc := range []struct {
		r, n int
		want []int
	}{
		{0, 3, []int{0, 1, 2}},
		{1, 3, []int{1, 2, 0}},
		{2, 3, []int{2, 0, 1}},
		{3, 3, []int{0, 1, 2}},
		{4, 3, []int{1, 2, 0}},
		{1, 1, []int{0}},
	} {
		if got := order(tc.r, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("order(%d, %d) = %v, want %v", tc.r, tc.n, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	check(t)
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 1, 1, 1, 9}, 1},
	} {
		in := slices.Clone(tc.xs)
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
		if !slices.Equal(in, tc.xs) {
			t.Errorf("median reordered its input: %v", tc.xs)
		}
	}
}

func TestOps(t *testing.T) {
	check(t)
	w := Workload{Count: 1000}
	for _, tc := range []struct{ div, want int }{{1, 1000}, {5, 200}, {3, 333}, {1000, 1}, {5000, 1}, {0, 1000}} {
		if got := w.Ops(tc.div); got != tc.want {
			t.Errorf("Ops(%d) = %d, want %d", tc.div, got, tc.want)
		}
	}
}

// TestRunAlternates: every workload runs on every contender in every round,
// the first contender of a round one further each round, workloads in
// sdbench.c's order, counts divided by Div.
func TestRunAlternates(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	_, err := Run(Config{Rounds: 3, Div: 100000, Contenders: []Contender{a, b, c},
		Match: regexp.MustCompile("^(defer|signal)$")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a defer 20", "b defer 20", "c defer 20", "a signal 2", "b signal 2", "c signal 2",
		"b defer 20", "c defer 20", "a defer 20", "b signal 2", "c signal 2", "a signal 2",
		"c defer 20", "a defer 20", "b defer 20", "c signal 2", "a signal 2", "b signal 2",
	}
	if !slices.Equal(log, want) {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunAll: without Match, all seven workloads of sdbench.c run with its
// counts, then pingpong and the proxy workloads, after the children runs with ChildrenCounts
// (first, before any contender made threads, and only go-sdevent and C),
// then the memory figures.
func TestRunAll(t *testing.T) {
	check(t)
	var log []string
	a, _, c := fakes(&log)
	a.memory, c.memory = [2]float64{100, 200}, [2]float64{300, 400}
	a.threads, c.threads = 3, 4
	rep, err := Run(Config{Rounds: 1, Div: 1, Contenders: []Contender{a, Missing{"b", "gone"}, c}, ChildrenCounts: []int{100, 4000}, MemorySources: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a children 100", "a children 4000",
		"a defer 2000000", "c defer 2000000",
		"a io0 500000", "c io0 500000",
		"a io10000 500000", "c io10000 500000",
		"a timers 200000", "c timers 200000",
		"a rearm 500000", "c rearm 500000",
		"a signal 200000", "c signal 200000",
		"a children 1000", "c children 1000",
		"a pingpong 50000", "c pingpong 50000",
		"a proxy_conn 10000", "c proxy_conn 10000",
		"a proxy_bulk 1024", "c proxy_bulk 1024",
		"a memory 7", "c memory 7",
	}
	if !slices.Equal(log, want) {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	var metrics []string
	for _, r := range rep.Rows {
		metrics = append(metrics, r.Metric)
	}
	if want := []string{"defer", "io_idle0", "io_idle10000", "timers_add", "timers_total", "timer_rearm", "signal", "children",
		"pingpong", "pingpong_cpu", "pingpong_csw", "proxy_conn", "proxy_conn_cpu", "proxy_conn_csw",
		"proxy_bulk", "proxy_bulk_cpu", "proxy_bulk_csw"}; !slices.Equal(metrics, want) {
		t.Errorf("rows %v, want %v", metrics, want)
	}
	if want := []Memory{{"a", 7, 100, 200}, {"c", 7, 300, 400}}; !reflect.DeepEqual(rep.Memory, want) {
		t.Errorf("memory %+v, want %+v", rep.Memory, want)
	}
	if want := []Threads{{"a", 1000, 1003, 3}, {"c", 1000, 1004, 4}}; !reflect.DeepEqual(rep.Threads, want) {
		t.Errorf("threads %+v, want %+v", rep.Threads, want)
	}
	want10 := func(n int) Scaling {
		return Scaling{Children: n, Samples: map[string][]float64{"a": {10}}, Median: map[string]float64{"a": 10}}
	}
	if want := []Scaling{want10(100), want10(4000)}; !reflect.DeepEqual(rep.Scaling, want) {
		t.Errorf("scaling %+v, want %+v", rep.Scaling, want)
	}
	if want := (&Threads{"a", 4000, 4003, 3}); !reflect.DeepEqual(rep.ScalingThreads, want) {
		t.Errorf("scaling threads %+v, want %+v", rep.ScalingThreads, want)
	}
}

// TestRunMissing: a contender that was not built runs nothing, keeps its
// place in the rotation, and has no ratios.
func TestRunMissing(t *testing.T) {
	check(t)
	var log []string
	a, _, c := fakes(&log)
	rep, err := Run(Config{Rounds: 2, Div: 1000000, Contenders: []Contender{a, Missing{"b", "not built (-tags libsystemd)"}, c},
		Match: regexp.MustCompile("^defer$")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a defer 2", "c defer 2", "c defer 2", "a defer 2"}; !slices.Equal(log, want) {
		t.Errorf("runs %q, want %q", log, want)
	}
	row := rep.Rows[0]
	if _, ok := row.Median["b"]; ok || row.GoC != nil || row.IdiomC != nil {
		t.Errorf("row %+v: has figures of the missing contender", row)
	}
	if rep.Contenders[1] != (ContenderRow{Name: "b", Missing: "not built (-tags libsystemd)"}) {
		t.Errorf("contenders %+v", rep.Contenders)
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^defer +2 +10\.0 +not built \(-tags libsystemd\) +40\.0 +- +-$`).MatchString(out.String()) {
		t.Errorf("table lacks the defer row with the missing contender:\n%s", out.String())
	}
}

// versioned is a fake that says which version of its library it ran.
type versioned struct{ *fake }

func (versioned) Version() string { return "262 (/x/libsystemd.so.0)" }

// TestReportVersionAndGOMAXPROCS: the report says which library version a
// Versioned contender ran and the GOMAXPROCS of the run.
func TestReportVersionAndGOMAXPROCS(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	rep, err := Run(Config{Rounds: 1, Div: 1000000, Contenders: []Contender{a, versioned{b}, c},
		Match: regexp.MustCompile("^defer$")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Contenders[1].Version != "262 (/x/libsystemd.so.0)" || rep.Contenders[0].Version != "" {
		t.Errorf("contenders %+v", rep.Contenders)
	}
	if rep.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("GOMAXPROCS %d, want %d", rep.GOMAXPROCS, runtime.GOMAXPROCS(0))
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nb: 262 (/x/libsystemd.so.0)\n", fmt.Sprintf("GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunMediansAndRatios: each cell is the median of the rounds' ns/op,
// the ratios those of the medians.
func TestRunMediansAndRatios(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	a.perOp = []float64{30, 10, 20, 100, 15}     // median 20
	b.perOp = []float64{50, 40, 1000, 40, 30}    // median 40
	c.perOp = []float64{100, 100, 1, 1000, 99.5} // median 100
	rep, err := Run(Config{Rounds: 5, Div: 1000, Contenders: []Contender{a, b, c}, Match: regexp.MustCompile("^timer_rearm$")})
	if err != nil {
		t.Fatal(err)
	}
	row := rep.Rows[0]
	if row.Metric != "timer_rearm" || row.Ops != 500 {
		t.Fatalf("row %+v", row)
	}
	if want := map[string]float64{"a": 20, "b": 40, "c": 100}; !reflect.DeepEqual(row.Median, want) {
		t.Errorf("medians %v, want %v", row.Median, want)
	}
	if want := []float64{30, 10, 20, 100, 15}; !slices.Equal(row.Samples["a"], want) {
		t.Errorf("samples of a %v, want %v in round order", row.Samples["a"], want)
	}
	if row.GoC == nil || *row.GoC != 0.5 || row.IdiomC == nil || *row.IdiomC != 2.5 {
		t.Errorf("ratios %v %v, want 0.5 and 2.5", row.GoC, row.IdiomC)
	}
}

// TestRunTimers: the timers workload yields two rows from one run.
func TestRunTimers(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	rep, err := Run(Config{Rounds: 1, Div: 1000, Contenders: []Contender{a, b, c}, Match: regexp.MustCompile("timers_add")})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || len(rep.Rows) != 2 {
		t.Fatalf("runs %q, rows %+v", log, rep.Rows)
	}
	if add, total := rep.Rows[0], rep.Rows[1]; add.Metric != "timers_add" || add.Median["a"] != 2.5 ||
		total.Metric != "timers_total" || total.Median["a"] != 10 || add.Ops != 200 {
		t.Errorf("rows %+v", rep.Rows)
	}
}

func TestRunMatch(t *testing.T) {
	check(t)
	for _, tc := range []struct {
		re   string
		want []string // rows
		mem  bool
	}{
		{"io", []string{"io_idle0", "io_idle10000"}, false},
		{"^timers$", []string{"timers_add", "timers_total"}, false},
		{"total|signal", []string{"timers_add", "timers_total", "signal"}, false},
		{"^memory$", nil, true},
		{"children|memory", []string{"children"}, true},
	} {
		var log []string
		a, b, c := fakes(&log)
		rep, err := Run(Config{Rounds: 1, Div: 1000000, Contenders: []Contender{a, b, c}, Match: regexp.MustCompile(tc.re)})
		if err != nil {
			t.Errorf("%q: %v", tc.re, err)
			continue
		}
		var rows []string
		for _, r := range rep.Rows {
			rows = append(rows, r.Metric)
		}
		if !slices.Equal(rows, tc.want) || (len(rep.Memory) > 0) != tc.mem {
			t.Errorf("%q: rows %v, memory %v; want %v, %v", tc.re, rows, rep.Memory, tc.want, tc.mem)
		}
	}
}

func TestRunErrors(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	abc := []Contender{a, b, c}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rounds: 0, Div: 1, Contenders: abc}, "rounds 0"},
		{Config{Rounds: 1, Div: 0, Contenders: abc}, "div 0"},
		{Config{Rounds: 1, Div: 1, Contenders: abc[:2]}, "2 contenders"},
		{Config{Rounds: 1, Div: 1, Contenders: abc, Match: regexp.MustCompile("nothing")}, "no workload matches"},
	} {
		if _, err := Run(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := Run(Config{Rounds: 1, Div: 1, Contenders: abc, Match: regexp.MustCompile("nothing")}); !errors.Is(err, ErrNoMatch) {
		t.Errorf("no match: %v, want ErrNoMatch", err)
	}

	b.fail = "signal"
	_, err := Run(Config{Rounds: 2, Div: 1000000, Contenders: abc})
	if err == nil || err.Error() != "round 1: signal, b: boom" {
		t.Errorf("failing contender: error %v", err)
	}
	b.fail = ""
	c.perOp = []float64{0}
	_, err = Run(Config{Rounds: 1, Div: 1000000, Contenders: abc})
	if err == nil || !strings.Contains(err.Error(), "defer, c: elapsed time 0s") {
		t.Errorf("zero time: error %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	a.threads, c.threads = 5, 7
	a.memory, b.memory = [2]float64{425.4, 434}, [2]float64{304, 363}
	rep, err := Run(Config{Rounds: 3, Div: 10, Contenders: []Contender{a, b, c}, ChildrenCounts: []int{100, 4000},
		Match: regexp.MustCompile("^(defer|children|pingpong|memory)$")})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	for i, want := range []string{
		"median ns/op over 3 rounds, counts of sdbench.c divided by 10; ",
		"",
		"workload         ops     a     b     c  Go/C  idiom/C",
		"defer         200000  10.0  20.0  40.0  0.50     2.00",
		"children         100  10.0  20.0  40.0  0.50     2.00",
		"pingpong        5000  10.0  20.0  40.0  0.50     2.00",
		"pingpong_cpu    5000  20.0  40.0  80.0  0.50     2.00",
		"pingpong_csw    5000  4.00  4.00  4.00  1.00     1.00",
		"pingpong: ns per round trip with a peer process; _cpu: user+system ns of both processes",
		"per round trip; _csw: context switches (voluntary+involuntary) of both per round trip",
		"",
		"bytes per idle source (10000 IO sources, then 10000 timers; Go: heap after GC, C: malloc'd):",
		"  a  IO source  425  timer  434",
		"  b  IO source  304  timer  363",
		"  c  IO source    0  timer    0",
		"",
		"OS threads of the process while 100 children were watched (first round; before starting them):",
		"  a  105  (5)",
		"  c  107  (7)",
		"",
		"children exiting at once, median ns per exit (run before the other workloads):",
		"  children     a     b  Go/C",
		"        10  10.0  20.0  0.50",
		"       400  10.0  20.0  0.50",
		"a: 405 OS threads while 400 children were watched (5 before)",
		"",
	} {
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) || (want == "" && lines[i] != "") {
			t.Fatalf("line %d: want %q, table:\n%s", i+1, want, out.String())
		}
	}
	if len(lines) != 26 {
		t.Errorf("%d lines, want 26:\n%s", len(lines), out.String())
	}
}

// TestWriteProxyRows: the proxy rows have their units (in JSON too), the
// counts two decimals and the times one, and the table and the Markdown say
// what they measure.
func TestWriteProxyRows(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	rep, err := Run(Config{Rounds: 1, Div: 1000, Contenders: []Contender{a, b, c}, Match: regexp.MustCompile("^proxy")})
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, row := range rep.Rows {
		units = append(units, row.Metric+" "+row.Unit)
	}
	if want := []string{"proxy_conn ns/conn", "proxy_conn_cpu ns/conn", "proxy_conn_csw switches/conn",
		"proxy_bulk ns/MiB", "proxy_bulk_cpu ns/MiB", "proxy_bulk_csw switches/MiB"}; !slices.Equal(units, want) {
		t.Errorf("units %q, want %q", units, want)
	}
	var table, md strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"proxy_conn       10  10.0  20.0  40.0  0.50     2.00",
		"proxy_conn_cpu   10   5.0  10.0  20.0  0.50     2.00",
		"proxy_conn_csw   10  3.00  3.00  3.00  1.00     1.00",
		"proxy_bulk        1  10.0  20.0  40.0  0.50     2.00",
		"proxy_conn: ns per short connection (connect, 64 bytes each way, close) through a proxy",
		"_cpu: user+system ns of the proxy per MiB; _csw: its context switches per MiB",
	} {
		if !strings.Contains(table.String(), "\n"+line+"\n") {
			t.Errorf("table lacks %q:\n%s", line, table.String())
		}
	}
	for _, line := range []string{
		"| proxy_bulk_csw | 1 | 3.00 | 3.00 | 3.00 | 1.00 | 1.00 |",
		"proxy_conn: ns per short connection (connect, 64 bytes each way, close) through a proxy in a peer process; _cpu:",
		"proxy_bulk: ns per MiB sent from client to backend through the proxy on one connection; _cpu:",
	} {
		if !strings.Contains(md.String(), line) {
			t.Errorf("Markdown lacks %q:\n%s", line, md.String())
		}
	}
	j, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `"metric":"proxy_bulk","unit":"ns/MiB","ops":1,`) {
		t.Errorf("JSON lacks proxy_bulk's unit: %s", j)
	}
}

// TestReportJSON: the report survives a round trip through JSON, ratios
// included; missing figures are left out, not written as 0 or NaN.
func TestReportJSON(t *testing.T) {
	check(t)
	var log []string
	a, _, c := fakes(&log)
	rep, err := Run(Config{Rounds: 2, Div: 1000000, Contenders: []Contender{a, Missing{"b", "not built"}, c},
		Match: regexp.MustCompile("^defer$")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "go_over_c") || strings.Contains(s, `"b":`) || strings.Contains(s, "NaN") {
		t.Errorf("JSON has figures of the missing contender: %s", s)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, *rep)
	}
	if math.IsNaN(back.Rows[0].Median["a"]) || back.Rows[0].Median["a"] != 10 {
		t.Errorf("median of a %v", back.Rows[0].Median["a"])
	}
}

// floorFake is a fake that can also run the floor workload.
type floorFake struct{ *fake }

func (f floorFake) FloorEventfd(n int) (time.Duration, error) { return f.next("floor", n) }

// TestRunFloor: -run floor measures the contenders that can run io_idle0
// without a loop, alternating them as the workloads, and reports their
// medians in the table and in Markdown; the others are left out.
func TestRunFloor(t *testing.T) {
	check(t)
	var log []string
	a, b, c := fakes(&log)
	a.perOp = []float64{5, 9, 7}
	rep, err := Run(Config{Rounds: 3, Div: 1000, Contenders: []Contender{floorFake{a}, floorFake{b}, c},
		Match: regexp.MustCompile("^floor$")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Floor{{"a", 500, 7}, {"b", 500, 20}}; !reflect.DeepEqual(rep.Floor, want) {
		t.Errorf("floor %+v, want %+v", rep.Floor, want)
	}
	if want := []string{"a floor 500", "b floor 500", "b floor 500", "a floor 500", "a floor 500", "b floor 500"}; !slices.Equal(log, want) {
		t.Errorf("runs %q, want %q", log, want)
	}
	if len(rep.Rows) != 0 {
		t.Errorf("rows %+v, want none", rep.Rows)
	}
	var table, md strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^  a +7\.0$`).MatchString(table.String()) {
		t.Errorf("table lacks a's floor:\n%s", table.String())
	}
	if !strings.Contains(md.String(), "- b: io_idle0 without a loop (epoll_wait, read, write on one eventfd) 20.0 ns/op\n") {
		t.Errorf("Markdown lacks b's floor:\n%s", md.String())
	}
}
