"""The server views: the streamed export of one route, and the index."""

import logging

import orjson
from django.contrib.auth.decorators import login_not_required
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

import synctool
from synctool.backends import backend_for
from synctool.conf import settings
from synctool.exceptions import ConfigurationError, LimitExceeded, MalformedResponse
from synctool.plugins import get_hooks
from synctool.server.auth import authenticate
from synctool.server.export import model_label, one_snapshot, order_querysets, serialize_querysets
from synctool.server.increment import IncrementalExport
from synctool.server.manifest import build_manifest
from synctool.server.routing import project_key_identified
from synctool.server.streaming import Counted, Finished, asynchronous, give_place, take_place
from synctool.server.verify import OMIT_HEADER, VERIFY_HEADER, omitted_fields, verify_records
from synctool.wire import encode_fixture, gzip_chunks
from synctool.wire.state import CONTENT_TYPE as STATE_CONTENT_TYPE
from synctool.wire.state import (
    READ_BYTES,
    STREAMED_READ_BYTES,
    STREAMED_STATE_HEADER,
    StateReader,
)

logger = logging.getLogger("synctool")

MODELS_HEADER = "X-Synctool-Models"
NATURAL_KEYS_HEADER = "X-Synctool-Natural-Keys"
COUNTS_HEADER = "X-Synctool-Counts"
VERSION_HEADER = "X-Synctool-Version"
# The models that came only as parents; the models clean may empty.
PARENTS_HEADER = "X-Synctool-Parents"
CLEAN_HEADER = "X-Synctool-Clean"


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


SAFE_METHODS = ("GET", "HEAD")


def _gate(request: HttpRequest, route, *, incremental: bool = False):
    """``(a response to answer instead, None)`` or ``(None, caller)``.

    The token first, then the method: without a valid token every request
    under the routes gets 401, whatever its path and method, so nothing
    tells which routes exist. A route (``incremental``) also takes a
    ``POST`` whose body is an incremental state, and no other ``POST``.
    """
    refused, caller = authenticate(request, route.api_token)
    if refused is not None:
        return refused, None
    if incremental and request.method == "POST" and request.content_type == STATE_CONTENT_TYPE:
        return None, caller
    if request.method not in SAFE_METHODS:
        return HttpResponseNotAllowed(SAFE_METHODS), None
    return None, caller


def reads_chunked_bodies(request: HttpRequest) -> bool:
    """Whether the WSGI server hands over a chunked request body as it arrives,
    ending it where it ends (``wsgi.input_terminated``: gunicorn, Waitress,
    mod_wsgi with ``WSGIChunkedRequest On``). Django reads a body by its
    length only; synctool reads the state from ``wsgi.input`` there."""
    return bool(request.META.get("wsgi.input_terminated")) and "wsgi.input" in request.META


def _chunked(request: HttpRequest) -> bool:
    return (
        not request.META.get("CONTENT_LENGTH")
        and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        and reads_chunked_bodies(request)
    )


def read_state(request: HttpRequest) -> StateReader:
    """The incremental state a client POSTs, read as the comparison needs it,
    within SYNCTOOL_MAX_STATE_BYTES (compressed, and inflated): from a body
    with a length, or a chunked one as it arrives (a streamed state)."""
    limit = settings.SYNCTOOL_MAX_STATE_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit and length > limit:
        raise LimitExceeded(f"the incremental state is larger than {limit} bytes")
    streamed = _chunked(request)
    source = request.META["wsgi.input"].read if streamed else request.read
    received = 0

    def read(size: int) -> bytes:
        nonlocal received
        data = source(size)
        received += len(data)
        if limit and received > limit:
            raise LimitExceeded(f"the incremental state is larger than {limit} bytes")
        return data

    return StateReader(
        read, max_bytes=limit, read_size=STREAMED_READ_BYTES if streamed else READ_BYTES
    )


