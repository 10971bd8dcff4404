//go:build linux

package sdevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// FuzzInotifyBuffer feeds arbitrary bytes to the inotify buffer parser
// (inotifyData.head) as the buffer a read(2) of an inotify fd filled, and
// walks it record by record as processInotify does. The parser must never
// panic, never look past the filled part of its buffer (the bytes after it
// are poison: reading them would change the result), always make progress,
// and for every record whose header and name fit return what the record
// says: wd, mask, cookie, and the name up to its first NUL. A record that
// does not fit is an error wrapping EIO, never a partial event. The seeds
// are real buffers read from a real inotify fd, whole and cut short.
func FuzzInotifyBuffer(f *testing.F) {
	testutil.Check(f)
	for _, seed := range inotifySeeds(f) {
		f.Add(seed)
		for _, cut := range []int{1, unix.SizeofInotifyEvent, unix.SizeofInotifyEvent + 1} {
			if cut < len(seed) {
				f.Add(seed[:len(seed)-cut])
			}
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, unix.SizeofInotifyEvent))                                                // one record, no name
	f.Add(inotifyRecord(-1, unix.IN_Q_OVERFLOW, 0, ""))                                         // the overflow event the kernel queues
	f.Add(append(inotifyRecord(7, unix.IN_CREATE, 0, "a\x00b"), inotifyRecord(8, 0, 9, "")...)) // a NUL inside the name
	huge := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(huge[12:16], ^uint32(0)) // a name length past any buffer
	f.Add(huge)

	f.Fuzz(func(t *testing.T, data []byte) {
		poison := bytes.Repeat([]byte{0xff}, 2*unix.SizeofInotifyEvent)
		backing := append(append([]byte(nil), data...), poison...)
		d := &inotifyData{}
		for off := 0; off < len(data); {
			// The buffer as processInotify leaves it after dropping the
			// records before off, with poison after the filled part.
			d.buf, d.filled = backing[off:], len(data)-off
			rest := data[off:]
			ev, size, err := d.head()
			want, wantSize, fits := parseInotifyRecord(rest)
			if !fits {
				if err == nil || !errors.Is(err, unix.EIO) || ev != nil || size != 0 {
					t.Fatalf("offset %d, %d bytes left %x: head = %+v, %d, %v; want nil, 0 and an error wrapping EIO", off, len(rest), rest, ev, size, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("offset %d: head of a record that fits (%+v, %d bytes): %v", off, want, wantSize, err)
			}
			if size != wantSize || size > len(rest) || size < unix.SizeofInotifyEvent {
				t.Fatalf("offset %d: head says the record takes %d bytes; it takes %d of the %d left", off, size, wantSize, len(rest))
			}
			if *ev != want {
				t.Fatalf("offset %d: head = %+v, the record says %+v", off, *ev, want)
			}
			off += size
		}
	})
}

// parseInotifyRecord reads the first inotify_event of b as inotify(7) lays it out:
// wd, mask, cookie and len (native-endian 32-bit fields), then len bytes of
// name padded with NULs. fits is false when the header or the name is cut
// short.
func parseInotifyRecord(b []byte) (ev InotifyEvent, size int, fits bool) {
	if len(b) < unix.SizeofInotifyEvent {
		return ev, 0, false
	}
	var raw unix.InotifyEvent
	if _, err := binary.Decode(b, binary.NativeEndian, &raw); err != nil {
		return ev, 0, false
	}
	if uint64(len(b)-unix.SizeofInotifyEvent) < uint64(raw.Len) {
		return ev, 0, false
	}
	name, _, _ := strings.Cut(string(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+int(raw.Len)]), "\x00")
	return InotifyEvent{Wd: raw.Wd, Mask: raw.Mask, Cookie: raw.Cookie, Name: name}, unix.SizeofInotifyEvent + int(raw.Len), true
}

// inotifyRecord builds one inotify_event with name padded to 16 bytes, as the
// kernel pads it.
func inotifyRecord(wd int32, mask, cookie uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 1 + 15) &^ 15
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:4], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:8], mask)
	binary.NativeEndian.PutUint32(b[8:12], cookie)
	binary.NativeEndian.PutUint32(b[12:16], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

// inotifySeeds returns buffers read from a real inotify fd: a watch on a
// directory sees files of several name lengths created, written, renamed
// (a cookie pair) and removed, and then the directory itself removed (its
// watch's IN_DELETE_SELF and IN_IGNORED, with no name).
func inotifySeeds(f *testing.F) [][]byte {
	f.Helper()
	dir := filepath.Join(f.TempDir(), "w")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		f.Fatalf("inotify_init1: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_ALL_EVENTS); err != nil {
		f.Fatalf("inotify_add_watch: %v", err)
	}
	for _, name := range []string{"a", "fifteen-chars-x", "sixteen-chars-xx", strings.Repeat("n", 200)} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			f.Fatal(err)
		}
		if err := os.Rename(p, p+".moved"); err != nil {
			f.Fatal(err)
		}
		if err := os.Remove(p + ".moved"); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Remove(dir); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			f.Fatalf("read inotify: %v", err)
		}
		seeds = append(seeds, append([]byte(nil), buf[:n]...))
		// Each record alone, too.
		for off := 0; off < n; {
			_, size, fits := parseInotifyRecord(buf[off:n])
			if !fits {
				f.Fatalf("the kernel's buffer has a record cut short at %d of %d", off, n)
			}
			seeds = append(seeds, append([]byte(nil), buf[off:off+size]...))
			off += size
		}
	}
	if len(seeds) == 0 {
		f.Fatal("the inotify fd had nothing to read")
	}
	return seeds
}
