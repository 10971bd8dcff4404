//go:build linux

package testutil

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The harness checks itself: every test below cleans up what it made.
func TestMain(m *testing.M) { Main(m) }

func TestEveryTestChecksLeaks(t *testing.T) { CheckEveryTest(t) }

func TestOpenFdsSeesNewDescriptor(t *testing.T) {
	Check(t)
	before, err := OpenFds()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	after, err := OpenFds()
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	leaked := before.Leaked(after, nil)
	if !slices.Contains(leaked, Fd{fd, "anon_inode:[eventfd]"}) {
		t.Errorf("Leaked = %v, want it to list fd %d -> anon_inode:[eventfd]", leaked, fd)
	}
	if got := len(after) - len(before); got < 1 {
		t.Errorf("descriptor count grew by %d, want >= 1", got)
	}
	if err := unix.Close(fd); err != nil {
		t.Fatal(err)
	}
	closed, err := OpenFds()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := closed[fd]; ok {
		t.Errorf("fd %d still listed after close", fd)
	}
}

func TestFdTableLeaked(t *testing.T) {
	Check(t)
	before := FdTable{0: "/dev/null", 1: "pipe:[10]", 3: "pipe:[11]", 4: "anon_inode:[eventpoll]"}
	after := FdTable{
		0: "/dev/null",              // unchanged
		1: "pipe:[10]",              // unchanged
		3: "pipe:[12]",              // closed and reused for something else
		5: "socket:[99]",            // new
		6: "/tmp/go-test/testlog",   // new but ignored
		7: "anon_inode:[eventpoll]", // new, same target as an old fd
	}
	ignore := func(target string) bool { return strings.HasSuffix(target, "testlog") }
	got := before.Leaked(after, ignore)
	want := []Fd{{3, "pipe:[12]"}, {5, "socket:[99]"}, {7, "anon_inode:[eventpoll]"}}
	if !slices.Equal(got, want) {
		t.Errorf("Leaked = %v, want %v", got, want)
	}
	if got := before.Leaked(before, nil); len(got) != 0 {
		t.Errorf("Leaked(same) = %v, want none", got)
	}
}

const dumpBefore = `goroutine 1 [running]:
main.main()
	/src/main.go:10 +0x1d

goroutine 6 [syscall]:
os/signal.signal_recv()
	/go/src/runtime/sigqueue.go:152 +0x29
os/signal.loop()
	/go/src/os/signal/signal_unix.go:23 +0x13
created by os/signal.Notify.func1.1 in goroutine 1
	/go/src/os/signal/signal.go:151 +0x1f
`

const dumpAfter = `goroutine 1 [running]:
main.main()
	/src/main.go:12 +0x1d

goroutine 6 [syscall]:
os/signal.signal_recv()
	/go/src/runtime/sigqueue.go:152 +0x29
os/signal.loop()
	/go/src/os/signal/signal_unix.go:23 +0x13
created by os/signal.Notify.func1.1 in goroutine 1
	/go/src/os/signal/signal.go:151 +0x1f

goroutine 21 [chan receive, 3 minutes]:
github.com/go-sdevent/sdevent.(*Event).watch(0xc000010000)
	/src/event.go:99 +0x45
created by github.com/go-sdevent/sdevent.New in goroutine 19
	/src/event.go:40 +0x99

goroutine 22 [select]:
example.com/x.helper()
	/src/x.go:5 +0x10

goroutine 30 [syscall]:
os/signal.signal_recv()
	/go/src/runtime/sigqueue.go:152 +0x29
os/signal.loop()
	/go/src/os/signal/signal_unix.go:23 +0x13
`

func TestParseGoroutines(t *testing.T) {
	Check(t)
	gs := ParseGoroutines(dumpAfter)
	if len(gs) != 5 {
		t.Fatalf("parsed %d goroutines, want 5: %+v", len(gs), gs)
	}
	g := gs[2]
	if g.ID != 21 || g.State != "chan receive" || g.Top != "github.com/go-sdevent/sdevent.(*Event).watch" {
		t.Errorf("goroutine 21 parsed as id=%d state=%q top=%q", g.ID, g.State, g.Top)
	}
	if !strings.HasPrefix(g.Stack, "goroutine 21 [") || !strings.Contains(g.Stack, "created by github.com/go-sdevent/sdevent.New") {
		t.Errorf("goroutine 21 stack = %q", g.Stack)
	}
}

func TestLeakedGoroutines(t *testing.T) {
	Check(t)
	before, after := ParseGoroutines(dumpBefore), ParseGoroutines(dumpAfter)
	var ids []uint64
	for _, g := range LeakedGoroutines(before, after, nil) {
		ids = append(ids, g.ID)
	}
	// 1 and 6 existed before; 30 is a signal forwarder that lives forever.
	if want := []uint64{21, 22}; !slices.Equal(ids, want) {
		t.Errorf("leaked ids = %v, want %v", ids, want)
	}
	ignore := func(g Goroutine) bool { return strings.HasPrefix(g.Top, "example.com/") }
	if got := LeakedGoroutines(before, after, ignore); len(got) != 1 || got[0].ID != 21 {
		t.Errorf("with ignore: leaked = %+v, want only goroutine 21", got)
	}
}

func TestGoroutineLeakDetectedThenSettles(t *testing.T) {
	Check(t)
	before, err := TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		<-release
	}()
	r, err := before.Check(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Goroutines) != 1 || !strings.Contains(r.Goroutines[0].Top, "TestGoroutineLeakDetectedThenSettles") {
		t.Errorf("Check found goroutines %+v, want the one blocked in this test", r.Goroutines)
	}
	if s := r.String(); !strings.Contains(s, "1 goroutine(s) leaked") || !strings.Contains(s, "TestGoroutineLeakDetectedThenSettles") {
		t.Errorf("report does not show the leaked stack:\n%s", s)
	}
	close(release)
	r, err = before.Settle(Options{Settle: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Goroutines) != 0 {
		t.Errorf("after release, Settle still reports %+v", r.Goroutines)
	}
	<-exited
}

