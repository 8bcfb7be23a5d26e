# django_cgi.py: the Django project of django.wsgi run as a CGI script
# through wsgiref.handlers.CGIHandler: django.setup() in every request.
# The baseline of `wasigate-bench -wsgi`; like django.wsgi it needs a route
# with a writable /data and the host's /usr/share/zoneinfo
# (samples/python/README.md#wsgi-applications).
import os
from wsgiref.handlers import CGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

if __name__ == "__main__":
    CGIHandler().run(get_wsgi_application())
