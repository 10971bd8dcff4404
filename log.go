//go:build linux

package sdevent

import (
	"context"
	"log/slog"
)

// SetLogger makes the loop write records to l where sd-event logs: a
// handler, prepare callback or rate limit expire callback that failed (and
// whether the source was disabled or the loop exits), a source entering
// and leaving its rate limit, a descriptor epoll would not let go, a
// pressure trigger the kernel refused, and the watchdog. Every record is
// at slog.LevelDebug, as sd-event's log_debug calls are. A nil l, the
// default, keeps the loop silent. The logger is the loop's alone: there is
// no package-level logger, and loops do not share one unless given the
// same.
//
// sd-event has no counterpart: it writes through systemd's own log
// functions, to standard error or the journal, at the level of the process.
// Whether a record is wanted is asked (l.Enabled) before anything of it is
// made, so a nil logger, or one whose handler does not take debug records,
// costs the loop no allocation and no clock read.
func (e *Event) SetLogger(l *slog.Logger) {
	if e != nil {
		e.logger = l
	}
}

// Logger returns the logger SetLogger gave the loop, nil when it has none,
// so that code built on the loop can log where the loop does.
func (e *Event) Logger() *slog.Logger {
	if e == nil {
		return nil
	}
	return e.logger
}

// debugOn reports whether a debug record would be written. Callers ask it
// before they make any part of a record, so that a silent loop neither
// allocates nor reads a clock (slog reads one for every record it makes).
func (e *Event) debugOn() bool {
	return e.logger != nil && e.logger.Enabled(context.Background(), slog.LevelDebug)
}

// logSource writes a debug record about s, with the attributes every record
// about a source has: "source" (its description, "" when it has none),
// "kind" (source.Type's name, sd-event's word for it), "priority", "err"
// when err is not nil, then extra. Call it only when debugOn holds.
func (e *Event) logSource(msg string, s *Source, err error, extra ...slog.Attr) {
	e.logSourceAt(slog.LevelDebug, msg, s, err, extra...)
}

// logSourceAt is logSource at level; call it only when the logger is
// enabled for level.
func (e *Event) logSourceAt(level slog.Level, msg string, s *Source, err error, extra ...slog.Attr) {
	attrs := make([]slog.Attr, 0, 4+len(extra))
	attrs = append(attrs,
		slog.String("source", s.descriptionOrEmpty()),
		slog.String("kind", s.kind().String()),
		slog.Int64("priority", int64(s.priority)))
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	attrs = append(attrs, extra...)
	e.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// logLoop writes a debug record about the loop as a whole. Call it only
// when debugOn holds.
func (e *Event) logLoop(msg string, attrs ...slog.Attr) {
	e.logger.LogAttrs(context.Background(), slog.LevelDebug, msg, attrs...)
}

// callbackKind says which of a source's callbacks returned an error.
type callbackKind uint8

const (
	callbackHandler callbackKind = iota // the handler (source_dispatch)
	callbackPrepare                     // the prepare callback (event_prepare)
	callbackExpire                      // the rate limit expire callback (event_source_leave_ratelimit)
)

// failureMessages are the messages of the records about a failed callback,
// by kind, for a source that is disabled and for one whose failure makes
// the loop exit; sd-event logs the same three cases.
var failureMessages = [...][2]string{
	callbackHandler: {"event source handler failed, disabling source", "event source handler failed, exiting loop"},
	callbackPrepare: {"prepare callback failed, disabling source", "prepare callback failed, exiting loop"},
	callbackExpire:  {"rate limit expire callback failed, disabling source", "rate limit expire callback failed, exiting loop"},
}

// logFailure writes the record about a callback of s that returned err.
func (e *Event) logFailure(s *Source, cb callbackKind, err error) {
	if !e.debugOn() {
		return
	}
	msg := failureMessages[cb][0]
	if s.exitOnFailure {
		msg = failureMessages[cb][1]
	}
	e.logSource(msg, s, err)
}
