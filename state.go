package sdevent

import "fmt"

// State is the phase a loop is in, with the values of sd-event's SD_EVENT_*
// states.
type State int

// The loop states, in C's order and with C's values.
const (
	Initial   State = iota // SD_EVENT_INITIAL: between iterations
	Armed                  // SD_EVENT_ARMED: prepared, about to wait
	Pending                // SD_EVENT_PENDING: something is ready to dispatch
	Running                // SD_EVENT_RUNNING: a handler runs
	Exiting                // SD_EVENT_EXITING: an exit handler runs
	Finished               // SD_EVENT_FINISHED: exit processing is complete
	Preparing              // SD_EVENT_PREPARING: prepare callbacks run
)

var stateNames = [...]string{"initial", "armed", "pending", "running", "exiting", "finished", "preparing"}

// String returns the state's name in lower case, as sd-event logs it.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}
