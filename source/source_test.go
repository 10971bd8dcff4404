package source

import "testing"

func TestEnabledValuesAreC(t *testing.T) {
	// SD_EVENT_OFF = 0, SD_EVENT_ON = 1, SD_EVENT_ONESHOT = -1.
	if Off != 0 || On != 1 || OneShot != -1 {
		t.Fatalf("C values broken: off=%d on=%d oneshot=%d", Off, On, OneShot)
	}
	for _, tc := range []struct {
		m     Enabled
		s     string
		valid bool
	}{{Off, "off", true}, {On, "on", true}, {OneShot, "oneshot", true}, {2, "Enabled(2)", false}, {-2, "Enabled(-2)", false}} {
		if tc.m.String() != tc.s || tc.m.Valid() != tc.valid {
			t.Errorf("%d: String()=%q Valid()=%v, want %q %v", int(tc.m), tc.m.String(), tc.m.Valid(), tc.s, tc.valid)
		}
	}
}

func TestTypeNames(t *testing.T) {
	for ty, want := range typeNames {
		if want == "" {
			t.Errorf("type %d has no name", ty)
		}
		if Type(ty).String() != want {
			t.Errorf("Type(%d).String() = %q", ty, Type(ty).String())
		}
	}
	// sd-event 261+ names its CPU and IO pressure kinds so in its logs.
	if CPUPressure.String() != "cpu-pressure" || IOPressure.String() != "io-pressure" {
		t.Errorf("pressure kinds: %q, %q", CPUPressure.String(), IOPressure.String())
	}
	if Type(99).String() != "Type(99)" {
		t.Errorf("unknown type: %q", Type(99).String())
	}
	for _, ty := range []Type{Child, Post, Exit, Watchdog} {
		if ty.CanRatelimit() {
			t.Errorf("%v must not accept a rate limit", ty)
		}
	}
	for _, ty := range []Type{IO, TimeMonotonic, TimeBoottimeAlarm, Signal, Defer, Inotify, MemoryPressure, CPUPressure, IOPressure} {
		if !ty.CanRatelimit() {
			t.Errorf("%v must accept a rate limit", ty)
		}
	}
	if !TimeRealtime.IsTime() || !TimeBoottimeAlarm.IsTime() || IO.IsTime() || Signal.IsTime() {
		t.Error("IsTime wrong")
	}
}
