"""Fixtures kept inside a value: django-reversion's versions.

django-reversion stores each version of an object as the text Django's
serializer wrote (``Version.serialized_data``, ``[{"model", "pk",
"fields"}]``): production's ids of users, groups, permissions and content
types, which name other rows on a laptop. Reverting such a version there
would set the wrong author, silently. So the objects inside travel under the
project's identity rule as top-level objects do: the server's
:class:`~synctool.server.identity.KeyEncoder` sends their references to
key-identified models as natural keys, and the client's
:class:`~synctool.client.identity.KeyResolver` writes the local ids back.
``transform_object`` hooks (scrubbing) see the objects inside too, so a
version of a user holds the scrubbed email, as the user row does.

Only the JSON format is read (django-reversion's default); a value that is
not a JSON list of fixture objects is sent as it is.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from django.db import models

from synctool.identity import model_label

# {model label: (field holding the fixture, field naming its format)}
FIXTURE_FIELDS = {"reversion.version": ("serialized_data", "format")}


def fixture_fields(label: str) -> list[str]:
    """The names of the fields of the model ``label`` that hold fixtures (usually none)."""
    entry = FIXTURE_FIELDS.get(label)
    return [entry[0]] if entry else []


def models_inside(model: type[models.Model]) -> list[type[models.Model]]:
    """The models whose objects rows of ``model`` may hold (those registered
    with django-reversion, for its versions); none for other models."""
    if not fixture_fields(model_label(model)):
        return []
    try:
        from reversion import get_registered_models
    except ImportError:
        return []
    return [m._meta.concrete_model for m in get_registered_models()]


def load(label: str, fields: dict, name: str) -> list[dict] | None:
    """The fixture objects held in ``fields[name]``, or None when the value is
    not a JSON list of ``{"model", "fields"}`` objects (left as it is)."""
    format_field = FIXTURE_FIELDS[label][1]
    text = fields.get(name)
    if not isinstance(text, str) or fields.get(format_field, "json") != "json":
        return None
    try:
        objects = json.loads(text)
    except ValueError:
        return None
    if not isinstance(objects, list) or not all(
        isinstance(obj, dict)
        and isinstance(obj.get("model"), str)
        and isinstance(obj.get("fields"), dict)
        for obj in objects
    ):
        return None
    return objects


def gather(
    label: str, chunk: list[dict], names: list[str]
) -> tuple[list[tuple[dict, str, list[dict], str]], dict[str, list[dict]]]:
    """The fixture values of a chunk of rows of the model ``label``: ``(obj,
    field name, its objects, its text)`` for each, and those objects by the
    label of their model, to be rewritten a model at a time."""
    held = []
    by_model: dict[str, list[dict]] = {}
    for obj in chunk:
        for name in names:
            objects = load(label, obj["fields"], name)
            if objects is None:
                continue
            held.append((obj, name, objects, obj["fields"][name]))
            for inner in objects:
                by_model.setdefault(inner["model"].lower(), []).append(inner)
    return held, by_model


def dump(objects: list[dict]) -> str:
    """The text of ``objects`` as Django's JSON serializer writes it."""
    return "[" + ",".join(json.dumps(obj, ensure_ascii=False) for obj in objects) + "]"


def rewrite(label: str, fields: dict, change: Callable[[list[dict]], bool]) -> None:
    """Apply ``change`` to the objects inside each fixture field of ``fields``
    (a row of the model ``label``); the text is written again only when
    ``change`` says it changed them."""
    for name in fixture_fields(label):
        objects = load(label, fields, name)
        if objects is not None and change(objects):
            fields[name] = dump(objects)


def transform_inner(label: str, obj: dict, transform: Callable[..., list], side: str) -> None:
    """Run ``transform_object`` over the objects inside ``obj``'s fixture fields
    (those a hook drops are left out)."""

    def change(objects: list[dict]) -> bool:
        before = copy.deepcopy(objects)
        objects[:] = [inner for inner in objects if False not in transform(obj=inner, side=side)]
        return objects != before

    rewrite(label, obj["fields"], change)
