from django.apps import AppConfig


class SynctoolConfig(AppConfig):
    name = "synctool"
    verbose_name = "synctool"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing conf installs the SYNCTOOL_* defaults; importing checks
        # registers the system checks. Nothing else happens at start-up:
        # plugins are loaded lazily on first use.
        from synctool import checks, conf  # noqa: F401
