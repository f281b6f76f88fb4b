"""Built-in ``fetch_media``: download over HTTP into the field's storage
(:mod:`synctool.client.media_http`).

The implementation is imported when a file is fetched, not when the plugins
are loaded: a server loads them on its first request, and must not pay for
the client's modules (requests, the loader) there.
"""

from synctool import hookimpl


@hookimpl(trylast=True)
def fetch_media(name, url, storage):
    from synctool.client.media_http import fetch_media as download

    return download(name, url, storage)
