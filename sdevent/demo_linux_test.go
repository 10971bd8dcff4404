package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dispatchLine is one line of the demo's table.
type dispatchLine struct {
	ms       float64
	iter     uint64
	desc     string
	prio     string
	enabled  string
	loop     string
	what     string
	original string
}

func parseDemo(t *testing.T, out string) []dispatchLine {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("demo printed %d lines:\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[0], "sdevent demo: ") || !strings.Contains(lines[1], "what happened") {
		t.Fatalf("demo's first lines are not the title and the header:\n%s", out)
	}
	var ds []dispatchLine
	for _, l := range lines[2:] {
		if l == "" { // the statistics follow
			break
		}
		f := strings.Fields(l)
		if len(f) < 7 || !strings.HasSuffix(f[0], "ms") {
			t.Fatalf("malformed line %q in:\n%s", l, out)
		}
		ms, err1 := strconv.ParseFloat(strings.TrimSuffix(f[0], "ms"), 64)
		iter, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("malformed line %q in:\n%s", l, out)
		}
		ds = append(ds, dispatchLine{ms, iter, f[2], f[3], f[4], f[5], strings.Join(f[6:], " "), l})
	}
	return ds
}

// statLine is one line of the demo's statistics.
type statLine struct {
	kind, prio, enabled string
	dispatches, errors  int
	late                string
}

// parseStatistics returns the lines of the statistics at the end of the
// demo's output, by source.
func parseStatistics(t *testing.T, out string) map[string]statLine {
	t.Helper()
	_, block, found := strings.Cut(out, "\n\nstatistics after ")
	if !found {
		t.Fatalf("no statistics at the end:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "source ") {
		t.Fatalf("statistics without their header:\n%s", block)
	}
	stats := map[string]statLine{}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 9 {
			t.Fatalf("malformed statistics line %q", l)
		}
		n, err1 := strconv.Atoi(f[4])
		e, err2 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil {
			t.Fatalf("malformed statistics line %q", l)
		}
		stats[f[0]] = statLine{f[1], f[2], f[3], n, e, f[8]}
	}
	return stats
}

// TestDemoStatistics: the statistics the demo prints at its end count, for
// each source, as many dispatches as the demo printed lines for it, with
// no errors, and a lateness for the timer only.
func TestDemoStatistics(t *testing.T) {
	rc, out, errs := runCmd(t, "demo", "-ticks", "2", "-interval", "20ms")
	if rc != 0 || errs != "" {
		t.Fatalf("demo: status %d, stderr %q, stdout:\n%s", rc, errs, out)
	}
	lines := map[string]int{}
	for _, d := range parseDemo(t, out) {
		lines[d.desc]++
	}
	stats := parseStatistics(t, out)
	delete(lines, "invoke") // Invoke's function has no source of its own
	if len(stats) != len(lines) {
		t.Errorf("statistics of %d sources, %d sources dispatched:\n%s", len(stats), len(lines), out)
	}
	for desc, n := range lines {
		st, found := stats[desc]
		if !found || st.dispatches != n || st.errors != 0 {
			t.Errorf("%s: %d lines, statistics %+v (found %v)", desc, n, st, found)
		}
		if (st.kind == "monotonic") != strings.Contains(st.late, "/") {
			t.Errorf("%s: kind %s, lateness %q", desc, st.kind, st.late)
		}
	}
	if st := stats["tick"]; st.kind != "monotonic" || st.prio != "normal" || st.enabled != "off" {
		t.Errorf("tick's statistics: %+v", st)
	}
}

