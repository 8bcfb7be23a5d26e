// Package tune holds how wasigate shares the CPU and the Go runtime with
// its guests: the priority guard that lowers a spinning guest's thread
// (priority.go), the tuner that raises GOGC while lowered guests run
// (tune.go; never GOMAXPROCS, whose change stops the world), and the
// process's GC percentage (gc.go), so that these settings are decided in
// one place
// (cmd/wasigate/DECISIONS.md#a-spinning-guest-runs-at-the-lowest-priority).
//
// It imports the standard library and x/sys only: never wazero, host,
// router or the rest of wasi, whose Engine runs guests through a Guard.
package tune
