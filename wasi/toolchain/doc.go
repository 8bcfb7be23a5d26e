// Package toolchain turns script sources into WebAssembly modules with the
// toolchains installed on the machine: Go (GOOS=wasip1), C (clang with
// wasi-libc), Rust (rustc with the wasm32-wasi target) and WAT (wat2wasm),
// sandboxed and bounded (sandbox.go, jobs.go). It is the one place that
// knows the kinds of source, their extensions and which files decide a
// rebuild (kinds.go). Builds are cached by content hash, and concurrent
// requests for the same source share one build.
//
// It imports the standard library, wasi/seal and host/seam (whose
// defaults its limits take) only: never wazero, the rest of host, router
// or package wasi, which builds through it.
package toolchain
