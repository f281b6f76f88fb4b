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
loaded again as a clean sync would). After the load, in the sync's own
transaction, the new state is written (:mod:`synctool.client.statestore`):
the old one, less what was deleted, with the rows received and their local
digests. Everything goes chunk by chunk and block by block: memory does
not grow with the rows.
"""

from __future__ import annotations

import base64
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import IO

from django.apps import apps
from django.db import models

from synctool.client.batches import call_hook
from synctool.client.clean import Cleaner, raw_delete
from synctool.client.statestore import (
    ChunkWriter,
    KeyDigestSpool,
    Rows,
    StoredState,
    state_marks,
)
from synctool.exceptions import HookError, MalformedResponse, UnexpectedModel
from synctool.identity import chunks
from synctool.meta import auto_through_models
from synctool.result import SyncResult
from synctool.rowhash import DigestRanges, local_mark, row_digest_arrays, row_digests
from synctool.wire.state import StateUpload, StreamedState

CONTROL_MODEL = "synctool.increment"
DELETE_CHUNK = 500
LOOKUP_CHUNK = 1000


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


class Ahead:
    """An iterator of rows in key order that can be read up to a key."""

    def __init__(self, rows: Iterable[tuple]):
        self._rows = iter(rows)
        self._next = next(self._rows, None)

    def below(self, key: int | None) -> list[tuple]:
        """The rows whose key (first item) is below ``key`` (every one left: None)."""
        taken = []
        while self._next is not None and (key is None or self._next[0] < key):
            taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def upload_rows(old: Rows, now_pks: array, now_local: array) -> tuple[array, array]:
    """The keys to send and the server's digest of each: where the local row is
    unchanged since the last sync, the digest kept; else 0 ("send it again").

    ``old``: a chunk of the state; ``now_pks``, ``now_local``: the keys and
    local digests of the local rows in the same key range.
    """
    if now_pks == old.pks:
        # The usual case, the laptop added and deleted nothing here.
        if now_local == old.local:
            return old.pks, old.server
        server = array("Q", old.server)
        for index, (was, is_) in enumerate(zip(old.local, now_local, strict=True)):
            if was != is_:
                server[index] = 0
        return old.pks, server
    pks, server = array("q"), array("Q")
    position, held = 0, len(old.pks)
    for pk, digest in zip(now_pks, now_local, strict=True):
        while position < held and old.pks[position] < pk:
            pks.append(old.pks[position])  # gone here: ask for it again
            server.append(0)
            position += 1
        if position < held and old.pks[position] == pk:
            pks.append(pk)
            server.append(old.server[position] if old.local[position] == digest else 0)
            position += 1
        else:
            pks.append(pk)  # a row the state does not know
            server.append(0)
    pks.extend(old.pks[position:])
    server.extend(array("Q", bytes(8 * (held - position))))
    return pks, server


def spliced(old: Rows, gone: list[int], got: list[tuple[int, int, int]]) -> Rows:
    """``old`` without the keys ``gone``, with the rows ``got`` (``(key, server
    digest, local digest)``), all in key order; copied slice by slice."""
    events = sorted({*gone, *(pk for pk, _, _ in got)})
    adds = {pk: (server, local) for pk, server, local in got}
    new = Rows.empty()
    start = 0
    for pk in events:
        end = bisect_left(old.pks, pk, start)
        new.extend(old, start, end)
        start = end + 1 if end < len(old.pks) and old.pks[end] == pk else end
        added = adds.get(pk)
        if added is not None:
            new.pks.append(pk)
            new.server.append(added[0])
            new.local.append(added[1])
    new.extend(old, start)
    return new


class RouteIncrement:
    """One route's incremental sync: the state it sends, the records it applies,
    the state it leaves.

    :param previous: the state kept by the last incremental sync of this
        route into ``using`` (None: the first one, which is full).
    :param key_identified: the models identified by natural key: references
        to them count by natural key in the local digests, as in the server's
        (a user renamed or made again here sends the rows naming it again).
    :param left_out: the route's models this code does not have (left out
        with ``ignore_unknown``): no state is kept for them, and their
        control records are passed over, as their objects are.
    """

    def __init__(
        self,
        using: str,
        labels: list[str],
        cleanable: list[str],
        previous: StoredState | None,
        result: SyncResult,
        key_identified: Iterable[str] = (),
        left_out: Iterable[str] = (),
    ):
        self.using = using
        self.key_identified = frozenset(key_identified)
        self.left_out = frozenset(left_out)
        self.labels = [label for label in labels if label not in self.left_out]
        self.cleanable = set(cleanable) - self.left_out
        self.previous = previous
        self.result = result
        self.modes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        # Why a model of the previous state is synced in full all the same,
        # found here (the server, not sent its state, says only "no earlier state").
        self.local_reasons: dict[str, str] = {}
        self.local_marks: dict[str, str] = {}
        self.fingerprints: dict[str, str] = {}
        self.received: dict[str, KeyDigestSpool] = {}
        self.deleted: dict[str, KeyDigestSpool] = {}

    def _model(self, label: str) -> type[models.Model]:
        return apps.get_model(label)

    def local_mark(self, label: str) -> str:
        """What this database's digests of ``label`` stand for now (read once)."""
        if label not in self.local_marks:
            self.local_marks[label] = local_mark(self._model(label), self.using)
        return self.local_marks[label]

    def tracked(self) -> list[str]:
        """The route's models the previous state holds, in the route's order,
        less those whose table changed here since (synced in full)."""
        if self.previous is None:
            return []
        tracked = []
        for label in self.labels:
            if label not in self.cleanable or label not in self.previous:
                continue
            kept = self.previous.local_marks.get(label)
            if kept == self.local_mark(label):
                tracked.append(label)
            elif kept is None:
                self.local_reasons[label] = "the state was kept by an older synctool"
            else:
                self.local_reasons[label] = (
                    "its table or synctool changed in this database since the last sync"
                )
        return tracked

    def state_models(self) -> list[tuple[str, str]]:
        """``(label, fingerprint)`` of the models whose state is sent, in order."""
        return [(label, self.previous.fingerprints[label]) for label in self.tracked()]

    def state_blocks(self) -> Iterator[tuple[str, array, array]]:
        """The state the server compares with, block by block: each key held
        with the server's digest of it at the last sync, 0 where the local row
        changed since (see :func:`upload_rows`); no local digests."""
        for label in self.tracked():
            model = self._model(label)
            everything = model._base_manager.using(self.using).all()
            local = DigestRanges(row_digest_arrays(everything, self.key_identified))
            stored = self.previous.chunks(label)
            for index, chunk in enumerate(stored):
                upper = stored[index + 1].first_key if index + 1 < len(stored) else None
                yield label, *upload_rows(chunk.rows(), *local.below(upper))
            keys, _ = local.below(None)  # no stored chunk: every local row is new
            if keys:
                yield label, keys, array("Q", bytes(8 * len(keys)))

    def upload(self) -> tuple[IO[bytes], int]:
        """The state as a file to send and its length (for a server that needs one)."""
        upload = StateUpload(self.state_models())
        for label, pks, digests in self.state_blocks():
            upload.add(label, pks, digests)
        return upload.finish()

    def streamed(self) -> StreamedState:
        """The state as a body made as it is sent (for a server that reads chunked
        bodies): the server compares each block while the next is read here."""
        return StreamedState(self.state_models(), self.state_blocks)

    # -- the response's control records ---------------------------------------

    def apply(self, objects: Iterable[dict], cleaner: Cleaner) -> Iterator[dict]:
        """``objects`` without the control records, which are applied on the way.

        ``cleaner`` (the loader's) empties the models synced in full (children
        first, ``pre_clean``) and is told of every row deleted here, so that
        local rows outside the sync still pointing at one are found and
        named before the commit, as after ``--clean``.
        """
        for obj in objects:
            if obj["model"] != CONTROL_MODEL:
                yield obj
                continue
            fields = obj["fields"]
            label = fields.get("model")
            if label in self.left_out:
                continue
            if label not in self.labels:
                raise UnexpectedModel(
                    f"an incremental record names {label!r}, which the route did not announce"
                )
            kind = fields.get("kind")
            if kind == "head":
                self._head(label, fields, cleaner)
            elif kind == "digests":
                self._digests(label, fields, cleaner)
            elif kind == "deleted":
                self._deleted(label, fields, cleaner)
            else:
                raise MalformedResponse(f"an incremental record of unknown kind {kind!r}")

    def _head(self, label: str, fields: dict, cleaner: Cleaner) -> None:
        mode = fields.get("mode")
        if mode not in ("content", "full", "merge"):
            raise MalformedResponse(f"an incremental head for {label} has mode {mode!r}")
        if mode != "merge" and label not in self.cleanable:
            raise MalformedResponse(
                f"the server would empty {label}, which the route may not clean"
            )
        self.modes[label] = mode
        if label in self.local_reasons:
            self.reasons[label] = self.local_reasons[label]
        elif fields.get("reason"):
            self.reasons[label] = str(fields["reason"])
        if fields.get("fingerprint"):
            self.fingerprints[label] = str(fields["fingerprint"])
        if mode == "full":
            cleaner.clean([self._model(label)])

    def _keys(self, label: str, fields: dict) -> list[int]:
        pks = fields.get("pks")
        if not isinstance(pks, list) or not all(type(pk) is int for pk in pks):
            raise MalformedResponse(f"an incremental record for {label} has invalid keys")
        return pks

    def _digests(self, label: str, fields: dict, cleaner: Cleaner) -> None:
        if self.modes.get(label) not in ("content", "full"):
            raise MalformedResponse(f"digests for {label}, which is not compared row by row")
        pks = self._keys(label, fields)
        digests = _digests(fields.get("digests", ""))
        if len(digests) != len(pks):
            raise MalformedResponse(f"an incremental record for {label} has keys and digests apart")
        self.received.setdefault(label, KeyDigestSpool()).append(pks, digests)
        if self.modes[label] == "content":
            # Replaced, as a clean sync would: deleted, then loaded again.
            model = self._model(label)
            cleaner.note_deleted(model, pks)
            for keys in chunks(pks, DELETE_CHUNK):
                queryset = model._base_manager.using(self.using).filter(pk__in=keys)
                delete_rows(model, queryset, self.using)

    def _deleted(self, label: str, fields: dict, cleaner: Cleaner) -> None:
        if self.modes.get(label) != "content":
            raise MalformedResponse(f"deletions for {label}, which is not compared row by row")
        pks = self._keys(label, fields)
        self.deleted.setdefault(label, KeyDigestSpool()).append(
            pks, array("Q", bytes(8 * len(pks)))
        )
        model = self._model(label)
        cleaner.note_deleted(model, pks)
        counts = self.result.counts(label)
        for keys in chunks(pks, DELETE_CHUNK):
            queryset = model._base_manager.using(self.using).filter(pk__in=keys)
            chosen = call_hook("pre_clean", model=model, queryset=queryset, using=self.using)
            if chosen is not None:
                if not isinstance(chosen, models.QuerySet) or chosen.model is not model:
                    raise HookError(f"pre_clean must return a queryset of {model._meta} or None")
                queryset = chosen
            counts.deleted += delete_rows(model, queryset, self.using)

    # -- after the load, before the commit ------------------------------------------

    def received_keys(self, label: str) -> Iterator[int]:
        """The keys of the rows of ``label`` the server sent (deleted, then loaded)."""
        spool = self.received.get(label)
        return spool.keys() if spool is not None else iter(())

    def deleted_keys(self, label: str) -> Iterator[int]:
        """The keys of the rows of ``label`` deleted because gone from the server."""
        spool = self.deleted.get(label)
        return spool.keys() if spool is not None else iter(())

    def save_state(self, run_id: int) -> dict[str, dict]:
        """Write the state this sync leaves for run ``run_id`` (in the sync's
        transaction): what the server and this database hold now, per model.
        Returns the run's ``state`` (:func:`~synctool.client.statestore.state_marks`)."""
        kept = {}
        for label, mode in self.modes.items():
            if mode == "merge" or label not in self.fingerprints:
                continue
            writer = ChunkWriter(run_id, label, self.using)
            if mode == "full":
                self._write_fresh(label, writer)
            else:
                self._write_updated(label, writer)
            writer.flush()
            kept[label] = self.fingerprints[label]
        for spool in (*self.received.values(), *self.deleted.values()):
            spool.close()
        return state_marks(kept, {label: self.local_mark(label) for label in kept})

    def _received_rows(self, label: str) -> Iterator[tuple[int, int, int]]:
        """``(key, server digest, local digest)`` of every row received, in key
        order, the local digest read after the load (0: the row is not here)."""
        spool = self.received.get(label)
        if spool is None:
            return
        queryset = self._model(label)._base_manager.using(self.using)
        for keys, server in spool.blocks():
            local = {}
            for part in chunks(list(keys), LOOKUP_CHUNK):
                local.update(row_digests(queryset.filter(pk__in=part), self.key_identified))
            for pk, digest in zip(keys, server, strict=True):
                yield pk, digest, local.get(pk, 0)

    def _write_fresh(self, label: str, writer: ChunkWriter) -> None:
        """A model synced in full: every row the server sent, with its local digest."""
        spool = self.received.get(label)
        if spool is None:
            return
        queryset = self._model(label)._base_manager.using(self.using)
        local = DigestRanges(row_digest_arrays(queryset.all(), self.key_identified))
        for keys, server in spool.blocks():
            here_pks, here = local.below(keys[-1] + 1)
            if here_pks != keys:  # rows not here (0), or here only (left out)
                found = dict(zip(here_pks, here, strict=True))
                here = array("Q", (found.get(pk, 0) for pk in keys))
            writer.add(Rows(keys, server, here))

    def _write_updated(self, label: str, writer: ChunkWriter) -> None:
        """A model compared row by row: the old state, less the rows deleted, with
        the rows received; chunks without a change are taken over as they are."""
        got = Ahead(self._received_rows(label))
        gone_spool = self.deleted.get(label)
        gone = Ahead((pk,) for pk in (gone_spool.keys() if gone_spool is not None else ()))
        stored = self.previous.chunks(label) if self.previous and label in self.previous else []
        for index, chunk in enumerate(stored):
            upper = stored[index + 1].first_key if index + 1 < len(stored) else None
            arrived = got.below(upper)
            removed = [pk for (pk,) in gone.below(upper)]
            if not arrived and not removed:
                writer.keep(chunk)
                continue
            writer.add(spliced(chunk.rows(), removed, arrived))
        rest = got.below(None)
        if rest:
            writer.add(
                Rows(
                    array("q", (pk for pk, _, _ in rest)),
                    array("Q", (server for _, server, _ in rest)),
                    array("Q", (local for _, _, local in rest)),
                )
            )
