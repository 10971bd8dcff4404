package bench

import (
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// FloorEventfd is io_idle0 in Go without a loop, through x/sys/unix, with
// the loop's yield to the scheduler every 2 ms (without it sysmon preempts
// a goroutine it sees running for 10 ms and then wakes every 20 µs).
func (GoSdevent) FloorEventfd(n int) (time.Duration, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer func() { _ = unix.Close(efd) }()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer func() { _ = unix.Close(ep) }()
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		return 0, err
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	buf := make([]byte, 8)
	events := make([]unix.EpollEvent, 4)
	if _, err := unix.Write(efd, one); err != nil {
		return 0, err
	}
	t0 := time.Now()
	yielded := t0
	for i := range n {
		k, err := unix.EpollWait(ep, events, -1)
		for errors.Is(err, unix.EINTR) {
			k, err = unix.EpollWait(ep, events, -1)
		}
		if k != 1 || err != nil {
			return 0, errors.Join(errors.New("epoll_wait"), err)
		}
		if _, err := unix.Read(efd, buf); err != nil {
			return 0, err
		}
		if _, err := unix.Write(efd, one); err != nil {
			return 0, err
		}
		if i%128 == 127 && time.Since(yielded) >= 2*time.Millisecond {
			yielded = time.Now()
			runtime.Gosched()
		}
	}
	return time.Since(t0), nil
}
