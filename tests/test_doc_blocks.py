"""Every code block of README.rst and docs/quickstart.rst, run as written.

The project is made as the docs assume: ``django-admin startproject
myproject``, ``startapp myapp``, and ``"synctool"`` and
``"django.contrib.sites"`` added to ``INSTALLED_APPS`` (what the pages ask);
a small ``blog`` app (``Blog``, ``Post``) stands for the one the
routes-in-settings block names. Each Python block goes into the file its
first line names (appended, as a reader adds it to a file ``startproject``
made), each console command runs in the project, against the project served
by gunicorn on 127.0.0.1 with a token from the environment. The server is
one copy of the project and the laptop another (the same code, its own
database). What a reader replaces is all that is replaced: the server's
address (``https://myserver.com``) by the live server's.

Each block is a test of its own: passed when it ran (or is the same text as
a block that ran), skipped with the reason when it cannot run here, naming
what checks it instead. A block this file has no plan for fails, so a new
block cannot go untested unnoticed.

The project is on SQLite whatever the backend under test (the blocks do not
depend on the database): it runs in the SQLite run only.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TOKEN, start_gunicorn, stop_server
from tests.docblocks import Block, code_blocks

PAGES = ["docs/quickstart.rst", "README.rst"]
BLOCKS = [block for page in PAGES for block in code_blocks(page)]
SERVER = "https://myserver.com"

# Blocks that cannot run inside the test suite, by first line: why, and what
# checks them instead.
ELSEWHERE = {
    "make demo": (
        "make test is the command that runs this suite, and make demo builds its own "
        "virtualenv and site (a minute): .ci/run runs both (checked here)"
    ),
    'pip install "/path/to/synctool[postgres]"': (
        "installs into a virtualenv: tests/test_packaging.py builds its wheel from the git "
        "line (the host replaced by a git copy of this checkout), checks the extras both "
        "lines name, and installs the wheel into a fresh virtualenv, as the checkout line "
        "does (SQLite run)"
    ),
}

BLOG_MODELS = """from django.db import models


class Blog(models.Model):
    name = models.CharField(max_length=100)


class Post(models.Model):
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
"""

pytestmark = pytest.mark.skipif(
    os.environ.get("SYNCTOOL_TEST_DB", "sqlite") != "sqlite",
    reason="the docs' project runs on SQLite, in the SQLite run only",
)


def block_with(first_line: str, page: str = "docs/quickstart.rst") -> Block:
    (block,) = [b for b in BLOCKS if b.page == page and b.first_line == first_line]
    return block


class Project:
    """The docs' project: a server copy, a laptop copy, commands run in either."""

    def __init__(self, root: Path):
        self.root = root
        self.server = root / "server"
        self.laptop = root / "laptop"
        self.outcomes: dict[str, None] = {}  # the ids of the blocks that ran
        self.base_url = ""
        self.original_urls = ""  # startproject's urls.py

    def env(self, **extra: str) -> dict:
        """The environment of a user's shell: no test settings, no test path."""
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}

    def run(self, command: str, where: Path, **env: str) -> str:
        """Run a console command as a shell would, in ``where``; its output."""
        result = subprocess.run(
            command, shell=True, cwd=where, env=self.env(**env), capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"$ {command}\n{result.stdout}{result.stderr}"
        return result.stdout + result.stderr

    def append(self, block: Block, path: Path) -> None:
        """Add a Python block to the file it belongs to, as a reader adds it."""
        path.write_text(path.read_text() + "\n" + self.served(block.text))
        self.outcomes[block.id] = None

    def served(self, text: str) -> str:
        return text.replace(SERVER, self.base_url)

    def rows(self, where: Path, sql: str) -> list[tuple]:
        with sqlite3.connect(where / "db.sqlite3") as db:
            return db.execute(sql).fetchall()


def make_project(project: Project) -> None:
    """startproject, startapp, INSTALLED_APPS, the server's blocks, migrate."""
    server = project.server
    server.mkdir()
    project.run(f"django-admin startproject myproject {server}", server)
    project.run("python manage.py startapp myapp", server)
    project.run("python manage.py startapp blog", server)
    (server / "blog" / "models.py").write_text(BLOG_MODELS)
    settings = server / "myproject" / "settings.py"
    settings.write_text(
        settings.read_text() + '\nINSTALLED_APPS += ["django.contrib.sites", "synctool", "blog"]\n'
    )
    project.original_urls = (server / "myproject" / "urls.py").read_text()
    for first_line in ("# myapp/views.py", "# myproject/settings.py", "# myproject/urls.py"):
        project.append(block_with(first_line), server / first_line.removeprefix("# "))
    project.run("python manage.py makemigrations blog -v 0", server)
    project.run("python manage.py migrate -v 0", server)


def add_server_data(project: Project) -> None:
    with sqlite3.connect(project.server / "db.sqlite3") as db:
        db.execute("INSERT INTO django_site (domain, name) VALUES ('docs.example.org', 'docs')")
        db.execute("INSERT INTO blog_blog (id, name) VALUES (7, 'Notes')")
        db.execute("INSERT INTO blog_post (blog_id, title) VALUES (7, 'First'), (7, 'Second')")


def routes_in_settings(project: Project, where: Path) -> None:
    """The 'Routes in settings' block: steps 1 and 2 written as settings (a
    copy of the server whose urls.py is startproject's plus the block's)."""
    block = block_with("# settings.py")
    settings_half, urls_half = block.text.split("# urls.py\n")
    settings = where / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + settings_half)
    (where / "myproject" / "urls.py").write_text(project.original_urls + "\n" + urls_half)


