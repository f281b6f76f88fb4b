"""End to end: a gunicorn server process, real HTTP, the client's database."""

import datetime
import decimal
import uuid

import pytest
import requests
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.management import create_contenttypes
from django.contrib.contenttypes.models import ContentType
from django.contrib.sites.models import Site
from django.core.management import call_command

from synctool import exceptions, hookimpl
from synctool.models import SyncRun
from tests.conftest import TOKEN, e2e, start_server, stop_server
from tests.testapp.models import (
    AllTypes,
    Author,
    Blog,
    Club,
    Comment,
    Membership,
    Node,
    Place,
    Post,
    Restaurant,
    Tag,
    UUIDItem,
)
from tests.utils import database_digest, model_rows

UTC = datetime.UTC
WHEN = datetime.datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=UTC)


def make_blog(using="server", slug="blog", posts=2, tags=("a", "b"), author=True):
    if author:
        author = Author.objects.using(using).create(email=f"{slug}@example.org", name=slug.title())
    else:
        author = None
    blog = Blog.objects.using(using).create(name=slug, slug=slug, author=author)
    tag_objects = [Tag.objects.using(using).get_or_create(name=name)[0] for name in tags]
    for index in range(posts):
        post = Post.objects.using(using).create(
            blog=blog,
            title=f"{slug} {index}",
            body="text " * index,
            created=WHEN - datetime.timedelta(days=index, microseconds=index),
            views=index,
        )
        post.tags.set(tag_objects[: index + 1])
    return blog


def assert_same_rows(*models):
    for model in models:
        assert model_rows(model, "default") == model_rows(model, "server"), model._meta.label


@e2e
class TestRoutes:
    def test_models_route(self, client_for):
        make_blog()
        result = client_for().sync("blogs")
        assert_same_rows(Author, Blog, Post, Tag, Post.tags.through)
        assert result.models["testapp.post"].received == 2
        assert result.models["testapp.post"].written == 2
        assert result.received == 1 + 1 + 2 + 2
        assert result.bytes_received > 0
        assert result.seconds > 0

    def test_app_route_with_every_kind_of_relation(self, client_for):
        make_blog()
        club = Club.objects.using("server").create(name="club")
        Membership.objects.using("server").create(
            club=club, author=Author.objects.using("server").get(), joined=datetime.date(2020, 1, 1)
        )
        root = Node.objects.using("server").create(name="root")
        child = Node.objects.using("server").create(name="child", parent=root)
        # A parent created after its child: pk order is not dependency order.
        late_parent = Node.objects.using("server").create(name="late")
        Node.objects.using("server").filter(pk=root.pk).update(parent=late_parent)
        Node.objects.using("server").create(name="grandchild", parent=child)
        Restaurant.objects.using("server").create(name="Pizzeria", serves_pizza=True)
        Place.objects.using("server").create(name="Park")
        client_for().sync("testapp")
        assert_same_rows(Author, Blog, Post, Tag, Club, Membership, Node, Place, Restaurant)
        assert Restaurant.objects.get().name == "Pizzeria"

    def test_queryset_route_with_arguments(self, client_for):
        make_blog(slug="one", tags=(), author=False)
        make_blog(slug="two", tags=(), author=False)
        client_for().sync("blog/two")
        assert list(Blog.objects.values_list("slug", flat=True)) == ["two"]
        assert Post.objects.count() == 2
        blog = Blog.objects.using("server").get(slug="one")
        client_for().sync(f"posts-of-blog/{blog.pk}")
        assert Post.objects.count() == 4

    def test_self_reference_served_children_first(self, client_for):
        parent = Node.objects.using("server").create(name="parent")
        Node.objects.using("server").create(name="child", parent=parent)
        client_for().sync("nodes-reversed")
        assert_same_rows(Node)

    def test_seed_basic_usage(self, live_server_process):
        from synctools.client import Client

        Site.objects.using("server").update(name="production", domain="prod.example.com")
        client = Client(api_url=live_server_process.sync_url, api_token=TOKEN)
        client.sync("sites")
        assert Site.objects.get().domain == "prod.example.com"

    def test_api_url_with_or_without_trailing_slash(self, client_for, live_server_process):
        make_blog()
        client_for(api_url=live_server_process.sync_url.rstrip("/")).sync("blogs")
        client_for(api_url=live_server_process.sync_url).sync("/blogs")
        assert Post.objects.count() == 2

    def test_settings_routes_are_served(self, client_for, live_server_process):
        make_blog()
        client_for(api_url=live_server_process.base_url + "/settings-sync").sync("blog/blog")
        assert_same_rows(Author, Blog, Post, Tag)

    def test_resync_updates_rows_in_place(self, client_for, write_path):
        make_blog()
        client_for().sync("blogs")
        Post.objects.using("server").filter(title="blog 0").update(title="changed", views=42)
        Post.objects.using("server").get(title="blog 1").tags.clear()
        client_for().sync("blogs")
        assert_same_rows(Post, Post.tags.through)
        # auto_now fields keep the server's value.
        assert Post.objects.get(title="changed").updated == (
            Post.objects.using("server").get(title="changed").updated
        )


