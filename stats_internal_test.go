//go:build linux

package sdevent

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/sys"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// TestDelayBucket: the bucket of a delay is log2 of its microseconds, 0
// and 1 µs both in bucket 0, as sd-event's log2u64.
func TestDelayBucket(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {999 * time.Nanosecond, 0}, {time.Microsecond, 0}, {2 * time.Microsecond, 1},
		{3 * time.Microsecond, 1}, {4 * time.Microsecond, 2}, {20 * time.Millisecond, 14},
		{5 * time.Second, 22}, {-time.Second, 0}, {Infinity, 53},
	} {
		if got := delayBucket(tc.d); got != tc.want {
			t.Errorf("delayBucket(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer for profileDelaysStderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureProfileStderr has the profiling lines for standard error written
// to the buffer it returns, until the test ends.
func captureProfileStderr(t *testing.T) *syncBuffer {
	out := &syncBuffer{}
	saved := profileDelaysStderr
	profileDelaysStderr = out
	t.Cleanup(func() { profileDelaysStderr = saved })
	return out
}

// newTestLoop returns a new loop, unreferenced when the test ends.
func newTestLoop(t *testing.T) *Event {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Unref() })
	return e
}

// runs runs n iterations of e, none waiting.
func runs(t *testing.T, e *Event, n int) {
	t.Helper()
	for range n {
		if _, err := e.Run(0); err != nil {
			t.Fatal(err)
		}
	}
}

// delaysCounted returns whether the snapshot says profiling is on, and the
// delays its histogram counted.
func delaysCounted(t *testing.T, e *Event) (bool, uint64) {
	t.Helper()
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, c := range snap.Delays {
		total += c
	}
	return snap.ProfileDelays, total
}

// TestProfileDelaysEnv: SD_EVENT_PROFILE_DELAYS switches profiling on in
// New, as in sd_event_new. Without a logger the loop writes C's lines to
// standard error: that profiling is on, at the first Run, then the
// histogram at the second Run (C's last_log_usec starts at 0, so its first
// histogram comes at once), holding the one delay counted so far, then
// none for 5 s. A handler that blocks 20 ms makes a delay in bucket 14
// (2^14 µs = 16.4 ms) or above. Snapshot keeps the counts of every
// iteration but the first.
func TestProfileDelaysEnv(t *testing.T) {
	testutil.Check(t)
	out := captureProfileStderr(t)
	t.Setenv("SD_EVENT_PROFILE_DELAYS", "1")
	e := newTestLoop(t)
	if !e.ProfileDelays() {
		t.Fatal("SD_EVENT_PROFILE_DELAYS=1 did not switch profiling on")
	}
	n := 0
	s, err := e.AddDefer(func(*Source) error {
		if n++; n == 1 {
			testutil.BlockFor(t, 20*time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unref()
	if err := s.SetEnabled(source.On); err != nil {
		t.Fatal(err)
	}
	const iterations = 10
	runs(t, e, iterations)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Event loop profiling enabled. ") {
		t.Fatalf("stderr:\n%s\nwant the profiling line and one histogram", out.String())
	}
	counts, ok := strings.CutPrefix(lines[1], "Event loop iterations: ")
	if !ok || !strings.HasSuffix(counts, " ") {
		t.Fatalf("histogram line %q, want C's format", lines[1])
	}
	fields := strings.Fields(counts)
	if len(fields) != 64 {
		t.Fatalf("%d counts, want 64", len(fields))
	}
	sum, slow := 0, 0
	for i, f := range fields {
		c, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		sum += c
		if i >= 14 {
			slow += c
		}
	}
	if sum != 1 || slow != 1 {
		t.Errorf("first histogram %q: %d counts, %d of 2^14 µs or more; want 1, 1 (the blocked iteration)", counts, sum, slow)
	}
	if on, total := delaysCounted(t, e); !on || total != iterations-1 {
		t.Errorf("snapshot: profiling %v, %d delays, want true, %d", on, total, iterations-1)
	}
	if err := e.SetProfileDelays(false); err != nil || e.ProfileDelays() || e.obs != nil {
		t.Errorf("SetProfileDelays(false) = %v; on %v, observer %v", err, e.ProfileDelays(), e.obs)
	}
}

// TestProfileDelaysEnvEmpty: SD_EVENT_PROFILE_DELAYS set to "" counts as
// unset, as every systemd variable the package reads (where C's
// sd_event_new switches profiling on for any value).
func TestProfileDelaysEnvEmpty(t *testing.T) {
	testutil.Check(t)
	t.Setenv("SD_EVENT_PROFILE_DELAYS", "")
	e := newTestLoop(t)
	if e.ProfileDelays() {
		t.Error("SD_EVENT_PROFILE_DELAYS= switched profiling on")
	}
}

// TestProfileDelaysLogger: with a logger, the records go to it at debug
// level, the histogram's counts in "delays"; Prepare, Wait and Dispatch
// called one by one count nothing, as only sd_event_run counts in C.
func TestProfileDelaysLogger(t *testing.T) {
	testutil.Check(t)
	e := newTestLoop(t)
	if e.ProfileDelays() {
		t.Fatal("profiling on without SD_EVENT_PROFILE_DELAYS")
	}
	var b syncBuffer
	e.SetLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := e.SetProfileDelays(true); err != nil {
		t.Fatal(err)
	}
	s, err := e.AddDefer(func(*Source) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unref()
	if err := s.SetEnabled(source.On); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.Prepare(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != "" {
		t.Fatalf("records without Run: %s", b.String())
	}
	runs(t, e, 2)
	out := b.String()
	if !strings.Contains(out, "level=DEBUG msg=\"event loop profiling enabled\"") ||
		!strings.Contains(out, "level=DEBUG msg=\"event loop iterations\" delays=\"") {
		t.Fatalf("records:\n%s", out)
	}
}

// TestProfileDelaysInfoLogger: with a logger that takes no debug records,
// nothing is written, neither to it nor to standard error, and the
// snapshot still counts every delay.
func TestProfileDelaysInfoLogger(t *testing.T) {
	testutil.Check(t)
	stderr := captureProfileStderr(t)
	e := newTestLoop(t)
	var b syncBuffer
	e.SetLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := e.SetProfileDelays(true); err != nil {
		t.Fatal(err)
	}
	runs(t, e, 3)
	if _, total := delaysCounted(t, e); b.String() != "" || stderr.String() != "" || total != 2 {
		t.Errorf("logger got %q, stderr %q, %d delays counted; want nothing, nothing, 2", b.String(), stderr.String(), total)
	}
}

// TestProfileDelaysPeriod: after the first histogram, the next is written
// at the first Run 5 s or more after it, as in sd_event_run, and holds the
// delays counted since, the one of that Run included (C counts it before
// it checks the time). The 5 s are made by moving the last record's time
// back, not waited for.
func TestProfileDelaysPeriod(t *testing.T) {
	testutil.Check(t)
	out := captureProfileStderr(t)
	e := newTestLoop(t)
	if err := e.SetProfileDelays(true); err != nil {
		t.Fatal(err)
	}
	histograms := func() []string {
		var hs []string
		for _, l := range strings.Split(out.String(), "\n") {
			if c, ok := strings.CutPrefix(l, "Event loop iterations: "); ok {
				hs = append(hs, c)
			}
		}
		return hs
	}
	sum := func(h string) int {
		n := 0
		for _, f := range strings.Fields(h) {
			c, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			n += c
		}
		return n
	}
	runs(t, e, 5) // the first histogram at the second Run, then 3 delays counted
	if hs := histograms(); len(hs) != 1 || sum(hs[0]) != 1 {
		t.Fatalf("histograms %q, want one of 1 delay", hs)
	}
	e.obs.delays.lastLog = sys.Monotonic() - profileDelaysPeriod + time.Second // 4 s ago
	runs(t, e, 1)
	if hs := histograms(); len(hs) != 1 {
		t.Fatalf("histograms %q before 5 s passed, want still one", hs)
	}
	e.obs.delays.lastLog = sys.Monotonic() - profileDelaysPeriod // 5 s ago
	runs(t, e, 1)
	if hs := histograms(); len(hs) != 2 || sum(hs[1]) != 5 {
		t.Fatalf("histograms %q, want a second one of 5 delays", hs)
	}
}
