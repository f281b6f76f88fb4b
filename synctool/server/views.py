"""The server views: the streamed export of one route, and the index."""

import logging
from collections.abc import Iterator

import orjson
from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

import synctool
from synctool.backends import backend_for
from synctool.conf import settings
from synctool.plugins import get_hooks
from synctool.server.auth import refuse_unauthorized
from synctool.server.export import model_label, serialize_querysets
from synctool.server.manifest import build_manifest
from synctool.server.routing import project_key_identified
from synctool.wire import encode_fixture, gzip_chunks

logger = logging.getLogger("synctool")

MODELS_HEADER = "X-Synctool-Models"
NATURAL_KEYS_HEADER = "X-Synctool-Natural-Keys"
COUNTS_HEADER = "X-Synctool-Counts"
VERSION_HEADER = "X-Synctool-Version"


REASON_HEADER = "X-Synctool-Reason"


def refusal(text: str, status: int = 403) -> HttpResponse:
    """A plain-text refusal; the reason also travels in a header, for ``HEAD``."""
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    one_line = " ".join(text.split())[:500]
    response[REASON_HEADER] = one_line.encode("ascii", "backslashreplace").decode("ascii")
    return response


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


def row_counts(querysets) -> str:
    """``app.model=12,app.other=~340000``: the rows a response will carry, per model.

    Exact, except for whole large tables, whose size is the database's own
    estimate (marked ``~``): counting them would cost as much as reading them.
    """
    counts: dict[str, list] = {}
    for queryset in querysets:
        if queryset._result_cache is not None:
            rows, estimated = len(queryset._result_cache), False
        else:
            rows, estimated = backend_for(connections[queryset.db]).count(queryset)
        total = counts.setdefault(model_label(queryset.model), [0, False])
        total[0] += rows
        total[1] = total[1] or estimated
    return ",".join(f"{label}={'~' if est else ''}{rows}" for label, (rows, est) in counts.items())


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
            return refusal(f"synctool: {reason}")
        labels = list(dict.fromkeys(model_label(qs.model) for qs in querysets))
        key_identified = project_key_identified()
        headers = {
            MODELS_HEADER: ",".join(labels),
            NATURAL_KEYS_HEADER: ",".join(sorted(key_identified)),
            VERSION_HEADER: synctool.__version__,
            "Cache-Control": "no-store",
        }
        if request.method == "HEAD":
            # What the client asks before it requests the body: counted once, here.
            headers[COUNTS_HEADER] = row_counts(querysets)
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
    """The view answering the manifest (:mod:`synctool.server.manifest`)."""

    @login_not_required  # the token is the authentication (LoginRequiredMiddleware)
    @require_safe
    def view(request: HttpRequest) -> HttpResponse:
        refused = refuse_unauthorized(request, route.api_token)
        if refused is not None:
            return refused
        manifest = build_manifest(route, request, project_key_identified())
        return HttpResponse(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return view
