"""Incremental syncs end to end (gunicorn, real HTTP): after any sequence of
changes on the server (and on the laptop), an incremental sync leaves the
route's models exactly as a clean sync would; the history of syncs records
every run, failed ones included."""

import datetime
import os
import random

import pytest
from django.db import connections

from synctool import exceptions, hookimpl
from synctool.backends import backend_for
from synctool.client.statestore import stored_state
from synctool.models import SyncRun, SyncStateChunk
from tests.conftest import e2e
from tests.testapp.models import Author, Blog, Post, Tag
from tests.utils import model_rows

UTC = datetime.UTC
WHEN = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
ROUTE_MODELS = (Author, Blog, Post, Tag)


def assert_as_clean_sync_gives():
    """The client's rows of the route equal the server's: what a clean sync gives
    (the "blogs" route scrubs nothing)."""
    for model in ROUTE_MODELS:
        assert model_rows(model, "default") == model_rows(model, "server"), model._meta.label
    for post in Post.objects.using("server"):
        local = Post.objects.using("default").get(pk=post.pk)
        assert sorted(local.tags.values_list("pk", flat=True)) == sorted(
            post.tags.values_list("pk", flat=True)
        )


def kept_state(client, route: str = "blogs") -> dict | None:
    """The incremental state kept for ``route``: fingerprints and every row."""
    state = stored_state(route, client.url_for(""), "default")
    if state is None:
        return None
    return {
        label: (
            mark,
            [(list(r.pks), list(r.server), list(r.local)) for r in state.rows(label)],
        )
        for label, mark in state.fingerprints.items()
    }


def edit_kept_state(edit) -> None:
    """Change the kept incremental state's models and marks in place."""
    run = SyncRun.objects.using("default").filter(state__isnull=False).get()
    edit(run.state)
    run.save(using="default", update_fields=["state"])


def seed(rows: int = 60) -> None:
    tags = [Tag.objects.using("server").create(name=f"tag{i}") for i in range(5)]
    author = Author.objects.using("server").create(email="a@example.org", name="A")
    blogs = [
        Blog.objects.using("server").create(name=f"b{i}", slug=f"b{i}", author=author)
        for i in range(3)
    ]
    for index in range(rows):
        post = Post.objects.using("server").create(
            blog=blogs[index % 3], title=f"post {index}", created=WHEN, views=index
        )
        post.tags.set(tags[: index % 4])


def change_server(rng: random.Random) -> None:
    """Random inserts, ORM and raw updates, deletions and tag changes."""
    posts = list(Post.objects.using("server").order_by("pk"))
    blogs = list(Blog.objects.using("server"))
    tags = list(Tag.objects.using("server"))
    for post in rng.sample(posts, 4):
        post.views += 1000
        post.save(using="server")
    raw = rng.choice(posts)
    with connections["server"].cursor() as cursor:
        # A raw UPDATE leaves the auto_now field alone.
        cursor.execute("UPDATE testapp_post SET title = %s WHERE id = %s", ["raw", raw.pk])
    for post in rng.sample([p for p in posts if p.pk != raw.pk], 3):
        post.delete()
    rng.choice(posts).tags.add(rng.choice(tags))
    for index in range(3):
        Post.objects.using("server").create(
            blog=rng.choice(blogs), title=f"new {rng.random()}", created=WHEN, views=index
        )
    if rng.random() < 0.5:
        Tag.objects.using("server").create(name=f"t{rng.random()}")


@e2e
def test_incremental_rounds_equal_a_clean_sync(client_for):
    seed()
    client = client_for()
    first = client.sync("blogs", incremental=True)
    assert first.modes["testapp.post"] == "full"
    assert first.models["testapp.post"].received == 60
    # One note for the first sync's models, not one each.
    firsts = [note for note in first.notes if "no earlier state" in note]
    assert len(firsts) == 1 and firsts[0].startswith("4 models synced in full: no earlier state (")
    assert_as_clean_sync_gives()
    rng = random.Random(15)
    for _ in range(4):
        change_server(rng)
        result = client.sync("blogs", incremental=True)
        assert result.modes["testapp.post"] == "content"
        assert result.modes["testapp.author"] == "content"
        # Only what changed travels: far fewer posts than the table holds.
        assert 0 < result.models["testapp.post"].received < 20
        assert_as_clean_sync_gives()
    runs = list(SyncRun.objects.using("default").order_by("started", "id"))
    assert [run.status for run in runs] == ["succeeded"] * 5
    assert all(run.incremental for run in runs)
    # Only the newest run keeps a state.
    assert [run.state is not None for run in runs] == [False] * 4 + [True]


