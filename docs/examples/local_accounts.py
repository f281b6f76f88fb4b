"""A synctool plugin: local accounts survive a sync, synced ones cannot log in.

Register it in the settings of the project that pulls the users (and of the
server, for the server-side part):

    SYNCTOOL_PLUGINS = ["myproject.local_accounts"]
"""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from synctool import hookimpl

logger = logging.getLogger(__name__)


def _is_user(model_label: str) -> bool:
    return model_label.lower() == get_user_model()._meta.label_lower


@hookimpl
def pre_clean(model, queryset):
    """Cleaning the users never deletes the local superusers."""
    if model is get_user_model():
        return queryset.exclude(is_superuser=True)
    return None


@hookimpl
def transform_object(obj, side):
    """Inactive users stay on the server; synced users get no usable password."""
    if not _is_user(obj["model"]):
        return None
    fields = obj["fields"]
    if side == "server":
        if not fields.get("is_active", True):
            return False  # dropped: never sent
        fields["password"] = make_password(None)  # unusable: the hash stays here
    else:
        fields["is_superuser"] = False
        fields["is_staff"] = False
    return None


@hookimpl
def post_save(model, instances, using):
    """Log who arrived (a real plugin might refresh a cache or an index)."""
    if model is get_user_model():
        names = sorted(user.get_username() for user in instances)
        logger.info("synced %d users into %r: %s", len(names), using, ", ".join(names))
