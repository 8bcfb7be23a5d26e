from django.urls import path

from . import views

urlpatterns = [path("", views.visits), path("<str:name>", views.hello)]
