package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCmd runs the command line in-process and returns its exit status and
// what it wrote.
func runCmd(t *testing.T, args ...string) (rc int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	rc = run(args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		rc, out, errs := runCmd(t, args...)
		if rc != 0 || errs != "" {
			t.Errorf("%q: status %d, stderr %q", args, rc, errs)
		}
		v, ok := strings.CutPrefix(out, "sdevent ")
		if !ok || !strings.HasSuffix(v, "\n") || strings.TrimSpace(v) == "" || strings.Count(out, "\n") != 1 {
			t.Errorf("%q printed %q, want one line \"sdevent <version>\"", args, out)
		}
	}
	if rc, _, _ := runCmd(t, "version", "extra"); rc != 2 {
		t.Errorf("version with an argument: status %d, want 2", rc)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		rc, out, errs := runCmd(t, args...)
		if rc != 0 || errs != "" {
			t.Errorf("%q: status %d, stderr %q", args, rc, errs)
		}
		for _, want := range []string{"Usage:", "demo", "version", "help", "run", "doctor", "bench"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: usage lacks %q:\n%s", args, want, out)
			}
		}
		if listed := strings.Contains(out, "not implemented yet"); listed != (len(planned) > 0) {
			t.Errorf("%q: usage lists planned commands: %v, want %v:\n%s", args, listed, len(planned) > 0, out)
		}
	}
}

func TestHelpCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"help", "demo"}, 0, "Usage: sdevent demo"},
		{[]string{"help", "version"}, 0, "Usage: sdevent version"},
		{[]string{"help", "bench"}, 0, "Usage: sdevent bench"},
		{[]string{"bench", "-h"}, 0, "-rounds"},
		{[]string{"demo", "-h"}, 0, "-ticks"},
		{[]string{"help", "frobnicate"}, 2, "unknown command"},
		{[]string{"help", "a", "b"}, 2, "at most one"},
	} {
		rc, out, errs := runCmd(t, tc.args...)
		if rc != tc.rc || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%q: status %d (want %d), output lacks %q:\n%s%s", tc.args, rc, tc.rc, tc.want, out, errs)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"--frobnicate"},
		{"demo", "-no-such-flag"},
		{"demo", "stray"},
		{"demo", "-ticks", "0"},
		{"demo", "-interval", "0s"},
	} {
		rc, out, errs := runCmd(t, args...)
		if rc != 2 {
			t.Errorf("%q: status %d, want 2", args, rc)
		}
		if out != "" || errs == "" {
			t.Errorf("%q: stdout %q, stderr %q: want the complaint on stderr only", args, out, errs)
		}
	}
	if _, _, errs := runCmd(t, "frobnicate"); !strings.Contains(errs, `unknown command "frobnicate"`) || !strings.Contains(errs, "Usage:") {
		t.Errorf("unknown command: stderr lacks the complaint or the usage:\n%s", errs)
	}
}

// TestPlanned: a planned command exits with status 3 and a note; none is
// also a command (bench was planned and is one now).
func TestPlanned(t *testing.T) {
	for _, p := range planned {
		rc, out, errs := runCmd(t, p.name)
		if rc != 3 || out != "" || !strings.Contains(errs, "not implemented yet") {
			t.Errorf("%s: status %d (want 3), stdout %q, stderr %q", p.name, rc, out, errs)
		}
	}
	names := map[string]bool{}
	for _, c := range commands() {
		names[c.name] = true
	}
	for _, p := range planned {
		if names[p.name] {
			t.Errorf("%s is both planned and a command", p.name)
		}
	}
	if !names["bench"] {
		t.Error("bench is not a command")
	}
}
