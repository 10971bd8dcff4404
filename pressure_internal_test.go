//go:build linux

package sdevent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestPressureSupported: without $*_PRESSURE_WATCH, adding a pressure source
// of any resource first checks that all three of the kernel's pressure
// files, cpu, io and memory, can be read, as sd-event 262's
// is_pressure_supported does, and gives EOPNOTSUPP when one is missing
// (or reading it is not supported), whatever the resource; another error
// is returned as it is. A kernel without usable PSI cannot be had on this
// machine, so a directory of the test's own stands in for /proc/pressure
// (pressureDir); the read-refused case (a kernel booted with psi=0 gives
// EOPNOTSUPP for the read) is checked through pressureUnsupported.
func TestPressureSupported(t *testing.T) {
	testutil.Check(t)
	for _, v := range []string{"MEMORY", "CPU", "IO"} {
		t.Setenv(v+"_PRESSURE_WATCH", "")
		if err := os.Unsetenv(v + "_PRESSURE_WATCH"); err != nil { // t.Setenv restores it afterwards
			t.Fatal(err)
		}
	}
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Unref()
	dir := t.TempDir()
	old := pressureDir
	pressureDir = dir
	defer func() { pressureDir = old }()
	for _, name := range []string{"cpu", "memory"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add := map[string]func() (*Source, error){
		"memory": func() (*Source, error) { return e.AddMemoryPressure(nil) },
		"cpu":    func() (*Source, error) { return e.AddCPUPressure(nil) },
		"io":     func() (*Source, error) { return e.AddIOPressure(nil) },
	}
	wantErr := func(what string, errno unix.Errno) {
		t.Helper()
		for name, f := range add {
			s, err := f()
			if !errors.Is(err, errno) {
				t.Errorf("%s: Add %s pressure: %v, want %v", what, name, err, errno)
			}
			if s != nil {
				s.Unref()
			}
		}
	}
	wantErr("io missing", unix.EOPNOTSUPP)

	if err := os.Mkdir(filepath.Join(dir, "io"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr("io a directory", unix.EBADF) // read_virtual_file wants a regular file

	if err := os.Remove(filepath.Join(dir, "io")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "io"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := pressureSupported(dir); !ok || err != nil {
		t.Errorf("all three files readable: supported %v, %v; want true", ok, err)
	}

	for _, errno := range []unix.Errno{unix.ENOENT, unix.EOPNOTSUPP, unix.ENOTTY, unix.ENOSYS, unix.EAFNOSUPPORT,
		unix.EPFNOSUPPORT, unix.EPROTONOSUPPORT, unix.ESOCKTNOSUPPORT, unix.ENOPROTOOPT} {
		if !pressureUnsupported(&os.PathError{Op: "read", Path: "cpu", Err: errno}) {
			t.Errorf("reading a pressure file failed with %v: not taken for PSI unsupported", errno)
		}
	}
	for _, errno := range []unix.Errno{unix.EACCES, unix.EPERM, unix.EBADF, unix.EIO} {
		if pressureUnsupported(&os.PathError{Op: "read", Path: "cpu", Err: errno}) {
			t.Errorf("reading a pressure file failed with %v: taken for PSI unsupported, want the error", errno)
		}
	}
}
