"""The server views: the streamed export of one route, and the index."""

import logging
from collections.abc import Iterator

import orjson
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

import synctool
from synctool.auth import refuse_unauthorized
from synctool.conf import settings
from synctool.export import model_label, serialize_querysets
from synctool.plugins import get_hooks
from synctool.routing import project_key_identified
from synctool.wire import encode_fixture, gzip_chunks

logger = logging.getLogger("synctool")

MODELS_HEADER = "X-Synctool-Models"
NATURAL_KEYS_HEADER = "X-Synctool-Natural-Keys"
VERSION_HEADER = "X-Synctool-Version"


def _accepts_gzip(request: HttpRequest) -> bool:
    accepted = request.META.get("HTTP_ACCEPT_ENCODING", "")
    return any(part.strip().split(";")[0] == "gzip" for part in accepted.split(","))


def _logged(chunks: Iterator[bytes], path: str) -> Iterator[bytes]:
    """Log an error raised while streaming, then let it abort the response.

    The status line is already sent, so the only honest signal left is a
    cut connection, which the client detects as an incomplete body.
    """
    try:
        yield from chunks
    except Exception:
        logger.exception("synctool: streaming route %r failed; the response is cut", path)
        raise


def export_view(route, entry):
    """The view streaming one route as a JSON fixture."""

    @login_not_required  # the token is the authentication (LoginRequiredMiddleware)
    @require_safe
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        refused = refuse_unauthorized(request, route.api_token)
        if refused is not None:
            return refused
        querysets = entry.querysets(request, args, kwargs)
        reason = get_hooks().refuse_route(
            path=entry.path, models=[qs.model for qs in querysets], request=request
        )
        if reason is not None:
            logger.error("synctool: route %r refused: %s", entry.path, reason)
            return HttpResponse(
                f"synctool: {reason}\n", status=403, content_type="text/plain; charset=utf-8"
            )
        labels = list(dict.fromkeys(model_label(qs.model) for qs in querysets))
        key_identified = project_key_identified()
        headers = {
            MODELS_HEADER: ",".join(labels),
            NATURAL_KEYS_HEADER: ",".join(sorted(key_identified)),
            VERSION_HEADER: synctool.__version__,
            "Cache-Control": "no-store",
        }
        if request.method == "HEAD":
            return HttpResponse(content_type="application/json", headers=headers)
        chunks = encode_fixture(serialize_querysets(querysets, key_identified=key_identified))
        chunks = _logged(chunks, entry.path)
        level = settings.SYNCTOOL_GZIP_LEVEL
        if level and _accepts_gzip(request):
            chunks = gzip_chunks(chunks, level)
            headers["Content-Encoding"] = "gzip"
        response = StreamingHttpResponse(chunks, content_type="application/json", headers=headers)
        patch_vary_headers(response, ("Accept-Encoding", "Authorization"))
        return response

    view.synctool_entry = entry
    return view


def index_view(route):
    """The view answering the manifest: synctool's version and every route."""

    @login_not_required  # the token is the authentication (LoginRequiredMiddleware)
    @require_safe
    def view(request: HttpRequest) -> HttpResponse:
        refused = refuse_unauthorized(request, route.api_token)
        if refused is not None:
            return refused
        manifest = {
            "synctool": synctool.__version__,
            "natural_keys": sorted(project_key_identified()),
            "routes": [
                {
                    "path": entry.path,
                    "name": entry.name,
                    "kind": entry.kind,
                    "natural_keys": entry.natural_keys,
                    "models": entry.manifest_models(request),
                }
                for entry in route.entries
            ],
        }
        return HttpResponse(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return view
