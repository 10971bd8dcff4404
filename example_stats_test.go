//go:build linux

package sdevent_test

import (
	"expvar"
	"fmt"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/source"
)

// With statistics on, Snapshot tells how often each source ran, how many
// of its handler calls failed and how long they took.
func ExampleEvent_Snapshot() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()
	if err := e.SetStatistics(true); err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	s, err := e.AddDefer(func(s *sdevent.Source) error {
		if n++; n == 3 {
			return s.SetEnabled(source.Off)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unref()
	_ = s.SetDescription("worker")
	_ = s.SetEnabled(source.On)
	for range 3 {
		if _, err := e.Run(0); err != nil {
			fmt.Println(err)
			return
		}
	}
	snap, err := e.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range snap.Sources {
		fmt.Printf("%s (%s, %s): %d dispatches, %d errors, handlers ran %v\n",
			r.Description, r.Kind, r.Enabled, r.Dispatches, r.Errors, r.HandlerTime > 0)
	}
	// Output:
	// worker (defer, off): 3 dispatches, 0 errors, handlers ran true
}

// publishSnapshot is the README's way for a daemon to expose the loop's
// statistics through expvar (served at /debug/vars by net/http's default
// mux): from an HTTP goroutine the snapshot is taken on the loop, through
// Invoke. Kept compiling here.
func publishSnapshot(e *sdevent.Event) {
	expvar.Publish("sdevent", expvar.Func(func() any {
		got := make(chan sdevent.Snapshot, 1)
		if err := e.Invoke(func() {
			snap, _ := e.Snapshot()
			got <- snap
		}); err != nil {
			return err.Error() // the loop has finished
		}
		select {
		case snap := <-got:
			return snap
		case <-time.After(time.Second):
			return "the loop did not answer within 1s"
		}
	}))
}

var _ = publishSnapshot
