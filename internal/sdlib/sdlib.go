//go:build linux && libsystemd && cgo

// Package sdlib tells which libsystemd the process loaded. It exists for
// the packages that call libsystemd through cgo (the differential test and
// the benchmark's C contender), which must say which C they compared with:
// libsystemd has no call that reports its version, and the go command's
// build cache does not tell apart cgo builds that differ only in
// PKG_CONFIG_PATH.
package sdlib

/*
#cgo pkg-config: libsystemd
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <systemd/sd-event.h>

static const char *sdlib_path(void) {
	Dl_info info;

	if (dladdr((void *) sd_event_new, &info) == 0 || !info.dli_fname)
		return NULL;
	return info.dli_fname;
}
*/
import "C"

import (
	"debug/elf"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Loaded returns the file of the libsystemd that sd_event_new resolves to,
// as the dynamic linker loaded it, and the systemd version of its
// interface: the newest LIBSYSTEMD_<version> node among the file's symbol
// versions (252 for Debian 12's libsystemd0, 262 for 262.1). A process
// loads one libsystemd.so.0, so every cgo package of the process calls
// this one.
func Loaded() (path string, version int, err error) {
	p := C.sdlib_path()
	if p == nil {
		return "", 0, errors.New("dladdr: no file for sd_event_new")
	}
	path = C.GoString(p)
	f, err := elf.Open(path)
	if err != nil {
		return path, 0, err
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	vers, err := f.DynamicVersions()
	if err != nil {
		return path, 0, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range vers {
		n, ok := strings.CutPrefix(v.Name, "LIBSYSTEMD_")
		if !ok {
			continue
		}
		if x, err := strconv.Atoi(n); err == nil && x > version {
			version = x
		}
	}
	if version == 0 {
		return path, 0, fmt.Errorf("%s: no LIBSYSTEMD_<version> symbol version", path)
	}
	return path, version, nil
}
