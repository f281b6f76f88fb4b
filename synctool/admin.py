"""The history of syncs in the Django admin: read-only, but old records may be pruned."""

from django.contrib import admin

from synctool.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "started",
        "route",
        "database",
        "status",
        "written",
        "media_files",
        "duration",
        "host",
        "origin",
    ]
    list_filter = ["status", "database", "incremental", "origin"]
    search_fields = ["route", "endpoint", "error", "host", "task_id"]
    date_hierarchy = "started"
    exclude = ["state"]

    @admin.display(description="rows")
    def written(self, run: SyncRun) -> str:
        return run.rows_text

    @admin.display(description="media")
    def media_files(self, run: SyncRun) -> str:
        return run.media_text

    @admin.display(description="seconds", ordering="finished")
    def duration(self, run: SyncRun) -> str:
        seconds = run.seconds
        return "" if seconds is None else f"{seconds:.2f}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Old records may be pruned; the newest successful incremental run
        # holds the state, and deleting it only makes the next sync full.
        return super().has_delete_permission(request, obj)
