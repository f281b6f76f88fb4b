"""What a sync reports back: counts per model, bytes, time and media."""

from dataclasses import dataclass, field

# Media failures named in a summary, at most (the count is always there).
SHOWN_MEDIA_FAILURES = 20


@dataclass
class ModelCounts:
    """Objects of one model: received from the server, written, deleted by clean."""

    received: int = 0
    written: int = 0
    deleted: int = 0
    seconds: float = 0.0


@dataclass
class MediaFailure:
    """One media file that could not be fetched, and why."""

    name: str
    reason: str


@dataclass
class MediaResult:
    downloaded: int = 0
    skipped: int = 0
    failed: list[MediaFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> dict:
        """As JSON (a task's result, the history of syncs): the counts, and the
        first :data:`SHOWN_MEDIA_FAILURES` failures with their reasons."""
        return {
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "failures": [
                {"name": failure.name, "reason": failure.reason}
                for failure in self.failed[:SHOWN_MEDIA_FAILURES]
            ],
        }


@dataclass
class SyncResult:
    """The outcome of one :meth:`synctool.client.Client.sync` call."""

    url: str
    using: str
    dry_run: bool = False
    # The route as named in the call (``"blogs"``, ``"blog/my-first-blog"``).
    route: str = ""
    models: dict[str, ModelCounts] = field(default_factory=dict)
    # The body's bytes decoded; as they travelled (gzip); sent (an incremental state).
    bytes_received: int = 0
    bytes_on_wire: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    media: MediaResult | None = None
    # What the schema gate and the load noticed: migration differences,
    # fields left alone, values left out, content types made, a route that
    # sent no rows (see docs/client.rst).
    notes: list[str] = field(default_factory=list)
    # Values (``"app.model.field"``) and objects (``"app.model"``) left out
    # with ignore_unknown, and how many.
    dropped: dict[str, int] = field(default_factory=dict)
    # The rows the server announced per model: (rows, estimated).
    expected: dict[str, tuple[int, bool]] = field(default_factory=dict)
    # The models whose rows came only as parents of the route's rows (upserted,
    # never cleaned).
    parents: list[str] = field(default_factory=list)
    # Incremental syncs: per model, how it went ("content": only the rows that
    # changed; "full": every row, the reason in ``notes``; "merge": every row,
    # never cleaned).
    modes: dict[str, str] = field(default_factory=dict)
    # The history record of this sync (a synctool.models.SyncRun), if kept.
    run_id: int | None = None
    # sync(verify=True): per model, how the copy compares with the server's
    # rows after the sync (synctool.client.verify.Verdict).
    verdicts: dict = field(default_factory=dict)
    # Whether the rows were committed (media are fetched after the commit).
    committed: bool = False

    def counts(self, label: str) -> ModelCounts:
        """The counts of ``label`` (``app_label.modelname``), created on first use."""
        key = label.lower()
        counts = self.models.get(key)
        if counts is None:
            counts = self.models[key] = ModelCounts()
        return counts

    @property
    def received(self) -> int:
        return sum(c.received for c in self.models.values())

    @property
    def written(self) -> int:
        return sum(c.written for c in self.models.values())

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.models.values())


@dataclass
class Progress:
    """Passed to the ``progress`` callback of ``Client.sync``.

    ``stage`` is ``"clean"``, ``"load"``, ``"check"`` or ``"media"``, in that
    order: clean every route's models, load each route in turn, check the
    constraints and reset the sequences of every route (and, for an
    incremental sync, write its state; then commit), then
    fetch each route's media files.

    ``route`` is the route as named in the call (``"blogs"``; ``""`` for the
    check, which covers every route). ``model`` is the model's label, or
    ``""`` for an event of the whole route: the start of its load (its
    request), the start and end of its media step; and for the check.
    ``count`` is the running total of the stage for the model: rows deleted
    by clean (known at its end), objects received by load, files handled
    (fetched, skipped or failed) by media.

    Each stage of a model starts with an event that is neither ``done`` nor
    a ``batch``, and ends with one whose ``done`` is true and ``seconds`` is
    the time it took. In between, load reports every 10,000 objects and
    every batch written (``batch``: its rows, ``seconds``: its time), media
    every file.
    """

    stage: str
    model: str
    count: int
    bytes_received: int = 0
    route: str = ""
    # What the stage expects: the rows the server announced for the model
    # (load; None for an incremental sync, which moves only what changed),
    # the files to fetch (media).
    total: int | None = None
    # ``total`` is the server database's estimate (a whole large table).
    estimated: bool = False
    # The rows of the batch just written (load), else 0.
    batch: int = 0
    done: bool = False
    seconds: float = 0.0
