"""Token authentication of the server views.

The token travels as the HTTP Basic user name (``curl -u TOKEN:``) or as
``Authorization: Bearer TOKEN``. Tokens are compared in constant time, a
list of tokens allows rotation, a dict limits each token to some routes,
and no configured token means every request is refused (fail closed).
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from synctool.conf import settings

MAX_AUTHORIZATION_LENGTH = 4096
REALM = 'Basic realm="synctool", charset="UTF-8"'


def token_routes(explicit=None) -> dict[str, tuple[str, ...] | None]:
    """``{token: the route paths it may pull}`` (None: every route) accepted now.

    ``explicit`` if given (``Route(api_token=...)``), else SYNCTOOL_API_TOKEN:
    a string, a list of strings (rotation), or a dict mapping each token to
    ``"*"`` or a list of route paths. Empty strings and non-strings are
    dropped, so ``""`` counts as no token.
    """
    value = explicit if explicit is not None else settings.SYNCTOOL_API_TOKEN
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        result = {}
        for token, routes in value.items():
            if not isinstance(token, str) or not token:
                continue
            if routes == "*" or routes is None:
                result[token] = None
            elif isinstance(routes, str):
                result[token] = (routes,)
            elif isinstance(routes, list | tuple):
                result[token] = tuple(r for r in routes if isinstance(r, str))
        return result
    if not isinstance(value, list | tuple):
        return {}
    return {token: None for token in value if isinstance(token, str) and token}


def configured_tokens(explicit=None) -> list[str]:
    """The tokens accepted now (see :func:`token_routes`)."""
    return list(token_routes(explicit))


def token_id(token: str) -> str:
    """What names a token in logs: a digest prefix, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Caller:
    """Who passed the token check: the token's id and the routes it may pull."""

    token_id: str
    routes: tuple[str, ...] | None = None

    def may_pull(self, path: str) -> bool:
        return self.routes is None or path in self.routes


def presented_token(request: HttpRequest) -> str | None:
    """The token in the request's Authorization header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header or len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        return credentials or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username = decoded.partition(":")[0]
        return username or None
    return None


def matching_token(presented: str, tokens: list[str]) -> str | None:
    """The token ``presented`` equals, compared with every token in constant time."""
    presented_bytes = presented.encode()
    found = None
    for token in tokens:
        # No short-circuit: the time taken does not depend on which one matched.
        if hmac.compare_digest(presented_bytes, token.encode()):
            found = token
    return found


def unauthorized() -> HttpResponse:
    response = HttpResponse(
        "synctool: a valid token is required.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = REALM
    return response


def authenticate(request: HttpRequest, explicit=None) -> tuple[HttpResponse | None, Caller | None]:
    """``(a 401/403 response, None)`` when the request may not pass, else ``(None, caller)``."""
    routes = token_routes(explicit)
    if not routes:
        from synctool.server.views import refusal

        refused = refusal(
            "synctool: no API token is configured on this server "
            "(SYNCTOOL_API_TOKEN), so every request is refused."
        )
        return refused, None
    presented = presented_token(request)
    token = None if presented is None else matching_token(presented, list(routes))
    if token is None:
        return unauthorized(), None
    return None, Caller(token_id(token), routes[token])