func TestDemo(t *testing.T) {
	const ticks, interval = 3, 50 * time.Millisecond
	rc, out, errs := runCmd(t, "demo", "-ticks", strconv.Itoa(ticks), "-interval", interval.String())
	if rc != 0 || errs != "" {
		t.Fatalf("demo: status %d, stderr %q, stdout:\n%s", rc, errs, out)
	}
	t.Logf("demo output:\n%s", out)
	ds := parseDemo(t, out)

	// The first iteration has both defer sources pending: the important one
	// runs first though added last; the post source follows the burst.
	for i, want := range []struct{ desc, prio string }{
		{"defer-important", "important"}, {"defer-normal", "normal"}, {"post-counter", "idle"},
	} {
		if i >= len(ds) || ds[i].desc != want.desc || ds[i].prio != want.prio || ds[i].loop != "running" {
			t.Fatalf("dispatch %d is not %s at priority %s:\n%s", i, want.desc, want.prio, out)
		}
	}
	for _, d := range ds[:2] {
		if d.enabled != "off" {
			t.Errorf("ONESHOT %s saw enablement %s in its handler, want off", d.desc, d.enabled)
		}
	}

	// One dispatch per iteration; time goes forward.
	for i := 1; i < len(ds); i++ {
		if ds[i].iter <= ds[i-1].iter {
			t.Errorf("two dispatches in iteration %d or iterations out of order:\n%s\n%s", ds[i].iter, ds[i-1].original, ds[i].original)
		}
		if ds[i].ms < ds[i-1].ms {
			t.Errorf("time went back:\n%s\n%s", ds[i-1].original, ds[i].original)
		}
		if ds[i].desc == "post-counter" && ds[i-1].desc == "post-counter" {
			t.Errorf("post source ran twice with nothing between:\n%s\n%s", ds[i-1].original, ds[i].original)
		}
	}

	// Tick k, then the read of its message, before tick k+1; never early.
	next, invokes, posts := 0, 0, 0
	type step struct{ desc, what string }
	var expect []step
	for k := 1; k <= ticks; k++ {
		msg := "tick " + strconv.Itoa(k)
		expect = append(expect, step{"tick", msg + " of " + strconv.Itoa(ticks)}, step{"pipe-reader", strconv.Quote(msg + "\n")})
	}
	tickSeen := 0
	for _, d := range ds {
		switch d.desc {
		case "invoke":
			invokes++
			if tickSeen == 0 || d.loop != "running" {
				t.Errorf("invoke ran before the first tick or not in state running: %s", d.original)
			}
		case "post-counter":
			posts++
		case "tick":
			tickSeen++
			if due := float64(tickSeen*int(interval/time.Millisecond)) - 0.1; d.ms < due {
				t.Errorf("tick %d at %.1fms, before its deadline %.1fms", tickSeen, d.ms, due)
			}
			wantEnabled := "on"
			if tickSeen == ticks {
				wantEnabled = "off"
			}
			if d.enabled != wantEnabled || d.prio != "normal" {
				t.Errorf("tick %d: enabled %s priority %s, want %s normal", tickSeen, d.enabled, d.prio, wantEnabled)
			}
		case "pipe-reader":
			if d.prio != "important" || d.enabled != "on" || !strings.HasPrefix(d.what, "revents=IN") {
				t.Errorf("unexpected pipe line: %s", d.original)
			}
		}
		if next < len(expect) && d.desc == expect[next].desc {
			if !strings.Contains(d.what, expect[next].what) {
				t.Errorf("dispatch %q out of order: want %s %s", d.original, expect[next].desc, expect[next].what)
			}
			next++
		}
	}
	if next != len(expect) {
		t.Errorf("saw %d of the %d tick and read dispatches expected", next, len(expect))
	}
	if invokes != 1 {
		t.Errorf("invoke ran %d times, want 1", invokes)
	}
	// Once after the defer sources and after every tick but the last, whose
	// read asks the loop to exit: exiting, the loop runs exit sources only.
	if posts < ticks {
		t.Errorf("post source ran %d times, want at least %d", posts, ticks)
	}

	last := ds[len(ds)-1]
	if last.desc != "summary" || last.loop != "exiting" || last.enabled != "off" ||
		!strings.Contains(last.what, fmt.Sprintf("%d ticks, %d lines (%d bytes) read", ticks, ticks, ticks*len("tick 1\n"))) ||
		!strings.Contains(last.what, "invoke ran: true") ||
		!strings.Contains(last.what, strconv.Itoa(posts)+" post runs") {
		t.Errorf("last line is not the exit source's summary: %s", last.original)
	}
}
