"""Strict mode: a route refuses to serve personal data that has no rule.

With ``SYNCTOOL_SCRUB_STRICT = True`` the export view calls
:func:`refuse_unscrubbed` before the first byte is sent; a route serving a
model with a likely personal field and no ``SYNCTOOL_SCRUB`` rule for it
answers 403, naming the fields, instead of streaming. If the scrub plugin
is not in ``SYNCTOOL_PLUGINS`` no rule is applied at all, so every likely
personal field is refused. This module must stay cheap to import (the view
imports it) and never needs Faker.
"""

import logging

from django.http import HttpResponse

from synctool.conf import settings
from synctool.exceptions import ConfigurationError

logger = logging.getLogger("synctool")

PLUGIN = "synctool_contrib.scrub"


def plugin_enabled() -> bool:
    """Whether the scrub plugin is registered with synctool's plugin manager."""
    import synctool_contrib.scrub as plugin
    from synctool.plugins import get_plugin_manager

    return get_plugin_manager().is_registered(plugin)


def unscrubbed_message(path: str, model_list) -> str | None:
    """Why route ``path`` must not serve ``model_list``, or None when it may."""
    from synctool_contrib.scrub.report import missing_rules
    from synctool_contrib.scrub.rules import parse_rules

    try:
        rules = parse_rules(settings.SYNCTOOL_SCRUB)
    except ConfigurationError as exc:
        return f"route {path!r} refuses to serve: {exc}"
    enabled = plugin_enabled()
    missing = missing_rules(model_list, rules, enabled=enabled)
    if not missing:
        return None
    fields = "; ".join(f"{line.label}.{line.name} ({line.personal})" for line in missing)
    if not enabled:
        why = f"{PLUGIN} is not in SYNCTOOL_PLUGINS, so nothing is scrubbed"
    else:
        why = "they have no SYNCTOOL_SCRUB rule (use 'keep' to send a field as it is)"
    return (
        f"route {path!r} refuses to serve (SYNCTOOL_SCRUB_STRICT): these fields look "
        f"personal: {fields}; {why}."
    )


def refuse_unscrubbed(path: str, querysets) -> HttpResponse | None:
    """A 403 response when strict mode forbids serving ``querysets``, else None."""
    if not settings.SYNCTOOL_SCRUB_STRICT:
        return None
    message = unscrubbed_message(path, [qs.model for qs in querysets])
    if message is None:
        return None
    logger.error("synctool: %s", message)
    return HttpResponse(
        f"synctool: {message}\n", status=403, content_type="text/plain; charset=utf-8"
    )
