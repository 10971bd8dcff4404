package bench

// Contenders returns go-sdevent, libsystemd's sd-event (a Missing one
// unless built with -tags libsystemd) and the idiomatic Go way, in the
// order Config wants them.
func Contenders() []Contender {
	return []Contender{GoSdevent{}, libsystemd(), Idiomatic{}}
}
