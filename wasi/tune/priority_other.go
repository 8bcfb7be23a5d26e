//go:build !linux

package tune

import "time"

// canNice: elsewhere priority is a process attribute, not a thread's, so
// guests keep theirs.
const canNice = false

func threadID() int { return 0 }

func lowerPriority(int) error { return nil }

func threadCPU(int) time.Duration { return 0 }

func restorePriority(int) error { return nil }

func probeRestore() bool { return false }
