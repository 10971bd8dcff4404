//go:build !libsystemd || !cgo

package bench

import "testing"

// TestLibsystemdNotBuilt: without the tag the C column says how to get it.
func TestLibsystemdNotBuilt(t *testing.T) {
	check(t)
	m, ok := Contenders()[1].(Missing)
	if !ok || m.Name() != "libsystemd" || m.Why != "not built (-tags libsystemd)" {
		t.Errorf("contender %#v, want libsystemd not built", Contenders()[1])
	}
	if _, err := m.Defer(1); err == nil {
		t.Error("a missing contender ran")
	}
}
