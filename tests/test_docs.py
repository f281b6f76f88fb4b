"""The documentation covers the code: every hook, setting, check id, command
option and exception is found in docs/, read from the code, not from a list."""

import argparse
import ast
import inspect
import re
from pathlib import Path

import pytest

import synctool.exceptions
from synctool import hookspecs
from synctool.conf import SynctoolConf
from synctool.management.commands.sync_data import Command as SyncDataCommand
from synctool_contrib.s3.conf import S3Conf
from synctool_contrib.scrub.conf import ScrubConf

# Every setting of the core and of the contrib plugins, with its default.
SETTINGS = {**SynctoolConf._meta.defaults, **ScrubConf._meta.defaults, **S3Conf._meta.defaults}

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def read(page: str) -> str:
    return (DOCS / page).read_text()


def all_docs() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.rglob("*.rst")))


def hook_specs() -> list:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [
        function
        for _, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    ]


def settings_sections() -> dict[str, str]:
    """``{"SYNCTOOL_X": "text of its section"}`` from docs/settings.rst."""
    text = read("settings.rst")
    heading = re.compile(r"^``(SYNCTOOL_\w+)``\n[~\-=^]{4,}\n", re.MULTILINE)
    matches = list(heading.finditer(text))
    sections = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        sections[match.group(1)] = text[match.end() : end]
    return sections


def ids_in(path: Path) -> set[str]:
    """The check ids of a checks module: its docstring's list and its ``id=`` arguments."""
    source = path.read_text()
    docstring = ast.get_docstring(ast.parse(source)) or ""
    listed = {f"synctool.{m}" for m in re.findall(r"^([EW]\d{3})\b", docstring, re.MULTILINE)}
    used = set(re.findall(r"""id=["'](synctool\.[EW]\d{3})["']""", source))
    return listed | used


def check_ids() -> set[str]:
    """Every id of the core's checks modules."""
    return ids_in(ROOT / "synctool" / "checks.py") | ids_in(
        ROOT / "synctool" / "server" / "checks.py"
    )


def contrib_check_ids() -> set[str]:
    """Every id of the contrib plugins' checks modules (synctool_contrib/**/checks.py)."""
    return set().union(*(ids_in(p) for p in (ROOT / "synctool_contrib").rglob("checks.py")))


def sync_data_options() -> list[str]:
    parser = argparse.ArgumentParser()
    SyncDataCommand().add_arguments(parser)
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def synctool_errors() -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(synctool.exceptions, inspect.isclass)
        if issubclass(cls, synctool.exceptions.SynctoolError)
    ]


def test_the_code_has_what_the_docs_are_checked_against():
    assert len(hook_specs()) >= 5
    assert len(SynctoolConf._meta.names) >= 12
    assert {"synctool.E001", "synctool.W001"} <= check_ids()
    assert "--clean" in sync_data_options()
    assert len(synctool_errors()) >= 10


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda spec: spec.__name__)
def test_every_hook_is_documented_with_its_signature(spec):
    signature = f"{spec.__name__}({', '.join(inspect.signature(spec).parameters)})"
    hooks_page = read("hooks.rst")
    # A section titled with the signature, rendering the spec's docstring.
    assert re.search(rf"^{re.escape(signature)}\n-+\n", hooks_page, re.MULTILINE), signature
    assert f".. autofunction:: synctool.hookspecs.{spec.__name__}" in hooks_page


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_is_documented_with_its_default(name):
    sections = settings_sections()
    assert name in sections, f"docs/settings.rst has no section for {name}"
    found = re.search(r"^Default: ``(.+?)``$", sections[name], re.MULTILINE)
    assert found, f"the section of {name} does not say 'Default: ``...``'"
    assert ast.literal_eval(found.group(1)) == SETTINGS[name]


def test_settings_page_documents_no_setting_that_does_not_exist():
    assert set(settings_sections()) <= set(SETTINGS)


@pytest.mark.parametrize("check_id", sorted(check_ids()))
def test_every_check_id_is_documented(check_id):
    assert re.search(rf"^``{re.escape(check_id)}``\n-+\n", read("checks.rst"), re.MULTILINE)


@pytest.mark.parametrize("check_id", sorted(contrib_check_ids()))
def test_every_contrib_check_id_is_listed(check_id):
    assert re.search(rf"^``{re.escape(check_id)}``  ", read("checks.rst"), re.MULTILINE)


@pytest.mark.parametrize("option", sync_data_options())
def test_every_sync_data_option_is_documented(option):
    assert re.search(rf"^``{re.escape(option)}\b", read("command_line.rst"), re.MULTILINE)


@pytest.mark.parametrize("error", synctool_errors(), ids=lambda cls: cls.__name__)
def test_every_error_is_documented(error):
    page = read("client.rst")
    assert f".. autoexception:: synctool.exceptions.{error.__name__}" in page
    assert re.search(rf"[─└├]── {error.__name__}$|^    {error.__name__}$", page, re.MULTILINE)


def test_every_page_is_in_a_toctree():
    """Sphinx warns about orphans too; this says which page, without Sphinx."""
    text = all_docs()
    for path in DOCS.rglob("*.rst"):
        page = path.relative_to(DOCS).with_suffix("").as_posix()
        if page == "index" or page.startswith("_build/"):
            continue
        if page.startswith("contrib/"):
            assert "   contrib/*" in read("contrib.rst")
            continue
        assert re.search(rf"^   {re.escape(page)}$", text, re.MULTILINE), page


def test_literalincluded_files_exist():
    for path in DOCS.rglob("*.rst"):
        for target in re.findall(r"^\.\. literalinclude:: (\S+)", path.read_text(), re.M):
            assert (path.parent / target).is_file(), f"{path.name}: {target}"


def client_authorization() -> str:
    """The ``Authorization`` header the client sends, from the code itself."""
    from synctool.client.transport import build_session

    with build_session("TOKEN") as session:
        return session.headers["Authorization"]


def test_the_docs_say_how_the_client_sends_its_token():
    """settings.rst once said the Basic user name while client.rst said Bearer."""
    header = client_authorization()
    scheme = header.split()[0]
    other = {"Bearer": "Basic", "Basic": "Bearer"}[scheme]
    assert header == f"{scheme} TOKEN"
    token_setting = settings_sections()["SYNCTOOL_CLIENT_TOKEN"]
    assert f"``Authorization: {scheme}``" in token_setting
    assert other not in token_setting
    client_page = read("client.rst").split("The Client class")[0]
    assert f"``Authorization: {header}``" in client_page
    assert other not in client_page
    # The server accepts both; the pages that name both say which the client sends.
    for page in ("routes.rst", "threat_model.rst"):
        text = " ".join(read(page).split())
        assert re.search(
            rf"``Authorization: {scheme}( TOKEN)?`` \(what :class:`~synctool.client.Client` "
            rf"sends|:class:`~synctool.client.Client` sends the token as ``Authorization: "
            rf"{scheme}",
            text,
        ), page
