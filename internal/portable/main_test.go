//go:build linux

package portable

import (
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// The go list children must be gone after the tests, like everything else.
func TestMain(m *testing.M) { testutil.Main(m) }

func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }
