package bench

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxy: on every contender built, the short connections and the bulk
// transfer go through the contender's proxy in a peer process, every byte
// intact (the client checks each response, the backend every byte of the
// transfer), the proxy reports CPU time and context switches, and the peer
// is reaped (the leak checks).
func TestProxy(t *testing.T) {
	check(t)
	for _, c := range built() {
		for _, tc := range []struct {
			name string
			run  func() (ProxyRun, error)
		}{
			{"conns", func() (ProxyRun, error) { return c.ProxyConns(100) }},
			{"bulk", func() (ProxyRun, error) { return c.ProxyBulk(8) }},
		} {
			t.Run(c.Name()+"/"+tc.name, func(t *testing.T) {
				r, err := tc.run()
				if err != nil {
					t.Fatal(err)
				}
				if r.Elapsed <= 0 || r.CPU <= 0 || r.Switches <= 0 {
					t.Errorf("run %+v: want elapsed, CPU and switches > 0", r)
				}
				// The proxy can not use more CPU than its CPUs' worth of
				// the wall time, its start-up and end aside.
				if limit := time.Duration(runtime.NumCPU()) * r.Elapsed; r.CPU > limit+20*time.Millisecond {
					t.Errorf("CPU %v in %v of wall time", r.CPU, r.Elapsed)
				}
			})
		}
	}
}

// TestProxyPeerFails: a proxy peer that fails is reaped and its error
// reported, and the backend's goroutine ends.
func TestProxyPeerFails(t *testing.T) {
	check(t)
	for _, bulk := range []int{0, 1} {
		_, err := runProxy(misnamed{}, 3, bulk)
		if err == nil || !strings.Contains(err.Error(), `no such contender in this build`) {
			t.Errorf("bulk %d: error %v, want the peer's", bulk, err)
		}
	}
}

// TestProxyBackendRefuses: a proxy whose backend refuses the connection
// returns the error, closes the client's connection and leaves no
// descriptor or goroutine behind; run in this process, each contender's
// proxy directly.
func TestProxyBackendRefuses(t *testing.T) {
	check(t)
	closed, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := closed.Addr().(*net.TCPAddr).Port
	_ = closed.Close()
	for _, c := range built() {
		t.Run(c.Name(), func(t *testing.T) {
			ln, addr, err := proxyListener()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ln.Close() }()
			// The kernel completes the handshake before the proxy accepts.
			client, err := net.DialTCP("tcp4", nil, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = client.Close() }()
			err = c.(proxier).Proxy(int(ln.Fd()), port, 1)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("error %v, want ECONNREFUSED", err)
			}
			t.Log(err)
			if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client's read: %v, want end of file", err)
			}
		})
	}
}

// TestIsPattern: the backend's check finds a byte changed, lost or
// doubled anywhere in the stream, across the pattern's end too.
func TestIsPattern(t *testing.T) {
	check(t)
	p := proxyPattern()
	stream := bytes.Repeat(p, 3)
	for _, tc := range []struct {
		off, n int
		edit   func([]byte) []byte
		want   bool
	}{
		{0, len(stream), nil, true},
		{mib - 10, 100, nil, true},
		{5, 2*mib + 7, nil, true},
		{mib - 10, 100, func(b []byte) []byte { b[50]++; return b }, false},
		{0, 1000, func(b []byte) []byte { return append(b[:10:10], b[11:]...) }, false},
		{0, 1000, func(b []byte) []byte { return append(b[:11:11], b[10:]...) }, false},
	} {
		b := bytes.Clone(stream[tc.off : tc.off+tc.n])
		if tc.edit != nil {
			b = tc.edit(b)
		}
		if got := isPattern(b, tc.off); got != tc.want {
			t.Errorf("offset %d, %d bytes, edited %v: %v, want %v", tc.off, tc.n, tc.edit != nil, got, tc.want)
		}
	}
	if err := readPattern(bytes.NewReader(stream[:mib+3]), mib+4); err == nil || errors.Is(err, errCorrupt) {
		t.Errorf("a stream cut short: %v", err)
	}
	if err := readPattern(bytes.NewReader(stream[:mib+3]), mib+2); !errors.Is(err, errCorrupt) {
		t.Errorf("a stream too long: %v", err)
	}
}