@e2e
def test_a_state_of_many_chunks_follows_every_change(client_for, monkeypatch):
    """The state is kept in chunks, read and written one at a time: chunks
    without a change are taken over as they are, the others rewritten, and
    the kept keys are always the server's."""
    from synctool.client import statestore

    monkeypatch.setattr(statestore, "CHUNK_ROWS", 7)
    seed(150)
    client = client_for()
    client.sync("blogs", incremental=True)

    def post_chunks() -> set[int]:
        chunks = SyncStateChunk.objects.using("default").filter(model="testapp.post")
        return set(chunks.values_list("pk", flat=True))

    assert len(post_chunks()) >= 10
    rng = random.Random(3)
    for _ in range(3):
        before = post_chunks()
        change_server(rng)
        result = client.sync("blogs", incremental=True)
        assert result.modes["testapp.post"] == "content"
        assert_as_clean_sync_gives()
        after = post_chunks()
        assert before & after, "every chunk was rewritten"
        assert after - before, "no chunk was rewritten"
        state = stored_state("blogs", client.url_for(""), "default")
        kept = [pk for rows in state.rows("testapp.post") for pk in rows.pks]
        assert kept == sorted(Post.objects.using("server").values_list("pk", flat=True))
    newest = SyncRun.objects.using("default").filter(state__isnull=False).get()
    assert not SyncStateChunk.objects.using("default").exclude(run=newest).exists()


@e2e
def test_rows_changed_on_the_laptop_are_restored(client_for):
    seed(20)
    client = client_for()
    client.sync("blogs", incremental=True)
    first, second = Post.objects.using("default").order_by("pk")[:2]
    with connections["default"].cursor() as cursor:
        cursor.execute("UPDATE testapp_post SET title = 'mine' WHERE id = %s", [first.pk])
    second.delete()
    Post.objects.using("default").create(
        blog=Blog.objects.using("default").first(), title="laptop only", created=WHEN
    )
    result = client.sync("blogs", incremental=True)
    assert_as_clean_sync_gives()
    counts = result.models["testapp.post"]
    assert counts.received == 2  # the changed one and the deleted one
    assert counts.deleted == 1  # the laptop-only row


@e2e
def test_nothing_changed_sends_no_rows(client_for):
    seed(30)
    client = client_for()
    full = client.sync("blogs", incremental=True)
    again = client.sync("blogs", incremental=True)
    assert again.models["testapp.post"].received == 0
    assert again.bytes_received < full.bytes_received / 5
    assert_as_clean_sync_gives()


@e2e
def test_a_failed_incremental_sync_changes_neither_data_nor_state(client_for, register_plugin):
    seed(20)
    client = client_for()
    client.sync("blogs", incremental=True)
    state_before = kept_state(client)
    first, second, third = Post.objects.using("server").order_by("pk")[:3]
    Post.objects.using("server").filter(pk__in=[first.pk, second.pk]).update(title="changed")
    third.delete()
    before = [model_rows(model, "default") for model in ROUTE_MODELS]

    class Boom:
        armed = True

        @hookimpl
        def transform_object(self, obj, side):
            if self.armed and side == "client" and obj["pk"] == second.pk:
                raise RuntimeError("the client-side transform failed on purpose")

    plugin = register_plugin(Boom())
    with pytest.raises(exceptions.SynctoolError, match="on purpose"):
        client.sync("blogs", incremental=True)
    assert [model_rows(model, "default") for model in ROUTE_MODELS] == before
    assert kept_state(client) == state_before
    failed = SyncRun.objects.using("default").order_by("-started", "-id").first()
    assert failed.status == "failed"
    assert "on purpose" in failed.error
    assert failed.state is None
    plugin.armed = False
    client.sync("blogs", incremental=True)
    assert_as_clean_sync_gives()


