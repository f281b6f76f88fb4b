"""``--verify``: the local copy of a route compared with the server's rows, as sent.

The server answers a verification request (:mod:`synctool.server.verify`)
with the key and digest of every row of the route as a sync would send it,
scrubbing included. Here each local row is serialized the same way (the
same serializer and identity rule, on this database) and digested, and the
two are compared key by key: a row is *different* (here and there, not
equal), *missing* here, or *extra* (here and not on the server, for a
model the route sends whole). Nothing is written, and nothing depends on
an earlier sync: a copy made by any means can be verified.

Models identified by natural key (users, groups, permissions) are compared
by natural key, their ids differing between databases; rows only here (the
laptop's own users) are not counted. What cannot be compared is said so: a
key-identified model whose natural key is not read from its fields (one
computed in Python), models or fields this code does not have
(``--ignore-unknown``). A ``transform_object`` hook that changes rows
on the client (client-side scrubbing) makes them differ from what the
server sent: scrub on the server to verify such copies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.apps import apps
from django.db import models

from synctool.client.gate import ModelPlan
from synctool.client.lookups import KeyLookups
from synctool.conf import settings
from synctool.exceptions import MalformedResponse, UnexpectedModel
from synctool.identity import chunks
from synctool.rowhash import integer_key, object_digest
from synctool.server.export import serialized_objects
from synctool.server.identity import KeyEncoder
from synctool.server.verify import VERIFY_MODEL, unordered_fields
from synctool.wire.state import from_little_endian

SHOWN_KEYS = 5
LOOKUP_KEYS = 900  # keys per pk__in query (under SQLite's oldest parameter limit)


@dataclass
class Verdict:
    """How one model's local rows compare with the server's."""

    compared: bool = True
    reason: str = ""  # why not compared
    different: int = 0  # here and on the server, not equal
    missing: int = 0  # on the server, not here
    extra: int = 0  # here, not on the server (a model the route sends whole)
    rows: int = 0  # the server's rows compared
    keys: list = field(default_factory=list)  # the first keys that differ
    # Fields left out of the comparison: production's this code does not have
    # (or has as another type), and this code's production does not send.
    left_out: list = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.compared and not (self.different or self.missing or self.extra)

    def note(self, pk, kind: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.keys) < SHOWN_KEYS:
            self.keys.append(pk)


class LocalRows:
    """The local rows of one model, serialized and digested as the server does."""

    def __init__(self, label: str, using: str, key_identified, plan: ModelPlan | None):
        self.model: type[models.Model] = apps.get_model(label)
        self.using = using
        self.encoder = KeyEncoder(using, frozenset(key_identified), settings.SYNCTOOL_CHUNK_SIZE)
        self.kept = plan.kept_fields if plan is not None else frozenset()
        self.unordered = unordered_fields(self.model)

    def queryset(self) -> models.QuerySet:
        return self.model._base_manager.using(self.using)

    def digests(self, queryset: models.QuerySet) -> dict:
        """``{pk: digest}`` of the rows of ``queryset`` (read a chunk at a time;
        the encoder drops a key-identified row's pk, so it is noted first)."""
        found = {}
        chunk = settings.SYNCTOOL_CHUNK_SIZE
        objects = serialized_objects(queryset.order_by("pk"), chunk)
        while block := list(islice(objects, chunk)):
            pks = [obj["pk"] for obj in block]
            for pk, obj in zip(pks, self.encoder.encode(block), strict=True):
                fields = obj["fields"]
                for name in self.kept:  # laptop-only fields: the server sends none
                    fields.pop(name, None)
                found[pk] = object_digest(fields, self.unordered)
        return found


def _digests(text) -> list[int]:
    try:
        return list(from_little_endian("Q", base64.b64decode(text, validate=True)))
    except (ValueError, TypeError):
        raise MalformedResponse("a verification record's digests are not valid") from None


def omitted(plans: dict[str, ModelPlan]) -> list[str]:
    """``"app.model.field"`` of the fields the server sends and this code does not
    have (``--ignore-unknown``): left out of the server's digests."""
    return sorted(
        f"{label}.{name}" for label, plan in plans.items() for name in plan.dropped_fields
    )


class RouteVerification:
    """The verdicts of one route, built as its verification records arrive.

    :param cleanable: the models the route sends whole (extra local rows
        count only there).
    """

    def __init__(
        self,
        labels: list[str],
        cleanable: Iterable[str],
        using: str,
        key_identified: Iterable[str],
        plans: dict[str, ModelPlan],
    ):
        self.labels = labels
        self.cleanable = set(cleanable)
        self.using = using
        self.key_identified = frozenset(key_identified)
        self.plans = plans
        self.verdicts: dict[str, Verdict] = {
            label: Verdict(compared=False, reason="the server sent nothing for it")
            for label in labels
        }
        self._local: LocalRows | None = None
        self._label: str | None = None
        self._last = None  # the last key compared of an integer-keyed whole model
        self._matched = 0
        self._natural = False

    def run(self, records: Iterator[dict]) -> dict[str, Verdict]:
        for obj in records:
            if obj.get("model") != VERIFY_MODEL:
                raise UnexpectedModel("the server sent rows where it was asked to verify them")
            fields = obj["fields"]
            label = fields.get("model")
            if label not in self.verdicts:
                raise UnexpectedModel(
                    f"a verification record names {label!r}, which the route did not announce"
                )
            if fields.get("kind") == "head":
                self._finish()
                self._start(label, fields)
            elif fields.get("kind") == "rows" and label == self._label:
                self._compare(fields)
        self._finish()
        return self.verdicts

    def _start(self, label: str, fields: dict) -> None:
        plan = self.plans.get(label)
        if not fields.get("compared"):
            self.verdicts[label] = Verdict(compared=False, reason=str(fields.get("reason") or ""))
        elif plan is not None and plan.dropped:
            self.verdicts[label] = Verdict(compared=False, reason="this code does not have it")
        else:
            left_out = sorted(plan.dropped_fields | plan.kept_fields) if plan is not None else []
            self.verdicts[label] = Verdict(left_out=left_out)
            self._label = label
            self._local = LocalRows(label, self.using, self.key_identified, plan)
            self._last = None
            self._matched = 0
            # Keyed by natural key (users, groups): their ids differ here.
            self._natural = bool(fields.get("by_natural_key"))

    @property
    def _by_range(self) -> bool:
        """Whether local rows are read by key range (and extra ones found)."""
        return (
            not self._natural and self._label in self.cleanable and integer_key(self._local.model)
        )

    def _compare(self, fields: dict) -> None:
        pks = fields.get("pks")
        digests = _digests(fields.get("digests", ""))
        if not isinstance(pks, list) or len(pks) != len(digests):
            raise MalformedResponse("a verification record has keys and digests apart")
        if not pks:
            return
        verdict = self.verdicts[self._label]
        if self._natural:
            self._compare_by_natural_key(verdict, pks, digests)
            return
        local_rows = self._local.queryset()
        if self._by_range:
            upper = max(pks)
            if self._last is not None:
                local_rows = local_rows.filter(pk__gt=self._last)
            here = self._local.digests(local_rows.filter(pk__lte=upper))
            self._last = upper
        else:
            here = {}
            for keys in chunks(pks, LOOKUP_KEYS):
                here.update(self._local.digests(local_rows.filter(pk__in=keys)))
        theirs = dict(zip(pks, digests, strict=True))
        for pk, digest in theirs.items():
            verdict.rows += 1
            mine = here.get(pk)
            if mine is None:
                verdict.note(pk, "missing")
            else:
                self._matched += 1
                if mine != digest:
                    verdict.note(pk, "different")
        if self._by_range:
            for pk in sorted(here.keys() - theirs.keys()):
                verdict.note(pk, "extra")

    def _compare_by_natural_key(self, verdict: Verdict, keys: list, digests: list[int]) -> None:
        """Rows of a key-identified model: found here by natural key. Rows
        only here (the laptop's own users) are never counted: a sync keeps
        them too."""
        model = self._local.model
        theirs = {}
        for key, digest in zip(keys, digests, strict=True):
            theirs[tuple(key) if isinstance(key, list) else (key,)] = digest
        found = KeyLookups(self.using, flush=lambda _model: None).lookup(model, set(theirs))
        here = {}
        for pks in chunks(list(found.values()), LOOKUP_KEYS):
            here.update(self._local.digests(self._local.queryset().filter(pk__in=pks)))
        for key, digest in theirs.items():
            verdict.rows += 1
            pk = found.get(key)
            if pk is None:
                verdict.note(list(key), "missing")
            elif here.get(pk) != digest:
                verdict.note(list(key), "different")

    def _finish(self) -> None:
        """The local rows of the model in hand that the server has not named."""
        label, local = self._label, self._local
        self._label = self._local = None
        if label is None or label not in self.cleanable or self._natural:
            return
        verdict = self.verdicts[label]
        rows = local.queryset()
        if integer_key(local.model):
            if self._last is not None:
                rows = rows.filter(pk__gt=self._last)
            for pk in rows.order_by("pk").values_list("pk", flat=True).iterator():
                verdict.note(pk, "extra")
        else:
            extra = rows.count() - self._matched
            if extra > 0:
                verdict.extra += extra


def verdict_line(label: str, verdict: Verdict) -> str:
    if not verdict.compared:
        return f"{label}: not compared ({verdict.reason})"
    left_out = ""
    if verdict.left_out:
        names = ", ".join(repr(name) for name in verdict.left_out)
        left_out = f"; not compared: field{'' if len(verdict.left_out) == 1 else 's'} {names}"
    if verdict.equal:
        return f"{label}: equal ({verdict.rows} row{'' if verdict.rows == 1 else 's'}{left_out})"
    parts = []
    if verdict.different:
        parts.append(f"{verdict.different} row(s) differ")
    if verdict.missing:
        parts.append(f"{verdict.missing} row(s) missing here")
    if verdict.extra:
        parts.append(f"{verdict.extra} row(s) here are not on the server")
    keys = ", ".join(map(str, verdict.keys))
    return f"{label}: DIFFERENT: {'; '.join(parts)} (first keys: {keys}{left_out})"
