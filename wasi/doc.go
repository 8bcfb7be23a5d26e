// Package wasi owns everything wazero in wasigate: the one runtime of the
// process, the on-disk compilation cache, compiled modules, and the
// per-request instantiation of a module with its limits (linear memory,
// deadline) and the WASI view the guest gets: arguments, environment,
// stdin/stdout/stderr, preopened volumes, real clocks and crypto randomness.
//
// It knows nothing of HTTP: the CGI mapping lives in package host, which
// reaches this package only through the small Runner seam it declares.
package wasi
