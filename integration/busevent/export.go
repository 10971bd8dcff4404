package busevent

import (
	"reflect"

	"github.com/godbus/dbus/v5"
)

var dbusErrorType = reflect.TypeFor[*dbus.Error]()

// Export exports the methods of v on path and interface iface, as
// dbus.Conn.Export does, but each call runs on the loop's goroutine. The
// rules are godbus's: the exported methods of v whose last result is a
// *dbus.Error; parameters of type dbus.Sender and dbus.Message are filled
// in and are not part of the D-Bus signature; a nil v removes the export.
//
// godbus hands each incoming call to a goroutine of its own, which
// decodes the arguments and then waits while the bridge queues the call
// to the loop; the loop runs the method, in a dispatch of the bridge's IO
// source, one call at a time, in the order the calls reached the bridge,
// and hands the results back; that godbus goroutine then writes the reply
// to the socket. The loop never writes replies, so a slow bus never
// stalls it. A call that finds the call queue full (WithQueueLen,
// WithQueueBytes) is answered with
// org.freedesktop.DBus.Error.LimitsExceeded, one still waiting when the
// bridge is closed with org.freedesktop.DBus.Error.Disconnected, and one
// whose method panics with org.freedesktop.DBus.Error.Failed (the panic
// goes on up the loop).
//
// Export may be called from any goroutine.
func (b *Bus) Export(v any, path dbus.ObjectPath, iface string) error {
	if v == nil {
		return b.conn.Export(nil, path, iface)
	}
	val := reflect.ValueOf(v)
	table := make(map[string]any)
	for i := range val.NumMethod() {
		m := val.Type().Method(i)
		if m.IsExported() && repliesDBusError(m.Type) {
			table[m.Name] = b.onLoop(val.Method(i))
		}
	}
	return b.conn.ExportMethodTable(table, path, iface)
}

// ExportMethodTable is Export for a table from method names to
// functions, as dbus.Conn.ExportMethodTable: entries that are not
// functions whose last result is a *dbus.Error are left out, and a nil
// table removes the export. It may be called from any goroutine.
func (b *Bus) ExportMethodTable(methods map[string]any, path dbus.ObjectPath, iface string) error {
	if methods == nil {
		return b.conn.ExportMethodTable(nil, path, iface)
	}
	table := make(map[string]any, len(methods))
	for name, m := range methods {
		fn := reflect.ValueOf(m)
		if fn.Kind() == reflect.Func && !fn.IsNil() && repliesDBusError(fn.Type()) {
			table[name] = b.onLoop(fn)
		}
	}
	return b.conn.ExportMethodTable(table, path, iface)
}

// repliesDBusError reports whether a function of type t can be exported:
// godbus requires its last result to be a *dbus.Error.
func repliesDBusError(t reflect.Type) bool {
	return t.NumOut() > 0 && t.Out(t.NumOut()-1) == dbusErrorType
}

// onLoop returns a function of fn's type that godbus can export as it
// would fn: called on godbus's goroutine, it has fn run on the loop and
// returns what fn returned there.
func (b *Bus) onLoop(fn reflect.Value) any {
	return reflect.MakeFunc(fn.Type(), func(args []reflect.Value) []reflect.Value {
		return b.q.submit(fn, args)
	}).Interface()
}
