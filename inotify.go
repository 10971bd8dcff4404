//go:build linux

package sdevent

import "golang.org/x/sys/unix"

// InotifyEvent is one inotify event as the kernel reported it.
type InotifyEvent struct {
	Wd     int32
	Mask   uint32
	Cookie uint32
	Name   string
}

// InotifyHandler handles an inotify source.
type InotifyHandler func(s *Source, ev *InotifyEvent) error

// AddInotify watches path (sd_event_add_inotify). Not built yet: EOPNOTSUPP.
func (e *Event) AddInotify(path string, mask uint32, h InotifyHandler) (*Source, error) {
	return nil, errNotYet("add inotify " + path)
}

// AddInotifyFd watches the inode behind fd (sd_event_add_inotify_fd). Not
// built yet: EOPNOTSUPP.
func (e *Event) AddInotifyFd(fd int, mask uint32, h InotifyHandler) (*Source, error) {
	return nil, errNotYet("add inotify fd")
}

// InotifyMask returns an inotify source's mask
// (sd_event_source_get_inotify_mask).
func (s *Source) InotifyMask() (uint32, error) {
	if s == nil {
		return 0, opErr("inotify mask", unix.EINVAL)
	}
	return 0, opErr("inotify mask", unix.EDOM)
}

// InotifyPath returns the path an inotify source watches
// (sd_event_source_get_inotify_path).
func (s *Source) InotifyPath() (string, error) {
	if s == nil {
		return "", opErr("inotify path", unix.EINVAL)
	}
	return "", opErr("inotify path", unix.EDOM)
}
