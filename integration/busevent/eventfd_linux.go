//go:build linux

package busevent

import "golang.org/x/sys/unix"

// epollIn is what the bridge's IO source waits for on its eventfd.
const epollIn = unix.EPOLLIN

// newEventfd returns the counter that godbus's goroutines make readable to
// wake the loop.
func newEventfd() (int, error) {
	return unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
}
