//go:build linux

package sdevent_test

// Tests of memory pressure sources (memorypressure.go), against real
// FIFOs, sockets and PSI files.

import (
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestMemoryPressureFifo: with $MEMORY_PRESSURE_WATCH on a FIFO, the trigger
// from $MEMORY_PRESSURE_WRITE is written before the first poll, and data on
// the FIFO dispatches the source; the trigger is locked (EBUSY).
func TestMemoryPressureFifo(t *testing.T) {
	fd := memoryPressureFifo(t)
	e := newLoop(t)
	calls := 0
	s := keep(t)(e.AddMemoryPressure(func(*sdevent.Source) error { calls++; return nil }))
	_, err := s.SetMemoryPressureType("full")
	wantErrno(t, "SetMemoryPressureType on an environment trigger", err, unix.EBUSY)
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
}

// TestMemoryPressureSocket: $MEMORY_PRESSURE_WATCH may name an AF_UNIX stream
// socket: the source connects, writes its trigger, and data dispatches it.
func TestMemoryPressureSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pressure.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("MEMORY_PRESSURE_WATCH", path)
	t.Setenv("MEMORY_PRESSURE_WRITE", base64.StdEncoding.EncodeToString([]byte("watch me")))
	e := newLoop(t)
	calls := 0
	keep(t)(e.AddMemoryPressure(func(*sdevent.Source) error { calls++; return e.Exit(0) }))
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

// TestMemoryPressureSystem: without $MEMORY_PRESSURE_WATCH the source
// watches the kernel's PSI (the cgroup's, else /proc/pressure/memory) with a
// default trigger that may be changed until it is written.
func TestMemoryPressureSystem(t *testing.T) {
	// t.Setenv records the value to restore at cleanup; then unset it.
	t.Setenv("MEMORY_PRESSURE_WATCH", "")
	ok(t, "unsetenv", os.Unsetenv("MEMORY_PRESSURE_WATCH"))
	e := newLoop(t)
	s := keep(t)(e.AddMemoryPressure(nil))
	if changed, err := s.SetMemoryPressureType("full"); !changed || err != nil {
		t.Fatalf("SetMemoryPressureType(full) = %v, %v", changed, err)
	}
	if changed, err := s.SetMemoryPressureType("full"); changed || err != nil {
		t.Fatalf("SetMemoryPressureType(full) again = %v, %v", changed, err)
	}
	_, err := s.SetMemoryPressureType("most")
	wantErrno(t, "SetMemoryPressureType(most)", err, unix.EINVAL)
	_, err = s.SetMemoryPressurePeriod(0, time.Second)
	wantErrno(t, "threshold 0", err, unix.ERANGE)
	_, err = s.SetMemoryPressurePeriod(2*time.Second, time.Second)
	wantErrno(t, "threshold > window", err, unix.EINVAL)
	if changed, err := s.SetMemoryPressurePeriod(150*time.Millisecond, 2*time.Second); !changed || err != nil {
		t.Fatalf("SetMemoryPressurePeriod = %v, %v", changed, err)
	}
	run(t, e, 0) // the trigger is written now
	if en, _ := s.Enabled(); en != source.On {
		t.Fatalf("the kernel refused the trigger: source is %v", en)
	}
	_, err = s.SetMemoryPressurePeriod(100*time.Millisecond, 2*time.Second)
	wantErrno(t, "SetMemoryPressurePeriod after the write", err, unix.EBUSY)
}

// TestMemoryPressureErrors: the errors of sd_event_add_memory_pressure.
func TestMemoryPressureErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		watch string
		want  unix.Errno
	}{
		{"", unix.EHOSTDOWN},
		{"/dev/null", unix.EHOSTDOWN},
		{"relative/path", unix.EBADMSG},
		{dir + "/../x", unix.EBADMSG},
		{dir, unix.EISDIR},
		{regular, unix.ENOTTY},
		{filepath.Join(dir, "missing"), unix.ENOENT},
	} {
		t.Run(tc.watch, func(t *testing.T) {
			t.Setenv("MEMORY_PRESSURE_WATCH", tc.watch)
			e := newLoop(t)
			before := openFds(t)
			s, err := e.AddMemoryPressure(nil)
			if s != nil {
				s.Unref()
			}
			wantErrno(t, "AddMemoryPressure", err, tc.want)
			if after := openFds(t); after != before {
				t.Errorf("fds %d before, %d after a failed add", before, after)
			}
		})
	}
	e := newLoop(t)
	d := keep(t)(e.AddDefer(nil))
	_, err := d.SetMemoryPressureType("some")
	wantErrno(t, "SetMemoryPressureType on a defer source", err, unix.EDOM)
}
