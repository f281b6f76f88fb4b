"""Strict mode: a route refuses to serve personal data that has no rule.

With ``SYNCTOOL_SCRUB_STRICT = True`` the plugin's ``refuse_route`` hook
(called by the export view before the first byte is sent) makes a route
serving a model with a likely personal field and no ``SYNCTOOL_SCRUB`` rule
for it answer 403, naming the fields, instead of streaming. Strict mode
without the plugin registered is the core check ``synctool.E007``. This
module never needs Faker.
"""

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub.conf import settings

PLUGIN = "synctool_contrib.scrub"


def plugin_enabled() -> bool:
    """Whether the scrub plugin is registered with synctool's plugin manager."""
    import synctool_contrib.scrub as plugin
    from synctool.plugins import get_plugin_manager

    return get_plugin_manager().is_registered(plugin)


def unscrubbed_message(path: str, model_list) -> str | None:
    """Why route ``path`` must not serve ``model_list``, or None when it may."""
    from synctool_contrib.scrub.report import missing_rules, with_models_inside
    from synctool_contrib.scrub.rules import parse_rules

    try:
        rules = parse_rules(settings.SYNCTOOL_SCRUB)
    except ConfigurationError as exc:
        return f"route {path!r} refuses to serve: {exc}"
    enabled = plugin_enabled()
    missing = missing_rules(with_models_inside(model_list), rules, enabled=enabled)
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
