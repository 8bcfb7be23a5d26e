// Package wasi owns everything wazero in wasigate: the one runtime of the
// process and a module's whole life: source (built through wasi/toolchain),
// rewrite (wasi/internal/rewrite: the bounds check, data joining and
// deadline instrumentation), compile (the on-disk cache), the refcounted
// cache of scripts' modules with single-flight builds (scripts.go), and
// the per-request instantiation of a module with its limits (linear
// memory, deadline, open files) and the WASI view the guest gets:
// arguments, environment, stdin/stdout/stderr, preopened volumes, real
// clocks and crypto randomness.
//
// Its API is Engine, Module, Program, Config, Call and the errors; the
// parts behind them live under internal/, each with its own tests:
// internal/rewrite (the module rewrites), internal/snap (guest memory,
// snapshot images and their on-disk cache), internal/guestfs (volumes,
// scratch folder, files cap), internal/outbound (wasi_experimental_http
// and its policy), internal/hostlock (file locks), internal/tune (CPU
// priority and the garbage collector). This package decides when each is
// used: when a snapshot is taken, what a call mounts, which policy a run
// gets.
//
// It knows nothing of HTTP: it must not import host, router, chi or
// wasi/cgi. Its Config and Call, and the mounts, outbound policy and
// snapshot status in them, are the plain types of host/seam, the one part
// of host it imports, which router speaks too: callers name those types
// and their defaults there. The CGI mapping lives in package host, and wasi/cgi
// joins the two through the Runner seam.
package wasi
