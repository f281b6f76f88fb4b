"""synctool_contrib.scrub: personal data never leaves production unscrubbed.

A ``transform_object`` plugin driven by ``SYNCTOOL_SCRUB``::

    SYNCTOOL_PLUGINS = [..., "synctool_contrib.scrub"]
    SYNCTOOL_SCRUB = {
        "auth.user": {"email": "email", "password": "unusable_password"},
        "*": {"ip_address": "ip"},
    }

Installed on the server, objects are scrubbed before they are written to
the response; installed on the client, before they are saved. Values are
deterministic (keyed by ``SYNCTOOL_SCRUB_SECRET``), unique-safe, and
natural-key references to scrubbed fields are rewritten to match. See
docs/contrib/scrub.rst; the system checks are listed in
:mod:`synctool_contrib.scrub.checks` (synctool.E007, E101 ... E108, W101).
Add it to ``INSTALLED_APPS`` too for its ``synctool_scrub_report`` command
and for check E007.
"""

from synctool import hookimpl
from synctool_contrib.scrub import rules
from synctool_contrib.scrub.checks import run_checks as synctool_checks
from synctool_contrib.scrub.conf import settings

__all__ = ["refuse_route", "synctool_checks", "transform_object"]

_MISSING = object()


@hookimpl
def system_checks(app_configs):
    """The plugin's checks (synctool.E101 ... W101): run when it is enabled."""
    from synctool_contrib.scrub.checks import run_checks

    return run_checks(app_configs=app_configs)


@hookimpl
def refuse_route(path, models):
    """Strict mode: refuse routes serving likely personal fields without a rule."""
    if not settings.SYNCTOOL_SCRUB_STRICT:
        return None
    from synctool_contrib.scrub.strict import unscrubbed_message

    return unscrubbed_message(path, models)


@hookimpl
def transform_object(obj):
    # The hot path: one call per object. get_scrubber() and Scrubber.plan()
    # inlined for their common case (rules compiled, plan known).
    current = rules._current
    if current is None or current[0] is not settings.SYNCTOOL_SCRUB:
        scrubber = rules.get_scrubber()
    else:
        scrubber = current[1]
    plan = scrubber._plans.get(obj["model"])
    if plan is None:
        plan = scrubber.plan(obj["model"])
    if plan:
        fields = obj["fields"]
        get = fields.get
        for name, scrub in plan:
            value = get(name, _MISSING)
            if value is not _MISSING:
                fields[name] = scrub(value, obj)
