"""The plugin manager: built lazily on first use, once, and rebuilt when
``SYNCTOOL_PLUGINS`` changes (``override_settings`` in tests).

Plugins come from three places, registered in this order:

1. ``DEFAULT_PLUGINS``: synctool's own fallbacks, all ``trylast``;
2. ``settings.SYNCTOOL_PLUGINS``: dotted module paths;
3. the ``synctool`` entry-point group of installed distributions.
"""

import importlib
import threading

import pluggy
from django.core.signals import setting_changed
from django.dispatch import receiver

from synctool import hookspecs
from synctool.conf import settings
from synctool.exceptions import PluginImportError

DEFAULT_PLUGINS = (
    "synctool.default_plugins.sequences",
    "synctool.default_plugins.media",
)

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def _import_plugin(dotted_path: str, origin: str):
    try:
        return importlib.import_module(dotted_path)
    except Exception as exc:
        raise PluginImportError(
            f"synctool plugin {dotted_path!r} ({origin}) could not be imported: {exc}"
        ) from exc


def build_plugin_manager() -> pluggy.PluginManager:
    """Build a fresh manager from the defaults, the settings and entry points."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for path in DEFAULT_PLUGINS:
        manager.register(_import_plugin(path, "built-in"), name=path)
    for path in settings.SYNCTOOL_PLUGINS:
        if manager.get_plugin(path) is None:
            manager.register(_import_plugin(path, "SYNCTOOL_PLUGINS"), name=path)
    try:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    except Exception as exc:
        raise PluginImportError(
            f"a plugin of the 'synctool' entry-point group failed to load: {exc}"
        ) from exc
    # A misspelt hook implementation is an error, not a silent no-op.
    manager.check_pending()
    return manager


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                _manager = build_plugin_manager()
    return _manager


def get_hooks():
    """The hook relay: ``get_hooks().transform_object(obj=..., side=...)``."""
    return get_plugin_manager().hook


def is_implemented(hook_name: str) -> bool:
    """Whether any registered plugin implements ``hook_name``.

    Lets hot loops skip a per-object hook call when nobody listens.
    """
    return bool(getattr(get_hooks(), hook_name).get_hookimpls())


def reset_plugin_manager() -> None:
    """Forget the manager; the next use builds it again."""
    global _manager
    with _lock:
        _manager = None


@receiver(setting_changed)
def _on_setting_changed(setting, **kwargs):
    if setting == "SYNCTOOL_PLUGINS":
        reset_plugin_manager()
