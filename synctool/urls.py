"""Routes declared in ``settings.SYNCTOOL_ROUTES``: ``include("synctool.urls")``.

Entries that do not parse are left out here and reported by
``manage.py check`` (synctool.E003 ... E005), which refuses to start the
server.
"""

from synctool.server.settings_routes import route_from_settings

urlpatterns = route_from_settings().urlpatterns
