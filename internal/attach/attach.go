// Package attach is how the toolkit packages (sdnet, filewatch) hand a
// source to its loop: floating, so that it neither keeps the loop alive nor
// outlives it, with a destroy callback that releases what the source stands
// for (a descriptor, a listener), and freed early by the object that made
// it. Both steps use the public API of package sdevent alone.
package attach

import "github.com/go-sdevent/sdevent"

// Float makes s floating and drops the caller's reference: from now on the
// loop's reference is the only one. destroy runs once, when s is freed:
// by Free, or when the loop is freed (sd_event_source_set_floating,
// sd_event_source_set_destroy_callback). Only a source that is not
// connected to a loop fails, and then nothing changed.
func Float(s *sdevent.Source, destroy func()) error {
	if err := s.SetDestroyCallback(func(any) { destroy() }); err != nil {
		return err
	}
	if err := s.SetFloating(true); err != nil {
		_ = s.SetDestroyCallback(nil) // the caller's Unref must not run destroy
		return err
	}
	s.Unref()
	return nil
}

// Free frees a source that Float handed to its loop, now: it leaves the
// kernel at once and its destroy callback runs, right away or, inside the
// source's own handler, once the handler returned. The caller must not call
// it after the destroy callback ran.
func Free(s *sdevent.Source) {
	// SetFloating(false) gives the loop's reference back to the caller, who
	// must hold one first (sd_event_source_set_floating); the Ref is that
	// one, and the Unref drops the last.
	s.Ref()
	_ = s.SetFloating(false) // a floating source, still connected: cannot fail
	s.Unref()
}
