"""Route names checked against the server's manifest, with a did-you-mean."""

from __future__ import annotations

import difflib
import re

from synctool.exceptions import RouteNotFound, UnexpectedModel

MAX_ROUTE_LENGTH = 2000


def _pattern(path: str) -> str:
    return path.removeprefix("^").removesuffix("$").rstrip("/") + "/?"


def route_name(route: str) -> str:
    """The name ``route`` is recorded under in the history of syncs.

    ``tree``, ``tree/`` and ``/tree`` are one route (every route's pattern
    takes an optional trailing slash, see :func:`route_matches`), so they
    keep one history and one incremental state.
    """
    path, mark, query = route.partition("?")
    return path.strip("/") + mark + query


def route_spellings(route: str) -> list[str]:
    """Every spelling of ``route`` that :func:`route_name` makes one (and that
    synctool recorded as typed before it did)."""
    path, mark, query = route_name(route).partition("?")
    return sorted(
        {f"{lead}{path}{trail}{mark}{query}" for lead in ("", "/") for trail in ("", "/")}
    )


def route_matches(path: str, route: str) -> bool:
    """Whether the server's route regex ``path`` serves ``route``."""
    # A query string is the route function's to read, not part of the route.
    name = route.split("?", 1)[0].strip("/")[:MAX_ROUTE_LENGTH]
    try:
        return re.fullmatch(_pattern(path), name) is not None
    except re.error:
        return False


def suggestion(route: str, paths: list[str]) -> str:
    """A "did you mean" sentence (or "") for a route name no path serves."""
    plain = [path for path in paths if re.escape(path) == path or path.isidentifier()]
    close = difflib.get_close_matches(route.strip("/"), plain or paths, n=3, cutoff=0.6)
    if close:
        return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    listed = ", ".join(repr(p) for p in paths[:12]) + (", ..." if len(paths) > 12 else "")
    return f" The server's routes: {listed or 'none'}."


def check_route_names(manifest: dict, routes: list[str], where: str = "the server") -> None:
    """Raise RouteNotFound naming every route no path of ``manifest`` serves."""
    paths = [str(entry.get("path", "")) for entry in manifest.get("routes", [])]
    unknown = [route for route in routes if not any(route_matches(p, route) for p in paths)]
    if unknown:
        # A token limited to some routes sees only those in the manifest.
        limited = (
            " (for this token, which may pull only some routes)"
            if manifest.get("token_limited")
            else ""
        )
        raise RouteNotFound(
            f"{where} has no route "
            + ", ".join(repr(route) for route in unknown)
            + limited
            + "."
            + suggestion(unknown[0], paths)
        )


def check_announced(manifest: dict, route: str, labels: list[str], where: str) -> None:
    """Refuse a route whose ``HEAD`` announces models its manifest entry does not list.

    The manifest lists the models of every route that has fixed ones; a
    route answering with others (a lying or misrouted server) is refused
    before anything is written.
    """
    for entry in manifest.get("routes", []):
        if route_matches(str(entry.get("path", "")), route):
            listed = entry.get("models")
            # A route whose rows have generic relations may bring objects
            # of any model (the manifest names those relations' models).
            if isinstance(listed, list) and not entry.get("generic"):
                listed = [*listed, *(entry.get("parents") or [])]
                extra = [label for label in labels if label not in listed]
                if extra:
                    raise UnexpectedModel(
                        f"{where} announces {', '.join(extra)}, which the server's manifest "
                        f"does not list for this route ({', '.join(listed) or 'none'})"
                    )
            return
