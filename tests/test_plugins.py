"""The plugin manager: defaults, settings, entry points, laziness, errors."""

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from synctool import hookspecs
from synctool.exceptions import PluginImportError
from synctool.plugins import DEFAULT_PLUGINS, get_plugin_manager, is_implemented
from tests.conftest import server_env


def names():
    return {name for name, _ in get_plugin_manager().list_name_plugin()}


def test_the_defaults_are_always_registered_and_settings_only_add():
    assert set(DEFAULT_PLUGINS) <= names()
    with override_settings(SYNCTOOL_PLUGINS=["tests.plugins"]):
        assert set(DEFAULT_PLUGINS) | {"tests.plugins"} <= names()
    with override_settings(SYNCTOOL_PLUGINS=[]):
        assert set(DEFAULT_PLUGINS) <= names()


def test_manager_is_built_once():
    assert get_plugin_manager() is get_plugin_manager()


def test_rebuilt_when_the_setting_changes():
    before = get_plugin_manager()
    with override_settings(SYNCTOOL_PLUGINS=["tests.plugins"]):
        assert "tests.plugins" in names()
        assert is_implemented("transform_object")
    assert get_plugin_manager() is not before
    assert "tests.plugins" not in names()
    assert not is_implemented("transform_object")


def test_failing_plugin_is_named():
    with (
        override_settings(SYNCTOOL_PLUGINS=["tests.does_not_exist"]),
        pytest.raises(PluginImportError, match="tests.does_not_exist"),
    ):
        get_plugin_manager()


def test_misspelt_hook_is_refused(tmp_path, monkeypatch):
    (tmp_path / "typo_plugin.py").write_text(
        "from synctool import hookimpl\n\n@hookimpl\ndef transform_objekt(obj):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with (
        override_settings(SYNCTOOL_PLUGINS=["typo_plugin"]),
        pytest.raises(Exception, match="transform_objekt"),
    ):
        get_plugin_manager()


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch):
    dist = tmp_path / "synctool_ep_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: synctool-ep-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[synctool]\nep_demo = ep_demo_plugin\n")
    (tmp_path / "ep_demo_plugin.py").write_text(
        "from synctool import hookimpl\n\n@hookimpl\ndef post_save(model):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(SYNCTOOL_PLUGINS=[]):
        assert "ep_demo" in names()
        assert is_implemented("post_save")


def test_every_spec_is_documented_in_its_docstring():
    for name in ("pre_clean", "transform_object", "post_save", "fetch_media", "reset_sequences"):
        spec = getattr(hookspecs, name)
        assert ":returns:" in spec.__doc__, name


def test_the_core_never_imports_a_contrib_plugin():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "synctool"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(root)}: {n}" for n in names if n.startswith("synctool_contrib")
            ]
    assert offenders == []


# Django 6.1's model checks ask each database whether it supports JSONField.
@pytest.mark.django_db(databases="__all__")
def test_plugin_checks_come_through_a_hook_and_a_misspelt_one_is_refused(tmp_path, monkeypatch):
    from django.core import checks

    (tmp_path / "checked_plugin.py").write_text(
        "from django.core.checks import Warning\n"
        "from synctool import hookimpl\n\n"
        "@hookimpl\n"
        "def system_checks(app_configs):\n"
        "    return [Warning('from a plugin', id='myplugin.W001')]\n"
    )
    (tmp_path / "misspelt_plugin.py").write_text(
        "from synctool import hookimpl\n\n@hookimpl\ndef synctool_checks(app_configs):\n"
        "    return []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def ids():
        return [m.id for m in checks.run_checks() if "W001" in m.id or "E006" in m.id]

    with override_settings(SYNCTOOL_PLUGINS=["checked_plugin"]):
        assert ids() == ["myplugin.W001"]
    with override_settings(SYNCTOOL_PLUGINS=["misspelt_plugin"]):
        assert ids() == ["synctool.E006"]


def test_loading_the_default_plugins_imports_no_client_module(tmp_path):
    # A server loads the plugins on its first request: the built-in media
    # download (requests, the client's loader) is imported only to fetch a file.
    code = (
        "import sys, django; django.setup();"
        "from synctool.plugins import get_plugin_manager; get_plugin_manager();"
        "print(sorted(m for m in sys.modules"
        " if m.startswith('synctool.client') or m == 'requests'))"
    )
    env = {**os.environ, **server_env(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
