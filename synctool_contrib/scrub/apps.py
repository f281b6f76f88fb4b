from django.apps import AppConfig


class ScrubConfig(AppConfig):
    """``synctool_contrib.scrub`` in ``INSTALLED_APPS``: its settings, its checks
    (``synctool.E007`` among them: rules set while the plugin is not enabled)
    and the ``synctool_scrub_report`` command. The hooks are enabled by
    ``SYNCTOOL_PLUGINS``."""

    name = "synctool_contrib.scrub"
    label = "synctool_scrub"
    verbose_name = "synctool scrubbing"

    def ready(self) -> None:
        from synctool_contrib.scrub import checks  # noqa: F401 - registers E007
