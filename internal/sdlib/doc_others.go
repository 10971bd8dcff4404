//go:build !linux || !libsystemd || !cgo

// Package sdlib tells which libsystemd the process loaded; it has content
// only in a Linux build with the tag libsystemd and cgo.
package sdlib
