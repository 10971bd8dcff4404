//go:build linux

package sdevent

import (
	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/source"
)

// AddDefer adds a source that is dispatched in the next iteration
// (sd_event_add_defer). It starts OneShot; switched On it runs every
// iteration, taking turns with other On defer sources of its priority.
func (e *Event) AddDefer(h Handler) (*Source, error) {
	const op = "add defer"
	if err := e.addable(op); err != nil {
		return nil, err
	}
	s := e.newSource(source.Defer, source.OneShot)
	s.handler = h
	e.setPending(s, true)
	return s, nil
}

// AddPost adds a source that becomes pending whenever a non-post source is
// dispatched, and then competes by priority (sd_event_add_post). It starts
// On. Added (or switched on) inside the handler of another kind's source it
// is pending once that handler returned, and runs in the next iteration, as
// in sd-event 262. Post sources alone never keep the loop busy.
func (e *Event) AddPost(h Handler) (*Source, error) {
	const op = "add post"
	if err := e.addable(op); err != nil {
		return nil, err
	}
	s := e.newSource(source.Post, source.On)
	s.handler = h
	s.slot = int32(len(e.post))
	e.post = append(e.post, s)
	return s, nil
}

// pendPost makes the online post sources pending when the dispatched source
// d is not one itself, as sd-event's source_dispatch does before d's handler
// and again after it, for those the handler added or switched on.
func (e *Event) pendPost(d *Source) {
	if d.kind() == source.Post {
		return
	}
	for _, z := range e.post {
		if !z.offline() {
			e.setPending(z, true)
		}
	}
}

func (e *Event) removePost(s *Source) {
	i := s.slot
	if i < 0 {
		return
	}
	last := len(e.post) - 1
	e.post[i] = e.post[last]
	e.post[i].slot = i
	e.post[last] = nil
	e.post = e.post[:last]
	s.slot = -1
}

// AddExit adds a source dispatched when the loop exits, exit sources one per
// iteration in priority order (sd_event_add_exit). h is required (EINVAL).
// It starts OneShot.
func (e *Event) AddExit(h Handler) (*Source, error) {
	const op = "add exit"
	if e != nil && h == nil {
		return nil, opErr(op, unix.EINVAL)
	}
	if err := e.addable(op); err != nil {
		return nil, err
	}
	s := e.newSource(source.Exit, source.OneShot)
	s.handler = h
	e.exit.Put(s)
	return s, nil
}

// addable checks what every Add method checks first.
func (e *Event) addable(op string) error {
	if !e.valid() {
		return opErr(op, unix.EINVAL)
	}
	if e.state == Finished {
		return opErr(op, unix.ESTALE)
	}
	return nil
}
