//go:build !linux

package main

import (
	"io"
)

// demo needs Linux, like the library: elsewhere every constructor of
// package sdevent fails with errors.ErrUnsupported.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "", "Runs a small event loop (Linux only).", stderr)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	sayln(stderr, "sdevent demo: go-sdevent runs on Linux only")
	return exitFailure
}

// runCommand needs Linux: see demo.
func runCommand(args []string, stdout, stderr io.Writer) int {
	sayln(stderr, "sdevent run: go-sdevent runs on Linux only")
	return exitFailure
}

// doctor needs Linux: see demo.
func doctor(args []string, stdout, stderr io.Writer) int {
	sayln(stderr, "sdevent doctor: go-sdevent runs on Linux only")
	return exitFailure
}
