"""The public home of :class:`Route` (``from synctool.routing import Route``).

The server side lives in :mod:`synctool.server`; this module keeps the
import path of django-synctool 1.0 and of the documentation.
"""

from synctool.server.routing import Route, RouteEntry, all_routes

__all__ = ["Route", "RouteEntry", "all_routes"]
