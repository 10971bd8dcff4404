//go:build !linux

package main

import (
	"io"
)

// benchCommand needs Linux, like the library: see demo.
func benchCommand(args []string, stdout, stderr io.Writer) int {
	sayln(stderr, "sdevent bench: go-sdevent runs on Linux only")
	return exitFailure
}
