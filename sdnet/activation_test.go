//go:build linux

package sdnet_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/sdnet"
)

func init() { helpers["activation"] = activationHelper }

// TestListenFds runs ListenFds in a subprocess that gets what a unit with
// ListenStream=, ListenDatagram= and OpenFile= passes, as fds 3, 4 and 5
// named api, dgram and conf: the listening socket becomes a Listener named
// api that accepts, the datagram socket and the file come back as files
// with their names, and the environment is consumed. A nil handler is
// refused before the environment is read.
func TestListenFds(t *testing.T) {
	testutil.Check(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	stream, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	dg, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "dgram"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer dg.Close()
	dgram, err := dg.File()
	if err != nil {
		t.Fatal(err)
	}
	defer dgram.Close()
	conf, err := os.Create(filepath.Join(dir, "conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	if _, err := conf.WriteString("key=value\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}

	runSubprocess(t, "activation", "ACTIVATION-OK", []*os.File{stream, dgram, conf},
		"SOCK="+path, "LISTEN_FDS=3", "LISTEN_FDNAMES=api:dgram:conf")
}

// activationHelper is the subprocess of TestListenFds. LISTEN_PID must
// name the process that gets the fds; the parent cannot know it before
// exec.
func activationHelper() int {
	fail := func(format string, a ...any) int {
		fmt.Printf(format+"\n", a...)
		return 1
	}
	if err := os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())); err != nil {
		return fail("%v", err)
	}
	e, err := sdevent.New()
	if err != nil {
		return fail("New: %v", err)
	}
	defer e.Unref()
	if _, _, err := sdnet.ListenFds(e, nil, nil); !errors.Is(err, unix.EINVAL) || os.Getenv("LISTEN_FDS") == "" {
		return fail("ListenFds(nil handler) = %v, LISTEN_FDS=%q; want EINVAL, untouched", err, os.Getenv("LISTEN_FDS"))
	}
	before, err := testutil.OpenFds()
	if err != nil {
		return fail("%v", err)
	}
	var accepted string
	ls, files, err := sdnet.ListenFds(e, func(l *sdnet.Listener, c *sdnet.Conn) {
		accepted = l.Name()
		_, _ = c.WriteString("hi from " + l.Name() + "\n")
		_ = c.Close()
	}, nil)
	if err != nil {
		return fail("ListenFds: %v", err)
	}
	for _, f := range files {
		defer f.Close()
	}
	for _, l := range ls {
		defer l.Close()
	}
	if os.Getenv("LISTEN_FDS") != "" || os.Getenv("LISTEN_PID") != "" {
		return fail("the environment was not consumed")
	}
	if len(ls) != 1 || ls[0].Name() != "api" {
		return fail("%d listeners, want api", len(ls))
	}
	if len(files) != 2 || files[0].Name() != "dgram" || files[1].Name() != "conf" {
		return fail("files %v, want dgram and conf", files)
	}
	// The sockets were duplicated and their originals closed: one
	// descriptor of each is open.
	after, err := testutil.OpenFds()
	if err != nil {
		return fail("%v", err)
	}
	for fd := 3; fd <= 4; fd++ {
		n := 0
		for _, target := range after {
			if target == before[fd] {
				n++
			}
		}
		if n != 1 {
			return fail("%d descriptors of passed fd %d (%s) open, want 1", n, fd, before[fd])
		}
	}
	if b, err := io.ReadAll(files[1]); err != nil || string(b) != "key=value\n" {
		return fail("conf read %q, %v", b, err)
	}
	client, err := net.Dial("unix", os.Getenv("SOCK"))
	if err != nil {
		return fail("dial: %v", err)
	}
	defer client.Close()
	for accepted == "" {
		if _, err := e.Run(sdevent.Infinity); err != nil {
			return fail("Run: %v", err)
		}
	}
	line, err := bufio.NewReader(client).ReadString('\n')
	if err != nil || line != "hi from api\n" {
		return fail("client read %q, %v", line, err)
	}
	fmt.Println("ACTIVATION-OK")
	return 0
}
