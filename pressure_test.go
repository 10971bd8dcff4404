//go:build linux

package sdevent_test

// Tests of the pressure machinery shared by memory, CPU and IO pressure
// sources (pressure.go), against real FIFOs and the kernel's PSI files.
// The rules are sd-event 261's, checked against libsystemd 262: each
// resource reads its own $<RESOURCE>_PRESSURE_WATCH/_WRITE, cgroup file and
// /proc/pressure/<resource>, and its setters refuse other kinds with EDOM.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// pressureKind is one resource's calls.
type pressureKind struct {
	name      string // as in /proc/pressure/<name>
	env       string // the prefix of its environment variables
	add       func(*sdevent.Event, sdevent.Handler) (*sdevent.Source, error)
	setType   func(*sdevent.Source, string) error
	setPeriod func(*sdevent.Source, time.Duration, time.Duration) error
}

// The memory setters also report whether they changed anything (see
// TestMemoryPressureChanged); the CPU and IO ones return only an error.
var pressureKinds = []pressureKind{
	{"memory", "MEMORY", (*sdevent.Event).AddMemoryPressure,
		func(s *sdevent.Source, ty string) error { _, err := s.SetMemoryPressureType(ty); return err },
		func(s *sdevent.Source, th, w time.Duration) error {
			_, err := s.SetMemoryPressurePeriod(th, w)
			return err
		}},
	{"cpu", "CPU", (*sdevent.Event).AddCPUPressure,
		(*sdevent.Source).SetCPUPressureType, (*sdevent.Source).SetCPUPressurePeriod},
	{"io", "IO", (*sdevent.Event).AddIOPressure,
		(*sdevent.Source).SetIOPressureType, (*sdevent.Source).SetIOPressurePeriod},
}

// unsetPressureEnv unsets every resource's watch and write variables for
// the test (t.Setenv records the value to restore at cleanup).
func unsetPressureEnv(t *testing.T) {
	for _, k := range pressureKinds {
		for _, v := range []string{k.env + "_PRESSURE_WATCH", k.env + "_PRESSURE_WRITE"} {
			t.Setenv(v, "")
			ok(t, "unsetenv", os.Unsetenv(v))
		}
	}
}

// fdsOn counts this process's fds open on path.
func fdsOn(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name())); err == nil && l == path {
			n++
		}
	}
	return n
}

// TestPressureFifo: $<RESOURCE>_PRESSURE_WATCH on a FIFO, with the trigger
// of $<RESOURCE>_PRESSURE_WRITE written before the first poll, data on the
// FIFO dispatching the source, and the trigger locked (EBUSY). The variables
// of the other resources are set to /dev/null and must not matter (C's
// test-event.c test_fake_pressure runs the same for the three resources).
func TestPressureFifo(t *testing.T) {
	for _, k := range pressureKinds {
		t.Run(k.name, func(t *testing.T) {
			unsetPressureEnv(t)
			for _, other := range pressureKinds {
				if other.name != k.name {
					t.Setenv(other.env+"_PRESSURE_WATCH", "/dev/null")
				}
			}
			fd := pressureFifo(t, k.env)
			e := newLoop(t)
			calls := 0
			s := keep(t)(k.add(e, func(*sdevent.Source) error { calls++; return nil }))
			wantErrno(t, "set type on an environment trigger", k.setType(s, "full"), unix.EBUSY)
			wantErrno(t, "set period on an environment trigger", k.setPeriod(s, time.Millisecond, 2*time.Second), unix.EBUSY)
			if p, err := e.Prepare(); err != nil || p {
				t.Fatalf("Prepare = %v, %v", p, err)
			}
			buf := make([]byte, 64)
			if n, err := unix.Read(fd, buf); err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("trigger on the FIFO: %q, %v", buf[:max(n, 0)], err)
			}
			if p, err := e.Wait(0); err != nil || p {
				t.Fatalf("Wait(0) with nothing on the FIFO = %v, %v", p, err)
			}
			writeByte(t, fd)
			if !run(t, e, long) || calls != 1 {
				t.Fatalf("no dispatch for data on the FIFO (calls %d)", calls)
			}
		})
	}
}

// TestPressureSocket: $<RESOURCE>_PRESSURE_WATCH may name an AF_UNIX stream
// socket: the source connects, writes its trigger, and data dispatches it.
func TestPressureSocket(t *testing.T) {
	for _, k := range pressureKinds {
		t.Run(k.name, func(t *testing.T) { testPressureSocket(t, k) })
	}
}