def export_view(route, entry):
    """The view streaming one route as a JSON fixture."""

    @csrf_exempt  # a token, not a cookie, authenticates every request
    @login_not_required  # the token is the authentication (LoginRequiredMiddleware)
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        answered, caller = _gate(request, route, incremental=True)
        if answered is not None:
            return answered
        if not caller.may_pull(entry.path):
            return refusal(f"synctool: this token may not pull route {entry.path!r}")
        querysets = entry.querysets(request, args, kwargs)
        cleanable = entry.cleanable_labels(querysets)
        parents: list[str] = []
        try:
            subset = entry.subset(querysets)
        except ConfigurationError as exc:
            logger.error("synctool: route %r: %s", entry.path, exc)
            return refusal(f"synctool: route {entry.path!r}: {exc}", status=500)
        if subset is not None:
            querysets = order_querysets(subset.querysets())
            parents = subset.parent_labels
            # Rows that came only as parents, or as followed children, are
            # never cleaned: the table is not the route's.
            own_whole = set(cleanable) - set(subset.followed_labels)
            cleanable = [label for label in cleanable if label in own_whole]
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
            PARENTS_HEADER: ",".join(parents),
            CLEAN_HEADER: ",".join(cleanable),
            NATURAL_KEYS_HEADER: ",".join(sorted(key_identified)),
            VERSION_HEADER: synctool.__version__,
            "Cache-Control": "no-store",
        }
        if request.method == "HEAD":
            # What the client asks before it requests the body: counted once, here.
            headers[COUNTS_HEADER] = row_counts(querysets)
            if reads_chunked_bodies(request):
                headers[STREAMED_STATE_HEADER] = "1"
            return HttpResponse(content_type="application/json", headers=headers)
        if not take_place():
            retry = settings.SYNCTOOL_EXPORT_RETRY_AFTER
            response = refusal(
                "synctool: this server is streaming as many routes as it may "
                f"(SYNCTOOL_MAX_EXPORTS); retry in {retry} s",
                status=503,
            )
            response["Retry-After"] = str(retry)
            return response
        if request.method == "POST":
            try:
                states = read_state(request)
            except (LimitExceeded, MalformedResponse) as exc:
                give_place()
                return refusal(f"synctool: {exc}", status=400)
            objects = incremental_objects(querysets, states, cleanable, key_identified)
        elif request.headers.get(VERIFY_HEADER):
            omitted = omitted_fields(request.headers.get(OMIT_HEADER, ""))
            # "2": the client compares key-identified rows by natural key.
            natural = request.headers.get(VERIFY_HEADER, "").strip() == "2"
            objects = verify_objects(querysets, key_identified, omitted, natural)
        else:
            objects = serialize_querysets(querysets, key_identified=key_identified)
        counted = Counted(objects)
        chunks = encode_fixture(counted)
        level = settings.SYNCTOOL_GZIP_LEVEL
        if level and _accepts_gzip(request):
            chunks = gzip_chunks(chunks, level)
            headers["Content-Encoding"] = "gzip"
        stream = Finished(
            chunks, counted, path=entry.path, request=request, token_id=caller.token_id
        )
        content = asynchronous(stream) if isinstance(request, ASGIRequest) else stream
        response = StreamingHttpResponse(content, content_type="application/json", headers=headers)
        if isinstance(request, ASGIRequest):
            response._resource_closers.append(stream.close)
        patch_vary_headers(response, ("Accept-Encoding", "Authorization", VERIFY_HEADER))
        return response

    view.synctool_entry = entry
    return view


def incremental_objects(querysets, state: StateReader, cleanable, key_identified):
    """The records of an incremental response, in the route's one snapshot; the
    client's state is read as they are made."""
    with one_snapshot(queryset.db for queryset in querysets):
        yield from IncrementalExport(querysets, state, cleanable, key_identified).records()


def verify_objects(querysets, key_identified, omitted, by_natural_key: bool):
    """The records of a verification (:mod:`synctool.server.verify`), in the
    route's one snapshot."""
    with one_snapshot(queryset.db for queryset in querysets):
        yield from verify_records(querysets, key_identified, omitted, by_natural_key=by_natural_key)


def index_view(route):
    """The view answering the manifest (:mod:`synctool.server.manifest`), listing the
    routes this token may pull."""

    @login_not_required  # the token is the authentication (LoginRequiredMiddleware)
    def view(request: HttpRequest) -> HttpResponse:
        answered, caller = _gate(request, route)
        if answered is not None:
            return answered
        manifest = build_manifest(route, request, project_key_identified(), caller.may_pull)
        if caller.routes is not None:
            manifest["token_limited"] = True
        return HttpResponse(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return view


def unknown_view(route):
    """Everything else under the routes: 401 without a valid token, else 404."""

    @login_not_required
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        answered, _ = _gate(request, route)
        if answered is not None:
            return answered
        return refusal("synctool: no route here", status=404)

    return view
