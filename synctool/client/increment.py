"""The client's half of an incremental sync (the server's is :mod:`synctool.server.increment`).

Before the route is requested, every local row of each model the last
sync's state holds is read and digested (:func:`synctool.rowhash.row_digests`);
a row whose digest differs from the one stored after that sync was changed
here, and is asked for again, as is a row the state does not know or a row
of the state that is gone here. So the promise is the strong one: after an
incremental sync the route's models hold exactly what a ``--clean`` sync
would give, rows changed or deleted on this side included.

The server answers with control records first (:data:`CONTROL_MODEL`):
per model a head (``content``, ``full`` or ``merge``), the keys of the rows
gone on the server (deleted here, through ``pre_clean`` as ``clean``
deletes) and the keys and digests of the rows it sends (deleted here, then
loaded again as a clean sync would). After the load, the new state is
built: the old one, less what was deleted, with the rows received and
their local digests.
"""

from __future__ import annotations

import base64
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from django.apps import apps
from django.db import models

from synctool.client.batches import call_hook
from synctool.client.clean import raw_delete
from synctool.exceptions import HookError, MalformedResponse, UnexpectedModel
from synctool.identity import chunks
from synctool.meta import auto_through_models
from synctool.result import SyncResult
from synctool.rowhash import row_digests
from synctool.wire.state import ModelState, pack

CONTROL_MODEL = "synctool.increment"
DELETE_CHUNK = 500


def _digests(text: str) -> array:
    values = array("Q")
    try:
        values.frombytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise MalformedResponse("an incremental record's digests are not valid") from None
    if sys.byteorder != "little":
        values.byteswap()
    return values


def delete_rows(model: type[models.Model], queryset: models.QuerySet, using: str) -> int:
    """Delete ``queryset``'s rows and their auto many-to-many rows, without cascading."""
    for field, through in auto_through_models(model):
        source = field.m2m_field_name()
        raw_delete(
            through._base_manager.using(using).filter(**{f"{source}__in": queryset.values("pk")}),
            using,
        )
    return raw_delete(queryset, using)


def merged_upload(old: ModelState, local_now: Iterable[tuple[int, int]]) -> ModelState:
    """Every key held before or now, with the server's digest where the local row is
    unchanged since the last sync, else 0 ("send it again")."""
    now_pks, now_local = array("q"), array("Q")
    for pk, digest in local_now:
        now_pks.append(pk)
        now_local.append(digest)
    if now_pks == old.pks and old.local is not None:
        # The usual case, the laptop added and deleted nothing: compare in place.
        server = array("Q", old.server)
        if now_local != old.local:
            for index, (was, now) in enumerate(zip(old.local, now_local, strict=True)):
                if was != now:
                    server[index] = 0
        return ModelState(old.fingerprint, now_pks, server)
    pks, server = array("q"), array("Q")
    old_pks, old_server, old_local = old.pks, old.server, old.local
    position, held = 0, len(old_pks)
    for pk, digest in zip(now_pks, now_local, strict=True):
        while position < held and old_pks[position] < pk:
            pks.append(old_pks[position])  # gone here: ask for it again
            server.append(0)
            position += 1
        if position < held and old_pks[position] == pk:
            unchanged = old_local is not None and old_local[position] == digest
            pks.append(pk)
            server.append(old_server[position] if unchanged else 0)
            position += 1
        else:
            pks.append(pk)  # a row the state does not know
            server.append(0)
    pks.extend(old_pks[position:])
    server.extend(array("Q", bytes(8 * (held - position))))
    return ModelState(old.fingerprint, pks, server)


def spliced(old: ModelState, removed: Iterable[int], added: ModelState) -> ModelState:
    """``old`` without the keys ``removed``, with the rows of ``added`` (all in key
    order), copied slice by slice: the cost is in the changes, not the rows."""
    old_local = old.local if old.local is not None else array("Q", bytes(8 * len(old.pks)))
    events = sorted({*removed, *added.pks})
    adds = {pk: index for index, pk in enumerate(added.pks)}
    pks, server, local = array("q"), array("Q"), array("Q")
    start = 0
    for pk in events:
        end = bisect_left(old.pks, pk, start)
        pks.extend(old.pks[start:end])
        server.extend(old.server[start:end])
        local.extend(old_local[start:end])
        start = end + 1 if end < len(old.pks) and old.pks[end] == pk else end
        index = adds.get(pk)
        if index is not None:
            pks.append(pk)
            server.append(added.server[index])
            local.append(added.local[index])
    pks.extend(old.pks[start:])
    server.extend(old.server[start:])
    local.extend(old_local[start:])
    return ModelState(added.fingerprint or old.fingerprint, pks, server, local)


