"""The settings of synctool_contrib.scrub, with their defaults.

Importing this module (the plugin does) installs the defaults; read them as
``settings.SYNCTOOL_SCRUB`` etc. at call time.
"""

from appconf import AppConf
from django.conf import settings

__all__ = ["settings", "ScrubConf"]


class ScrubConf(AppConf):
    # Both sides: scrubbing rules per model label and field name, e.g.
    # {"auth.user": {"email": "email"}, "*": {"ip": "ip"}}.
    SCRUB = {}
    # Both sides: the key of the deterministic scrubbing (a string); None
    # derives one from SECRET_KEY.
    SCRUB_SECRET = None
    # Server: refuse to serve a route whose models have a likely personal field
    # (email, phone, name, address, IP, birth date...) without a SYNCTOOL_SCRUB rule.
    SCRUB_STRICT = False
    # Both sides: the Faker locale of fake values; None follows LANGUAGE_CODE
    # (en_US when Faker does not know it).
    SCRUB_LOCALE = None

    class Meta:
        prefix = "synctool"
