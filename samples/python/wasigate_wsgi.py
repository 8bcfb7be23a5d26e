"""wasigate's WSGI adapter (PEP 3333), run by the Python driver (driver.c).

load() runs once, in the snapshot's init: it executes the application file
as a module (never as __main__), finds its callable and runs the warm-up
requests with their output discarded. serve() runs in each request's
instance, which starts from that snapshot: it builds the environ from the
CGI variables the host passed (as wsgiref.handlers.CGIHandler does), calls
the application once and writes a CGI response on stdout, flushing every
chunk as it comes.

How failures reach the client (the host classifies the response):
  * an exception before the response started: a 500 page with no detail,
    the traceback on stderr (the host's log);
  * an exception after it started: the traceback on stderr and exit status
    1, so that the host aborts the connection instead of ending a cut body
    as if it were whole;
  * a status or header list that breaks PEP 3333: the reason on stderr and a
    Status line the host refuses, so it answers 502 with reason "invalid".
"""

import gc
import importlib.machinery
import importlib.util
import io
import os
import posix
import re
import sys
import traceback
from wsgiref.handlers import BaseCGIHandler, _needs_transcode
from wsgiref.util import is_hop_by_hop

_app = None

# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_STATUS = re.compile(r"[1-9][0-9][0-9] [^\r\n\0]*\Z")
_BAD_VALUE = re.compile(r"[\r\n\0]")

# What the host's CGI parser refuses as a Status line: the response is
# answered 502 "invalid" (host/response.go parseStatus).
INVALID_STATUS = b"Status: invalid-wsgi-response\r\n\r\n"

# Written to stderr as the warm-ups start, so that the host can tell the
# import's time from theirs (`wasigate check`).
WARMUP_MARKER = "wasigate: warm-up starts\n"


class InvalidResponse(Exception):
    """The application's status or headers break PEP 3333."""


def load(path, name, warmup=""):
    """Executes the application file at path as a module and returns its
    callable name; runs the warm-up requests (space-separated paths)."""
    global _app
    # Before the application's import: its patches (of wsgiref, stderr,
    # tracing) never see the stand-in requests, and their time is not the
    # import's.
    _warm_adapter()
    folder = os.path.dirname(path) or "."
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    modname = stem if path.endswith(".py") and stem.isidentifier() else "_wsgi_" + re.sub(r"\W", "_", stem)
    loader = importlib.machinery.SourceFileLoader(modname, path)
    spec = importlib.util.spec_from_file_location(modname, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[modname]
        raise
    app = getattr(module, name, None)
    if app is None:
        raise LookupError("%s defines no %r (the WSGI callable; set wsgi = \"file.py:name\" for another name)" % (path, name))
    if not callable(app):
        raise TypeError("%s: %r is not callable" % (path, name))
    _app = app
    if warmup.split():
        # The host times the import and the warm-ups apart from this line
        # (wasi/internal/snap, WarmupMarker): written whole and flushed.
        sys.stderr.write(WARMUP_MARKER)
        sys.stderr.flush()
    for target in warmup.split():
        _warm(app, target)
    # Every request starts from this heap. A collection that walks it
    # writes to every object it visits, and in a request each such page
    # is a copy of the snapshot's: move what is alive now out of the
    # collector's reach (the permanent generation), as a forking server
    # does before it forks.
    gc.collect()
    gc.freeze()
    return app


class _Discard(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        return len(b)


def _warm(app, target):
    """Runs one GET through the application; its output is thrown away and
    an exception fails the load."""
    path, _, query = target.partition("?")
    env = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "wasigate-warmup",
    }
    h = Handler(io.BytesIO(), io.BufferedWriter(_Discard()), sys.stderr, env)
    h.run(app)
    if h.failed is not None:
        raise RuntimeError("warm-up GET %s failed" % target) from h.failed
    if h.status and not h.status[:1] in "23":
        print("wsgi: warm-up GET %s answered %s" % (target, h.status), file=sys.stderr)


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def _warm_adapter():
    """Runs the adapter's own path (environ, handler, header checks) a few
    times through a stand-in application, never the user's, so that
    CPython's specialised bytecode for it is in the snapshot and no request
    pays for its warm-up. The environ is a literal one: nothing of it is
    kept. CPython 3.11 quickens a code object after 8 calls and specialises
    an instruction after about 31 more runs of it, so code that runs once a
    request needs about 40 rounds."""
    env = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1", "HTTP_HOST": "localhost",
    }
    for _ in range(48):
        environ = _environ({k.encode(): v.encode() for k, v in env.items()})
        h = Handler(_input(io.BytesIO(), environ), io.BufferedWriter(_Discard()), sys.stderr, environ)
        h.run(_hello)
        if h.failed is not None:
            raise RuntimeError("the WSGI adapter's own warm-up failed") from h.failed


