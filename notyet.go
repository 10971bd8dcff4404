//go:build linux

package sdevent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// errNotYet is what the source kinds that are not built yet return.
func errNotYet(op string) error {
	return opErr(op, fmt.Errorf("not implemented yet: %w", unix.EOPNOTSUPP))
}
