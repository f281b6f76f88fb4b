"""The models a client lets a server write.

The laptop trusts its server for data, not for authority: a server (hostile,
or simply misconfigured) must not be able to plant a session or a superuser
by announcing them. Every model a sync would write (and clean) is checked,
before anything is cleaned or written, against ``SYNCTOOL_CLIENT_ALLOW``:

- ``None`` (the default): every model, but ``sessions.Session`` and
  ``admin.LogEntry`` (never), and the user model and ``auth.Group`` unless
  this client identifies them by natural key (``SYNCTOOL_NATURAL_KEYS``:
  they are then merged by username and name, never overwritten by id);
- a list of app labels or ``"app.Model"`` labels (``"*"``: every model).

``allow`` (``sync_data --allow``) adds labels for one sync. synctool's own
models (this database's history of syncs and incremental state) are never
written by a sync, whatever is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps

from synctool.conf import settings
from synctool.exceptions import ModelNotAllowed
from synctool.identity import configured_labels

NEVER = ("sessions", "admin.logentry")
# This database's own history of syncs and incremental state: never a sync's.
OWN = ("synctool",)


def _matches(label: str, patterns: Iterable[str]) -> bool:
    app = label.partition(".")[0]
    return any(p in ("*", label, app) for p in patterns)


def _guarded() -> set[str]:
    """The models the default rule allows only when identified by natural key."""
    if not apps.is_installed("django.contrib.auth"):
        return set()
    from django.contrib.auth import get_user_model

    return {"auth.group", get_user_model()._meta.label_lower}


def allowed(label: str, extra: Iterable[str] = ()) -> bool:
    """Whether this client may write ``label`` (``"app.model"``)."""
    if _matches(label, OWN):
        return False
    extra = [entry.lower() for entry in extra]
    if _matches(label, extra):
        return True
    setting = settings.SYNCTOOL_CLIENT_ALLOW
    if setting is not None:
        return _matches(label, [entry.lower() for entry in setting])
    if _matches(label, NEVER):
        return False
    # The client's own identity rule: what the server announces does not count.
    return label not in _guarded() or label in configured_labels()


def refuse_unallowed(
    labels: Iterable[str],
    where: str,
    extra: Iterable[str] = (),
    server_key_identified: Iterable[str] = (),
) -> None:
    """Raise ModelNotAllowed naming every label of ``labels`` this client does not allow.

    ``server_key_identified``: the labels the server sends by natural key (the
    advice differs: allowed, they are merged by natural key all the same).
    """
    extra = list(extra)
    refused = [label for label in dict.fromkeys(labels) if not allowed(label, extra)]
    own = [label for label in refused if _matches(label, OWN)]
    if own:
        raise ModelNotAllowed(
            f"{where} would write {', '.join(own)}: synctool's own history of syncs, which "
            "a sync never writes: nothing was cleaned or written. Leave the synctool app out "
            "of the route on the server (a whole-project route leaves it out)."
        )
    if refused:
        names = ", ".join(refused)
        guarded = [label for label in refused if label in _guarded()]
        allow = " ".join(f"--allow {label}" for label in refused)
        by_key_there = {label.lower() for label in server_key_identified}
        if guarded and all(label in by_key_there for label in guarded):
            advice = (
                f"The server sends {', '.join(guarded)} by natural key and this client's "
                "SYNCTOOL_NATURAL_KEYS does not list them: list them there too (in the "
                f"settings both sides read), or pass {allow} (Client.sync(allow=[...]), "
                "SYNCTOOL_CLIENT_ALLOW); either way they are merged with this database's own "
                "rows by natural key (usernames, group names)"
            )
        elif guarded:
            advice = (
                f"To merge {', '.join(guarded)} with this database's own rows by natural key "
                "(usernames, group names), list them in SYNCTOOL_NATURAL_KEYS (e.g. "
                "['auth.User', 'auth.Group']), on the server too. "
                f"{allow} (Client.sync(allow=[...]), SYNCTOOL_CLIENT_ALLOW) would instead write "
                "them by primary key, over local rows with the same ids (your superuser)"
            )
        else:
            advice = (
                f"If that is what you want, pass {allow} (Client.sync(allow=[...])) or list "
                "them in SYNCTOOL_CLIENT_ALLOW"
            )
        raise ModelNotAllowed(
            f"{where} would write {names}, which this client does not allow: nothing was "
            f"cleaned or written. {advice}."
        )
