//go:build !linux

package tune

// physicalMemory is unknown here: without a memory_limit in the
// configuration or GOMEMLIMIT, the runtime runs without a soft limit.
func physicalMemory() int64 { return 0 }
