"""The HTTP side of a sync of one or more routes: what each announces, and its body.

Every route is first asked with ``HEAD``: its models (so the loader can clean
them all first), the models it identifies by natural key and the rows it
expects to send. Nothing is requested with ``GET`` until the schema gate
has passed and the loader reaches the route, so no response (a snapshot
transaction on the server) is held open while earlier routes load or while
a user answers a question. A ``GET`` announcing models its ``HEAD`` did not
is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Protocol

import requests

from synctool.client.transport import Download, check_response, open_url, safe_url
from synctool.conf import settings
from synctool.exceptions import UnexpectedModel
from synctool.server.verify import OMIT_HEADER, VERIFY_HEADER
from synctool.wire import decode_fixture
from synctool.wire.state import CONTENT_TYPE as STATE_TYPE
from synctool.wire.state import STREAMED_STATE_HEADER, StreamedState

# What a proxy that takes no chunked request body answers (nginx before 1.3.9).
LENGTH_REQUIRED = 411


class IncrementalState(Protocol):
    """How a route's incremental state is sent (a
    :class:`~synctool.client.increment.RouteIncrement`)."""

    def upload(self) -> tuple[IO[bytes], int]: ...

    def streamed(self) -> StreamedState: ...


class RouteStreams:
    """The routes at ``urls``: announced on ``HEAD``, downloaded one after the other."""

    def __init__(self, session: requests.Session, urls: list[str]):
        self.session = session
        self.urls = urls
        self._labels: list[list[str]] = []
        self._counts: list[dict[str, tuple[int, bool]]] = []
        self._parents: list[list[str]] = []
        self._cleanable: list[list[str] | None] = []
        self._natural_keys: set[str] = set()
        self._downloads: dict[int, Download] = {}
        self._bytes: dict[int, int] = {}
        self._wire: dict[int, int] = {}
        self._sent: dict[int, int] = {}
        self._streamed_state: list[bool] = []

    def __enter__(self) -> RouteStreams:
        for url in self.urls:
            head = open_url(self.session, url, method="HEAD")
            head.close()
            self._labels.append(head.announced_models)
            self._counts.append(head.announced_counts)
            self._parents.append(head.announced_parents)
            self._cleanable.append(head.announced_cleanable)
            self._natural_keys.update(head.announced_natural_keys)
            self._streamed_state.append(head.response.headers.get(STREAMED_STATE_HEADER) == "1")
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for index, download in list(self._downloads.items()):
            self._bytes[index] = download.bytes_received
            self._wire[index] = download.bytes_on_wire
            download.close()
        self._downloads.clear()

    @property
    def natural_keys(self) -> frozenset[str]:
        """The models the server identifies by natural key (the union of what routes said)."""
        return frozenset(self._natural_keys)

    def labels(self, index: int) -> list[str]:
        return self._labels[index]

    def parents(self, index: int) -> list[str]:
        """The models of route ``index`` whose rows come only as parents."""
        return self._parents[index]

    def cleanable(self, index: int) -> list[str]:
        """The models ``clean`` may empty for route ``index`` (every model it
        announced, from a server that does not say)."""
        cleanable = self._cleanable[index]
        labels = self._labels[index]
        if cleanable is None:
            return list(labels)
        return [label for label in cleanable if label in labels]

    def counts(self, index: int) -> dict[str, tuple[int, bool]]:
        """``{label: (rows, estimated)}`` route ``index`` announced."""
        return self._counts[index]

    def bytes_on_wire(self, index: int) -> tuple[int, int]:
        """``(received, sent)`` bytes of route ``index``'s body as they travelled."""
        download = self._downloads.get(index)
        received = download.bytes_on_wire if download is not None else self._wire.get(index, 0)
        return received, self._sent.get(index, 0)

    def _post_state(self, index: int, state: IncrementalState) -> Download:
        """``POST`` the state: sent as it is made to a server whose ``HEAD`` said
        it reads chunked bodies (unless a proxy between asks for a length),
        else from a spooled file with its length."""
        url = self.urls[index]
        if self._streamed_state[index]:
            body = state.streamed()
            download = open_url(
                self.session, url, method="POST", body=body, content_type=STATE_TYPE,
                accept_json=False,
            )  # fmt: skip
            self._sent[index] = body.bytes_sent
            if download.response.status_code != LENGTH_REQUIRED:
                try:
                    check_response(download.response, url)
                except Exception:
                    download.close()
                    raise
                return download
            download.close()
            # A proxy that wants lengths wants them for every route.
            self._streamed_state = [False] * len(self._streamed_state)
        file, self._sent[index] = state.upload()
        try:
            return open_url(
                self.session, url, method="POST", body=file, content_type=STATE_TYPE
            )  # fmt: skip
        finally:
            file.close()

    def bytes_received(self, index: int) -> int:
        download = self._downloads.get(index)
        return download.bytes_received if download is not None else self._bytes.get(index, 0)

    def objects(
        self,
        index: int,
        state: IncrementalState | None = None,
        *,
        verify: bool = False,
        omit: Iterable[str] = (),
    ) -> Iterator[dict]:
        """The decoded objects of route ``index``, requested now (with ``POST`` of
        an incremental ``state`` when there is one; its verification records
        instead of its rows with ``verify``, the fields ``omit`` names,
        ``"app.model.field"``, left out of them)."""
        if state is None:
            headers = None
            if verify:
                # 2: key-identified rows compared by natural key (1: not compared).
                headers = {VERIFY_HEADER: "2"}
                if omit:
                    headers[OMIT_HEADER] = ",".join(omit)
            download = open_url(self.session, self.urls[index], headers=headers)
        else:
            download = self._post_state(index, state)
        self._downloads[index] = download
        try:
            unexpected = [m for m in download.announced_models if m not in self._labels[index]]
            if unexpected:
                raise UnexpectedModel(
                    f"{safe_url(self.urls[index])} announced {', '.join(unexpected)} on GET, "
                    f"which its HEAD did not ({', '.join(self._labels[index]) or 'none'})"
                )
            self._natural_keys.update(download.announced_natural_keys)
            yield from decode_fixture(
                download.chunks(),
                max_line=settings.SYNCTOOL_MAX_LINE_BYTES,
                max_depth=settings.SYNCTOOL_MAX_DEPTH,
            )
        finally:
            self._bytes[index] = download.bytes_received
            self._wire[index] = download.bytes_on_wire
            download.close()
            self._downloads.pop(index, None)
