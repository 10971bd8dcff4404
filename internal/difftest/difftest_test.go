//go:build linux

package difftest

import (
	"flag"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// Every test runs under the hygiene checks: no descriptor, goroutine or
// child process may outlive the tests.
func TestMain(m *testing.M) { testutil.Main(m) }

func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

var dump = flag.Bool("dump", false, "log every trace")

// check compares the trace of side ("go" or "c") with its expected lines.
func check(t *testing.T, tc testCase, side string, version int, recs []Record) []string {
	t.Helper()
	got := tc.sc.Format(recs)
	if *dump {
		t.Logf("%s trace of %s:\n%s", side, tc.sc.Name, strings.Join(got, "\n"))
	}
	if d := diffLines(got, expected(tc.want, side, version)); d != "" {
		t.Errorf("%s trace of %s differs:\n%s", side, tc.sc.Name, d)
	}
	return got
}

// TestGo runs every scenario on go-sdevent and checks its trace.
func TestGo(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.sc.Name, func(t *testing.T) {
			testutil.Check(t)
			recs, err := RunGo(&tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			check(t, tc, "go", 0, recs)
		})
	}
}

// TestExpectations checks that every one-sided expected line names a
// known deliberate difference, and that every difference is used.
func TestExpectations(t *testing.T) {
	testutil.Check(t)
	used := map[string]bool{}
	for _, tc := range cases() {
		for _, l := range tc.want {
			if sd, exc, _ := splitLine(l); sd != "" {
				if _, ok := exceptions[exc]; !ok {
					t.Errorf("%s: line %q names no known difference", tc.sc.Name, l)
				}
				used[exc] = true
			}
		}
	}
	for exc := range exceptions {
		if !used[exc] {
			t.Errorf("difference %s is asserted by no scenario", exc)
		}
	}
}
