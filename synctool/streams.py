"""The HTTP side of a sync of one or more routes: what each announces, and its body.

The loader must know every route's models before it cleans, and should not
hold a route's response open while earlier routes load (each open response
is a snapshot transaction on the server). So the first route is requested
at once (its headers say its models), the others are asked with ``HEAD``
first and requested with ``GET`` only when the loader reaches them; a
``GET`` announcing models its ``HEAD`` did not is refused.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests

from synctool.exceptions import UnexpectedModel
from synctool.transport import Download, open_url, safe_url
from synctool.wire import decode_fixture


class RouteStreams:
    """The downloads of the routes at ``urls``, one after the other."""

    def __init__(self, session: requests.Session, urls: list[str]):
        self.session = session
        self.urls = urls
        self._labels: list[list[str]] = []
        self._natural_keys: set[str] = set()
        self._downloads: dict[int, Download] = {}
        self._bytes: dict[int, int] = {}

    def __enter__(self) -> RouteStreams:
        try:
            for index, url in enumerate(self.urls):
                if index == 0:
                    download = self._downloads[0] = open_url(self.session, url)
                else:
                    download = open_url(self.session, url, method="HEAD")
                    download.close()
                self._labels.append(download.announced_models)
                self._natural_keys.update(download.announced_natural_keys)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for index, download in list(self._downloads.items()):
            self._bytes[index] = download.bytes_received
            download.close()
        self._downloads.clear()

    @property
    def natural_keys(self) -> frozenset[str]:
        """The models the server identifies by natural key (the union of what routes said)."""
        return frozenset(self._natural_keys)

    def labels(self, index: int) -> list[str]:
        return self._labels[index]

    def bytes_received(self, index: int) -> int:
        download = self._downloads.get(index)
        return download.bytes_received if download is not None else self._bytes.get(index, 0)

    def objects(self, index: int) -> Iterator[dict]:
        """The decoded objects of route ``index`` (requested now if it was not yet)."""
        download = self._downloads.get(index)
        if download is None:
            download = self._downloads[index] = open_url(self.session, self.urls[index])
            unexpected = [m for m in download.announced_models if m not in self._labels[index]]
            if unexpected:
                raise UnexpectedModel(
                    f"{safe_url(self.urls[index])} announced {', '.join(unexpected)} on GET, "
                    f"which its HEAD did not ({', '.join(self._labels[index]) or 'none'})"
                )
            self._natural_keys.update(download.announced_natural_keys)
        try:
            yield from decode_fixture(download.chunks())
        finally:
            self._bytes[index] = download.bytes_received
            download.close()
            self._downloads.pop(index, None)
