//go:build linux

package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// drainReads bounds the reads that take in, when the command exits, what
// it wrote before: a pipe holds 64 KiB unless resized, and a process that
// still writes to it (a grandchild) must not keep the loop.
const drainReads = 8

// output carries one stream of the command (stdout, stderr, or both when
// they share a writer) from a pipe, read on the loop, to its writer.
type output struct {
	sv  *Service
	src *sdevent.Source
	w   io.Writer
	buf []byte // what was read and not written yet: a partial line
}

// newOutput makes the pipe for a stream written to w: the read end on the
// loop (non-blocking, owned by its IO source), the write end for the
// child, blocking, as a program expects its stdout to be.
func (sv *Service) newOutput(w io.Writer, stream string) (*output, *os.File, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		_ = unix.Close(p[0])
		_ = unix.Close(p[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	o := &output{sv: sv, w: w, buf: make([]byte, 0, LineMax)}
	src, err := sv.e.AddIO(p[0], unix.EPOLLIN, o.readable)
	if err != nil {
		_ = unix.Close(p[0])
		_ = unix.Close(p[1])
		return nil, nil, err
	}
	// Our own IO source, just made: these cannot fail.
	_ = src.SetIOFdOwn(true)
	_ = src.SetPriority(sv.spec.Priority)
	_ = src.SetDescription(sv.name + " " + stream)
	o.src = src
	return o, os.NewFile(uintptr(p[1]), sv.name+" "+stream), nil
}

func (o *output) readable(_ *sdevent.Source, fd int, _ uint32) error {
	o.read(fd)
	return nil
}

// read reads once and writes the whole lines read; at the end of the
// stream, or on an error, it writes what is left and frees the source. It
// reports whether there may be more to read now.
func (o *output) read(fd int) bool {
	n, err := unix.Read(fd, o.buf[len(o.buf):cap(o.buf)])
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return false
	}
	if n <= 0 {
		o.write(o.buf) // a last line without its newline
		o.close()
		return false
	}
	o.buf = o.buf[:len(o.buf)+n]
	rest := o.buf
	for {
		i := indexNewline(rest)
		if i < 0 {
			break
		}
		o.write(rest[:i+1])
		if o.src == nil {
			return false // the writer closed the service
		}
		rest = rest[i+1:]
	}
	if len(rest) == cap(o.buf) {
		o.write(rest) // a line longer than LineMax: this much of it
		rest = rest[:0]
	}
	o.buf = o.buf[:copy(o.buf, rest)]
	return true
}

// write hands the writer one line. Its error is dropped: the command's
// output must be read whatever becomes of it, or the command blocks.
func (o *output) write(line []byte) {
	if len(line) > 0 {
		_, _ = o.w.Write(line)
	}
}

// drain reads what the command wrote before it exited, up to drainReads
// reads, so that its output comes before Exited.
func (o *output) drain() {
	for i := 0; i < drainReads && o.src != nil; i++ {
		fd, err := o.src.IOFd()
		if err != nil || !o.read(fd) {
			return
		}
	}
}

// close frees the source (closing the pipe: a writer left gets EPIPE) and
// forgets the output.
func (o *output) close() {
	if o.src == nil {
		return
	}
	o.src.Unref()
	o.src = nil
	outs := o.sv.outputs
	for i, x := range outs {
		if x == o {
			outs[i] = outs[len(outs)-1]
			outs[len(outs)-1] = nil
			o.sv.outputs = outs[:len(outs)-1]
			break
		}
	}
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// setOutputs replaces the command's non-*os.File Stdout and Stderr by
// pipes read on the loop, and refuses a Stdin that is not a file. It
// returns the child's ends of the pipes, to close once it started, and
// the outputs it added to the service; on error, it has undone what it
// made.
func (sv *Service) setOutputs(cmd *exec.Cmd) ([]*os.File, []*output, error) {
	if cmd.Stdin != nil {
		if _, ok := cmd.Stdin.(*os.File); !ok {
			return nil, nil, fmt.Errorf("supervise: %s: Stdin is a %T, not an *os.File: %w", sv.name, cmd.Stdin, unix.EINVAL)
		}
	}
	var ends []*os.File
	var made []*output
	for _, st := range []struct {
		w      *io.Writer
		stream string
	}{{&cmd.Stdout, "stdout"}, {&cmd.Stderr, "stderr"}} {
		w := *st.w
		if w == nil {
			continue
		}
		if _, ok := w.(*os.File); ok {
			continue
		}
		o, end, err := sv.newOutput(w, st.stream)
		if err != nil {
			for _, f := range ends {
				_ = f.Close()
			}
			for _, o := range made {
				o.src.Unref()
			}
			return nil, nil, err
		}
		*st.w = end
		if st.stream == "stdout" && sameWriter(cmd.Stderr, w) {
			cmd.Stderr = end // one pipe for both, as os/exec does: their order kept
		}
		ends = append(ends, end)
		made = append(made, o)
	}
	sv.outputs = append(sv.outputs, made...)
	return ends, made, nil
}

// sameWriter reports whether a and b are the same writer; writers of a
// type that cannot be compared (a LineFunc) are not.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