@e2e
def test_a_changed_server_fingerprint_syncs_in_full_and_says_so(client_for):
    seed(10)
    client = client_for()
    client.sync("blogs", incremental=True)
    edit_kept_state(lambda state: state["testapp.post"].update(server="from elsewhere"))
    result = client.sync("blogs", incremental=True)
    assert result.modes["testapp.post"] == "full"
    assert result.modes["testapp.blog"] == "content"
    assert any(
        "testapp.post synced in full" in note and "changed on the server" in note
        for note in result.notes
    )
    assert_as_clean_sync_gives()


@e2e
@pytest.mark.parametrize(
    ("side", "reason"), [("default", "changed in this database"), ("server", "on the server")]
)
def test_a_column_dropped_and_added_again_syncs_in_full(client_for, side, reason):
    """A migration (here or on the server) that changes values without
    writing rows (on PostgreSQL no row gets a new version) is followed."""
    seed(10)
    client = client_for()
    client.sync("blogs", incremental=True)
    with connections[side].cursor() as cursor:
        cursor.execute("ALTER TABLE testapp_post DROP COLUMN views")
        cursor.execute("ALTER TABLE testapp_post ADD COLUMN views integer NOT NULL DEFAULT 0")
    assert set(Post.objects.using(side).values_list("views", flat=True)) == {0}
    other = "server" if side == "default" else "default"
    changed = Post.objects.using(other).exclude(views=0).count()
    result = client.sync("blogs", incremental=True)
    assert result.modes["testapp.blog"] == "content"
    if backend_for(connections[side]).row_version(Post) is not None:
        # The rows' versions did not change: the table's did.
        assert result.modes["testapp.post"] == "full"
        assert any(
            "testapp.post synced in full" in note and reason in note for note in result.notes
        )
    else:
        # Every row whose views were not 0 changed: each is sent again.
        assert result.modes["testapp.post"] == "content"
        assert result.models["testapp.post"].received == changed == 9
    assert_as_clean_sync_gives()
    again = client.sync("blogs", incremental=True)
    assert again.modes["testapp.post"] == "content"
    assert again.models["testapp.post"].received == 0


@e2e
def test_a_state_kept_by_an_older_synctool_syncs_in_full(client_for):
    seed(10)
    client = client_for()
    client.sync("blogs", incremental=True)
    # The state as an older synctool kept it: the server's fingerprint alone.
    edit_kept_state(lambda state: state.update({k: v["server"] for k, v in state.items()}))
    result = client.sync("blogs", incremental=True)
    assert set(result.modes.values()) == {"full"}
    assert any("kept by an older synctool" in note for note in result.notes)
    assert_as_clean_sync_gives()
    assert client.sync("blogs", incremental=True).modes["testapp.post"] == "content"


@e2e
def test_the_spellings_of_a_route_keep_one_state(client_for):
    seed(20)
    client = client_for()
    client.sync("blogs/", incremental=True)
    assert SyncRun.objects.using("default").get().route == "blogs"
    # "/blogs", "blogs/" and "blogs" are one route: one state, one history.
    result = client.sync("/blogs", incremental=True)
    assert set(result.modes.values()) == {"content"}
    assert result.received == 0
    assert set(SyncRun.objects.using("default").values_list("route", flat=True)) == {"blogs"}
    assert SyncStateChunk.objects.using("default").values("run").distinct().count() == 1


@e2e
def test_a_state_recorded_under_another_spelling_is_found_and_replaced(client_for):
    seed(20)
    client = client_for()
    client.sync("blogs", incremental=True)
    # As a synctool that recorded the route as typed left it.
    SyncRun.objects.using("default").update(route="blogs/")
    result = client.sync("blogs", incremental=True)
    assert set(result.modes.values()) == {"content"}
    assert result.received == 0
    holders = SyncRun.objects.using("default").filter(state__isnull=False)
    assert list(holders.values_list("route", flat=True)) == ["blogs"]
    assert set(SyncStateChunk.objects.using("default").values_list("run", flat=True)) == {
        holders.get().pk
    }


