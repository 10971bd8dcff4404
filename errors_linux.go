package sdevent

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errnoOf returns the errno an error stands for, the way a C handler's
// negative return would: the wrapped unix.Errno, else EIO.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return unix.EIO
}
