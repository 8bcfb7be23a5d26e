# pyform.py: a form handler (samples/python/README.md). GET shows the
# forms; a POST is read twice over: application/x-www-form-urlencoded with
# urllib.parse, multipart/form-data (file uploads) with cgi.FieldStorage.
import io
import os
import sys
import urllib.parse
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # cgi goes in 3.13
    import cgi


class MemoryFieldStorage(cgi.FieldStorage):
    """Keeps uploaded files in memory. cgi.FieldStorage writes parts over
    1,000 bytes to tempfile, which needs a writable folder the guest does
    not have by default; the body is already bounded by the route's
    max_body."""

    def make_file(self):
        return io.BytesIO()


def page(lines):
    body = "\n".join(lines) + "\n"
    sys.stdout.write("Content-Type: text/plain; charset=utf-8\n\n" + body)


method = os.environ.get("REQUEST_METHOD", "GET")
ctype = os.environ.get("CONTENT_TYPE", "")
if method != "POST":
    sys.stdout.write("Content-Type: text/html; charset=utf-8\n\n")
    sys.stdout.write("""<form method="post"><input name="name"> <button>send</button></form>
<form method="post" enctype="multipart/form-data">
<input name="name"> <input type="file" name="file"> <button>upload</button></form>
""")
elif ctype.startswith("application/x-www-form-urlencoded"):
    n = int(os.environ.get("CONTENT_LENGTH") or 0)
    fields = urllib.parse.parse_qs(sys.stdin.buffer.read(n).decode("utf-8"))
    page(["urlencoded"] + ["%s=%s" % (k, ",".join(v)) for k, v in sorted(fields.items())])
else:
    form = MemoryFieldStorage(fp=sys.stdin.buffer, environ=os.environ)
    lines = ["multipart"]
    for key in sorted(form.keys()):
        item = form[key]
        if item.filename:
            data = item.file.read()
            lines.append("%s: file %s, %d bytes" % (key, item.filename, len(data)))
        else:
            lines.append("%s=%s" % (key, item.value))
    page(lines)