@e2e
def test_clean_with_incremental_is_refused(client_for):
    with pytest.raises(exceptions.ConfigurationError, match="drop --clean"):
        client_for().sync("blogs", clean=True, incremental=True)


@e2e
def test_a_sync_whose_server_is_down_is_recorded(client_for):
    from tests.conftest import free_port

    client = client_for(api_url=f"http://127.0.0.1:{free_port()}/sync/")
    with pytest.raises(exceptions.ServerUnreachable):
        client.sync("blogs")
    run = SyncRun.objects.using("default").get()
    assert run.status == "failed"
    assert "could not" in run.error
    assert run.finished is not None


@e2e
def test_a_renamed_key_identified_target_resends_the_rows_pointing_at_it(client_for):
    from django.contrib.auth.models import User

    from tests.shop.models import Customer, Order

    user = User.objects.using("server").create(username="alice")
    watcher = User.objects.using("server").create(username="bob")
    customer = Customer.objects.using("server").create(user=user, name="Alice")
    order = Order.objects.using("server").create(customer=customer, created_by=user, reference="o1")
    watched = Order.objects.using("server").create(
        customer=customer, created_by=watcher, reference="o2"
    )
    watched.watchers.add(user)
    Order.objects.using("server").create(customer=customer, created_by=watcher, reference="o3")
    client = client_for()
    client.sync("users", incremental=True)
    client.sync("orders", incremental=True)
    User.objects.using("server").filter(pk=user.pk).update(username="alicia")
    client.sync("users", incremental=True)
    result = client.sync("orders", incremental=True)
    assert result.modes["shop.customer"] == "content"
    assert result.models["shop.customer"].received == 1
    # Orders refer to users by natural key, as creator and among their watchers
    # (many-to-many): the two that name alice travel again, o3 does not.
    assert result.modes["shop.order"] == "content"
    assert result.models["shop.order"].received == 2
    local = Customer.objects.using("default").get(pk=customer.pk)
    assert local.user.username == "alicia"
    assert Order.objects.using("default").get(pk=order.pk).created_by.username == "alicia"
    local_watched = Order.objects.using("default").get(pk=watched.pk)
    assert [u.username for u in local_watched.watchers.all()] == ["alicia"]


@e2e
def test_verify_names_the_rows_that_differ_and_writes_nothing(client_for, live_server_process):
    """--verify compares the local rows with the server's rows as sent, key by
    key, after any kind of sync (here a plain one), and writes nothing."""
    from django.core.management import CommandError, call_command

    from tests.conftest import TOKEN

    seed(10)
    client = client_for()
    client.sync("blogs")
    verdicts = client.verify("blogs")
    assert all(verdict.equal for verdict in verdicts.values()), verdicts
    assert verdicts["testapp.post"].rows == 10
    posts = list(Post.objects.using("server").order_by("pk"))
    # Changed there, changed here (a many-to-many value), gone there, gone here.
    Post.objects.using("server").filter(pk=posts[0].pk).update(title="changed there")
    Post.objects.using("default").get(pk=posts[1].pk).tags.clear()
    Post.objects.using("server").filter(pk=posts[-1].pk).delete()
    Post.objects.using("default").filter(pk=posts[2].pk).delete()
    before = model_rows(Post, "default")
    post = client.verify("blogs")["testapp.post"]
    assert not post.equal
    assert (post.different, post.missing, post.extra) == (2, 1, 1)
    assert sorted(post.keys) == sorted([posts[0].pk, posts[1].pk, posts[2].pk, posts[-1].pk])
    assert client.verify("blogs")["testapp.tag"].equal
    assert model_rows(Post, "default") == before  # nothing written
    with pytest.raises(CommandError, match="differs from the server's: blogs: testapp.post"):
        call_command(
            "sync_data", "blogs", "--verify", endpoint=live_server_process.sync_url, token=TOKEN
        )
    # A sync on request verified after its commit: equal again.
    result = client.sync("blogs", clean=True, verify=True)
    assert all(verdict.equal for verdict in result.verdicts.values()), result.verdicts
    call_command(
        "sync_data",
        "blogs",
        "--incremental",
        "--verify-after",
        endpoint=live_server_process.sync_url,
        token=TOKEN,
    )


