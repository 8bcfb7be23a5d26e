package wasi

// ForceHandoff makes e run guests on runner goroutines, as in a process
// that may not restore a thread's priority, so tests cover both paths.
func ForceHandoff(e *Engine) { e.guard.ForceHandoff() }

// CanRestore reports which path e takes.
func CanRestore(e *Engine) bool { return e.guard.CanRestore() }
