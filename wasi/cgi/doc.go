// Package cgi is the seam between package host (CGI/1.1 over HTTP) and
// package wasi (wazero): it runs a wasi.Program as a host.Runner, gives an
// embedder a one-line http.Handler for a module, and implements the
// Loader that package router declares, so that router knows nothing of
// wazero (issue 11).
//
// It is the only package that imports both host and wasi. It must not
// import router or chi: router's seam types are aliases of plain type
// literals, which this package spells out again (loader.go).
package cgi
