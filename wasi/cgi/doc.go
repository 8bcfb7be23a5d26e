// Package cgi is the seam between package host (CGI/1.1 over HTTP) and
// package wasi (wazero): it runs a wasi.Program as a host.Runner, gives an
// embedder a one-line http.Handler for a module, and implements the Loader
// that package router declares, so that router knows nothing of wazero
// (cmd/wasigate/DECISIONS.md#router-knows-nothing-of-wazero).
//
// It is the only package that imports both host and wasi. It must not
// import router or chi: the types of router's Loader are declared once in
// host/seam, which router, this package and wasi all import.
package cgi
