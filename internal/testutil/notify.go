//go:build linux

package testutil

import (
	"net"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Manager stands in for the service manager's end of $NOTIFY_SOCKET: a
// datagram socket in the test's temporary directory, closed at cleanup.
type Manager struct {
	conn *net.UnixConn
	// Env is "NOTIFY_SOCKET=<path>", for a child's environment.
	Env string
	// Path is the socket's path.
	Path string
}

// NewManager listens on a new notify socket.
func NewManager(t testing.TB) *Manager {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Manager{conn: conn, Env: "NOTIFY_SOCKET=" + path, Path: path}
}

// Next returns the next message the manager was sent, or "" when none came
// within d.
func (m *Manager) Next(d time.Duration) string {
	// It fails only on a closed socket, where Read fails too.
	_ = m.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := m.conn.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// Stamp makes the kernel stamp each message with the time it was queued
// on the socket (SO_TIMESTAMPNS), which NextStamped returns: the time the
// sender sent it, however late the test reads it.
func (m *Manager) Stamp(t testing.TB) {
	t.Helper()
	rc, err := m.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// NextStamped is Next with the kernel's time stamp of the message (see
// Stamp); the zero time when the message carried none.
func (m *Manager) NextStamped(d time.Duration) (string, time.Time) {
	_ = m.conn.SetReadDeadline(time.Now().Add(d)) // as in Next
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	n, oobn, _, _, err := m.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", time.Time{}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return string(buf[:n]), time.Time{}
	}
	for _, cm := range msgs {
		if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SO_TIMESTAMPNS && len(cm.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := *(*unix.Timespec)(unsafe.Pointer(&cm.Data[0]))
			return string(buf[:n]), time.Unix(ts.Unix())
		}
	}
	return string(buf[:n]), time.Time{}
}
