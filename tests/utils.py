"""Test helpers: database digests and a scriptable HTTP server on 127.0.0.1."""

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.apps import apps


def database_digest(using: str, app_labels=("testapp", "auth", "contenttypes", "sites")) -> str:
    """A digest of every row of every table of ``app_labels`` (m2m tables included)."""
    digest = hashlib.sha256()
    for label in app_labels:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.proxy:
                continue
            digest.update(model._meta.db_table.encode())
            for row in model._base_manager.using(using).order_by("pk").values_list():
                digest.update(repr(row).encode())
    return digest.hexdigest()


def content_digest(using: str, app_labels=("testapp",)) -> str:
    """A digest of the rows of ``app_labels`` as :func:`model_rows` reads them: the
    ids many-to-many rows got locally (from a sequence earlier tests moved) left out."""
    digest = hashlib.sha256()
    for label in app_labels:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if not model._meta.proxy:
                digest.update(model._meta.db_table.encode())
                digest.update(repr(model_rows(model, using)).encode())
    return digest.hexdigest()


def model_rows(model, using: str) -> list:
    """Every row of ``model`` on ``using``: through rows by their two keys, sorted
    (their own ids differ between databases), other rows by primary key."""
    manager = model._base_manager.using(using)
    if model._meta.auto_created:
        columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        return sorted(manager.values_list(*columns))
    return list(manager.order_by("pk").values())


Responder = Callable[[BaseHTTPRequestHandler], None]


class ScriptedServer:
    """A real HTTP server whose answers are Python functions, one per path.

    ``server.routes["/sync/x"] = responder`` where the responder writes the
    answer with ``handler.send_response(...)`` etc. A ``HEAD`` runs the same
    responder with its body thrown away. Unless ``manifest`` is False, a
    ``GET`` of a directory no responder serves (``/sync/``) answers a
    manifest listing the routes under it, without a schema, as an older
    server's would.
    """

    def __init__(self, manifest: bool = True):
        self.routes: dict[str, Responder] = {}
        self.requests: list[str] = []
        self.heads: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                path = self.path.split("?")[0]
                responder = outer.routes.get(path)
                if responder is None and manifest and path.endswith("/"):
                    responder = outer.manifest_for(path)
                if responder is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                responder(self)

            def do_HEAD(self):  # noqa: N802
                outer.heads.append(self.path)
                responder = outer.routes.get(self.path.split("?")[0])
                if responder is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                real, self.wfile = self.wfile, _HeadersOnly(self.wfile, self)
                try:
                    responder(self)
                finally:
                    self.wfile = real

            def end_headers(self):
                super().end_headers()
                if isinstance(self.wfile, _HeadersOnly):
                    self.wfile.body_started = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def manifest_for(self, prefix: str) -> Responder:
        routes = [
            {"path": path[len(prefix) :], "kind": "queryset", "models": None}
            for path in self.routes
            if path.startswith(prefix) and path != prefix
        ]
        body = json.dumps({"synctool": "scripted", "routes": routes}).encode()
        return answer(body=body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()


class _HeadersOnly:
    """A HEAD's output: the status line and headers go out, the body does not."""

    def __init__(self, wfile, handler):
        self.wfile = wfile
        self.body_started = False

    def write(self, data):
        if not self.body_started:
            return self.wfile.write(data)
        return len(data)

    def flush(self):
        self.wfile.flush()

    @property
    def closed(self):
        return self.wfile.closed


def answer(
    status=200, body=b"", content_type="application/json", headers=None, close_after=None
) -> Responder:
    """A responder sending ``body`` (or only its first ``close_after`` bytes, then closing)."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body if close_after is None else body[:close_after])
        handler.wfile.flush()
        if close_after is not None:
            handler.close_connection = True

    return respond
