// Package host is the server side of CGI/1.1 (RFC 3875) for wasigate: it
// turns an http.Request into a guest's environment, arguments and stdin,
// turns the guest's stdout into a streamed HTTP response, and maps the ways
// a run can end to status codes. It holds the defaults of its own limits.
//
// It runs guests only through the Runner interface, so it knows nothing of
// wazero; package wasi/cgi implements the other side. Runner and the
// Invocation it takes are declared in host/seam, the leaf package of the
// types both sides share. It imports the standard library, zerolog and
// host/seam, and must not import wazero, chi, router or any wasi package.
package host
