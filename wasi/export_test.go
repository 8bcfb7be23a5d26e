package wasi

// ForceHandoff makes e run guests on runner goroutines, as in a process
// that may not restore a thread's priority, so tests cover both paths.
func ForceHandoff(e *Engine) { e.guard.ForceHandoff() }

// CanRestore reports which path e takes.
func CanRestore(e *Engine) bool { return e.guard.CanRestore() }

// MarkerKey is the name of the cache marker of the module with this hash
// (validated bytes have their own key: a marker from an unvalidated
// compile lets nothing skip validation).
func MarkerKey(hash string) string { return validatedKey(hash) }

// ReadModuleFile is readModuleFile, for the size tests of package wasi_test.
var ReadModuleFile = readModuleFile
