"""A realistic multi-app project, synced as a user would: its own processes.

The CMS of ``tests/cms`` (a django-treebeard page tree with multi-table
inheritance, django-taggit tags, documents with files, comments on anything,
group permissions on pages) gets two databases migrated **in different
orders**, so content type, permission and user ids all differ; the laptop
has its own superuser, group and notes. The server runs under gunicorn; the
laptop runs ``manage.py sync_data``: per app with and without ``--clean``,
and as one whole-project route, each twice. After each, every row equals
the server's compared by identity, and the laptop's own rows are untouched.
"""

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.conftest import start_gunicorn, stop_server
from tests.projects import Site, database, drop, recreate

pytest.importorskip("treebeard")
pytest.importorskip("taggit")

SERVER_ORDER = ["contenttypes", "auth", "taggit", "documents", "pages", "sessions", "admin"]
CLIENT_ORDER = ["notes", "pages"]  # pulls in auth, contenttypes, taggit, documents first


class CMS(Site):
    def digest(self) -> dict:
        return json.loads(self.manage("cms_digest").stdout)


def cms_site(role, tmp) -> CMS:
    return CMS("tests.cms.settings", "CMS", database(role, tmp), tmp / f"{role}-media")


LOCAL_ROWS = """
from django.contrib.auth.models import Group, User
from tests.cms.notes.models import Note
root = User.objects.create_superuser("root", "root@laptop.local", "laptop-root")
Group.objects.create(name="Laptop devs").user_set.add(root)
Note.objects.create(author=root, text="remember the milk")
"""


