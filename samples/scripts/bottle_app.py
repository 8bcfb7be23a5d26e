# bottle_app.py: the Bottle application of bottle.wsgi run as CGI through
# wsgiref.handlers.CGIHandler, for comparison (samples/python/README.md).
from wsgiref.handlers import CGIHandler

import bottle

app = bottle.Bottle()


@app.route("/")
@app.route("/<name>")
def hello(name="world"):
    bottle.response.content_type = "text/plain; charset=utf-8"
    return "hello, %s, from Bottle %s\n" % (name, bottle.__version__)


if __name__ == "__main__":
    CGIHandler().run(app)
