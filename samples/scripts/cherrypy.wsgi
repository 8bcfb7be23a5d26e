# cherrypy.wsgi: a CherryPy application (Debian's python3-cherrypy3) served
# as WSGI (README, "WSGI"). cherrypy.Application is the WSGI callable; its
# engine, which would start threads and a server, never runs. The
# "embedded" environment turns off screen logging, autoreload and the
# config checker: stdout is the response here, and a log line written to
# it would land in the page (samples/python/README.md, "CherryPy").
import cherrypy


class Root:
    @cherrypy.expose
    def index(self, name="world"):
        cherrypy.response.headers["Content-Type"] = "text/plain; charset=utf-8"
        return "hello, %s, from CherryPy %s\n" % (name, cherrypy.__version__)

    @cherrypy.expose
    def default(self, name):
        return self.index(name)


cherrypy.config.update({"environment": "embedded"})
application = cherrypy.Application(Root(), script_name=None,
                                   config={"/": {"request.show_tracebacks": False}})
