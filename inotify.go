//go:build linux

package sdevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// InotifyEvent is one inotify event as the kernel reported it.
type InotifyEvent struct {
	Wd     int32
	Mask   uint32
	Cookie uint32
	Name   string
}

// InotifyHandler handles an inotify source.
type InotifyHandler func(s *Source, ev *InotifyEvent) error

// inotifyHeader is the size of struct inotify_event without its name.
const inotifyHeader = 16

// inotifyData is one inotify fd, shared by the inotify sources of one
// priority, with the events read from it and not yet dispatched.
type inotifyData struct {
	fd       int
	priority priority.Priority
	idx      int // in the loop's table, for epoll
	inodes   map[inodeKey]*inodeData
	wds      map[int32]*inodeData
	buf      []byte
	filled   int
	nPending int // its sources that are pending
	nRunning int // handlers running on its current event
	buffered bool
	ev       InotifyEvent
}

// inotifySource is an inotify source's part of Source.
type inotifySource struct {
	handler InotifyHandler
	inode   *inodeData
	mask    uint32
	path    string
}

type inodeKey struct{ dev, ino uint64 }

// inodeData is one watched inode: one kernel watch shared by the sources of
// a priority that watch it, with the union of their masks.
type inodeData struct {
	key      inodeKey
	wd       int32
	fd       int // O_PATH fd, kept until the next iteration so priorities can change
	combined uint32
	sources  []*Source
	inotify  *inotifyData
}