@pytest.fixture(scope="module")
def cms(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cms")
    server = cms_site("cms_server", tmp)
    laptop = cms_site("cms_client", tmp)
    for site in (server, laptop):
        recreate(site.settings)
    for app in SERVER_ORDER:
        server.manage("migrate", app, "-v", "0")
    server.manage("migrate", "-v", "0")
    for app in CLIENT_ORDER:
        laptop.manage("migrate", app, "-v", "0")
    laptop.manage("migrate", "-v", "0")
    laptop.shell(LOCAL_ROWS)
    server.manage("cms_seed")
    process = start_gunicorn(tmp, "tests.cms.wsgi:application", server.env())
    laptop.endpoint = process.base_url
    local = laptop.digest()
    try:
        yield server, laptop, local
    finally:
        stop_server(process)
        for site in (server, laptop):
            drop(site.settings)


@contextlib.contextmanager
def fresh_laptop(cms, name: str, tmp_path) -> Iterator[CMS]:
    """A laptop of its own, migrated in the default order and pointed at the
    CMS's server, dropped afterwards."""
    laptop = cms_site(name, tmp_path)
    recreate(laptop.settings)
    try:
        laptop.manage("migrate", "-v", "0")
        laptop.endpoint = cms[1].endpoint
        yield laptop
    finally:
        drop(laptop.settings)


def assert_synced(server: CMS, laptop: CMS, local: dict) -> None:
    """Every server row is on the laptop by identity; the laptop's own rows are as they were."""
    theirs, ours = server.digest(), laptop.digest()
    for label, rows in theirs.items():
        for key, row in rows.items():
            assert ours[label].get(key) == row, (label, key, ours[label].get(key), row)
        extra = set(ours[label]) - set(rows)
        assert extra <= set(local.get(label, {})), (label, extra)
        for key in extra:
            assert ours[label][key] == local[label][key], (label, key)


def test_ids_differ_between_the_two_databases(cms):
    server, laptop, _ = cms
    code = (
        "from django.contrib.contenttypes.models import ContentType as C;"
        "print(dict(C.objects.values_list('model', 'pk')))"
    )
    theirs, ours = eval(server.shell(code)), eval(laptop.shell(code))  # noqa: S307 - our own output
    assert theirs.keys() == ours.keys()
    assert sum(theirs[m] != ours[m] for m in theirs) > len(theirs) // 2


@pytest.mark.parametrize(
    "args",
    [
        ("users", "pages", "documents", "topics", "history"),
        ("users", "pages", "documents", "topics", "history", "--clean"),
        ("site", "--clean", "--files"),
    ],
    ids=["per app", "per app --clean", "whole project --clean --files"],
)
def test_sync_as_a_user_would_twice(cms, args):
    server, laptop, local = cms
    for _ in range(2):
        done = laptop.manage("sync_data", *args, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_synced(server, laptop, local)
    check = (
        "from tests.cms.pages.models import Page, BlogPage;"
        "print(sorted({p.content_type.model_class().__name__ for p in Page.objects.all()}),"
        " BlogPage.objects.count(), BlogPage.objects.get(slug='post-1').tags.count(),"
        " [p.slug for p in Page.get_root_nodes()[0].get_descendants()][:4])"
    )
    assert laptop.shell(check) == server.shell(check)
    assert "['BlogPage', 'EventPage', 'Page'] 12 2" in laptop.shell(check)
    if "--files" in args:
        assert (laptop.media / "documents" / "report-1.txt").read_bytes() == b"report 1"


REVERT = """
from django.contrib.auth.models import Group
from django.db import transaction
from reversion.models import Version
from tests.cms.pages.models import Comment
comment = Comment.objects.get(text="v2")
editors = Group.objects.get(name="Editors")
with transaction.atomic():
    for obj in (comment, editors):
        Version.objects.get_for_object(obj).order_by("pk").first().revert()
    comment.refresh_from_db()
    print(comment.text, comment.user.username, comment.target.username)
    print(sorted(editors.permissions.values_list("codename", flat=True)))
    transaction.set_rollback(True)
"""


def test_reverting_a_version_on_the_laptop_names_the_laptops_rows(cms):
    """django-reversion keeps production's ids inside each version's text: they
    arrive as the laptop's ids, so reverting there gives the same rows by name."""
    server, laptop, local = cms
    for args in (("site",), ("site", "--incremental"), ("site", "--incremental")):
        done = laptop.manage("sync_data", *args, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_synced(server, laptop, local)
    verified = laptop.manage("sync_data", "site", "--verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "reversion.version: equal (5 rows)" in verified.stdout + verified.stderr
    reverted = laptop.shell(REVERT)
    assert reverted == server.shell(REVERT)
    assert reverted.startswith("v1 author0 author1\n")
    assert "add_page" in reverted
    # The version of a comment by a user deleted since names no user.
    out = laptop.shell(
        "import json; from reversion.models import Version;"
        "v = [v for v in Version.objects.all() if 'deleted since' in v.serialized_data][0];"
        "print(json.loads(v.serialized_data)[0]['fields']['user'])"
    )
    assert out.strip() == "None"


def test_versions_that_come_before_the_users_they_name(cms, tmp_path):
    """Into a fresh laptop, the versions' route first: the users and groups
    their text names come later in the same sync, and are named all the same."""
    server, _, _ = cms
    with fresh_laptop(cms, "cms_history", tmp_path) as laptop:
        done = laptop.manage("sync_data", "history", "users", "pages", "documents", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "django-reversion" not in done.stdout + done.stderr  # no note: every id resolved
        assert laptop.shell(REVERT) == server.shell(REVERT)


def test_ids_inside_versions_naming_rows_not_here_stay_natural_keys_and_are_said(cms, tmp_path):
    """Only the versions' route, into a laptop that has the revisions' users and
    the versioned group but not the users the comments' versions name: those
    stay natural keys (Django's deserializer reads them when a version is
    reverted); a generic relation's object id, which cannot hold one, points
    nowhere."""
    server, _, _ = cms
    with fresh_laptop(cms, "cms_versions_only", tmp_path) as laptop:
        laptop.shell(
            "from django.contrib.auth.models import Group, User;"
            "[User.objects.create(username=n) for n in ('admin', 'author2')];"
            "Group.objects.create(name='Editors')"
        )
        done = laptop.manage("sync_data", "history", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (
            "references inside django-reversion's versions to rows this database does not "
            "have, kept as natural keys (object ids of generic relations emptied): auth.user 3"
        ) in " ".join((done.stdout + done.stderr).split())
        users = laptop.shell(
            "import json; from reversion.models import Version;"
            "print(sorted(str([json.loads(v.serialized_data)[0]['fields'][f] for f in"
            " ('user', 'object_id')]) for v in Version.objects.filter(object_id__in="
            "Version.objects.filter(revision__comment='first').values('object_id'))"
            ".exclude(content_type__model='group')))"
        )
        ids = laptop.shell(
            "from django.contrib.auth.models import User;"
            "print(dict(User.objects.values_list('username', 'pk')))"
        )
        ids = eval(ids)  # noqa: S307 - our own output
        assert eval(users) == sorted(  # noqa: S307 - our own output
            str(pair)
            for pair in (
                [["author0"], None],  # author0's comment on author1
                [None, ids["admin"]],  # a comment by a user deleted since, on admin
                [ids["author2"], None],  # author2's comment on author3
            )
        )
        # Synced again once the users are here, the versions revert as on production.
        done = laptop.manage("sync_data", "users", "pages", "documents", "history", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "django-reversion" not in done.stdout
        assert laptop.shell(REVERT) == server.shell(REVERT)


def test_images_says_which_file_fields_it_left(cms):
    """Documents keep their files in a FileField (as django-filer's images do):
    --images does not fetch them, and says so."""
    _, laptop, _ = cms
    done = laptop.manage("sync_data", "users", "documents", "--images", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "--images fetches the files of ImageFields only; not fetched: "
        "documents.document.file (--files fetches every file field)"
    ) in " ".join(done.stdout.split())


def test_the_laptops_own_users_and_groups_are_kept_and_counted(cms):
    """Users and groups are merged by natural key, never cleaned: the summary
    says how many here production did not send (the laptop's own, or users
    production deleted or renamed)."""
    _, laptop, _ = cms
    done = laptop.manage("sync_data", "users", "--clean", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    for label, sent in (("auth.user", 5), ("auth.group", 2)):
        assert (
            f"{label}: 1 row here is not among the {sent} production sent (this database's "
            "own, or deleted or renamed there): kept, as rows matched by natural key always are"
        ) in said
    assert "contenttypes.contenttype:" not in said


def test_the_scrub_checks_see_the_fields_that_travel_inside_versions(cms):
    """Serving django-reversion's versions serves the fields of every model
    registered with it: strict mode and W101 name those that look personal."""
    server, _, _ = cms
    said = server.shell(
        "from reversion.models import Version;"
        "from synctool_contrib.scrub.strict import unscrubbed_message;"
        "from synctool_contrib.scrub.report import with_models_inside;"
        "print(unscrubbed_message('history', [Version]));"
        "print(sorted(m._meta.label for m in with_models_inside([Version])))"
    )
    refusal, served = said.splitlines()
    assert "auth.user.email (an e-mail address)" in refusal
    assert "auth.user.username (a user name)" in refusal
    assert served == "['auth.Group', 'auth.User', 'pages.Comment', 'reversion.Version']"


def test_laptop_login_still_works(cms):
    _, laptop, _ = cms
    out = laptop.shell(
        "from django.contrib.auth import authenticate;"
        "print(authenticate(username='root', password='laptop-root') is not None)"
    )
    assert out.strip() == "True"


SUBSET_CHECK = """
from taggit.models import Tag
from tests.cms.documents.models import Collection, Document
from tests.cms.pages.models import BlogPage, Comment, Page
post = Page.objects.get(slug="post-5")
print(sorted(Page.objects.values_list("slug", flat=True)))
print([p.slug for p in post.get_ancestors()], post.get_parent().slug, post.content_type.model)
print(BlogPage.objects.get(slug="post-5").hero.title, post.owner.username)
print(sorted(Collection.objects.values_list("name", flat=True)))
tags = BlogPage.objects.get(pk=post.pk).tags.names()
print(sorted(tags), sorted(Tag.objects.values_list("name", flat=True)))
print([(c.user.username, c.target.slug) for c in Comment.objects.all()])
"""


def test_a_page_subset_brings_its_ancestors_specific_rows_and_generic_objects(cms, tmp_path):
    """A fresh laptop pulls one page: its treebeard ancestors (found by their
    path, as Wagtail's are), each page's specific row, the document its
    hero is and that document's collection with its own ancestors, its tags
    (tagged items point at it through a generic relation) and its comments
    with their users."""
    server, _, _ = cms
    with fresh_laptop(cms, "cms_subset", tmp_path) as laptop:
        done = laptop.manage("sync_data", "page/post-5", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        shown = laptop.shell(SUBSET_CHECK)
        assert shown.splitlines() == [
            "['blog', 'home', 'post-5', 'root']",
            "['root', 'home', 'blog'] blog blogpage",
            "Report 2 author1",
            "['Reports', 'Root']",
            "['all', 'tag0'] ['all', 'tag0']",
            "[('author3', 'post-5')]",
        ]


LOCAL_TOPICS = """
from tests.cms.topics.models import Topic
for slug in ["laptop-a", "laptop-b"]:
    Topic.objects.create(slug=f"{slug}-child", parent=Topic.objects.create(slug=slug))
"""

TOPICS = """
from tests.cms.topics.models import Topic
for topic in Topic.objects.filter(parent=None).order_by("tree_id"):
    print(topic.slug, topic.tree_id, [t.slug for t in topic.get_descendants()])
"""


def test_a_tree_subset_into_a_laptop_with_trees_of_its_own_is_refused(cms, tmp_path):
    """Production's topic tree 2 (arts) would land in the laptop's own tree 2:
    django-mptt would then count the laptop's rows among production's
    descendants, with no error anywhere. The sync refuses, naming the row,
    and writes nothing; without the laptop's trees it goes through."""
    server, _, _ = cms
    with fresh_laptop(cms, "cms_trees", tmp_path) as laptop:
        laptop.shell(LOCAL_TOPICS)
        before = laptop.shell(TOPICS)
        done = laptop.manage("sync_data", "topic/music", check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "topics.topic pk=" in done.stderr
        assert "in tree tree_id=2 would not be where its numbers say" in done.stderr
        assert "Nothing was written" in done.stderr
        assert laptop.shell(TOPICS) == before
        laptop.shell("from tests.cms.topics.models import Topic; Topic.objects.all().delete()")
        done = laptop.manage("sync_data", "topic/music", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert laptop.shell(TOPICS).splitlines() == ["arts 2 ['music']"]
        assert "arts 2 ['music', 'painting']" in server.shell(TOPICS)
