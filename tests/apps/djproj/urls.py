from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("hello/<str:name>/", views.hello),
    path("form/", views.form),
    path("upload/", views.upload),
    path("raw/", views.raw),
    path("stream/", views.stream),
    path("meta/", views.meta),
]