func TestParseStat(t *testing.T) {
	Check(t)
	for _, tc := range []struct {
		line string
		want Proc
		bad  bool
	}{
		{line: "1 (systemd) S 0 1 1 0 -1 4194560", want: Proc{1, "systemd", 'S', 0}},
		{line: "4242 (a (b) c) Z 77 4242 4242 0 -1", want: Proc{4242, "a (b) c", 'Z', 77}},
		{line: "9 (x) ) R 3 9", want: Proc{9, "x) ", 'R', 3}},
		{line: "garbage", bad: true},
		{line: "12 (x) R", bad: true},
		{line: "x (y) R 1", bad: true},
	} {
		got, err := ParseStat(tc.line)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseStat(%q) = %+v, want an error", tc.line, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseStat(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
}

func TestZombieChildDetected(t *testing.T) {
	Check(t)
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { _ = cmd.Wait() }()

	// The child exits by itself; until it is waited for it is a zombie.
	// Poll /proc until the kernel shows that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		zs, err := Zombies()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(zs, func(p Proc) bool { return p.Pid == pid }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never showed up as a zombie; zombies: %v", pid, zs)
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	zs, err := Zombies()
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(zs, func(p Proc) bool { return p.Pid == pid }) {
		t.Errorf("child %d still a zombie after Wait", pid)
	}
}

func TestPipeAndEventfd(t *testing.T) {
	Check(t)
	var r, w, efd int
	t.Run("make", func(t *testing.T) {
		r, w = Pipe(t)
		efd = Eventfd(t)
		for _, fd := range []int{r, w, efd} {
			fdFlags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || fdFlags&unix.FD_CLOEXEC == 0 {
				t.Errorf("fd %d: F_GETFD = %#x, %v; want FD_CLOEXEC", fd, fdFlags, err)
			}
			flFlags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil || flFlags&unix.O_NONBLOCK == 0 {
				t.Errorf("fd %d: F_GETFL = %#x, %v; want O_NONBLOCK", fd, flFlags, err)
			}
		}
		Write(t, w, []byte("x"))
		buf := make([]byte, 4)
		if n, err := unix.Read(r, buf); n != 1 || err != nil {
			t.Errorf("read pipe: %d, %v", n, err)
		}
		if _, err := unix.Read(r, buf); err != unix.EAGAIN {
			t.Errorf("read empty pipe: %v, want EAGAIN", err)
		}
		Write(t, efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	for _, fd := range []int{r, w, efd} {
		if FdOpen(fd) {
			t.Errorf("fd %d still open after the test that made it ended", fd)
		}
	}
}

func TestCloseAndDisown(t *testing.T) {
	Check(t)
	var reused, kept int
	t.Run("close-early", func(t *testing.T) {
		r, _ := Pipe(t)
		Close(t, r)
		// The lowest free number is r's again: the cleanup must not close
		// whatever took it.
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		reused = fd
	})
	if !FdOpen(reused) {
		t.Errorf("fd %d, opened after Close, was closed by the cleanup", reused)
	}
	unix.Close(reused)

	t.Run("disown", func(t *testing.T) {
		_, w := Pipe(t)
		Disown(t, w)
		kept = w
	})
	if !FdOpen(kept) {
		t.Errorf("disowned fd %d was closed by the cleanup", kept)
	}
	unix.Close(kept)
}

func TestFdCount(t *testing.T) {
	Check(t)
	n := FdCount()
	if n < 3 {
		t.Fatalf("FdCount = %d, want at least stdin, stdout, stderr", n)
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if got := FdCount(); got != n+1 {
		t.Errorf("FdCount after eventfd = %d, want %d", got, n+1)
	}
	unix.Close(fd)
	if got := FdCount(); got != n {
		t.Errorf("FdCount after close = %d, want %d", got, n)
	}
}

func TestReportString(t *testing.T) {
	Check(t)
	r := Report{
		Fds:     []Fd{{7, "pipe:[1]"}},
		Zombies: []Proc{{Pid: 99, Comm: "true", State: 'Z', PPid: 1}},
		Running: []Proc{{Pid: 100, Comm: "sleep", State: 'S', PPid: 1}},
	}
	s := r.String()
	for _, want := range []string{"1 file descriptor(s) leaked", "fd 7 -> pipe:[1]", "zombie", "pid 99 (true) state Z", "still running", "pid 100 (sleep)"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if r.Empty() || !(Report{}).Empty() {
		t.Error("Empty is wrong")
	}
}

// TestThreadsAndPidfdPid: Threads counts this process's threads (a Go
// process has several), and PidfdPid reads back the pid a pidfd was opened
// for, and fails for a descriptor that is not a pidfd.
func TestThreadsAndPidfdPid(t *testing.T) {
	Check(t)
	if n := Threads(t); n < 2 {
		t.Errorf("Threads = %d, want at least 2 for a Go process", n)
	}
	fd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if pid, err := PidfdPid(fd); err != nil || pid != unix.Getpid() {
		t.Errorf("PidfdPid = %d, %v; want %d, nil", pid, err, unix.Getpid())
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if pid, err := PidfdPid(efd); err == nil {
		t.Errorf("PidfdPid(eventfd) = %d, nil; want an error", pid)
	}
}
