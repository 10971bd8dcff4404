//go:build !linux

package filewatch

import (
	"errors"
	"fmt"

	"github.com/go-sdevent/sdevent"
)

// Elsewhere than on Linux the API compiles, as package sdevent's does:
// Watch and Close return an error for which
// errors.Is(err, errors.ErrUnsupported) holds, Path returns "".

// A Watcher watches one file through its directory (Linux only).
type Watcher struct{}

// Watch is not supported on this platform.
func Watch(e *sdevent.Event, path string, h Handler, o *Options) (*Watcher, error) {
	return nil, fmt.Errorf("filewatch: watch %s: %w", path, errors.ErrUnsupported)
}

// Close is not supported on this platform.
func (w *Watcher) Close() error { return fmt.Errorf("filewatch: close: %w", errors.ErrUnsupported) }

// Path returns "" on this platform.
func (w *Watcher) Path() string { return "" }
