# djsite/settings.py: the smallest Django settings that serve a view from a
# template with a database (sqlite3 on the route's writable volume /data).
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

# A sample: set DJANGO_SECRET_KEY in the route's env for anything real.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "wasigate-sample-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS = ["djsite"]
MIDDLEWARE = []
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJSITE_DB", "/data/djsite.sqlite3"),
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
