//go:build linux

package sdevent

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Error is what every failing call of this package returns: the operation
// that failed and why. Err is, or wraps, the unix.Errno that sd-event returns
// in the same situation, so errors.Is(err, unix.EBUSY) holds exactly where
// sd-event would return -EBUSY.
type Error struct {
	Op  string // "add io", "set enabled", "prepare", ...
	Err error
}

func (e *Error) Error() string { return "sdevent: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause, a unix.Errno or an error wrapping one.
func (e *Error) Unwrap() error { return e.Err }

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Err: err}
}

// errnoOf returns the errno an error stands for, the way a C handler's
// negative return would: the wrapped unix.Errno, else EIO.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return unix.EIO
}
