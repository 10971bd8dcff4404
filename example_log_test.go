//go:build linux

package sdevent_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-sdevent/sdevent"
)

// A handler error switches its source off; with a logger the loop says
// which source and why. (The time is left out of the records here, so that
// the output stays the same.)
func ExampleEvent_SetLogger() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()
	e.SetLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))

	s, err := e.AddDefer(func(*sdevent.Source) error {
		_, err := os.ReadFile("/nonexistent/app.conf")
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unref()
	if err := s.SetDescription("config"); err != nil {
		fmt.Println(err)
		return
	}

	// With nothing left enabled, the loop ends by itself.
	if err := e.SetExitOnIdle(true); err != nil {
		fmt.Println(err)
		return
	}
	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// level=DEBUG msg="event source handler failed, disabling source" source=config kind=defer priority=0 err="open /nonexistent/app.conf: no such file or directory"
	// loop returned 0 <nil>
}
