# djsite/views.py: one view; each visit is a row in sqlite3 on /data, so the
# count grows across requests while everything in memory starts afresh.
from django.db import connection
from django.shortcuts import render


def index(request, name="world"):
    with connection.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS visits (name TEXT)")
        c.execute("INSERT INTO visits VALUES (%s)", [name])
        c.execute("SELECT COUNT(*) FROM visits")
        (count,) = c.fetchone()
    return render(request, "djsite/index.html", {"name": name, "count": count},
                  content_type="text/plain; charset=utf-8")
