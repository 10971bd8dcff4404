//go:build linux

package sdnet_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/sdnet"
)

// helperEnv names the subprocess helper a re-executed test binary runs.
const helperEnv = "SDNET_TEST_HELPER"

// helpers are the subprocess helpers, by name; each returns the exit
// status and reports on stdout.
var helpers = map[string]func() int{}

func runHelper(name string) int {
	h := helpers[name]
	if h == nil {
		fmt.Fprintf(os.Stderr, "no helper %q\n", name)
		return 2
	}
	return h()
}

// runSubprocess runs the helper name in a new process of the test binary,
// with extra as its descriptors 3 and on and env added to its environment,
// and fails t unless it exits 0 having printed marker.
func runSubprocess(t *testing.T, name, marker string, extra []*os.File, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// Under -race, a process that exits 0 sleeps 1s at exit unless told not to.
	cmd.Env = append(append(os.Environ(), helperEnv+"="+name,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")), env...)
	cmd.ExtraFiles = extra
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), marker) {
		t.Fatalf("helper %s: %v\n%s", name, err, out)
	}
}

// fill writes to c until the kernel takes no more and Write queues, and
// returns how much it wrote.
func fill(t *testing.T, c *sdnet.Conn) int {
	t.Helper()
	written := 0
	for c.Buffered() == 0 {
		n, err := c.Write(make([]byte, 64<<10))
		if err != nil {
			t.Fatal(err)
		}
		written += n
	}
	return written
}

// closes records the errors c's close handler is called with.
func closes(c *sdnet.Conn) *[]error {
	var errs []error
	_ = c.SetCloseHandler(func(_ *sdnet.Conn, err error) { errs = append(errs, err) })
	return &errs
}
