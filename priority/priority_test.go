package priority

import "testing"

func TestOrderAndNames(t *testing.T) {
	if Important >= Normal || Normal >= Idle {
		t.Fatalf("levels out of order: %d %d %d", Important, Normal, Idle)
	}
	for _, tc := range []struct {
		p    Priority
		want string
	}{{Important, "important"}, {Normal, "normal"}, {Idle, "idle"}, {-5, "-5"}, {1 << 40, "1099511627776"}} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("Priority(%d).String() = %q, want %q", int64(tc.p), got, tc.want)
		}
	}
}
