# wsgi.py: a WSGI application run as CGI by the standard library's PEP 333
# bridge, wsgiref.handlers.CGIHandler (samples/python/README.md).
from wsgiref.handlers import CGIHandler


def app(environ, start_response):
    name = environ.get("PATH_INFO", "").strip("/") or "world"
    body = ("hello, %s, from WSGI (%s %s)\n" % (
        name, environ["REQUEST_METHOD"], environ["wsgi.url_scheme"])).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    CGIHandler().run(app)
