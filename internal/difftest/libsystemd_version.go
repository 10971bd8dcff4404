//go:build linux && libsystemd && cgo

package difftest

/*
#include "libsystemd.h"
*/
import "C"

import (
	"debug/elf"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Libsystemd returns the file of the libsystemd that RunC calls, as the
// dynamic linker loaded it, and the systemd version of its interface: the
// newest LIBSYSTEMD_<version> node among the file's symbol versions (252
// for Debian 12's libsystemd0, 262 for 262.1). libsystemd has no call that
// reports its version, and the build cache does not tell apart cgo builds
// that differ only in PKG_CONFIG_PATH, so this is how a test knows which
// library it compared against.
func Libsystemd() (path string, version int, err error) {
	p := C.dt_libsystemd_path()
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
