package wasi

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// The init/run ABI
// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up):
// an interpreter built as a reactor
// that exports
//
//	wasigate_init() -> i32  start the interpreter from argv (its options,
//	                        no script) and the environment, and load what
//	                        it preloads; 0 on success
//	wasigate_run()          re-read argv and the environment, run the
//	                        script, exit with its status
//
// is started once, at load time, in a scratch instance (_initialize, then
// wasigate_init), and every request's instance starts from the snapshot
// taken after it and calls wasigate_run. Without a snapshot a request calls
// _initialize and wasigate_run, which runs the init itself.
// samples/python/driver.c is such a driver, for CPython.
//
// What the init sees, and so what is frozen into every request: the
// interpreter's command line and its configured environment (Config.InitArgs
// and Config.InitEnv, never a request's), the read-only volumes as they are
// and an empty folder in place of each writable one and of the scratch
// folder, an empty stdin, real clocks and randomness. A driver's run must
// re-read argv and the environment from WASI and reseed what it seeds.
const (
	driverInit = "wasigate_init"
	driverRun  = "wasigate_run"
)

// isDriver reports whether the module follows the init/run ABI: a reactor
// (_initialize, no _start) exporting both functions.
func (m *Module) isDriver() bool {
	return !m.HasExport("_start") && m.HasExport("_initialize") &&
		m.HasExport(driverInit) && m.HasExport(driverRun)
}

// checkDriver checks the signatures of the ABI's functions.
func (m *Module) checkDriver() error {
	fns := m.compiled.ExportedFunctions()
	if f := fns[driverInit]; len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 1 || f.ResultTypes()[0] != api.ValueTypeI32 {
		return fmt.Errorf("%s: %s must take no parameters and return an i32", m.Name, driverInit)
	}
	if f := fns[driverRun]; len(f.ParamTypes()) != 0 || len(f.ResultTypes()) > 1 {
		return fmt.Errorf("%s: %s must take no parameters", m.Name, driverRun)
	}
	return m.checkImports()
}

// runDriverInit calls wasigate_init in an instance that ran _initialize:
// the init of a driver's snapshot.
func runDriverInit(ctx context.Context, mod api.Module) error {
	res, err := mod.ExportedFunction(driverInit).Call(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", driverInit, err)
	}
	if rc := int32(res[0]); rc != 0 {
		return fmt.Errorf("%s returned %d", driverInit, rc)
	}
	return nil
}
