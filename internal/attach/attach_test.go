//go:build linux

package attach_test

import (
	"testing"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/attach"
	"github.com/go-sdevent/sdevent/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestEveryTestChecksLeaks: a test that does not call testutil.Check would
// leak unnamed.
func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// deferSource adds an On defer source that counts its dispatches and, if
// free is set, frees itself inside its handler.
func deferSource(t *testing.T, e *sdevent.Event, ran *int, free *bool) *sdevent.Source {
	t.Helper()
	var s *sdevent.Source
	s, err := e.AddDefer(func(*sdevent.Source) error {
		*ran++
		if *free {
			attach.Free(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFloatFree: a source handed to the loop with Float does not keep the
// loop alive; Free frees it at once, or after its handler when called
// inside it; freeing the loop frees it; destroy runs once each time.
func TestFloatFree(t *testing.T) {
	for _, how := range []string{"free", "free in handler", "loop freed"} {
		t.Run(how, func(t *testing.T) {
			testutil.Check(t)
			e, err := sdevent.New()
			if err != nil {
				t.Fatal(err)
			}
			ran, destroyed, inHandler := 0, 0, how == "free in handler"
			s := deferSource(t, e, &ran, &inHandler)
			if err := attach.Float(s, func() { destroyed++ }); err != nil {
				t.Fatal(err)
			}
			if !s.Floating() {
				t.Fatal("not floating")
			}
			switch how {
			case "free":
				attach.Free(s)
			case "free in handler":
				if _, err := e.Run(0); err != nil {
					t.Fatal(err)
				}
				if ran != 1 {
					t.Fatalf("handler ran %d times", ran)
				}
			}
			if how != "loop freed" && destroyed != 1 {
				t.Fatalf("destroy ran %d times after Free, want 1", destroyed)
			}
			e.Unref() // frees the loop: no source holds it
			if destroyed != 1 {
				t.Fatalf("destroy ran %d times in all, want 1", destroyed)
			}
		})
	}
}
