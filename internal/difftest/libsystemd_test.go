//go:build linux && libsystemd && cgo

package difftest

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestLibsystemd runs every scenario on libsystemd's sd-event and on
// go-sdevent. Each must match its own expected lines: the lines both share,
// and those of named deliberate differences, so the two traces differ
// exactly where a difference is declared.
func TestLibsystemd(t *testing.T) {
	_, version, err := Libsystemd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases() {
		t.Run(tc.sc.Name, func(t *testing.T) {
			testutil.Check(t)
			crecs, err := RunC(&tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			grecs, err := RunGo(&tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			c := check(t, tc, "c", version, crecs)
			g := check(t, tc, "go", version, grecs)
			if t.Failed() {
				t.Logf("go-sdevent (got) against libsystemd (want):\n%s", diffLines(g, c))
			} else if strings.Join(c, "\n") != strings.Join(g, "\n") {
				for _, l := range tc.want {
					if sd, exc, line := splitLine(l); sd != "" && exceptions[exc].holdsFor("c", version) {
						x := exceptions[exc]
						t.Logf("%s difference %s, only %s: %s", x.kind, exc, sd, line)
					}
				}
			}
		})
	}
}

// TestLibsystemdVersion logs which libsystemd the differential test runs
// against. With SDEVENT_LIBSYSTEMD_VERSION set (CI sets it to 252 for the
// system's library and to 262 for .ci/libsystemd262's copy) a different
// library is a failure, so that a stale cgo build cannot pass for the other
// version.
func TestLibsystemdVersion(t *testing.T) {
	testutil.Check(t)
	path, version := libsystemdVersion(t)
	t.Logf("libsystemd %d at %s", version, path)
}

// libsystemdVersion returns the file and the version of the libsystemd
// linked in, and fails tb when SDEVENT_LIBSYSTEMD_VERSION names another.
func libsystemdVersion(tb testing.TB) (string, int) {
	tb.Helper()
	path, version, err := Libsystemd()
	if err != nil {
		tb.Fatal(err)
	}
	if want := os.Getenv("SDEVENT_LIBSYSTEMD_VERSION"); want != "" && want != strconv.Itoa(version) {
		tb.Fatalf("libsystemd %d at %s, SDEVENT_LIBSYSTEMD_VERSION=%s", version, path, want)
	}
	return path, version
}
