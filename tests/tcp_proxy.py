"""A TCP proxy on 127.0.0.1 between a client and an HTTP server, that can cut
the answer after a given number of bytes.

It knows just enough HTTP to cut at a chosen place of the *body*, whatever
the framing: it reads the request head, forwards it, reads the answer's head,
then forwards the body (de-chunking it on the fly if asked) and closes both
connections once ``cut_after`` body bytes have gone through, without the end
of the chunked framing. Counting in body bytes (the bytes the server sent,
gzip included, chunk framing excluded) lets a test cut inside a multi-byte
UTF-8 character or at an object boundary that it found in a recorded body.

Only one request per connection (gunicorn's sync workers close after each
answer anyway)::

    with CuttingProxy(server.base_url) as proxy:
        proxy.cut_after = 1000
        Client(api_url=proxy.url + "/sync/", ...).sync("blogs")
"""

import contextlib
import re
import socket
import threading
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"


class CuttingProxy:
    """Forward connections from 127.0.0.1:<port> to ``upstream`` (a base URL).

    Settings, read when a connection arrives:

    - ``cut_after``: body bytes forwarded before the connection is closed
      (None: forward everything);
    - ``cut_head_after``: close after this many bytes of the answer's head;
    - ``identity``: ask the server for an uncompressed body
      (``Accept-Encoding: identity``);
    - ``unchunk``: forward a chunked body without its chunk framing, delimited
      by the end of the connection (as an HTTP/1.0 server would), so that a
      cut is invisible at the HTTP level;
    - ``canned``: raw answers sent instead of forwarding, one per connection,
      until the list is empty;
    - ``only``: the start of the request line the settings above apply to
      (``b"GET /sync/blogs"``); other requests (the manifest, a ``HEAD``)
      are forwarded as they are and not counted or recorded. None: all.

    ``bodies`` records the body bytes forwarded on each connection (a
    bytearray per connection, filled before the bytes are sent).
    """

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.cut_after: int | None = None
        self.cut_head_after: int | None = None
        self.identity = False
        self.unchunk = False
        self.canned: list[bytes] = []
        self.only: bytes | None = None
        self.bodies: list[bytes] = []
        self.heads: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __enter__(self) -> "CuttingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        _close(self.listener)  # shutdown() wakes the thread blocked in accept()
        self.thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        # A socket stays open while a makefile() of it is: close those too,
        # or the server would keep streaming into a connection nobody reads.
        streams = [client.makefile("rb")]
        try:
            request = _read_head(streams[0])
            targeted = self.only is None or request.startswith(self.only)
            canned = None
            if targeted:
                with self.lock:
                    self.connections += 1
                    canned = self.canned.pop(0) if self.canned else None
            if canned is not None:
                client.sendall(canned)
                return
            if self.identity and targeted:
                request = re.sub(
                    rb"(?im)^accept-encoding:[^\r\n]*", b"Accept-Encoding: identity", request
                )
            upstream = socket.create_connection(self.upstream, timeout=30)
            upstream.sendall(request)
            streams.append(upstream.makefile("rb"))
            if targeted:
                self._forward(streams[1], client)
            else:
                self._pass_through(streams[1], client)
        except OSError:
            pass  # the client went away: nothing to forward to
        finally:
            for stream in streams:
                stream.close()
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)

    def _pass_through(self, answer, client: socket.socket) -> None:
        while data := answer.read1(65536):
            client.sendall(data)

    def _forward(self, answer, client: socket.socket) -> None:
        head = _read_head(answer)
        with self.lock:
            self.heads.append(head)
        if self.cut_head_after is not None:
            client.sendall(head[: self.cut_head_after])
            return
        chunked = re.search(rb"(?im)^transfer-encoding:\s*chunked", head) is not None
        if chunked and self.unchunk:
            head = re.sub(rb"(?im)^transfer-encoding:[^\r\n]*\r\n", b"", head)
            if not re.search(rb"(?im)^connection:\s*close", head):
                head = head[: -len(HEAD_END)] + b"\r\nConnection: close" + HEAD_END
        # Recorded before being sent: once the client sees a byte, so does the test.
        body = bytearray()
        with self.lock:
            self.bodies.append(body)
        client.sendall(head)
        limit = self.cut_after
        for framing, data in _body_parts(answer, chunked):
            cut = limit is not None and len(body) + len(data) >= limit
            if cut:
                data = data[: limit - len(body)]
            body += data
            if not (chunked and self.unchunk):
                client.sendall(framing)
            client.sendall(data)
            if cut:
                return  # _serve closes both connections
            if chunked and not self.unchunk and data:
                client.sendall(b"\r\n")


def _read_head(stream) -> bytes:
    head = b""
    while not head.endswith(HEAD_END):
        line = stream.readline(65536)
        if not line:
            break
        head += line
    return head


def _body_parts(answer, chunked: bool):
    """Yield (framing bytes, data bytes) pairs; the last chunk's framing ends the body."""
    if not chunked:
        while data := answer.read1(65536):
            yield b"", data
        return
    while True:
        size_line = answer.readline(1024)
        if not size_line:
            return  # the server closed without the last chunk
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            trailer = b""
            while (line := answer.readline(1024)) not in (b"\r\n", b""):
                trailer += line
            yield size_line + trailer + b"\r\n", b""
            return
        data = answer.read(size)
        answer.read(2)  # the CRLF after the chunk's data
        yield size_line, data
        if len(data) < size:
            return


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