def _environ(raw):
    """The WSGI environ from the bytes environment (posix.environ, which
    the driver refills for each run), as wsgiref.handlers.read_environ
    builds it from os.environ on POSIX, without its per-variable encoding
    round trips: names and values are decoded as os.environ decodes them,
    and a request variable's value is its bytes read as ISO-8859-1
    (read_environ's encode-with-surrogateescape then decode is exactly
    that)."""
    environ = {}
    for k, v in raw.items():
        if type(k) is not bytes:
            continue
        k = k.decode(_ENC, _ESC)
        environ[k] = v.decode("iso-8859-1") if _needs_transcode(k) else v.decode(_ENC, _ESC)
    return environ


_ENC, _ESC = sys.getfilesystemencoding(), "surrogateescape"


class _Input(io.RawIOBase):
    """stdin, ending after CONTENT_LENGTH bytes (PEP 3333: an application
    may read past it otherwise and block)."""

    def __init__(self, raw, length):
        self._raw, self._left = raw, length

    def readable(self):
        return True

    def readinto(self, b):
        if self._left <= 0:
            return 0
        n = self._raw.readinto(memoryview(b)[: min(len(b), self._left)])
        self._left -= n or 0
        return n


def _input(raw, environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return io.BufferedReader(_Input(raw, max(length, 0)))


class Handler(BaseCGIHandler):
    """A CGI handler for one request, checking what the application sends."""

    wsgi_multithread = False
    wsgi_multiprocess = True
    wsgi_run_once = False
    origin_server = False
    os_environ = {}
    failed = None  # the exception the application raised, if any
    invalid = False

    def __init__(self, stdin, stdout, stderr, environ):
        super().__init__(stdin, stdout, stderr, environ, multithread=False, multiprocess=True)

    def start_response(self, status, headers, exc_info=None):
        if exc_info is None or not self.headers_sent:
            _check(status, headers)
        return super().start_response(status, headers, exc_info)

    def handle_error(self):
        err = sys.exc_info()[1]
        self.failed = err
        if isinstance(err, InvalidResponse):
            self.invalid = True
            print("wsgi: invalid response: %s" % err, file=self.stderr)
            if not self.headers_sent:
                self.stdout.write(INVALID_STATUS)
                self.stdout.flush()
            return
        self.log_exception(sys.exc_info())
        if not self.headers_sent:
            self.result = self.error_output(self.environ, self.start_response)
            self.finish_response()

    def log_exception(self, exc_info):
        try:
            traceback.print_exception(*exc_info, file=self.stderr)
            self.stderr.flush()
        finally:
            exc_info = None

    error_body = b"500 Internal Server Error\n"
    error_headers = [("Content-Type", "text/plain; charset=utf-8")]


def _check(status, headers):
    if type(status) is not str or not _STATUS.match(status):
        raise InvalidResponse("status %r is not a str like '200 OK'" % (status,))
    if type(headers) is not list:
        raise InvalidResponse("headers are a %s, not a list" % type(headers).__name__)
    for h in headers:
        if type(h) is not tuple or len(h) != 2 or type(h[0]) is not str or type(h[1]) is not str:
            raise InvalidResponse("header %r is not a (str, str) tuple" % (h,))
        if not _TOKEN.match(h[0]):
            raise InvalidResponse("header name %r is not a token" % h[0])
        if _BAD_VALUE.search(h[1]):
            raise InvalidResponse("header %s has a CR, LF or NUL in its value" % h[0])
        if is_hop_by_hop(h[0]):
            raise InvalidResponse("header %s is hop-by-hop, which an application must not send" % h[0])
        try:
            h[0].encode("latin-1"), h[1].encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidResponse("header %s is not latin-1" % h[0]) from None


def serve():
    """Serves this instance's request with the loaded application; returns
    the exit status."""
    environ = _environ(posix.environ)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    h = Handler(_input(stdin, environ), stdout, sys.stderr, environ)
    h.run(_app)
    stdout.flush()
    if h.invalid:
        return 0
    if h.failed is not None and h.headers_sent:
        return 1
    return 0
