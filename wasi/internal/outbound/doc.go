// Package outbound is the wasi_experimental_http host module: the ABI a
// guest calls to make HTTP requests (req, close, header_get,
// headers_get_all, body_read), a route's checked policy of which hosts it
// may reach and how much, and the address check every connection passes
// (never the server's own addresses nor special-purpose ranges unless an
// entry names them). A run's state lives in its context (With) and ends
// with the run.
//
// It owns no defaults: the wasi package applies them before New. It must
// not import the wasi package, host, router, wasi/cgi or chi.
package outbound
