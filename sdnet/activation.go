//go:build linux

package sdnet

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// ListenFds takes the descriptors that the service manager passed by socket
// activation ($LISTEN_FDS and its companions, read and unset as
// (*sdevent.Event).AddListenFiles reads them, with libsystemd's rules and
// errnos) and returns the listening stream sockets among them
// (ListenStream= with Accept=no) as Listeners calling h, named after
// $LISTEN_FDNAMES, and every other one (a datagram socket, a FIFO, the
// connection of an Accept=yes service, a file of OpenFile=) as an *os.File
// of the same name, the caller's, non-blocking if epoll can watch it.
// Listeners come in the order passed; so do files, those epoll can watch
// first. Nothing passed is no Listener, no file and no error.
//
// Each descriptor is a duplicate of what was passed (close-on-exec, so a
// child does not inherit it); the originals are closed, as AddListenFds
// closes them. h nil or bad options are EINVAL, before the environment is
// read. If making a Listener fails, what was made is closed and the error
// returned.
func ListenFds(e *sdevent.Event, h AcceptHandler, o *Options) ([]*Listener, []*os.File, error) {
	const op = "listen fds"
	if _, ok := o.withDefaults(); !ok || h == nil {
		return nil, nil, opError(op, unix.EINVAL)
	}
	// The loop's own parsing, through sources that are freed at once: they
	// own a non-blocking duplicate of each passed socket, which is all a
	// Listener needs.
	srcs, files, err := e.AddListenFiles(unix.EPOLLIN, nil)
	if err != nil {
		return nil, nil, opError(op, err)
	}
	passed := make([]*os.File, len(srcs))
	fds := make([]int, len(srcs))
	for i, s := range srcs {
		fd, _ := s.IOFd() // IO sources just made: these cannot fail
		name, _ := s.Description()
		_ = s.SetIOFdOwn(false)
		s.Unref() // off epoll; the duplicate stays open, now the file's
		passed[i], fds[i] = os.NewFile(uintptr(fd), name), fd
	}
	var ls []*Listener
	var others []*os.File
	for i, f := range passed {
		if !listening(fds[i]) {
			others = append(others, f)
			continue
		}
		l, err := NewFileListener(e, f, h, o)
		if err != nil {
			for _, l := range ls {
				_ = l.Close()
			}
			for _, f := range append(append(others, passed[i:]...), files...) {
				_ = f.Close() // each is ours or, on this error, nobody's
			}
			return nil, nil, opError(op, fmt.Errorf("%s: %w", f.Name(), err))
		}
		ls = append(ls, l)
	}
	return ls, append(others, files...), nil
}
