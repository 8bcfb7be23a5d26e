# webpy.wsgi: the web.py application of webpy_app.py as a WSGI application
# (app.wsgifunc()), built once before the snapshot (README, "WSGI").
import web

web.config.debug = False  # no reloader: wasigate reloads on a changed file

urls = ("/(.*)", "Hello")
app = web.application(urls, globals())


class Hello:
    def GET(self, name):
        web.header("Content-Type", "text/plain; charset=utf-8")
        return "hello, %s, from web.py %s\n" % (name or "world", web.__version__)


application = app.wsgifunc()
