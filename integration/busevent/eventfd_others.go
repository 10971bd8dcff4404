//go:build !linux

package busevent

import "errors"

// epollIn is EPOLLIN's value; off Linux no loop exists to wait with it.
const epollIn = 0x1

// newEventfd fails: eventfds, like event loops, need Linux.
func newEventfd() (int, error) { return -1, errors.ErrUnsupported }