func testPressureSocket(t *testing.T, k pressureKind) {
	unsetPressureEnv(t)
	path := filepath.Join(t.TempDir(), "pressure.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv(k.env+"_PRESSURE_WATCH", path)
	t.Setenv(k.env+"_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("watch me")))
	e := newLoop(t)
	calls := 0
	keep(t)(k.add(e, func(*sdevent.Source) error { calls++; return e.Exit(0) }))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run(t, e, 0) // writes the trigger
	buf := make([]byte, 64)
	ok(t, "SetReadDeadline", c.SetReadDeadline(time.Now().Add(long)))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "watch me" {
		t.Fatalf("trigger on the socket: %q, %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	loop(t, e)
	if calls != 1 {
		t.Fatalf("handler calls %d, want 1", calls)
	}
}

// TestPressureSystem: without $<RESOURCE>_PRESSURE_WATCH, the source opens
// the kernel's PSI file of its own resource (this machine has no cgroup v2
// hierarchy: /proc/pressure/<resource>), the default trigger may be changed
// until the first iteration writes it, and the kernel accepts what was
// written: the source stays On. libsystemd 262 does the same here: "full"
// accepted on the three files, EBUSY once written.
func TestPressureSystem(t *testing.T) {
	for _, k := range pressureKinds {
		t.Run(k.name, func(t *testing.T) {
			unsetPressureEnv(t)
			psi := "/proc/pressure/" + k.name
			before := fdsOn(t, psi)
			e := newLoop(t)
			s := keep(t)(k.add(e, nil))
			if n := fdsOn(t, psi) - before; n != 1 {
				t.Fatalf("%d new fds on %s, want 1", n, psi)
			}
			ok(t, "set type full", k.setType(s, "full"))
			wantErrno(t, "set type most", k.setType(s, "most"), unix.EINVAL)
			wantErrno(t, "threshold 0", k.setPeriod(s, 0, time.Second), unix.ERANGE)
			wantErrno(t, "window Infinity", k.setPeriod(s, time.Second, sdevent.Infinity), unix.ERANGE)
			wantErrno(t, "threshold > window", k.setPeriod(s, 2*time.Second, time.Second), unix.EINVAL)
			ok(t, "set period", k.setPeriod(s, 150*time.Millisecond, 2*time.Second))
			run(t, e, 0) // the trigger is written now
			if en, _ := s.Enabled(); en != source.On {
				t.Fatalf("the kernel refused the trigger: source is %v", en)
			}
			wantErrno(t, "set type after the write", k.setType(s, "some"), unix.EBUSY)
		})
	}
}

// TestPressureErrors: the errors of sd_event_add_cpu_pressure and
// sd_event_add_io_pressure are those of sd_event_add_memory_pressure, read
// from the resource's own variable (libsystemd 262 gives the same errno for
// each case and each resource).
func TestPressureErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	ok(t, "write file", os.WriteFile(regular, nil, 0o600))
	for _, k := range pressureKinds {
		for _, tc := range []struct {
			name  string
			watch string
			want  unix.Errno
		}{
			{"empty", "", unix.EHOSTDOWN},
			{"dev-null", "/dev/null", unix.EHOSTDOWN},
			{"relative", "relative/path", unix.EBADMSG},
			{"unnormalized", dir + "/../x", unix.EBADMSG},
			{"directory", dir, unix.EISDIR},
			{"regular-file", regular, unix.ENOTTY},
			{"missing", filepath.Join(dir, "missing"), unix.ENOENT},
		} {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				unsetPressureEnv(t)
				t.Setenv(k.env+"_PRESSURE_WATCH", tc.watch)
				e := newLoop(t)
				before := openFds(t)
				s, err := k.add(e, nil)
				if s != nil {
					s.Unref()
				}
				wantErrno(t, "add "+k.name+" pressure", err, tc.want)
				if after := openFds(t); after != before {
					t.Errorf("fds %d before, %d after a failed add", before, after)
				}
			})
		}
	}
}

// pressureSecureEnv runs TestPressureSecureEnv as its helper.
const pressureSecureEnv = "SDEVENT_PRESSURE_SECURE_HELPER"

// TestPressureSecureEnv: a set-user-ID program ignores the pressure
// variables, as sd-event reads them with secure_getenv: whoever starts it
// cannot choose the file it opens and writes to. libsystemd 262, run
// set-user-ID root by nobody with $<RESOURCE>_PRESSURE_WATCH=/dev/null,
// adds the sources (checked with a C program); run plainly it gives
// EHOSTDOWN (TestPressureErrors). The test binary is copied set-user-ID
// root and run as nobody, which the kernel marks AT_SECURE.
func TestPressureSecureEnv(t *testing.T) {
	if os.Getenv(pressureSecureEnv) != "" {
		os.Exit(pressureSecureHelper())
	}
	testutil.Check(t)
	if os.Geteuid() != 0 {
		t.Fatal("needs root to make a set-user-ID copy of the test binary")
	}
	dir, err := os.MkdirTemp("", "sdevent-setuid")
	ok(t, "temp dir", err)
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	ok(t, "chmod", os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "sdevent.test")
	self, err := os.ReadFile(os.Args[0])
	ok(t, "read test binary", err)
	ok(t, "write copy", os.WriteFile(bin, self, 0o755))
	ok(t, "chmod setuid", os.Chmod(bin, 0o755|os.ModeSetuid))
	cmd := exec.Command(bin, "-test.run=^TestPressureSecureEnv$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{pressureSecureEnv + "=1", "GORACE=atexit_sleep_ms=0"}
	for _, k := range pressureKinds {
		cmd.Env = append(cmd.Env, k.env+"_PRESSURE_WATCH=/dev/null")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("set-user-ID helper: %v\n%s", err, out)
	}
}

// pressureSecureHelper adds a source of each kind and reports on stderr,
// exiting 1, any that the variables turned off.
func pressureSecureHelper() int {
	if os.Geteuid() == os.Getuid() {
		fmt.Fprintln(os.Stderr, "the helper does not run set-user-ID")
		return 1
	}
	adds := map[string]func(*sdevent.Event) (*sdevent.Source, error){}
	for _, k := range pressureKinds {
		adds["add "+k.name+" pressure set-user-ID, $"+k.env+"_PRESSURE_WATCH read"] = func(e *sdevent.Event) (*sdevent.Source, error) {
			return k.add(e, nil)
		}
	}
	return helperAdds(adds, func(err error) bool { return errors.Is(err, unix.EHOSTDOWN) })
}

// TestPressureSetterKind: each resource's setters refuse every other kind
// of source with EDOM, another pressure kind included (libsystemd 262:
// sd_event_source_set_cpu_pressure_type on a memory pressure source is
// -EDOM), before looking at their arguments.
func TestPressureSetterKind(t *testing.T) {
	unsetPressureEnv(t)
	e := newLoop(t)
	srcs := []*sdevent.Source{keep(t)(e.AddDefer(nil))}
	for _, k := range pressureKinds {
		srcs = append(srcs, keep(t)(k.add(e, nil)))
	}
	for i, k := range pressureKinds {
		for j, s := range srcs {
			if j == i+1 {
				continue
			}
			name := k.name + " setter on source " + strconv.Itoa(j)
			wantErrno(t, name, k.setType(s, "bogus"), unix.EDOM)
			wantErrno(t, name, k.setPeriod(s, 0, 0), unix.EDOM)
		}
	}
}

// TestMemoryPressureChanged: the memory setters report whether they changed
// the trigger, as C's return of 1 or 0 (test-event.c's real_memory_pressure).
func TestMemoryPressureChanged(t *testing.T) {
	unsetPressureEnv(t)
	e := newLoop(t)
	s := keep(t)(e.AddMemoryPressure(nil))
	for _, tc := range []struct {
		what string
		set  func() (bool, error)
		want bool
	}{
		{"some, the default", func() (bool, error) { return s.SetMemoryPressureType("some") }, false},
		{"full", func() (bool, error) { return s.SetMemoryPressureType("full") }, true},
		{"full again", func() (bool, error) { return s.SetMemoryPressureType("full") }, false},
		{"period", func() (bool, error) { return s.SetMemoryPressurePeriod(150*time.Millisecond, 2*time.Second) }, true},
		{"period again", func() (bool, error) { return s.SetMemoryPressurePeriod(150*time.Millisecond, 2*time.Second) }, false},
	} {
		if changed, err := tc.set(); changed != tc.want || err != nil {
			t.Errorf("%s = %v, %v, want %v", tc.what, changed, err, tc.want)
		}
	}
}
