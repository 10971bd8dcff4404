//go:build linux

package supervise

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestEnviron: Environ keeps the environment but for the variables the
// service manager meant for the main process alone, and a command given
// it does not see them.
func TestEnviron(t *testing.T) {
	testutil.Check(t)
	for _, name := range serviceOnly {
		t.Setenv(name, "1")
	}
	t.Setenv("NOTIFY_SOCKET_NOT", "kept")        // a longer name with the same start
	t.Setenv("SUPERVISE_TEST", "NOTIFY_SOCKET=") // the name in a value
	env := Environ()
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(serviceOnly, name) {
			t.Errorf("Environ kept %s", kv)
		}
	}
	for _, kv := range []string{"NOTIFY_SOCKET_NOT=kept", "SUPERVISE_TEST=NOTIFY_SOCKET="} {
		if !slices.Contains(env, kv) {
			t.Errorf("Environ lost %s", kv)
		}
	}
	cmd := exec.Command("env")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, "=")
		if slices.Contains(serviceOnly, name) {
			t.Errorf("the command saw %s", line)
		}
	}
}
