"""Django hello view (``django_app:application``) with the minimal ``django_settings``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return HttpResponse(b"Hello, World!", content_type="text/plain")


urlpatterns = [path("", hello)]

application = get_wsgi_application()
