# hello.wsgi: a WSGI application (PEP 3333) in mod_wsgi's convention: the
# file defines `application`. wasigate imports it once, snapshots the
# interpreter with it, and each request calls it in a fresh copy of that
# snapshot (README, "WSGI"). Compare wsgi.py, the same app run as CGI.
def application(environ, start_response):
    name = environ.get("PATH_INFO", "").strip("/") or "world"
    body = ("hello, %s, from WSGI (%s %s)\n" % (
        name, environ["REQUEST_METHOD"], environ["wsgi.url_scheme"])).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
