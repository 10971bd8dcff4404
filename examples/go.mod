module github.com/go-sdevent/sdevent/examples

go 1.24.0

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/fsnotify/fsnotify v1.10.1
	github.com/go-sdevent/sdevent v0.0.0
	github.com/go-sdevent/sdevent/integration v0.0.0
	github.com/godbus/dbus/v5 v5.2.4
	golang.org/x/sys v0.41.0
)

// examples/workerd (go-sdevent and its toolkit) builds against this
// checkout: the root module and the integration module (busevent).
replace (
	github.com/go-sdevent/sdevent => ../
	github.com/go-sdevent/sdevent/integration => ../integration
)
