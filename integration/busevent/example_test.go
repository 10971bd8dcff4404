package busevent_test

import (
	"fmt"
	"log"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/integration/busevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/godbus/dbus/v5"
)

// counter is an object whose state belongs to the loop: its methods run
// there, so they need no lock.
type counter struct{ n int32 }

func (c *counter) Increment(by int32) (int32, *dbus.Error) {
	c.n += by
	return c.n, nil
}

// Attach the session bus to a loop, export an object whose methods run on
// the loop, and handle signals there too.
func Example() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	b, err := busevent.Attach(e, dbus.ConnectSessionBus, busevent.WithPriority(priority.Important))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Export(&counter{}, "/org/example/Counter", "org.example.Counter"); err != nil {
		log.Fatal(err)
	}
	// Owned now, or an error (EEXIST: another connection has it).
	if _, err := b.RequestName("org.example.Counter", dbus.NameFlagDoNotQueue); err != nil {
		log.Fatal(err)
	}
	if err := b.Conn().AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus")); err != nil {
		log.Fatal(err)
	}
	b.OnSignal(func(s *dbus.Signal) { fmt.Println(s.Name, s.Body) })
	// The bus went away: exit. Exit fails only when the loop is exiting
	// already, which is fine here.
	b.OnClose(func(err error) { _ = e.Exit(1) })
	// SIGINT, SIGTERM: exit, which closes b.
	if _, err := e.SetSignalExit(true); err != nil {
		log.Fatal(err)
	}

	if code, err := e.Loop(); err != nil || code != 0 {
		log.Fatal(code, err)
	}
}
