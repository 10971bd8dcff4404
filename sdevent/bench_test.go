//go:build linux

package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/bench"
)

// TestBench runs 'sdevent bench' on a few workloads with tiny counts: the
// table has a row per workload with every contender's column, then the
// memory, thread and children figures.
func TestBench(t *testing.T) {
	rc, out, errs := runCmd(t, "bench", "-rounds", "2", "-div", "1000000", "-run", "^(defer|timer_rearm|children|pingpong|memory)$")
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

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-rounds", "0"},
		{"bench", "-div", "0"},
		{"bench", "-run", "("},
		{"bench", "-run", "^nothing$"},
		{"bench", "stray"},
		{"bench", "-no-such-flag"},
	} {
		rc, out, errs := runCmd(t, args...)
		if rc != 2 || out != "" || errs == "" {
			t.Errorf("%q: status %d (want 2), stdout %q, stderr %q", args, rc, out, errs)
		}
	}
}
