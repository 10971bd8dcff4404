module github.com/go-sdevent/sdevent/integration

go 1.24.0

require (
	github.com/go-sdevent/sdevent v0.0.0
	github.com/godbus/dbus/v5 v5.2.4
	golang.org/x/sys v0.41.0
)

require github.com/coreos/go-systemd/v22 v22.7.0 // indirect

replace github.com/go-sdevent/sdevent => ../