def serve(project: Project, where: Path):
    env = {"DJANGO_SETTINGS_MODULE": "myproject.settings", "PYTHONPATH": str(where)}
    env["SYNCTOOL_API_TOKEN"] = TOKEN
    return start_gunicorn(where, "myproject.wsgi:application", env, workers=1, cwd=where)


def run_the_client_blocks(project: Project, settings_server_url: str) -> None:
    laptop, token = project.laptop, {"SYNCTOOL_CLIENT_TOKEN": TOKEN}
    sites = "SELECT domain FROM django_site ORDER BY domain"

    # 3. The client script, then "$ python myclient.py" next to manage.py.
    script = block_with("# myclient.py, next to manage.py")
    (laptop / "myclient.py").write_text(project.served(script.text))
    command = block_with("$ python myclient.py")
    project.run(command.commands[0], laptop, **token)
    assert ("docs.example.org",) in project.rows(laptop, sites)
    project.outcomes[script.id] = project.outcomes[command.id] = None

    # The settings of the local project, then sync_data.
    project.append(
        block_with("# settings.py of the local project"), laptop / "myproject" / "settings.py"
    )
    with sqlite3.connect(laptop / "db.sqlite3") as db:
        db.execute("DELETE FROM django_site WHERE domain = 'docs.example.org'")
    command = block_with("$ python manage.py sync_data sites --clean")
    output = project.run(command.commands[0], laptop, **token)
    assert ("docs.example.org",) in project.rows(laptop, sites), output
    assert "sites: sites.site 2 rows in" in output  # not a terminal: a plain line
    project.outcomes[command.id] = None

    # curl, then loaddata (into a laptop without the site).
    with sqlite3.connect(laptop / "db.sqlite3") as db:
        db.execute("DELETE FROM django_site WHERE domain = 'docs.example.org'")
    curl = block_with(
        '$ curl --compressed -H "Authorization: Bearer $TOKEN" '
        "https://myserver.com/sync/sites > sites.json"
    )
    for line in curl.commands:
        project.run(project.served(line), laptop, TOKEN=TOKEN)
    assert ("docs.example.org",) in project.rows(laptop, sites)
    project.outcomes[curl.id] = None

    # Routes in settings: the blog's models from the server serving SYNCTOOL_ROUTES.
    project.run(
        f"python manage.py sync_data blogs --endpoint {settings_server_url}", laptop, **token
    )
    assert project.rows(laptop, "SELECT title FROM blog_post ORDER BY title") == [
        ("First",),
        ("Second",),
    ]
    project.outcomes[block_with("# settings.py").id] = None


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    project = Project(tmp_path_factory.mktemp("docs-project"))
    make_project(project)
    shutil.copytree(project.server, project.laptop)  # the same code, its own database
    add_server_data(project)
    settings_server = project.root / "settings-server"
    shutil.copytree(project.server, settings_server)
    routes_in_settings(project, settings_server)
    servers = []
    try:
        servers.append(serve(project, project.server))
        servers.append(serve(project, settings_server))
        project.base_url = servers[0].base_url
        run_the_client_blocks(project, servers[1].sync_url)
    finally:
        for server in servers:
            stop_server(server)
    return project


def same_as(block: Block) -> Block | None:
    """The quickstart's block with the same text (README repeats them)."""
    for other in BLOCKS:
        if other.page != block.page and other.commands == block.commands:
            return other
    return None


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.id)
def test_every_block_runs_as_written(block, project):
    if block.first_line in ELSEWHERE:
        if block.first_line == "make demo":
            ci = (ROOT / ".ci" / "run").read_text()
            assert "make --no-print-directory demo" in ci and "make --no-print-directory test" in ci
        pytest.skip(f"{block.id}: {ELSEWHERE[block.first_line]}")
    if block.id in project.outcomes:
        return
    twin = same_as(block)
    assert twin is not None and twin.id in project.outcomes, (
        f"{block.id} ({block.first_line!r}) is neither run by tests/test_doc_blocks.py nor "
        "the same as a block that is: run it, or say in ELSEWHERE why not"
    )