@pytest.fixture(params=["django insert", "fast path"])
def write_path(request, monkeypatch):
    """Run a test through Django's bulk insert and the backend's fast path
    (COPY on PostgreSQL, executemany on SQLite; MySQL has none)."""
    from django.db import connection

    from synctool.backends import writer
    from synctool.backends.sqlite import SQLiteWriter

    fast = request.param == "fast path"
    monkeypatch.setattr(writer, "FAST_PATH_THRESHOLD", 1 if fast else 10**9)
    used = []
    owners = [(SQLiteWriter, "write_fast")]
    if connection.vendor == "postgresql":
        from synctool.backends import pgcopy

        owners += [(pgcopy, "copy_upsert"), (pgcopy.StraightCopy, "wait")]
    for owner, name in owners:
        original = getattr(owner, name)

        def counting(*args, original=original):
            done = original(*args)
            used.append(done)
            return done

        monkeypatch.setattr(owner, name, counting)
    yield request.param
    assert any(used) is (fast and connection.vendor in ("postgresql", "sqlite"))


@e2e
class TestExactRoundTrip:
    def test_every_field_type(self, client_for, write_path):
        values = dict(
            char='ünïcødé \u20ac \U0001f600 "quoted" \\ back',
            text="multi\nline\r\ntext\twith\x01control",
            integer=-2147483648,
            big=9223372036854775807,
            small=-32768,
            positive=2147483647,
            floating=0.1 + 0.2,
            decimal=decimal.Decimal("1234567.0123456789"),
            boolean=True,
            nullable_bool=None,
            date=datetime.date(1, 1, 1),
            time=datetime.time(23, 59, 59, 999999),
            datetime=datetime.datetime(2038, 1, 19, 3, 14, 7, 1, tzinfo=UTC),
            duration=datetime.timedelta(days=-1, microseconds=5),
            uuid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
            binary=b"\x00\xff\x10binary",
            json={"a": [1, 2.5, None, True], "nested": {"ü": "€"}, "big": 2**62},
            nullable_char=None,
            ip="2001:db8::1",
        )
        AllTypes.objects.using("server").create(**values)
        AllTypes.objects.using("server").create()  # defaults and NULLs
        UUIDItem.objects.using("server").create(label="one")
        client_for().sync("alltypes")
        server_rows, client_rows = model_rows(AllTypes, "server"), model_rows(AllTypes, "default")
        for row in server_rows + client_rows:
            if row["binary"] is not None:
                row["binary"] = bytes(row["binary"])
        assert client_rows == server_rows
        assert client_rows[0]["datetime"].microsecond == 1
        assert client_rows[0]["created"] == server_rows[0]["created"]  # auto_now_add kept
        assert_same_rows(UUIDItem)

    def test_curl_output_loads_with_loaddata(self, live_server_process, tmp_path):
        make_blog()
        response = requests.get(
            live_server_process.sync_url + "blogs", auth=(TOKEN, ""), timeout=30
        )
        fixture = tmp_path / "blogs.json"
        fixture.write_bytes(response.content)
        call_command("loaddata", str(fixture), database="default", verbosity=0)
        assert_same_rows(Author, Blog, Post, Tag, Post.tags.through)


