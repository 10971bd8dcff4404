//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/bench"
)

// The test binary is sdevent when started with SDEVENT_TEST_MAIN=1 (see
// TestMain): 'sdevent bench -cpus' starts it that way.
func init() {
	benchSelf = func(args []string) (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "SDEVENT_TEST_MAIN=1")
		return cmd, nil
	}
}

// TestBench runs 'sdevent bench' on a few workloads with tiny counts: the
// table has a row per workload with every contender's column, then the
// memory, thread and children figures.
func TestBench(t *testing.T) {
	rc, out, errs := runCmd(t, "bench", "-rounds", "2", "-div", "1000000", "-run", "^(defer|timer_rearm|children|pingpong|proxy_conn|proxy_bulk|memory)$")
	if rc != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", rc, errs)
	}
	for _, re := range []string{
		`(?m)^workload +ops +go-sdevent +libsystemd +idiomatic +Go/C +idiom/C$`,
		`(?m)^defer +2 +[0-9.]+ +(not built \(-tags libsystemd\)|[0-9.]+) +[0-9.]+ +[0-9.-]+ +[0-9.-]+$`,
		`(?m)^timer_rearm +1 `,
		`(?m)^children +1 `,
		`(?m)^  go-sdevent +IO source +[0-9]+ +timer +[0-9]+$`,
		`(?m)^  idiomatic +[0-9]+ +\([0-9]+\)$`,
		`(?m)^pingpong +1 +[0-9.]+ `,
		`(?m)^pingpong_cpu +1 +[0-9.]+ `,
		`(?m)^pingpong_csw +1 +[0-9]+\.[0-9][0-9] `,
		`(?m)^proxy_conn +1 +[0-9.]+ `,
		`(?m)^proxy_conn_cpu +1 +[0-9.]+ `,
		`(?m)^proxy_conn_csw +1 +[0-9]+\.[0-9][0-9] `,
		`(?m)^proxy_bulk +1 +[0-9.]+ `,
		`(?m)^proxy_bulk_cpu +1 +[0-9.]+ `,
		`(?m)^proxy_bulk_csw +1 +[0-9]+\.[0-9][0-9] `,
		`(?m)^proxy_bulk: ns per MiB `,
		`(?m)^ +children +go-sdevent +libsystemd +Go/C$`,
		`(?m)^ +1 +[0-9.]+ +(not built \(-tags libsystemd\)|[0-9.]+) +[0-9.-]+$`,
		`(?m)^go-sdevent: [0-9]+ OS threads while 1 children were watched \([0-9]+ before\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "io_idle") || strings.Contains(out, "signal") {
		t.Errorf("-run ran more than it selected:\n%s", out)
	}
}

// TestBenchJSON: -json prints the report as JSON.
func TestBenchJSON(t *testing.T) {
	rc, out, errs := runCmd(t, "bench", "-json", "-rounds", "1", "-div", "1000000", "-run", "^defer$")
	if rc != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", rc, errs)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Rounds != 1 || rep.Div != 1000000 || len(rep.Rows) != 1 || rep.Rows[0].Metric != "defer" ||
		!(rep.Rows[0].Median["go-sdevent"] > 0) || !(rep.Rows[0].Median["idiomatic"] > 0) || len(rep.Contenders) != 3 {
		t.Errorf("report %+v", rep)
	}
}

// TestBenchMarkdown: -markdown prints the README's form: the heading, a
// Markdown table with a row per metric, the other figures as a list.
func TestBenchMarkdown(t *testing.T) {
	rc, out, errs := runCmd(t, "bench", "-markdown", "-rounds", "1", "-div", "1000000", "-run", "^(defer|children|proxy_bulk|memory)$")
	if rc != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", rc, errs)
	}
	for _, re := range []string{
		`(?m)^median ns/op over 1 rounds, counts of sdbench.c divided by 1000000; .*GOMAXPROCS=[0-9]+.*:$`,
		`(?m)^\| workload \| ops \| go-sdevent \| libsystemd \| idiomatic \| Go/C \| idiom/C \|$`,
		`(?m)^\|---\|(---:\|){6}$`,
		`(?m)^\| defer \| 2 \| [0-9.]+ \| [^|]+ \| [0-9.]+ \| [0-9.-]+ \| [0-9.-]+ \|$`,
		`(?m)^\| children \| 1 \| `,
		`(?m)^\| proxy_bulk_csw \| 1 \| [0-9]+\.[0-9][0-9] \| `,
		`(?m)^proxy_bulk: ns per MiB sent from client to backend .* _csw: its context switches per MiB$`,
		`(?m)^- go-sdevent: [0-9]+ bytes per idle IO source, [0-9]+ per idle timer \([0-9]+ of each\)$`,
		`(?m)^- idiomatic: [0-9]+ OS threads while 1 children were watched \([0-9]+ before\)$`,
		`(?m)^- 1 children exiting at once, ns per exit: go-sdevent [0-9.]+,.* Go/C [0-9.-]+$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-json", "-markdown"},
		{"bench", "-rounds", "0"},
		{"bench", "-div", "0"},
		{"bench", "-run", "("},
		{"bench", "-run", "^nothing$"},
		{"bench", "stray"},
		{"bench", "-no-such-flag"},
		{"bench", "-cpus", "-1"},
		{"bench", "-cpus", "100000"},
		{"bench", "-gomaxprocs", "0"},
		{"bench", "-gomaxprocs", "1,,2"},
		{"bench", "-gomaxprocs", "x"},
	} {
		rc, out, errs := runCmd(t, args...)
		if rc != 2 || out != "" || errs == "" {
			t.Errorf("%q: status %d (want 2), stdout %q, stderr %q", args, rc, out, errs)
		}
	}
}

