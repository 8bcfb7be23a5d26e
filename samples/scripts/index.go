//go:build ignore

// index.go is the landing page of the samples: a plain Go CGI program that
// prints an HTML page linking to every other sample.
//
// The build constraint above keeps `go build ./...` from seeing several
// main packages in this folder; the server builds each file by name
// (`go build -o x.wasm index.go`), and files named on the command line are
// compiled regardless of build constraints.
package main

import "fmt"

// page is static, so a raw string is all we need: no templates, no escaping.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wasigate samples</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
code { background: #f3f3f3; padding: 0 .2em; }
li { margin-bottom: .5em; }
</style>
</head>
<body>
<h1>wasigate samples</h1>
<p>wasigate is a CGI host that runs WebAssembly (WASI preview 1) programs,
starting a fresh, sandboxed instance for every HTTP request.
The request reaches the program as CGI/1.1 environment variables and stdin,
and whatever it writes to stdout (headers, a blank line, the body) becomes the response.</p>
<ul>
<li><a href="/hello?name=wasm">/hello</a> &mdash; C hello world, a prebuilt module;
  look for the <code>QUERY_STRING</code> echoed back.</li>
<li><a href="/env?x=1">/env</a> &mdash; prints every environment variable the program got;
  look for <code>REQUEST_METHOD</code>, <code>SCRIPT_NAME</code> and your browser's headers as <code>HTTP_*</code>.</li>
<li><a href="/s/hello-go/some/path">/s/hello-go</a> &mdash; a plain Go program using only <code>os</code> and <code>fmt</code>;
  look for the method and the <code>PATH_INFO</code> after the script name.</li>
<li><a href="/app/">/app/</a> &mdash; a Go <code>net/http</code> app with the chi router, run through <code>net/http/cgi</code>;
  look for routing, JSON and cookies working unchanged over CGI.</li>
<li><a href="/s/form">/s/form</a> &mdash; a form that POSTs back to itself;
  look for your fields echoed back, both URL-encoded and multipart (with a file).</li>
<li><a href="/s/stream">/s/stream</a> &mdash; writes ten lines, one every 200&nbsp;ms;
  look for the lines arriving one by one rather than all at the end.</li>
<li><a href="/s/hello.wat">/s/hello.wat</a> &mdash; hello world in hand-written WebAssembly text;
  look at how little a CGI response needs: one <code>fd_write</code> to stdout.</li>
<li><a href="/s/hello.rb?name=Ruby">/s/hello.rb</a> &mdash; a Ruby CGI script (<code>require "cgi"</code>) run by ruby.wasm;
  look for the form and the visit counter cookie. Needs <code>npm install --prefix samples/ruby</code> once.</li>
<li>Python (CPython 3.11 for WASI; needs <code>bash samples/python/install.sh</code> once):
  <ul>
  <li><a href="/s/hello.py">/s/hello.py</a> &mdash; a CGI script; <a href="/s/pyform.py">/s/pyform.py</a>, a form with the <code>cgi</code> module;
    <a href="/s/clock.py">/s/clock.py</a>, the time in three cities from the time zone database the interpreter mounts.</li>
  <li><a href="/s/hello.wsgi/ada">/s/hello.wsgi</a>, <a href="/s/flask.wsgi/ada">/s/flask.wsgi</a>,
    <a href="/s/webpy.wsgi/ada">/s/webpy.wsgi</a>, <a href="/s/bottle.wsgi/ada">/s/bottle.wsgi</a> and
    <a href="/s/cherrypy.wsgi/ada">/s/cherrypy.wsgi</a> &mdash;
    WSGI applications, each imported once into its own snapshot; every request calls it in a fresh copy.</li>
  <li><a href="/django/">/django/</a> &mdash; a Django project (<code>samples/django</code>) as one application route,
    its sqlite3 database on a writable volume: look for the visit count growing while everything in memory starts afresh;
    <a href="/django/ada">/django/ada</a> renders the template alone.</li>
  <li><a href="/s/wsgi.py/ada">/s/wsgi.py</a>, <a href="/s/flask_app.py/ada">/s/flask_app.py</a>,
    <a href="/s/webpy_app.py/ada">/s/webpy_app.py</a> and <a href="/s/bottle_app.py/ada">/s/bottle_app.py</a> &mdash;
    the same applications run as CGI scripts, built again on every request: compare their speed.</li>
  </ul></li>
<li><a href="/outbound/quotes">/outbound/quotes</a> and <a href="/outbound/quotes.rs">/outbound/quotes.rs</a> &mdash; outbound HTTP:
  a Go program using <code>http.Client</code> and a Rust one using the raw host functions call the site's stub API
  <a href="/api/quotes">/api/quotes</a>, the one host their route's <code>allowed_hosts</code> lets them reach.</li>
</ul>
</body>
</html>
`

func main() {
	// The CGI header block: one header line, then an empty line.
	fmt.Print("Content-Type: text/html; charset=utf-8\n\n")
	fmt.Print(page)
}
