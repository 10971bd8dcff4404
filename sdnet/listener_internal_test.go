//go:build linux

package sdnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
)

// records is a slog.Handler that keeps what it is given.
type records struct{ got []slog.Record }

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.got = append(r.got, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// TestAcceptFailed: every accept4 errno accept(2) names is sorted as the
// package documentation says: skipped (the source stays on, nothing is
// logged), a shortage (paused: the source off, the timer armed with a
// pause that doubles from 5 ms up to 1 s, a warning), or fatal (an error
// returned, so the loop switches the source off, and logged as an error).
func TestAcceptFailed(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Unref()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log records
	l, err := NewListener(e, ln, func(*Listener, *Conn) {}, &Options{Logger: slog.New(&log)})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer l.Close()
	enabled := func(s *sdevent.Source) source.Enabled {
		en, err := s.Enabled()
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	for _, errno := range []unix.Errno{unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO, unix.EPERM,
		unix.ENETDOWN, unix.ENOPROTOOPT, unix.EHOSTDOWN, unix.ENONET, unix.EHOSTUNREACH,
		unix.EOPNOTSUPP, unix.ENETUNREACH} {
		if err := l.acceptFailed(errno); err != nil || enabled(l.src) != source.On || len(log.got) != 0 {
			t.Fatalf("%v: %v, source %v, %d records; want skipped", errno, err, enabled(l.src), len(log.got))
		}
	}
	want := 5 * time.Millisecond
	for i, errno := range []unix.Errno{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.EMFILE, unix.EMFILE, unix.EMFILE, unix.EMFILE, unix.EMFILE, unix.EMFILE, unix.EMFILE, unix.EMFILE} {
		if err := l.acceptFailed(errno); err != nil {
			t.Fatalf("%v: %v, want a pause", errno, err)
		}
		if enabled(l.src) != source.Off || enabled(l.timer) != source.OneShot {
			t.Fatalf("%v: source %v, timer %v; want off and armed", errno, enabled(l.src), enabled(l.timer))
		}
		rec := log.got[len(log.got)-1]
		var retry time.Duration
		var logged error
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "retry_in":
				retry = a.Value.Duration()
			case "err":
				logged, _ = a.Value.Any().(error)
			}
			return true
		})
		if rec.Level != slog.LevelWarn || retry != want || !errors.Is(logged, errno) || len(log.got) != i+1 {
			t.Fatalf("pause %d (%v): record %v %q retry_in %v err %v; want a warning with retry_in %v", i, errno, rec.Level, rec.Message, retry, logged, want)
		}
		want = min(2*want, time.Second)
		if err := l.resume(l.timer, 0); err != nil || enabled(l.src) != source.On {
			t.Fatalf("resume: %v, source %v", err, enabled(l.src))
		}
	}
	log.got = nil
	err = l.acceptFailed(unix.EBADF)
	if !errors.Is(err, unix.EBADF) || len(log.got) != 1 || log.got[0].Level != slog.LevelError {
		t.Fatalf("EBADF: %v, %d records; want the error returned and logged as an error", err, len(log.got))
	}
}

// TestLoggerFallsBackToTheLoops: without Options.Logger a Listener logs
// through its loop's logger (SetLogger), and is silent when the loop has
// none; Options.Logger comes first.
func TestLoggerFallsBackToTheLoops(t *testing.T) {
	testutil.Check(t)
	e, err := sdevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Unref()
	l := &Listener{e: e}
	if got := l.logger(); got != nil {
		t.Fatalf("a loop without a logger: the Listener logs through %v", got)
	}
	loops := slog.New(&records{})
	e.SetLogger(loops)
	if l.logger() != loops {
		t.Fatal("the loop's logger is not used")
	}
	mine := slog.New(&records{})
	l.o.Logger = mine
	if l.logger() != mine {
		t.Fatal("Options.Logger is not used")
	}
}
