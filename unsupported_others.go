//go:build !linux

package sdevent

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Infinity stands for sd-event's USEC_INFINITY.
const Infinity time.Duration = math.MaxInt64

// Event is an event loop. It exists only on Linux.
type Event struct{}

// Source is an event source. It exists only on Linux.
type Source struct{}

var errUnsupported = fmt.Errorf("sdevent: event loops need Linux: %w", errors.ErrUnsupported)

// New returns an error wrapping errors.ErrUnsupported on this platform.
func New() (*Event, error) { return nil, errUnsupported }

// Default returns an error wrapping errors.ErrUnsupported on this platform.
func Default() (*Event, error) { return nil, errUnsupported }
