"""The server side: routes, their authentication, and the streamed export.

``routing`` (Route, incl. routes from settings in ``settings_routes``),
``auth`` (tokens), ``views`` (the export view and the index), ``export``
(querysets to fixture objects in one snapshot), ``rowexport`` (the fast
serializer), ``identity`` (references written as natural keys) and
``manifest`` (what the index answers).
"""
