# djsite/views.py: two views. hello renders the template; visits also
# counts each visit as a row in sqlite3 on /data, so the count grows across
# requests while everything in memory starts afresh.
from django.db import connection
from django.shortcuts import render


def hello(request, name):
    return render(request, "djsite/index.html", {"name": name},
                  content_type="text/plain; charset=utf-8")


def visits(request):
    with connection.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS visits (at TEXT)")
        c.execute("INSERT INTO visits VALUES (datetime('now'))")
        c.execute("SELECT COUNT(*) FROM visits")
        (count,) = c.fetchone()
    return render(request, "djsite/index.html", {"name": "visitor", "count": count},
                  content_type="text/plain; charset=utf-8")
