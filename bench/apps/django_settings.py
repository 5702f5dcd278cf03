"""Minimal Django settings for the hello view: no database, no apps.

CommonMiddleware (in every Django project) is the only middleware: it sets Content-Length,
without which servers fall back to chunked encoding or closing the connection."""

SECRET_KEY = "ferricorn-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_app"
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
USE_TZ = True
USE_I18N = False
LOGGING_CONFIG = None
