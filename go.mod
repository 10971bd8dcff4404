module github.com/go-sdevent/sdevent

go 1.24.0

require golang.org/x/sys v0.41.0

require github.com/coreos/go-systemd/v22 v22.7.0
