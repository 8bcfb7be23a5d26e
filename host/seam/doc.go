// Package seam holds the plain types that cross between the server side
// (packages host and router) and the module side (packages wasi and
// wasi/cgi), written once: the invocation a Runner takes, the run
// configuration of a route with its limits and outbound policy, mounts,
// what a loaded module reports, the Program, Module and Scripts
// interfaces, a program's snapshot status, and the defaults of the limits
// both sides read.
//
// Both sides import it, so that a router.Loader implemented by wasi/cgi
// needs neither type literals spelled twice nor a copy of a configuration
// field by field. It is a leaf: it imports only the standard library,
// and must not import host, router, chi, wazero or any wasi package.
package seam
