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
:mod:`synctool_contrib.scrub.checks` (synctool.E101 ... E108, W101).
"""

from synctool import hookimpl
from synctool_contrib.scrub.checks import run_checks as synctool_checks
from synctool_contrib.scrub.rules import get_scrubber

__all__ = ["synctool_checks", "transform_object"]


@hookimpl
def transform_object(obj):
    plan = get_scrubber().plan(obj["model"])
    if plan:
        fields = obj["fields"]
        for name, scrub in plan:
            if name in fields:
                fields[name] = scrub(fields[name], obj)