@e2e
def test_verify_compares_users_and_groups_by_natural_key(client_for):
    """Users and groups (ids differ between databases) are compared by natural
    key: a group that lost a permission here, a user whose name changed, a
    user missing here; the laptop's own users are not counted. Permissions
    too, by their codename and their content type's natural key: one
    renamed here differs."""
    from django.contrib.auth.models import Group, Permission, User

    User.objects.create(username="laptop-admin")  # here only: takes the ids first
    editors = Group.objects.using("server").create(name="editors")
    editors.permissions.set(
        Permission.objects.using("server").filter(codename__startswith="add_")[:3]
    )
    alice = User.objects.using("server").create(username="alice", first_name="Alice")
    alice.groups.set([editors])
    User.objects.using("server").create(username="bob")
    client = client_for()
    client.sync("users")
    verdicts = client.verify("users")
    assert verdicts["auth.user"].equal and verdicts["auth.user"].rows == 2
    assert verdicts["auth.group"].equal and verdicts["auth.group"].rows == 1
    permissions = verdicts["auth.permission"]
    assert permissions.equal
    assert permissions.rows == Permission.objects.using("server").count()

    local_editors = Group.objects.get(name="editors")
    local_editors.permissions.remove(local_editors.permissions.first())
    User.objects.filter(username="alice").update(first_name="Alicia")
    User.objects.filter(username="bob").delete()
    Permission.objects.filter(codename="view_user").update(name="Can look at user")
    verdicts = client.verify("users")
    assert (verdicts["auth.group"].different, verdicts["auth.group"].keys) == (1, [["editors"]])
    permissions = verdicts["auth.permission"]
    assert (permissions.different, permissions.missing, permissions.keys) == (
        1,
        0,
        [["view_user", "auth", "user"]],
    )
    user = verdicts["auth.user"]
    assert (user.different, user.missing, user.extra) == (1, 1, 0)
    assert user.keys == [["alice"], ["bob"]]
    client.sync("users")
    assert all(verdict.equal for verdict in client.verify("users").values() if verdict.compared)


@e2e
def test_a_generic_relation_to_a_renamed_user_follows_it(client_for):
    """A comment about a user travels with the user's natural key as its object
    id: while such a comment exists its model is synced in full (its digest
    cannot see the user's name), and says why."""
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from tests.shop.models import Comment

    user = User.objects.using("server").create(username="alice")
    about_user = ContentType.objects.db_manager("server").get_for_model(User)
    Comment.objects.using("server").create(
        content_type=about_user, object_id=str(user.pk), text="about alice"
    )
    client = client_for()
    client.sync("users", incremental=True)
    client.sync("orders", incremental=True)
    User.objects.using("server").filter(pk=user.pk).update(username="alicia")
    client.sync("users", incremental=True)
    result = client.sync("orders", incremental=True)
    assert result.modes["shop.comment"] == "full"
    assert any("generic relation content_type" in note for note in result.notes)
    assert Comment.objects.using("default").get().content_object.username == "alicia"


@e2e
def test_a_user_renamed_on_the_laptop_resends_the_rows_pointing_at_it(client_for):
    """A row refers to a user by natural key: its local digest reads the user's
    name, so renaming that user here sends the row again, and it points at
    production's user once more."""
    from django.contrib.auth.models import User

    from tests.shop.models import Customer

    user = User.objects.using("server").create(username="alice")
    Customer.objects.using("server").create(user=user, name="Alice")
    client = client_for()
    client.sync("users", incremental=True)
    client.sync("orders", incremental=True)
    User.objects.using("default").filter(username="alice").update(username="mine")
    client.sync("users", incremental=True)  # production's alice, again
    result = client.sync("orders", incremental=True)
    assert result.modes["shop.customer"] == "content"
    assert result.models["shop.customer"].received == 1
    assert Customer.objects.using("default").get().user.username == "alice"


