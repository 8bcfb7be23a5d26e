# bottle.wsgi: a Bottle application (Debian's python3-bottle): a Bottle()
# object is a WSGI callable, built once before the snapshot (README, "WSGI").
import bottle

application = bottle.Bottle()


@application.route("/")
@application.route("/<name>")
def hello(name="world"):
    bottle.response.content_type = "text/plain; charset=utf-8"
    return "hello, %s, from Bottle %s\n" % (name, bottle.__version__)
