// Package rewrite holds wasigate's rewriting of binary WebAssembly modules,
// done once per module before wazero compiles it: the bounds check that
// refuses lying counts before anything allocates from them (bounds.go), the
// joining of Go's data segments (datamerge.go), so that no instance
// evaluates thousands of them, and the deadline instrumentation
// (instrument.go), cheaper than wazero's own (see cmd/wasigate/DECISIONS.md
// for each).
//
// It works on bytes alone: it imports the standard library only, never
// wazero, host, router or the rest of wasi, whose Engine.Compile calls it.
package rewrite
