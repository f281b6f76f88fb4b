"""Token authentication of the server views.

The token travels as the HTTP Basic user name (``curl -u TOKEN:``) or as
``Authorization: Bearer TOKEN``. Tokens are compared in constant time, a
list of tokens allows rotation, and no configured token means every request
is refused (fail closed).
"""

import base64
import binascii
import hmac

from django.http import HttpRequest, HttpResponse

from synctool.conf import settings

MAX_AUTHORIZATION_LENGTH = 4096
REALM = 'Basic realm="synctool", charset="UTF-8"'


def configured_tokens(explicit: str | list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The tokens accepted now: ``explicit`` if given, else SYNCTOOL_API_TOKEN.

    Empty strings and non-strings are dropped, so ``""`` counts as no token.
    """
    value = explicit if explicit is not None else settings.SYNCTOOL_API_TOKEN
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [token for token in value if isinstance(token, str) and token]


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


def token_matches(presented: str, tokens: list[str]) -> bool:
    """Compare ``presented`` with every token in constant time."""
    presented_bytes = presented.encode()
    matched = False
    for token in tokens:
        # No short-circuit: the time taken does not depend on which one matched.
        matched |= hmac.compare_digest(presented_bytes, token.encode())
    return matched


def refuse_unauthorized(request: HttpRequest, explicit=None) -> HttpResponse | None:
    """Return a 401/403 response when the request may not pass, else None."""
    tokens = configured_tokens(explicit)
    if not tokens:
        from synctool.server.views import refusal

        return refusal(
            "synctool: no API token is configured on this server "
            "(SYNCTOOL_API_TOKEN), so every request is refused."
        )
    presented = presented_token(request)
    if presented is None or not token_matches(presented, tokens):
        response = HttpResponse(
            "synctool: a valid token is required.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = REALM
        return response
    return None