@e2e
class TestClean:
    def test_clean_removes_local_rows_and_keeps_resolving_children(self, client_for):
        make_blog()
        client_for().sync("blogs")
        kept = Post.objects.order_by("pk").first()
        Comment.objects.create(post=kept, text="local note")
        Post.objects.create(blog=Blog.objects.get(), title="local only", created=WHEN)
        Tag.objects.create(name="local tag")
        result = client_for().sync("blogs", clean=True)
        assert_same_rows(Author, Blog, Post, Tag, Post.tags.through)
        # The local comment points at a post that came back: it survives.
        assert Comment.objects.get().post_id == kept.pk
        assert result.models["testapp.post"].deleted == 3
        assert result.models["testapp.tag"].deleted == 3
        assert list(result.models) == [
            "testapp.author",
            "testapp.tag",
            "testapp.blog",
            "testapp.post",
        ]

    def test_clean_refuses_to_orphan_local_rows(self, client_for):
        make_blog()
        client_for().sync("blogs")
        local_post = Post.objects.create(blog=Blog.objects.get(), title="local", created=WHEN)
        Comment.objects.create(post=local_post, text="orphan to be")
        before = database_digest("default")
        with pytest.raises(exceptions.CleanConflict, match=r"testapp.Comment \(pk \d+\)"):
            client_for().sync("blogs", clean=True)
        assert database_digest("default") == before

    def test_pre_clean_hook_chooses_rows(self, client_for, register_plugin):
        make_blog()

        class KeepLocalTags:
            @hookimpl
            def pre_clean(self, model, queryset):
                if model is Tag:
                    return queryset.filter(name__in=["a", "b"])
                return None

        register_plugin(KeepLocalTags())
        Tag.objects.create(pk=900, name="mine")
        client_for().sync("blogs", clean=True)
        assert set(Tag.objects.values_list("name", flat=True)) == {"a", "b", "mine"}


@e2e
class TestSequences:
    def test_next_create_follows_synced_keys(self, client_for):
        Tag.objects.using("server").create(pk=500, name="five hundred")
        client_for().sync("blogs")
        assert Tag.objects.create(name="new").pk == 501

    def test_reset_lowers_counters_after_clean(self, client_for):
        Tag.objects.using("server").create(pk=10, name="ten")
        Tag.objects.create(pk=900, name="local")
        client_for().sync("blogs", clean=True)
        assert Tag.objects.create(name="new").pk == 11

    def test_no_reset(self, client_for):
        Tag.objects.using("server").create(pk=10, name="ten")
        Tag.objects.create(pk=900, name="local")
        Tag.objects.get(pk=900).delete()
        client_for().sync("blogs", clean=True, reset=False)
        assert Tag.objects.create(name="new").pk > 11


@e2e
class TestNaturalKeys:
    def test_permissions_map_across_databases_with_different_ids(self, client_for):
        # Give the client's content types and permissions other ids than the server's.
        ContentType.objects.using("default").filter(app_label="testapp").delete()
        ContentType.objects.clear_cache()
        config = apps.get_app_config("testapp")
        create_contenttypes(config, using="default", verbosity=0)
        create_permissions(config, using="default", verbosity=0)
        ContentType.objects.clear_cache()
        server_ct = ContentType.objects.db_manager("server").get(app_label="testapp", model="post")
        client_ct = ContentType.objects.db_manager("default").get(app_label="testapp", model="post")
        assert server_ct.pk != client_ct.pk

        perms = Permission.objects.using("server").filter(
            codename__in=["add_post", "change_blog", "delete_tag"]
        )
        group = Group.objects.using("server").create(name="editors")
        group.permissions.set(perms.exclude(codename="delete_tag"))
        user = User.objects.db_manager("server").create_user("ann", "ann@example.org", "pw")
        user.groups.add(group)
        user.user_permissions.add(perms.get(codename="delete_tag"))

        client_for().sync("users")
        local_user = User.objects.get(username="ann")
        assert local_user.password == user.password
        assert sorted(local_user.get_all_permissions()) == [
            "testapp.add_post",
            "testapp.change_blog",
            "testapp.delete_tag",
        ]
        local_add_post = Permission.objects.get(codename="add_post")
        assert local_add_post.content_type_id == client_ct.pk