@e2e
def test_a_row_deleted_on_the_server_that_a_local_row_still_points_at_is_refused(client_for):
    """As with --clean: a local row outside the route (a comment written on the
    laptop) pointing at a post production deleted stops the sync, named, and
    nothing changes."""
    from tests.testapp.models import Comment

    seed(6)
    client = client_for()
    client.sync("blogs", incremental=True)
    post = Post.objects.using("default").order_by("pk").first()
    comment = Comment.objects.using("default").create(post=post, text="written on the laptop")
    Post.objects.using("server").filter(pk=post.pk).delete()
    before = model_rows(Post, "default")
    with pytest.raises(exceptions.SynctoolError) as refused:
        client.sync("blogs", incremental=True)
    assert f"testapp.Comment (pk {comment.pk}) via post -> testapp.Post" in str(refused.value)
    assert model_rows(Post, "default") == before
    assert Comment.objects.using("default").get().post_id == post.pk


def raw_on_server(sql: str, params=()) -> None:
    """Run ``sql`` on the server with its foreign keys not enforced: production
    data that breaks a reference (or a server that lies about it)."""
    connection = connections["server"]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute(sql, params)
            cursor.execute("PRAGMA foreign_keys = ON")
        elif connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(sql, params)
            cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            cursor.execute(sql, params)
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")


@e2e
def test_a_changed_row_pointing_nowhere_is_refused_by_name(client_for):
    """Only the rows that changed are checked by key on SQLite: still found."""
    seed(6)
    client = client_for()
    client.sync("blogs", incremental=True)
    post = Post.objects.using("server").order_by("pk").last()
    raw_on_server("UPDATE testapp_post SET blog_id = 9999 WHERE id = %s", [post.pk])
    before = model_rows(Post, "default")
    with pytest.raises(exceptions.LoadError) as refused:
        client.sync("blogs", incremental=True)
    message = str(refused.value)
    assert (
        "'testapp_post' (testapp.Post)" in message and "blog_id contains a value '9999'" in message
    )
    assert f"primary key '{post.pk}'" in message
    assert model_rows(Post, "default") == before


@e2e
def test_an_unchanged_row_pointing_at_a_deleted_row_is_refused_by_name(client_for):
    """A blog deleted (on a server that let its posts stay): the posts did not
    change, the blog is gone; the check by key looks at the rows pointing at
    the rows deleted."""
    seed(6)
    client = client_for()
    client.sync("blogs", incremental=True)
    blog = Blog.objects.using("server").order_by("pk").first()
    raw_on_server("DELETE FROM testapp_blog WHERE id = %s", [blog.pk])
    before = model_rows(Blog, "default")
    with pytest.raises(exceptions.LoadError) as refused:
        client.sync("blogs", incremental=True)
    message = str(refused.value)
    assert "'testapp_post' (testapp.Post)" in message and "testapp_blog" in message
    assert f"blog_id contains a value '{blog.pk}'" in message
    assert model_rows(Blog, "default") == before


@e2e
@pytest.mark.skipif(
    os.environ.get("SYNCTOOL_TEST_DB", "sqlite") != "sqlite",
    reason="by key only where the database checks keys at the commit (SQLite)",
)
def test_on_sqlite_only_the_rows_that_changed_are_checked(client_for):
    from django.test.utils import CaptureQueriesContext

    seed(30)
    client = client_for()
    client.sync("blogs", incremental=True)
    Post.objects.using("server").filter(pk=Post.objects.using("server").first().pk).update(
        title="changed"
    )
    with CaptureQueriesContext(connections["default"]) as queries:
        result = client.sync("blogs", incremental=True)
    assert result.modes["testapp.post"] == "content"
    whole = [q["sql"] for q in queries if "foreign_key_check" in q["sql"]]
    assert not any("testapp_post" in sql for sql in whole), whole
    assert_as_clean_sync_gives()


@pytest.mark.parametrize(("rows", "shown"), [(0, "0 rows"), (1, "1 row"), (2, "2 rows")])
def test_an_equal_verdict_counts_its_rows_in_english(rows, shown):
    from synctool.client.verify import Verdict, verdict_line

    assert verdict_line("blog.post", Verdict(rows=rows)) == f"blog.post: equal ({shown})"
