"""The history of syncs, kept by the client in the database it syncs into.

One :class:`SyncRun` per route per sync: written when the sync starts (in
autocommit, outside the sync's transaction) and completed when it ends, so
a failed sync, whose rows are rolled back, still leaves its record. The
last successful incremental run of a route into a database also holds the
incremental state (see :mod:`synctool.client.increment`), its rows in
:class:`SyncStateChunk`.
"""

from django.db import models

from synctool.origin import CELERY, COMMAND, DJANGO_TASK, PYTHON


class SyncRun(models.Model):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry-run"
    STATUSES = [
        (RUNNING, "running"),
        (SUCCEEDED, "succeeded"),
        (FAILED, "failed"),
        (DRY_RUN, "dry run (nothing written)"),
    ]

    route = models.CharField(max_length=500, help_text="The route's path, as asked.")
    endpoint = models.CharField(
        max_length=1000, help_text="The server's base URL, credentials masked."
    )
    database = models.CharField(max_length=100, help_text="The database alias synced into.")
    host = models.CharField(max_length=255, blank=True, help_text="The machine that ran it.")
    ORIGINS = [
        (COMMAND, "sync_data"),
        (PYTHON, "Python code"),
        (CELERY, "Celery task"),
        (DJANGO_TASK, "Django task"),
    ]
    origin = models.CharField(
        max_length=20, choices=ORIGINS, default=PYTHON, help_text="What started it."
    )
    task_id = models.CharField(
        max_length=255, blank=True, help_text="The id of the Celery or Django task that ran it."
    )
    started = models.DateTimeField(db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=STATUSES, default=RUNNING)
    error = models.TextField(blank=True, help_text="The error message of a failed sync.")
    clean = models.BooleanField(default=False)
    incremental = models.BooleanField(default=False)
    # {label: {"received", "written", "deleted", "mode", "rolled_back"}}; mode only
    # when incremental, rolled_back (true) only when the run failed before its commit.
    counts = models.JSONField(default=dict, blank=True)
    media = models.JSONField(
        null=True,
        blank=True,
        help_text="The media files fetched after the commit: downloaded, skipped, failed "
        "(the first failures named with their reasons); empty when none were asked for.",
    )
    bytes_received = models.BigIntegerField(default=0, help_text="The bodies, decoded.")
    bytes_on_wire = models.BigIntegerField(
        default=0, help_text="The bodies as they travelled (compressed), and the state sent."
    )
    # The incremental state's models, with the server's fingerprint of each
    # and what this database's digests stood for ({label: {"server": ...,
    # "local": ...}}, see synctool.rowhash.local_mark); its rows are in
    # SyncStateChunk. Kept only on the newest successful incremental run of
    # a route into a database.
    state = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started", "-id"]
        verbose_name = "sync"
        verbose_name_plural = "history of syncs"
        indexes = [models.Index(fields=["route", "database", "status"])]

    def __str__(self) -> str:
        return f"{self.route} into {self.database} at {self.started:%Y-%m-%d %H:%M:%S}"

    @property
    def seconds(self) -> float | None:
        if self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()

    @property
    def rolled_back(self) -> bool:
        """Whether the run failed before its commit: the rows it wrote are not there."""
        return any(entry.get("rolled_back") for entry in self.counts.values())

    @property
    def rows(self) -> int:
        """The rows the run wrote (of a rolled-back run: before it failed)."""
        return sum(int(entry.get("written", 0)) for entry in self.counts.values())

    @property
    def media_text(self) -> str:
        """The media step as the history shows it: ``"36 downloaded, 3 failed"``,
        or ``""`` when no media files were asked for."""
        if not self.media:
            return ""
        text = f"{self.media.get('downloaded', 0)} downloaded"
        if self.media.get("skipped"):
            text += f", {self.media['skipped']} skipped"
        if self.media.get("failed"):
            text += f", {self.media['failed']} failed"
        return text

    @property
    def rows_text(self) -> str:
        """:attr:`rows` as the history shows it: ``"58"``, ``"58 rolled back"``."""
        return f"{self.rows} rolled back" if self.rolled_back else str(self.rows)


class SyncStateChunk(models.Model):
    """Up to a few thousand rows of one model's incremental state, in key order.

    Each row of the model the last incremental sync left: its key, the
    server's digest of it and this database's (see
    :mod:`synctool.client.statestore`). Written in the sync's own transaction,
    so the state always matches the data it describes.
    """

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="state_chunks")
    model = models.CharField(max_length=200)
    first_key = models.BigIntegerField(help_text="The chunk's first key.")
    rows = models.IntegerField()
    data = models.BinaryField(help_text="Keys and digests, compressed.")

    class Meta:
        ordering = ["run", "model", "first_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "model", "first_key"], name="synctool_state_chunk_unique"
            )
        ]
        verbose_name = "incremental state chunk"

    def __str__(self) -> str:
        return f"{self.model} from {self.first_key} ({self.rows} rows)"
