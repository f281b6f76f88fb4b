"""The client side: pulling routes into the local database.

``api`` (:class:`Client`), ``transport`` (HTTP with timeouts and retries),
``routes`` (route names against the manifest), ``streams`` (``HEAD`` then
``GET`` per route), ``gate`` (the schema gate) and ``confirm`` (before a
large clean), ``loader`` (the one transaction), ``batches`` (a model's rows
in batches), ``rowload`` (objects to rows), ``identity`` (natural keys to
local ids), ``upsert`` (insert-or-update), ``media`` and ``progress``.

``from synctool.client import Client`` is the public import.
"""

from synctool.client.api import Client, join_url

__all__ = ["Client", "join_url"]
