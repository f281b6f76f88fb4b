"""The production site's URLs: the seed's three steps, with path()/include()."""

from blog.sync import route
from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    # Step 2 of the quickstart: the routes of blog/sync.py under /sync/.
    path("sync/", include(route.urlpatterns)),
    # The routes declared in settings.SYNCTOOL_ROUTES.
    path("settings-sync/", include("synctool.urls")),
    # Demo only: a real site lets its web server or storage serve media.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
