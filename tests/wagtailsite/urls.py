from django.urls import include, path

urlpatterns = [path("sync/", include("synctool.urls"))]