class RouteIncrement:
    """One route's incremental sync: the state it sends, the records it applies,
    the state it leaves.

    :param previous: the state kept by the last successful incremental sync
        of this route into ``using`` (empty: the first one, which is full).
    """

    def __init__(
        self,
        using: str,
        labels: list[str],
        cleanable: list[str],
        previous: dict[str, ModelState],
        result: SyncResult,
    ):
        self.using = using
        self.labels = labels
        self.cleanable = set(cleanable)
        self.previous = {k: v for k, v in previous.items() if k in self.cleanable}
        self.result = result
        self.modes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.fingerprints: dict[str, str] = {}
        self.received: dict[str, tuple[array, array]] = {}
        self.deleted: dict[str, array] = {}

    def _model(self, label: str) -> type[models.Model]:
        return apps.get_model(label)

    def upload(self) -> bytes:
        """The state the server compares with (keys and server digests, no local ones)."""
        states = {}
        for label, old in self.previous.items():
            model = self._model(label)
            local_now = row_digests(model._base_manager.using(self.using).all())
            states[label] = merged_upload(old, local_now)
        return pack(states, with_local=False)

    # -- the response's control records ---------------------------------------

    def apply(self, objects: Iterable[dict], clean_models) -> Iterator[dict]:
        """``objects`` without the control records, which are applied on the way.

        ``clean_models(models)`` empties models synced in full (the loader's
        cleaner: children first, ``pre_clean``, references checked later).
        """
        for obj in objects:
            if obj["model"] != CONTROL_MODEL:
                yield obj
                continue
            fields = obj["fields"]
            label = fields.get("model")
            if label not in self.labels:
                raise UnexpectedModel(
                    f"an incremental record names {label!r}, which the route did not announce"
                )
            kind = fields.get("kind")
            if kind == "head":
                self._head(label, fields, clean_models)
            elif kind == "digests":
                self._digests(label, fields)
            elif kind == "deleted":
                self._deleted(label, fields)
            else:
                raise MalformedResponse(f"an incremental record of unknown kind {kind!r}")

    def _head(self, label: str, fields: dict, clean_models) -> None:
        mode = fields.get("mode")
        if mode not in ("content", "full", "merge"):
            raise MalformedResponse(f"an incremental head for {label} has mode {mode!r}")
        if mode != "merge" and label not in self.cleanable:
            raise MalformedResponse(
                f"the server would empty {label}, which the route may not clean"
            )
        self.modes[label] = mode
        if fields.get("reason"):
            self.reasons[label] = str(fields["reason"])
        if fields.get("fingerprint"):
            self.fingerprints[label] = str(fields["fingerprint"])
        if mode == "full":
            clean_models([self._model(label)])

    def _keys(self, label: str, fields: dict) -> list[int]:
        pks = fields.get("pks")
        if not isinstance(pks, list) or not all(type(pk) is int for pk in pks):
            raise MalformedResponse(f"an incremental record for {label} has invalid keys")
        return pks

    def _digests(self, label: str, fields: dict) -> None:
        pks = self._keys(label, fields)
        digests = _digests(fields.get("digests", ""))
        if len(digests) != len(pks):
            raise MalformedResponse(f"an incremental record for {label} has keys and digests apart")
        received = self.received.setdefault(label, (array("q"), array("Q")))
        if received[0] and pks and pks[0] <= received[0][-1]:
            raise MalformedResponse(f"the incremental records for {label} are out of key order")
        received[0].extend(pks)
        received[1].extend(digests)
        if self.modes.get(label) == "content":
            # Replaced, as a clean sync would: deleted, then loaded again.
            model = self._model(label)
            for keys in chunks(pks, DELETE_CHUNK):
                queryset = model._base_manager.using(self.using).filter(pk__in=keys)
                delete_rows(model, queryset, self.using)

    def _deleted(self, label: str, fields: dict) -> None:
        if self.modes.get(label) != "content":
            raise MalformedResponse(f"deletions for {label}, which is not compared row by row")
        pks = self._keys(label, fields)
        self.deleted.setdefault(label, array("q")).extend(pks)
        model = self._model(label)
        counts = self.result.counts(label)
        for keys in chunks(pks, DELETE_CHUNK):
            queryset = model._base_manager.using(self.using).filter(pk__in=keys)
            chosen = call_hook("pre_clean", model=model, queryset=queryset, using=self.using)
            if chosen is not None:
                if not isinstance(chosen, models.QuerySet) or chosen.model is not model:
                    raise HookError(f"pre_clean must return a queryset of {model._meta} or None")
                queryset = chosen
            counts.deleted += delete_rows(model, queryset, self.using)

    # -- after the load ----------------------------------------------------------

    def next_state(self) -> dict[str, ModelState]:
        """The state to keep: what the server and this database hold now, per model."""
        states = {}
        for label, mode in self.modes.items():
            if mode == "merge" or label not in self.fingerprints:
                continue
            pks, server = self.received.get(label, (array("q"), array("Q")))
            if mode == "full":
                states[label] = self._fresh(label, pks, server)
            else:
                states[label] = self._updated(label, pks, server)
        return states

    def _local_digests(self, label: str, pks: array) -> array:
        """The local digest of each row of ``pks`` (0 where the row is not here)."""
        queryset = self._model(label)._base_manager.using(self.using)
        if len(pks) > 50_000:
            rows = row_digests(queryset.all())
        else:
            rows = (
                row
                for keys in chunks(list(pks), 1000)
                for row in row_digests(queryset.filter(pk__in=keys))
            )
        count = len(pks)
        local = array("Q", bytes(8 * count))
        position = 0
        for pk, digest in rows:
            while position < count and pks[position] < pk:
                position += 1
            if position < count and pks[position] == pk:
                local[position] = digest
                position += 1
        return local

    def _fresh(self, label: str, pks: array, server: array) -> ModelState:
        return ModelState(
            self.fingerprints.get(label, ""), pks, server, self._local_digests(label, pks)
        )

    def _updated(self, label: str, sent_pks: array, sent_server: array) -> ModelState:
        old = self.previous.get(label) or ModelState()
        sent = ModelState(
            self.fingerprints.get(label, ""),
            sent_pks,
            sent_server,
            self._local_digests(label, sent_pks),
        )
        return spliced(old, self.deleted.get(label, ()), sent)