// TestBenchCPUsAndGOMAXPROCS: -cpus 1 runs the bench in a process pinned
// to one CPU, -gomaxprocs 1,2 once per value; each report's header says so,
// and the peers of pingpong and proxy_conn run too.
func TestBenchCPUsAndGOMAXPROCS(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	first := 0
	for !set.IsSet(first) {
		first++
	}
	rc, out, errs := runCmd(t, "bench", "-cpus", "1", "-gomaxprocs", "1,2", "-rounds", "1", "-div", "1000000", "-run", "^(defer|pingpong|proxy_conn)$")
	if rc != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", rc, errs)
	}
	headers := regexp.MustCompile(`(?m)^median ns/op .*, 1 CPUs \(affinity ([0-9]+), pinned with -cpus 1\), GOMAXPROCS=([0-9]+)$`).FindAllStringSubmatch(out, -1)
	if len(headers) != 2 || headers[0][2] != "1" || headers[1][2] != "2" {
		t.Fatalf("want two reports pinned to 1 CPU, GOMAXPROCS 1 then 2:\n%s", out)
	}
	for _, h := range headers {
		if h[1] != strconv.Itoa(first) {
			t.Errorf("pinned to CPU %s, want %d, the first this process may use", h[1], first)
		}
	}
	for _, row := range []string{"pingpong_csw", "proxy_conn_csw"} {
		if n := strings.Count(out, "\n"+row+" "); n != 2 {
			t.Errorf("%d %s rows, want 2:\n%s", n, row, out)
		}
	}
	// This process keeps its affinity.
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil || after != set {
		t.Errorf("affinity %v after the pinned run (%v), was %v", after, err, set)
	}

	rc, out, errs = runCmd(t, "bench", "-json", "-gomaxprocs", "2,1", "-rounds", "1", "-div", "1000000", "-run", "^defer$")
	var reps []bench.Report
	if rc != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", rc, errs)
	}
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 2 || reps[0].GOMAXPROCS != 2 || reps[1].GOMAXPROCS != 1 || reps[0].Pinned != 0 {
		t.Errorf("reports %+v (%v):\n%s", reps, err, out)
	}
}
