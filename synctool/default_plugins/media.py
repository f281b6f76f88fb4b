"""Built-in ``fetch_media``: download over HTTP into the field's storage.

The body is streamed into a temporary file and handed to
``storage.save()`` only once complete, so an interrupted download never
leaves a partial file behind (which a later sync would then skip).
"""

import tempfile
import threading

import requests
from django.core.files import File

from synctool import hookimpl
from synctool.transport import build_session, safe_url, timeout

_local = threading.local()


def _session() -> requests.Session:
    # requests sessions are not shared between threads.
    if getattr(_local, "session", None) is None:
        _local.session = build_session(token=None)
    return _local.session


class MediaDownloadError(Exception):
    pass


@hookimpl(trylast=True)
def fetch_media(name, url, storage):
    try:
        response = _session().get(url, stream=True, timeout=timeout())
    except requests.RequestException as exc:
        raise MediaDownloadError(f"{safe_url(url)}: {exc}") from None
    with response:
        if response.status_code != 200:
            raise MediaDownloadError(f"{safe_url(url)} answered HTTP {response.status_code}")
        with tempfile.TemporaryFile() as buffer:
            try:
                for chunk in response.iter_content(64 * 1024):
                    buffer.write(chunk)
            except requests.RequestException as exc:
                raise MediaDownloadError(f"{safe_url(url)}: download cut: {exc}") from None
            buffer.seek(0)
            saved = storage.save(name, File(buffer, name=name))
    if saved != name:
        storage.delete(saved)
        raise MediaDownloadError(f"the storage saved {name!r} as {saved!r}; removed it")
    return True
