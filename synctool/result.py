"""What a sync reports back: counts per model, bytes, time and media."""

from dataclasses import dataclass, field


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


@dataclass
class SyncResult:
    """The outcome of one :meth:`synctool.client.Client.sync` call."""

    url: str
    using: str
    dry_run: bool = False
    models: dict[str, ModelCounts] = field(default_factory=dict)
    # The body's bytes decoded; as they travelled (gzip); sent (an incremental state).
    bytes_received: int = 0
    bytes_on_wire: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    media: MediaResult | None = None
    # What the schema gate and the load noticed: migration differences,
    # fields left alone, values left out (see docs/client.rst).
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

    ``stage`` is ``"clean"``, ``"load"`` or ``"media"``; ``count`` is the
    running total of objects (or files) for ``model`` in that stage.
    """

    stage: str
    model: str
    count: int
    bytes_received: int = 0
