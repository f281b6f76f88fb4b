"""The server's half of an incremental sync: what changed since the client's state.

The client sends, for each model, every key it holds with the digest this
server gave that row at the last sync (:mod:`synctool.wire.state`). Inside
the route's one snapshot, the server reads the digest of every row of the
route's queryset (:func:`synctool.rowhash.row_digest_arrays`, by key, raw), walks
both lists in key order as they come (neither is held whole), and answers
with, per model:

- a head: the mode (``"content"``: only what changed; ``"full"``: every row,
  the client empties its copy first) and, for a full sync, why;
- the keys of the rows the client holds that are gone here (``deleted``);
- the keys and new digests of the rows it sends (``digests``), so the
  client's next state is right;

then the objects of those rows, through the same serialization, identity
rule and ``transform_object`` hook as a full sync. Nothing is recorded on
the server: no tombstone, no trigger, no modification time needed. A raw
``UPDATE`` changes a row's digest; a transaction that commits after the
snapshot is seen by the next sync, because nothing is compared with a
time.

These records travel first in the response, as fixture-shaped objects of
the reserved model ``synctool.increment``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from itertools import compress
from operator import ne

import orjson
from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q

from synctool.identity import (
    chunks,
    generic_foreign_keys,
    key_columns,
    key_paths,
    references_by_key,
)
from synctool.meta import auto_many_to_many
from synctool.rowhash import DigestRanges, digest_basis, integer_key, row_digest_arrays
from synctool.wire.state import MASK_48, NO_EARLIER_STATE, StateReader

CONTROL_MODEL = "synctool.increment"
# Keys per ``digests`` or ``deleted`` record, and per ``pk__in`` query.
RECORD_KEYS = 5000
SEND_CHUNK = 1000
HELD_BYTES = 4 * 1024**2


def control(label: str, kind: str, **values) -> dict:
    """One control record of an incremental response."""
    return {"model": CONTROL_MODEL, "pk": None, "fields": {"kind": kind, "model": label, **values}}


def packed(values: list[int], typecode: str) -> str:
    """``values`` as base64 of little-endian integers (64-bit digests are too
    long for JSON readers that stop at 53 bits)."""
    numbers = array(typecode, values)
    if sys.byteorder != "little":
        numbers.byteswap()
    return base64.b64encode(numbers.tobytes()).decode("ascii")


def digest_records(
    label: str, pks: list[int], digests: list[int], *, final: bool = False
) -> Iterator[dict]:
    """``digests`` records of ``RECORD_KEYS`` rows each, taken off the front of
    ``pks`` and ``digests`` (the rest, shorter, too when ``final``)."""
    while len(pks) >= RECORD_KEYS or (final and pks):
        yield control(
            label, "digests", pks=pks[:RECORD_KEYS], digests=packed(digests[:RECORD_KEYS], "Q")
        )
        del pks[:RECORD_KEYS], digests[:RECORD_KEYS]


def fingerprint(model: type[models.Model], using: str) -> str:
    """What the digests of ``model``'s rows stand for on this server.

    What the digests stand for (:func:`synctool.rowhash.digest_basis`: the
    columns, how a row is digested, the synctool version), the plugins and
    the scrub settings: when any changes, the same
    stored row may be sent differently or digested differently, so the
    client's digests no longer tell, and the model is synced in full.
    Keyed with ``SECRET_KEY``, so it tells the client nothing about them.
    """
    parts = [
        *digest_basis(model, using),
        *sorted(
            f"{name}={getattr(django_settings, name)!r}"
            for name in dir(django_settings)
            if name.startswith("SYNCTOOL_SCRUB")
            or name in ("SYNCTOOL_PLUGINS", "SYNCTOOL_NATURAL_KEYS")
        ),
    ]
    key = hashlib.sha256(str(django_settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, "\x00".join(parts).encode(), "sha256").hexdigest()[:32]


def content_comparable(
    model: type[models.Model], querysets: list[models.QuerySet], cleanable: bool, key_identified
) -> str | None:
    """None when ``model`` can be compared row by row, else why it is synced in full."""
    if not cleanable:
        return None  # not cleaned, so sent in full and merged: see plan()
    if str(model._meta) in key_identified:
        return "identified by natural key"
    if len(querysets) != 1:
        return "the route reads it with several querysets"
    queryset = querysets[0]
    if queryset._result_cache is not None or queryset.query.is_sliced:
        return "the route's function evaluates or slices its queryset"
    if not integer_key(model):
        return "its primary key is not an integer"
    for field in auto_many_to_many(model):
        if references_by_key(field, key_identified) and key_paths(field.related_model) is None:
            return (
                f"its many-to-many field {field.name} refers by natural key to a model whose "
                "natural key is not plain fields"
            )
    if key_columns(model, key_identified) is None:
        return "it refers by natural key to a model whose natural key is not plain fields"
    return generic_references_by_key(queryset, key_identified)


def generic_references_by_key(queryset: models.QuerySet, key_identified) -> str | None:
    """Why ``queryset``'s rows cannot be compared by digest, if a generic relation of
    one of them points at a model identified by natural key (a comment about a
    user): its object id travels as that row's natural key, which its digest
    does not see, so the model is synced in full. Checked at every sync, on
    the rows themselves: a model whose generic relations point elsewhere is
    compared row by row."""
    targets = [label for label in key_identified if label != "contenttypes.contenttype"]
    relations = generic_foreign_keys(queryset.model)
    if not targets or not relations:
        return None
    from django.contrib.contenttypes.models import ContentType

    wanted = Q()
    for label in targets:
        app_label, _, name = label.partition(".")
        wanted |= Q(app_label=app_label, model=name)
    content_types = ContentType.objects.using(queryset.db).filter(wanted).values("pk")
    for ct_field, _ in relations:
        if queryset.filter(**{f"{ct_field.attname}__in": content_types}).exists():
            return f"its generic relation {ct_field.name} points at rows identified by natural key"
    return None


def block_differences(
    pks: array, digests: array, theirs_pks: array, theirs: array
) -> tuple[list[tuple[int, int]], list[int]]:
    """What differs between the server's rows and a block of the client's state
    (each in key order): ``(key, digest)`` of the rows to send (new, changed,
    or asked for again with digest 0) and the keys gone here, both in key
    order.

    Where the keys are the same (nothing inserted or deleted in the block),
    the positions whose digests differ are picked out in C, three times
    faster than walking both lists in Python, which the other blocks do.
    """
    if pks == theirs_pks:
        changed = compress(range(len(pks)), map(ne, digests, theirs))
        return [(pks[index], digests[index]) for index in changed], []
    sent: list[tuple[int, int]] = []
    gone: list[int] = []
    position, held = 0, len(theirs_pks)
    for pk, digest in zip(pks, digests, strict=True):
        while position < held and theirs_pks[position] < pk:
            gone.append(theirs_pks[position])
            position += 1
        if position < held and theirs_pks[position] == pk:
            same = theirs[position] == digest
            position += 1
            if same:
                continue
        sent.append((pk, digest))
    gone.extend(theirs_pks[position:])
    return sent, gone


class HeldRecords:
    """Records kept until they may be sent: in memory, on disk beyond a few MB."""

    def __init__(self):
        self._file = tempfile.SpooledTemporaryFile(max_size=HELD_BYTES)  # noqa: SIM115

    def add(self, record: dict) -> None:
        self._file.write(orjson.dumps(record) + b"\n")

    def extend(self, records: Iterable[dict]) -> None:
        for record in records:
            self.add(record)

    def __iter__(self) -> Iterator[dict]:
        self._file.seek(0)
        for line in self._file:
            yield orjson.loads(line)

    def close(self) -> None:
        self._file.close()


class IncrementalExport:
    """The records and querysets of one incremental response (see the module docstring).

    :param querysets: the route's querysets, in load order.
    :param state: what the client holds, read model by model in that order.
    :param cleanable: the labels the client may empty.
    """

    def __init__(self, querysets, state: StateReader, cleanable, key_identified):
        self.querysets = list(querysets)
        self.state = state
        self.cleanable = set(cleanable)
        self.key_identified = key_identified

    def _by_model(self) -> dict[type[models.Model], list[models.QuerySet]]:
        by_model: dict[type[models.Model], list[models.QuerySet]] = {}
        for queryset in self.querysets:
            by_model.setdefault(queryset.model, []).append(queryset)
        return by_model

    def records(self) -> Iterator[dict]:
        """Control records, then objects; run inside the route's snapshot.

        Nothing is answered before the client's state is read to its end: a
        client streaming its state reads no answer before it has sent it
        all, and an answer written meanwhile could fill both sides' socket
        buffers and stop both. The control records wait in a spooled file.
        """
        from synctool.server.export import _serialize

        held = HeldRecords()
        try:
            send = self._compare_models(held)
            self.state.read_to_end()
            yield from held
        finally:
            held.close()
        yield from _serialize(send, self.key_identified)

    def _compare_models(self, held: HeldRecords) -> list[models.QuerySet]:
        """Compare each model, holding its control records; the querysets of
        the rows to send."""
        send: list[models.QuerySet] = []
        for model, querysets in self._by_model().items():
            label = str(model._meta)
            cleanable = label in self.cleanable
            why_full = content_comparable(model, querysets, cleanable, self.key_identified)
            if not cleanable:
                # Merged, never emptied (parents, filtered routes): all rows, as
                # a sync without clean would send them.
                held.add(control(label, "head", mode="merge", reason="not cleaned by this route"))
                send.extend(querysets)
                continue
            theirs = self.state.fingerprints.get(label)
            mark = fingerprint(model, querysets[0].db)
            if why_full is None and theirs is None:
                why_full = NO_EARLIER_STATE
            elif why_full is None and theirs != mark:
                why_full = "its fields, synctool or the scrub settings changed on the server"
            if why_full is not None:
                held.add(control(label, "head", mode="full", reason=why_full, fingerprint=mark))
                if content_comparable(model, querysets, True, self.key_identified) is None:
                    held.extend(self._all_digests(label, querysets[0]))
                send.extend(querysets)
                continue
            held.add(control(label, "head", mode="content", fingerprint=mark))
            changed: list[int] = []
            held.extend(self._compare(label, querysets[0], changed))
            for keys in chunks(changed, SEND_CHUNK):
                send.append(querysets[0].filter(pk__in=keys))
        return send

    def _all_digests(self, label: str, queryset) -> Iterator[dict]:
        """The digest of every row (a model synced in full: the client's next state)."""
        pks: list[int] = []
        digests: list[int] = []
        for page_pks, page_digests in row_digest_arrays(queryset, self.key_identified, MASK_48):
            pks.extend(page_pks)
            digests.extend(page_digests)
            yield from digest_records(label, pks, digests)
        yield from digest_records(label, pks, digests, final=True)

    def _compare(self, label, queryset, changed: list[int]) -> Iterator[dict]:
        """Compare the server's rows with the client's state, block by block of
        the state, in key order (a block where nothing changed is one
        comparison of two arrays)."""
        mine = DigestRanges(row_digest_arrays(queryset, self.key_identified, MASK_48))
        sent_pks: list[int] = []
        sent_digests: list[int] = []
        deleted: list[int] = []

        def send(pk: int, digest: int) -> None:
            changed.append(pk)
            sent_pks.append(pk)
            sent_digests.append(digest)

        for theirs_pks, theirs in self.state.blocks(label):
            pks, digests = mine.below(theirs_pks[-1] + 1)
            if pks == theirs_pks and digests == theirs:
                continue  # nothing changed in this block
            block_sent, block_deleted = block_differences(pks, digests, theirs_pks, theirs)
            for pk, digest in block_sent:
                send(pk, digest)
            deleted.extend(block_deleted)
            yield from digest_records(label, sent_pks, sent_digests)
            while len(deleted) >= RECORD_KEYS:
                yield control(label, "deleted", pks=deleted[:RECORD_KEYS])
                del deleted[:RECORD_KEYS]
        pks, digests = mine.below(None)  # beyond the client's last key: new rows
        for pk, digest in zip(pks, digests, strict=True):
            send(pk, digest)
        yield from digest_records(label, sent_pks, sent_digests, final=True)
        for keys in chunks(deleted, RECORD_KEYS):
            yield control(label, "deleted", pks=keys)
