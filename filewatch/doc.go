// Package filewatch watches one file on a go-sdevent loop the way editors,
// package managers and configuration tools change it, and calls back once
// per burst of changes.
//
// A watch on the file itself (inotify on its inode) goes silent after the
// first save of most editors: vim, sed -i, and every tool that writes
// atomically writes a new file and renames it over the old one, whose
// inode, with its watch, is then gone (IN_DELETE_SELF, IN_IGNORED, then
// nothing). Watch therefore watches the file's directory, one inotify
// source with IN_CREATE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE,
// IN_CLOSE_WRITE, IN_MODIFY and IN_ATTRIB, and keeps the events whose name
// is the file's. That follows a rename over the file, a truncating write
// (`>`), an append (`>>`, also by a writer that keeps the file open),
// deletion and creation, whatever inode the name refers to.
//
// One save is several events (open, truncate, write, close; or create,
// write, rename), so events are debounced: each re-arms a timer on the
// loop to Delay from now, and the Handler runs once the directory was
// quiet for Delay, with whether the file exists then. A burst that never
// quiets down (a log written to continuously) is cut at MaxDelay after
// its first event, so the Handler still runs at least that often.
//
// If the directory itself is removed, renamed or unmounted, the watch
// stops: the Handler is called one last time with an error wrapping ENOENT
// (exists false), and no more. A new directory at the same path is not
// followed; Watch it anew. Renames of directories above it are not seen,
// and a symbolic link is not followed to its target's directory: a file
// that is a link into a directory that is swapped as a whole (the
// ..data link of a Kubernetes ConfigMap volume) needs that directory
// watched too.
//
// A Watcher adds no goroutine and no descriptor of its own: its two
// sources share the loop's inotify descriptor and timerfd. Like the
// sources it is made of, it belongs to the goroutine of its loop, and it
// belongs to the loop as a floating source does: it does not keep the
// loop alive, and freeing the loop stops it (without a last call of the
// Handler).
//
// Watching and dispatching allocate nothing in steady state: the Handler
// gets a bool and a nil error.
//
// The recipe behind it, for C code or a loop without this package, is in
// the section "Watching a file that editors replace" of
// sd_event_add_inotify(3).
//
// The package needs Linux. Elsewhere it compiles, as package sdevent
// does, and every call that returns an error returns one for which
// errors.Is(err, errors.ErrUnsupported) holds.
package filewatch
