//go:build linux

package testutil

import (
	"net"
	"path/filepath"
	"testing"
	"time"
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