@e2e
class TestHooks:
    def test_client_transform_drops_and_changes(self, client_for, register_plugin):
        make_blog()

        class Rewrite:
            @hookimpl
            def transform_object(self, obj, side):
                assert side == "client"
                if obj["model"] == "testapp.post" and obj["fields"]["title"] == "blog 1":
                    return False
                if obj["model"] == "testapp.author":
                    obj["fields"]["email"] = "hidden@example.org"
                return None

        register_plugin(Rewrite())
        result = client_for().sync("blogs", clean=True)
        assert Author.objects.get().email == "hidden@example.org"
        assert list(Post.objects.values_list("title", flat=True)) == ["blog 0"]
        assert result.models["testapp.post"].received == 2
        assert result.models["testapp.post"].written == 1

    def test_server_transform_runs_before_sending(self, client_for):
        blog = make_blog(posts=0)
        for title, body in [("DROP-ON-SERVER", ""), ("kept", "REDACT-ON-SERVER")]:
            Post.objects.using("server").create(blog=blog, title=title, body=body, created=WHEN)
        client_for().sync("blogs")
        assert list(Post.objects.values_list("title", "body")) == [("kept", "redacted")]

    def test_post_save_receives_batches(self, client_for, register_plugin, settings):
        settings.SYNCTOOL_BATCH_SIZE = 3
        make_blog(posts=7)
        batches = []

        class Recorder:
            @hookimpl
            def post_save(self, model, instances, using):
                batches.append((model, len(instances), using))

        register_plugin(Recorder())
        client_for().sync("blogs")
        assert [size for model, size, _ in batches if model is Post] == [3, 3, 1]
        assert {using for _, _, using in batches} == {"default"}

    @pytest.mark.parametrize("hook", ["post_save", "transform_object"])
    def test_a_raising_hook_rolls_back(self, client_for, register_plugin, hook):
        make_blog()
        client_for().sync("blogs")
        Post.objects.using("server").update(title="new title")
        before = database_digest("default")

        class Broken:
            @hookimpl(specname=hook)
            def explode(self, model=None, obj=None):
                if (model is Post) or (obj and obj["model"] == "testapp.post"):
                    raise ValueError("broken plugin")

        register_plugin(Broken())
        with pytest.raises(exceptions.HookError, match=f"{hook} hook raised ValueError"):
            client_for().sync("blogs", clean=True)
        assert database_digest("default") == before

    def test_a_soft_time_limit_inside_a_hook_is_not_blamed_on_the_hook(
        self, client_for, register_plugin
    ):
        billiard = pytest.importorskip("billiard.exceptions", reason="Celery is not installed")
        make_blog()
        before = database_digest("default")

        class SlowPlugin:
            @hookimpl
            def post_save(self, model, instances, using):
                raise billiard.SoftTimeLimitExceeded()  # as Celery's signal handler would

        register_plugin(SlowPlugin())
        with pytest.raises(billiard.SoftTimeLimitExceeded):
            client_for().sync("blogs", clean=True)
        assert database_digest("default") == before
        run = SyncRun.objects.using("default").order_by("-id").first()
        assert (run.status, run.error) == ("failed", "SoftTimeLimitExceeded")


