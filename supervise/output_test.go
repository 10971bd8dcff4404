//go:build linux

package supervise

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestOutputLines: the lines of stdout come in order, one call each,
// without their newline for a LineFunc, the last one unended at the end;
// all of them before Exited.
func TestOutputLines(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	rec.start(rec.spec(`printf 'a\nb\n\nc'`))
	rec.wait()
	if want := "started, line a, line b, line , line c, exited exited 0, done success"; rec.trace() != want {
		t.Fatalf("got  %s\nwant %s", rec.trace(), want)
	}
}

// TestOutputWriters: a Stdout and Stderr that are one writer (a
// bytes.Buffer, not a file) share one pipe, so their order is kept, with
// one Write per line; different writers get their own streams; a file is
// given to the child as it is.
func TestOutputWriters(t *testing.T) {
	e := newLoop(t)
	var both, out, errs writes
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	rec := newRecorder(t, e)
	spec := rec.spec("")
	spec.Restart, spec.RestartDelay = RestartAlways, -1
	script := "echo 1; echo 2 >&2; echo 3; printf 4 >&2"
	spec.Command = func() *exec.Cmd {
		n++
		c := exec.Command("sh", "-c", script)
		switch n {
		case 1:
			c.Stdout, c.Stderr = &both, &both
		case 2:
			c.Stdout, c.Stderr = &out, &errs
		default:
			c.Stdout, c.Stderr = f, f
		}
		return c
	}
	rec.onRestarting = func(sv *Service) {
		if n == 3 {
			_ = sv.Stop()
		}
	}
	rec.start(spec)
	rec.wait()
	if got := strings.Join(both.lines, "|"); got != "1\n|2\n|3\n|4" {
		t.Errorf("one writer: %q", got)
	}
	if got := strings.Join(out.lines, "|") + " " + strings.Join(errs.lines, "|"); got != "1\n|3\n 2\n|4" {
		t.Errorf("two writers: %q", got)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "1\n2\n3\n4" {
		t.Errorf("file: %q", b)
	}
}

// writes records each Write.
type writes struct{ lines []string }

func (w *writes) Write(p []byte) (int, error) {
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

// TestOutputLongLine: a line longer than LineMax comes in pieces of
// LineMax bytes.
func TestOutputLongLine(t *testing.T) {
	e := newLoop(t)
	var w writes
	rec := newRecorder(t, e)
	spec := rec.spec("")
	spec.Command = func() *exec.Cmd {
		c := exec.Command("sh", "-c", `head -c 100000 /dev/zero | tr '\0' x; echo; echo end`)
		c.Stdout = &w
		return c
	}
	rec.start(spec)
	rec.wait()
	var lens []int
	for _, l := range w.lines {
		lens = append(lens, len(l))
	}
	if len(lens) != 4 || lens[0] != LineMax || lens[1] != LineMax || lens[2] != 100000-2*LineMax+1 || w.lines[3] != "end\n" {
		t.Fatalf("pieces of %v", lens)
	}
}

// TestOutputGrandchildHoldsPipe: a grandchild that keeps the pipe open
// delays nothing but the end of the output: the exit is seen and the
// service done while the pipe is still open, and the grandchild's line
// comes later, from the loop. (os/exec's goroutine copying into a non-file writer would make
// cmd.Wait, and with it the loop, wait for the grandchild.)
func TestOutputGrandchildHoldsPipe(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("(sleep 0.4; echo late) & echo early")
	spec.KillMode = KillProcess // the grandchild lives on
	var open int
	rec.onDone = func(sv *Service, _ Result) { open = len(sv.outputs) }
	sv := rec.start(spec)
	rec.wait()
	if want := "started, line early, exited exited 0, done success"; rec.trace() != want {
		t.Fatalf("got  %s\nwant %s", rec.trace(), want)
	}
	if open != 1 {
		t.Fatalf("%d pipes open when the service was done, want 1: the grandchild's", open)
	}
	testutil.RunUntil(t, e, "the end of the output", func() bool { return len(sv.outputs) == 0 })
	if got := rec.events[len(rec.events)-1]; got.String() != "line late" {
		t.Fatalf("%s", rec.trace())
	}
}

// TestOutputClose: Close closes the pipes a grandchild still writes to;
// it dies of SIGPIPE, and nothing is left open.
func TestOutputClose(t *testing.T) {
	e := newLoop(t)
	rec := newRecorder(t, e)
	spec := rec.spec("(while echo x; do sleep 0.01; done) & echo $! >&2")
	spec.KillMode = KillProcess // the grandchild is left to the pipe
	var grandchild int
	cmd := spec.Command
	spec.Command = func() *exec.Cmd {
		c := cmd()
		c.Stderr = LineFunc(func(line []byte) { grandchild = pidfdOf(t, atoi(t, string(line))) })
		return c
	}
	sv := rec.start(spec)
	rec.wait()
	testutil.RunUntil(t, e, "the grandchild's lines", func() bool { return grandchild != 0 && len(rec.find("line")) > 5 })
	// The grandchild holds both pipes: stdout and stderr.
	before, pipes := testutil.FdCount(), len(sv.outputs)
	sv.Close()
	if after := testutil.FdCount(); pipes != 2 || after != before-2 {
		t.Fatalf("%d fds before Close (%d pipes), %d after: want the pipes closed", before, pipes, after)
	}
	if !exitsWithin(t, grandchild, 5*time.Second) {
		t.Fatal("the grandchild still writes to a closed pipe")
	}
}

// TestOutputNoGoroutine: a service whose output goes to writers adds no
// goroutine and no thread while its command runs.
func TestOutputNoGoroutine(t *testing.T) {
	e := newLoop(t)
	var buf bytes.Buffer
	rec := newRecorder(t, e)
	spec := rec.spec("")
	spec.Command = func() *exec.Cmd {
		c := exec.Command("sh", "-c", "echo up; exec sleep 30")
		c.Stdout, c.Stderr = &buf, &buf
		return c
	}
	before, threads := runtime.NumGoroutine(), testutil.Threads(t)
	sv := rec.start(spec)
	testutil.RunUntil(t, e, "output", func() bool { return buf.Len() > 0 })
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines with the command running, %d before", n, before)
	}
	if n := testutil.Threads(t); n > threads {
		t.Fatalf("%d threads with the command running, %d before", n, threads)
	}
	if err := sv.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.wait()
}
