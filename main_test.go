package sdevent_test

import (
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// Every test of the package runs under the hygiene checks: no descriptor,
// goroutine or child process may outlive the tests.
func TestMain(m *testing.M) { testutil.Main(m) }