@e2e
class TestFailures:
    def test_server_failing_mid_stream_leaves_database_unchanged(self, client_for):
        blog = make_blog(posts=1)
        Post.objects.using("server").bulk_create(
            Post(blog=blog, title=f"filler {i}", body="x" * 200, created=WHEN) for i in range(2000)
        )
        Post.objects.using("server").create(blog=blog, title="BOOM-ON-SERVER", created=WHEN)
        Tag.objects.create(name="local")
        before = database_digest("default")
        with pytest.raises(exceptions.IncompleteResponse, match="blogs"):
            client_for().sync("blogs", clean=True)
        assert database_digest("default") == before

    def test_integrity_error_at_the_last_object_rolls_back(self, client_for):
        make_blog(tags=("a", "dup"))
        Tag.objects.create(pk=999, name="dup")  # same unique name, other pk
        before = database_digest("default")
        with pytest.raises(exceptions.LoadError, match="refused|constraint"):
            client_for().sync("blogs")
        assert database_digest("default") == before

    def test_dry_run_counts_and_writes_nothing(self, client_for):
        make_blog(posts=3)
        Tag.objects.create(name="local")
        before = database_digest("default")
        result = client_for().sync("blogs", clean=True, dry_run=True)
        assert result.dry_run
        assert result.models["testapp.post"].received == 3
        assert result.models["testapp.post"].written == 3
        assert result.models["testapp.tag"].deleted == 1
        assert database_digest("default") == before

    def test_wrong_token(self, client_for):
        with pytest.raises(exceptions.AuthenticationFailed, match="/sync/") as info:
            client_for(token="not-the-token-at-all").sync("blogs")
        assert "not-the-token" not in str(info.value)

    def test_unknown_route(self, client_for):
        with pytest.raises(exceptions.RouteNotFound, match=r"/sync/ has no route 'nope'"):
            client_for().sync("nope")

    def test_server_down(self, settings):
        from synctool.client import Client
        from tests.conftest import free_port

        settings.SYNCTOOL_RETRIES = 1
        client = Client(api_url=f"http://127.0.0.1:{free_port()}/sync/", api_token=TOKEN)
        with pytest.raises(exceptions.ServerUnreachable, match="127.0.0.1"):
            client.sync("blogs")

    def test_no_endpoint_configured(self, settings):
        from synctool.client import Client

        settings.SYNCTOOL_CLIENT_ENDPOINT = None
        with pytest.raises(exceptions.ConfigurationError, match="SYNCTOOL_CLIENT_ENDPOINT"):
            Client().sync("blogs")


@pytest.mark.django_db(transaction=True, databases=["default", "server"])
def test_server_without_token_refuses_clients(tmp_path, client_for, django_db_blocker):
    server = start_server(tmp_path, extra_env={"SYNCTOOL_E2E_NO_TOKEN": "1"}, workers=1)
    try:
        from synctool.client import Client

        with pytest.raises(exceptions.AuthenticationFailed, match="no API token"):
            Client(api_url=server.sync_url, api_token=TOKEN).sync("blogs")
    finally:
        stop_server(server)


@e2e
def test_progress_callback_reports_clean_and_load(client_for, settings):
    settings.SYNCTOOL_BATCH_SIZE = 2
    make_blog(posts=3)
    Tag.objects.create(pk=900, name="local")
    events = []
    client_for().sync("blogs", clean=True, progress=events.append)
    # The stages in order: clean, load, check.
    stages = [event.stage for event in events]
    assert stages == sorted(stages, key=["clean", "load", "check"].index)
    assert {event.route for event in events if event.stage != "check"} == {"blogs"}
    # Each model's clean starts, then ends with what it deleted and its time.
    tag_clean = [
        (e.count, e.done) for e in events if e.stage == "clean" and e.model == "testapp.tag"
    ]
    assert tag_clean == [(0, False), (1, True)]
    # The route's load starts (its request), then each model's: with the rows
    # the server announced, each batch written, the end with its time.
    posts = [e for e in events if e.stage == "load" and e.model == "testapp.post"]
    assert (posts[0].count, posts[0].total, posts[0].estimated, posts[0].done) == (
        0,
        3,
        False,
        False,
    )
    assert [e.batch for e in posts if e.batch] == [2, 1]
    assert posts[-1].done and posts[-1].count == 3 and posts[-1].seconds > 0
    assert posts[-1].bytes_received > 0
    assert [(e.model, e.count) for e in events if e.stage == "load"][0] == ("", 0)
    # The check covers every route, the commit included.
    assert [(e.route, e.done) for e in events if e.stage == "check"] == [("", False), ("", True)]
    assert events[-1].seconds > 0


@e2e
def test_token_in_the_url_is_used_and_never_shown(live_server_process, settings):
    from synctool.client import Client

    make_blog()
    # Unset, or set from an environment variable exported empty.
    for unset, userinfo in ((None, f"{TOKEN}@"), ("", f"{TOKEN}:@")):
        settings.SYNCTOOL_CLIENT_TOKEN = unset
        url = live_server_process.sync_url.replace("http://", f"http://{userinfo}")
        result = Client(api_url=url).sync("blogs")
        assert TOKEN not in result.url
    assert Post.objects.count() == 2
    bad = live_server_process.sync_url.replace("http://", "http://wrong-token-xxxxxxxx@")
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        Client(api_url=bad).sync("blogs")
    assert "wrong-token" not in str(info.value)
