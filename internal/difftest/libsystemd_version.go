//go:build linux && libsystemd && cgo

package difftest

import "github.com/go-sdevent/sdevent/internal/sdlib"

// Libsystemd returns the file and the systemd version of the libsystemd
// that RunC calls (see sdlib.Loaded), so that a test knows which library
// it compared against.
func Libsystemd() (path string, version int, err error) {
	return sdlib.Loaded()
}
