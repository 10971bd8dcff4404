//go:build linux

package testutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Proc is what /proc/<pid>/stat says about a process.
type Proc struct {
	Pid   int
	Comm  string
	State byte // 'R', 'S', 'Z', ...
	PPid  int
}

func (p Proc) String() string {
	return fmt.Sprintf("pid %d (%s) state %c", p.Pid, p.Comm, p.State)
}

// ParseStat reads the first fields of a /proc/<pid>/stat line. The command
// name is in parentheses and may itself contain spaces and parentheses, so
// the fields after it are found from the last ')'.
func ParseStat(line string) (Proc, error) {
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return Proc{}, fmt.Errorf("stat %q: no command name", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return Proc{}, fmt.Errorf("stat %q: pid: %w", line, err)
	}
	fields := strings.Fields(line[closing+1:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return Proc{}, fmt.Errorf("stat %q: too few fields", line)
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return Proc{}, fmt.Errorf("stat %q: ppid: %w", line, err)
	}
	return Proc{Pid: pid, Comm: line[open+1 : closing], State: fields[0][0], PPid: ppid}, nil
}

// Children returns the processes whose parent is ppid, scanning /proc.
// Processes that exit during the scan are skipped.
func Children(ppid int) ([]Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []Proc
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := ParseStat(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, err
		}
		if p.PPid == ppid {
			kids = append(kids, p)
		}
	}
	return kids, nil
}

// Zombies returns the children of this process that have exited and were
// not reaped.
func Zombies() ([]Proc, error) {
	kids, err := Children(os.Getpid())
	if err != nil {
		return nil, err
	}
	var zs []Proc
	for _, k := range kids {
		if k.State == 'Z' {
			zs = append(zs, k)
		}
	}
	return zs, nil
}

// Threads returns the number of OS threads of the process, the "Threads:"
// line of /proc/self/status, and fails the test when it cannot be read.
func Threads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "Threads:"); found {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("/proc/self/status: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// PidfdPid reads the pid behind a pidfd from the "Pid:" line of
// /proc/self/fdinfo/<fd>. It is the tests' own reading, independent of the
// one in internal/sys that the code under test uses.
func PidfdPid(fd int) (int, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return -1, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "Pid:"); found {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return -1, errors.New("no Pid: line")
}
