"""The server's half of ``--verify``: a digest of every row of a route as it is sent.

Asked with the ``X-Synctool-Verify`` header, a route answers, instead of its
rows, records of the reserved model ``synctool.verify``: per model a head
(compared or not, and why not), then the keys of its rows in key order with
the digest of each object exactly as a sync would send it (serialized, the
identity rule applied, after ``transform_object``: scrubbed values
included; see :func:`synctool.rowhash.object_digest`). The client digests
its own rows the same way (:mod:`synctool.client.verify`) and compares.
Nothing of the rows' values leaves the server, only 16 bytes a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import models

from synctool.identity import key_paths
from synctool.rowhash import object_digest
from synctool.server.export import _serialize, model_label
from synctool.server.increment import packed

VERIFY_MODEL = "synctool.verify"
VERIFY_HEADER = "X-Synctool-Verify"
# Fields the client does not have ("app.model.field,..."), left out of the digests.
OMIT_HEADER = "X-Synctool-Verify-Omit"
RECORD_KEYS = 5000


def record(label: str, kind: str, **values) -> dict:
    return {"model": VERIFY_MODEL, "pk": None, "fields": {"kind": kind, "model": label, **values}}


def unordered_fields(model: type[models.Model]) -> list[str]:
    """The fields whose list values come in no particular order (many-to-many)."""
    return [field.name for field in model._meta.many_to_many]


def _in_key_order(queryset: models.QuerySet) -> models.QuerySet | None:
    """``queryset`` read by key, or None when it must be read as it is."""
    if queryset._result_cache is not None or queryset.query.is_sliced:
        return None
    return queryset.order_by("pk")


def omitted_fields(header: str) -> dict[str, set[str]]:
    """``{label: field names}`` of an ``X-Synctool-Verify-Omit`` header."""
    omitted: dict[str, set[str]] = {}
    for entry in header.split(","):
        label, _, name = entry.strip().rpartition(".")
        if label and name:
            omitted.setdefault(label.lower(), set()).add(name)
    return omitted


@dataclass(frozen=True)
class NaturalKeyReader:
    """Reads a row's natural key from the row as it is sent: a user's
    ``username``; a permission's ``codename`` and its content type's
    ``app_label`` and ``model``, read from the content type's natural key,
    which the row carries in place of its id."""

    fields: tuple[str, ...]  # the row's own fields it reads (for omitted ones)
    parts: tuple[tuple[str, int | None], ...]  # (field, index in its natural key)

    def key(self, fields: dict) -> list:
        values = []
        for name, index in self.parts:
            value = fields[name]
            if index is not None:
                value = value[index] if isinstance(value, list | tuple) else None
            values.append(value)
        return values


def natural_key_reader(model: type[models.Model], key_identified) -> NaturalKeyReader | None:
    """How to read ``model``'s natural key from its rows as sent, or None when
    it is made otherwise (computed, or through a model sent by id): then its
    rows cannot be compared by natural key."""
    paths = key_paths(model)
    if paths is None:
        return None
    parts: list[tuple[str, int | None]] = []
    for path in paths:
        name, _, rest = path.partition("__")
        if not rest:
            parts.append((name, None))
            continue
        related = model._meta.get_field(name).related_model
        inner = key_paths(related) if related is not None else None
        if inner is None or rest not in inner or model_label(related) not in key_identified:
            return None
        parts.append((name, inner.index(rest)))
    return NaturalKeyReader(tuple(dict.fromkeys(name for name, _ in parts)), tuple(parts))


def verify_records(
    querysets: list[models.QuerySet],
    key_identified,
    omitted: dict[str, set[str]] | None = None,
    *,
    by_natural_key: bool = False,
) -> Iterator[dict]:
    """The verification records of a route's querysets (in load order), in its
    snapshot (the caller's); ``omitted``: fields left out of the digests, per
    label (those the client does not have). ``by_natural_key`` (a client that
    asks with ``X-Synctool-Verify: 2``): rows of key-identified models are
    keyed by their natural key, whose fields they carry, instead of not
    compared."""
    by_model: dict[type[models.Model], list[models.QuerySet]] = {}
    for queryset in querysets:
        by_model.setdefault(queryset.model, []).append(queryset)
    for model, group in by_model.items():
        label = model_label(model)
        unordered = unordered_fields(model)
        left_out = (omitted or {}).get(label, ())

        def digest(fields: dict, left_out=left_out, unordered=unordered) -> int:
            for name in left_out:
                fields.pop(name, None)
            return object_digest(fields, unordered)

        if label in key_identified:
            reader = natural_key_reader(model, key_identified) if by_natural_key else None
            why = ""
            if by_natural_key and reader is None:
                why = ", and its natural key is not read from its fields"
            elif reader is not None and set(reader.fields) & set(left_out):
                why = ", and its natural key has a field this code does not have"
            if reader is None or why:
                yield record(
                    label,
                    "head",
                    compared=False,
                    reason="identified by natural key: its ids differ between databases" + why,
                )
                continue
            yield record(label, "head", compared=True, by_natural_key=True)
            # The digest covers the fields only (references by natural key):
            # nothing of it depends on this database's ids.
            pairs = (
                (reader.key(obj["fields"]), digest(obj["fields"]))
                for obj in _serialize(group, key_identified)
            )
            yield from _blocks(label, pairs)
            continue
        yield record(label, "head", compared=True)

        ordered = [_in_key_order(queryset) for queryset in group]
        if len(group) == 1 and ordered[0] is not None:
            pairs = (
                (obj["pk"], digest(obj["fields"])) for obj in _serialize(ordered, key_identified)
            )
        else:
            # Several querysets, or one read as it is: their rows sorted here.
            digests = {
                obj["pk"]: digest(obj["fields"]) for obj in _serialize(group, key_identified)
            }
            pairs = iter(sorted(digests.items()))
        yield from _blocks(label, pairs)


def _blocks(label: str, pairs) -> Iterator[dict]:
    pks: list = []
    digests: list[int] = []
    for pk, digest in pairs:
        pks.append(pk)
        digests.append(digest)
        if len(pks) >= RECORD_KEYS:
            yield record(label, "rows", pks=pks, digests=packed(digests, "Q"))
            pks, digests = [], []
    if pks:
        yield record(label, "rows", pks=pks, digests=packed(digests, "Q"))
