# flask.wsgi: the Flask application of flask_app.py as a WSGI application:
# Flask(), its routes and Jinja's set-up run once, before the snapshot,
# instead of on every request (README, "WSGI").
import flask

app = flask.Flask(__name__)


@app.route("/")
@app.route("/<name>")
def hello(name="world"):
    return flask.Response("hello, %s, from Flask %s\n" % (name, flask.__version__),
                          mimetype="text/plain")


application = app
