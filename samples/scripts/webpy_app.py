# webpy_app.py: a web.py application (Debian's python3-webpy) run as CGI
# with web.py's own CGI entry, app.cgirun() (samples/python/README.md:
# app.run() would look for flup, which Debian does not package).
import web

# Production settings: debug mode's reloader stats the file of every loaded
# module on each request, and each CGI request is a fresh interpreter anyway.
web.config.debug = False

urls = ("/(.*)", "Hello")
app = web.application(urls, globals())


class Hello:
    def GET(self, name):
        web.header("Content-Type", "text/plain; charset=utf-8")
        return "hello, %s, from web.py %s\n" % (name or "world", web.__version__)


if __name__ == "__main__":
    app.cgirun()
