# flask_app.py: a Flask application (Debian's python3-flask) run as CGI
# through wsgiref.handlers.CGIHandler (samples/python/README.md).
from wsgiref.handlers import CGIHandler

import flask

app = flask.Flask(__name__)


@app.route("/")
@app.route("/<name>")
def hello(name="world"):
    return flask.Response("hello, %s, from Flask %s\n" % (name, flask.__version__),
                          mimetype="text/plain")


if __name__ == "__main__":
    CGIHandler().run(app)
