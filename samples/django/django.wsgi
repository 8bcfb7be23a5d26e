# django.wsgi: a Django project (djsite/: one settings module, two views, a
# template, sqlite3 on the writable volume /data) as a WSGI application.
# django.setup() (settings, apps, URLs, template engines) runs once, before
# the snapshot; every request starts from its result (README, "WSGI").
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