// AddInotify watches path with the inotify mask (IN_CREATE, IN_MODIFY, ...)
// (sd_event_add_inotify). Sources on the same inode and priority share one
// kernel watch; its mask is the union of theirs and never shrinks, and
// events no source wants any longer are dropped. The source starts On, or
// OneShot with IN_ONESHOT. The description defaults to path. Errors:
// IN_MASK_ADD EINVAL; a missing path ENOENT.
func (e *Event) AddInotify(path string, mask uint32, h InotifyHandler) (*Source, error) {
	op := "add inotify " + path
	flags := unix.O_PATH | unix.O_CLOEXEC
	if mask&unix.IN_ONLYDIR != 0 {
		flags |= unix.O_DIRECTORY
	}
	if mask&unix.IN_DONT_FOLLOW != 0 {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := sys.Open(path, flags, 0)
	if err != nil {
		return nil, opErr(op, &os.PathError{Op: "open", Path: path, Err: err})
	}
	// The path is opened before the loop is checked, as in C.
	if err := e.addable(op); err != nil {
		_ = sys.Close(fd)
		return nil, err
	}
	s, err := e.addInotify(fd, true, mask, h)
	if err != nil {
		return nil, opErr(op, err)
	}
	s.inotify().path = path
	s.description, s.hasDesc = path, true
	return s, nil
}

// AddInotifyFd watches the inode behind fd, which may be an O_PATH fd
// (sd_event_add_inotify_fd). fd stays the caller's. fd < 0: EBADF.
func (e *Event) AddInotifyFd(fd int, mask uint32, h InotifyHandler) (*Source, error) {
	op := "add inotify fd " + strconv.Itoa(fd)
	if e.valid() && fd < 0 {
		return nil, opErr(op, unix.EBADF) // after the loop, as in C
	}
	if err := e.addable(op); err != nil {
		return nil, err
	}
	s, err := e.addInotify(fd, false, mask, h)
	if err != nil {
		return nil, opErr(op, err)
	}
	s.inotify().path, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return s, nil
}

func (e *Event) addInotify(fd int, donate bool, mask uint32, h InotifyHandler) (*Source, error) {
	if donate {
		defer func() {
			if fd >= 0 {
				_ = sys.Close(fd)
			}
		}()
	}
	// Watches on one inode are merged, so callers cannot merge masks.
	if mask&unix.IN_MASK_ADD != 0 {
		return nil, unix.EINVAL
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	enabled := source.On
	if mask&unix.IN_ONESHOT != 0 {
		enabled = source.OneShot
	}
	s := e.newSource(source.Inotify, enabled)
	s.part = &inotifySource{mask: mask, handler: h}
	d, err := e.inotifyFor(priority.Normal)
	if err != nil {
		s.nref = 0
		s.release()
		return nil, err
	}
	in := e.inodeFor(d, inodeKey{uint64(st.Dev), st.Ino})
	if in.fd < 0 {
		if donate {
			in.fd, fd = fd, -1
		} else if in.fd, err = sys.DupCloexec(fd); err != nil {
			e.gcInode(in)
			s.nref = 0
			s.release()
			return nil, os.NewSyscallError("fcntl", err)
		}
		e.inodesToClose = append(e.inodesToClose, in)
	}
	in.sources = append(in.sources, s)
	s.inotify().inode = in
	if err := e.realizeWatch(in); err != nil {
		s.nref = 0
		s.release()
		return nil, err
	}
	return s, nil
}

// inotifyFor returns the inotify fd of priority p, creating it.
func (e *Event) inotifyFor(p priority.Priority) (*inotifyData, error) {
	if d := e.inotify[p]; d != nil {
		return d, nil
	}
	idx := len(e.inotifyTable)
	for i, x := range e.inotifyTable {
		if x == nil {
			idx = i
			break
		}
	}
	fd, err := sys.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if fd, err = e.pollNew(fd, err, "inotify fd", tagInotify+uint64(idx)); err != nil {
		return nil, err
	}
	d := &inotifyData{fd: fd, priority: p, idx: idx, inodes: map[inodeKey]*inodeData{}, wds: map[int32]*inodeData{},
		buf: make([]byte, 4096+inotifyHeader+unix.NAME_MAX+1)}
	if d.idx == len(e.inotifyTable) {
		e.inotifyTable = append(e.inotifyTable, d)
	} else {
		e.inotifyTable[d.idx] = d
	}
	if e.inotify == nil {
		e.inotify = map[priority.Priority]*inotifyData{}
	}
	e.inotify[p] = d
	return d, nil
}

func (e *Event) inodeFor(d *inotifyData, k inodeKey) *inodeData {
	if in := d.inodes[k]; in != nil {
		return in
	}
	in := &inodeData{key: k, wd: -1, fd: -1, inotify: d}
	d.inodes[k] = in
	return in
}

// realizeWatch (re)adds the inode's kernel watch when the union of its
// sources' masks grew.
func (e *Event) realizeWatch(in *inodeData) error {
	var combined uint32
	exclUnlink := true
	for _, s := range in.sources {
		if s.inotify().mask&unix.IN_EXCL_UNLINK == 0 {
			exclUnlink = false
		}
		combined |= s.inotify().mask
	}
	combined &^= unix.IN_ONESHOT | unix.IN_DONT_FOLLOW | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK
	if exclUnlink {
		combined |= unix.IN_EXCL_UNLINK
	}
	if in.wd >= 0 && combined == in.combined {
		return nil
	}
	wd, err := unix.InotifyAddWatch(in.inotify.fd, "/proc/self/fd/"+strconv.Itoa(in.fd), combined)
	if err != nil {
		return addWatchErr(err)
	}
	if in.wd < 0 {
		in.wd = int32(wd)
		in.inotify.wds[in.wd] = in
	} else if in.wd != int32(wd) {
		return fmt.Errorf("watch descriptor of an inode changed from %d to %d: %w", in.wd, wd, unix.EINVAL)
	}
	in.combined = combined
	return nil
}

// addWatchErr is the error of an inotify_add_watch through /proc/self/fd.
// The inode's fd is the loop's own and open, so ENOENT means that /proc is
// not mounted: then ENOSYS, as systemd's inotify_add_watch_fd says.
func addWatchErr(err error) error {
	if errors.Is(err, unix.ENOENT) && !procMounted() {
		return fmt.Errorf("inotify_add_watch through /proc/self/fd: /proc is not mounted: %w", unix.ENOSYS)
	}
	return os.NewSyscallError("inotify_add_watch", err)
}

// procMounted reports whether procfs is mounted on /proc.
func procMounted() bool {
	var st unix.Statfs_t
	return unix.Statfs("/proc", &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
}

// gcInode frees an inode nobody watches any more, and then maybe its
// inotify fd.
func (e *Event) gcInode(in *inodeData) {
	if len(in.sources) > 0 {
		return
	}
	d := in.inotify
	if in.fd >= 0 {
		_ = sys.Close(in.fd)
		in.fd = -1
	}
	if in.wd >= 0 {
		// The kernel may have dropped the watch already (IN_IGNORED queued):
		// EINVAL then, and nothing left to undo.
		_, _ = unix.InotifyRmWatch(d.fd, uint32(in.wd))
		delete(d.wds, in.wd)
	}
	delete(d.inodes, in.key)
	e.gcInotify(d)
}

// gcInotify frees an inotify fd without inodes, unless a handler is
// running on its current event (nRunning).
func (e *Event) gcInotify(d *inotifyData) {
	if len(d.inodes) > 0 || d.nRunning > 0 || e.inotify[d.priority] != d {
		return
	}
	d.filled = 0
	e.setBuffered(d, false)
	// The close removes the fd from the epoll anyway; the DEL only says so
	// first, as C does.
	_ = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, d.fd, nil)
	_ = sys.Close(d.fd)
	d.fd = -1
	e.inotifyTable[d.idx] = nil
	delete(e.inotify, d.priority)
}

func (e *Event) setBuffered(d *inotifyData, b bool) {
	if d.buffered == b {
		return
	}
	d.buffered = b
	if b {
		e.nBuffered++
	} else {
		e.nBuffered--
	}
}

// closeInodeFds closes the O_PATH fds of inodes added before this
// iteration: they would pin file systems.
func (e *Event) closeInodeFds() {
	for _, in := range e.inodesToClose {
		if in.fd >= 0 {
			_ = sys.Close(in.fd) // an O_PATH fd: nothing was written through it
			in.fd = -1
		}
	}
	clear(e.inodesToClose)
	e.inodesToClose = e.inodesToClose[:0]
}

func (e *Event) disconnectInotify(s *Source) {
	if s.pending {
		e.setPending(s, false) // while it still counts in its inotify fd's nPending
	}
	in := s.inotify().inode
	if in == nil {
		return
	}
	for i, x := range in.sources {
		if x == s {
			in.sources = append(in.sources[:i], in.sources[i+1:]...)
			break
		}
	}
	s.inotify().inode = nil
	// The kernel mask is not shrunk: events nobody wants are dropped.
	e.gcInode(in)
}

// readInotify fills an empty buffer from the inotify fd, unless one of its
// sources is still pending.
func (e *Event) readInotify(d *inotifyData) error {
	if d.nPending > 0 || d.filled > 0 {
		return nil
	}
	n, err := unix.Read(d.fd, d.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("read inotify", err)
	}
	d.filled = n
	e.setBuffered(d, n > 0)
	return nil
}

// processInotify makes the sources that want the first buffered event of
// each inotify fd pending, dropping events nobody wants.
func (e *Event) processInotify() error {
	for _, d := range e.inotifyTable {
		if d == nil || !d.buffered || d.nPending > 0 {
			continue
		}
		for d.filled > 0 {
			ev, size, err := d.head()
			if err != nil {
				return err
			}
			e.pendInotify(d, ev)
			if d.nPending > 0 {
				break
			}
			e.dropInotify(d, size)
		}
	}
	return nil
}

// pendInotify makes the sources that want ev pending.
func (e *Event) pendInotify(d *inotifyData, ev *InotifyEvent) {
	if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
		// The queue overflowed: everybody of this priority must know.
		for _, in := range d.inodes {
			for _, s := range in.sources {
				if s.online() {
					e.setPending(s, true)
				}
			}
		}
		return
	}
	in := d.wds[ev.Wd]
	if in == nil {
		return
	}
	if ev.Mask&unix.IN_IGNORED != 0 {
		delete(d.wds, ev.Wd) // the kernel removed the watch
		in.wd = -1
	}
	for _, s := range in.sources {
		if s.offline() {
			continue
		}
		if ev.Mask&(unix.IN_IGNORED|unix.IN_UNMOUNT) == 0 && s.inotify().mask&ev.Mask&unix.IN_ALL_EVENTS == 0 {
			continue
		}
		e.setPending(s, true)
	}
}

// head parses the first buffered event.
func (d *inotifyData) head() (*InotifyEvent, int, error) {
	b := d.buf[:d.filled]
	if len(b) < inotifyHeader {
		return nil, 0, fmt.Errorf("short inotify event: %w", unix.EIO)
	}
	n := int(binary.NativeEndian.Uint32(b[12:16]))
	if len(b) < inotifyHeader+n {
		return nil, 0, fmt.Errorf("short inotify event: %w", unix.EIO)
	}
	d.ev.Wd = int32(binary.NativeEndian.Uint32(b[0:4]))
	d.ev.Mask = binary.NativeEndian.Uint32(b[4:8])
	d.ev.Cookie = binary.NativeEndian.Uint32(b[8:12])
	name := b[inotifyHeader : inotifyHeader+n]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	if string(name) != d.ev.Name {
		d.ev.Name = string(name)
	}
	return &d.ev, inotifyHeader + n, nil
}

func (e *Event) dropInotify(d *inotifyData, size int) {
	copy(d.buf, d.buf[size:d.filled])
	d.filled -= size
	if d.filled == 0 {
		e.setBuffered(d, false)
	}
}

// callInotify runs the handler of s on the current event of its inotify
// fd, and drops the event once no source is pending on it, also when the
// handler panics. The handler may free its source.
func (s *Source) callInotify() error {
	d := s.inotify().inode.inotify
	e := s.e
	ev, size, err := d.head()
	if err != nil {
		return err
	}
	d.nRunning++
	defer func() {
		d.nRunning--
		if d.nPending == 0 && d.filled >= size {
			e.dropInotify(d, size)
		}
		e.gcInotify(d)
	}()
	if s.inotify().handler == nil {
		code, _ := s.userdata().(int)
		return e.Exit(code)
	}
	return s.inotify().handler(s, ev)
}

func (s *Source) inotifyOnly(op string) error {
	if s == nil {
		return opErr(op, unix.EINVAL)
	}
	if s.kind() != source.Inotify {
		return opErr(op, unix.EDOM)
	}
	return nil
}

// InotifyMask returns an inotify source's mask
// (sd_event_source_get_inotify_mask).
func (s *Source) InotifyMask() (uint32, error) {
	if err := s.inotifyOnly("inotify mask"); err != nil {
		return 0, err
	}
	return s.inotify().mask, nil
}

// InotifyPath returns the path an inotify source watches
// (sd_event_source_get_inotify_path): the path given to AddInotify, or where
// the fd given to AddInotifyFd pointed when the source was added.
func (s *Source) InotifyPath() (string, error) {
	if err := s.inotifyOnly("inotify path"); err != nil {
		return "", err
	}
	if s.inotify().path == "" {
		return "", opErr("inotify path", unix.ENOSYS)
	}
	return s.inotify().path, nil
}

// moveInotify moves s to the inotify fd of priority p. That needs the
// inode's O_PATH fd, which is closed at the first iteration after the
// source was added: later it gives EOPNOTSUPP, as in C.
func (e *Event) moveInotify(s *Source, p priority.Priority) error {
	old := s.inotify().inode
	if old.fd < 0 {
		return unix.EOPNOTSUPP
	}
	d, err := e.inotifyFor(p)
	if err != nil {
		return err
	}
	in := e.inodeFor(d, old.key)
	if in.fd < 0 {
		if in.fd, err = sys.DupCloexec(old.fd); err != nil {
			e.gcInode(in)
			return os.NewSyscallError("fcntl", err)
		}
		e.inodesToClose = append(e.inodesToClose, in)
	}
	in.sources = append(in.sources, s)
	if err := e.realizeWatch(in); err != nil {
		in.sources = in.sources[:len(in.sources)-1]
		e.gcInode(in)
		return err
	}
	pending := s.pending
	e.setPending(s, false) // its event is in the old inotify fd's buffer
	for i, x := range old.sources {
		if x == s {
			old.sources = append(old.sources[:i], old.sources[i+1:]...)
			break
		}
	}
	s.inotify().inode = in
	if pending {
		// The event it was pending for stays with the old inotify fd.
		e.gcInotify(old.inotify)
	}
	e.gcInode(old)
	return nil
}
