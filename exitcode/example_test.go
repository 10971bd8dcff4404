package exitcode_test

import (
	"fmt"
	"syscall"

	"github.com/go-sdevent/sdevent/exitcode"
)

// A daemon's main ends with the status its event loop left:
//
//	e, err := sdevent.Default()
//	if err != nil {
//		os.Exit(int(exitcode.FromError(err)))
//	}
//	os.Exit(int(exitcode.FromLoop(e.Loop())))
//
// Here literal results stand in for what Loop returns.
func Example() {
	for _, r := range []struct {
		code int
		err  error
	}{
		{0, nil},                           // a handler called e.Exit(0)
		{int(exitcode.NotConfigured), nil}, // e.Exit(int(exitcode.NotConfigured))
		{-int(syscall.EIO), nil},           // e.Exit(-EIO), as C code often does
		{0, fmt.Errorf("sdevent: loop: %w", syscall.EBADF)}, // the loop failed
	} {
		c := exitcode.FromLoop(r.code, r.err)
		fmt.Printf("status=%d/%s\n", int(c), c)
	}
	// Output:
	// status=0/SUCCESS
	// status=6/NOTCONFIGURED
	// status=1/FAILURE
	// status=1/FAILURE
}

func ExampleFromChild() {
	c, ok := exitcode.FromChild(2, int(syscall.SIGTERM)) // CLD_KILLED
	fmt.Println(int(c), ok)
	c, ok = exitcode.FromChild(1, 203) // CLD_EXITED
	fmt.Println(int(c), c, ok)
	_, ok = exitcode.FromChild(5, int(syscall.SIGSTOP)) // CLD_STOPPED
	fmt.Println(ok)
	// Output:
	// 143 true
	// 203 EXEC true
	// false
}

func ExampleLookup() {
	c, ok := exitcode.Lookup("NOPERMISSION")
	fmt.Println(int(c), c.Class(), ok)
	// Output: 4 LSB true
}
