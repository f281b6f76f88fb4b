"""Identity across databases, end to end: content type, permission and user ids
differ between the server's database and the client's, as they do between
any production site and any laptop."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from synctool import exceptions
from synctool.identity import key_paths
from tests.conftest import e2e
from tests.identity import ids, migrate_differently
from tests.shop.models import (
    Booking,
    Comment,
    Customer,
    LogEntry,
    Order,
    Product,
    Rating,
    Review,
    Shelf,
    TimeSlot,
)  # fmt: skip
from tests.testapp.models import Blog, Tag
from tests.utils import ScriptedServer, answer


@pytest.fixture
def laptop():
    """The client's database: migrated in another order, with its own superuser."""
    migrate_differently("default")
    root = User.objects.create_superuser("root", password="local-root")
    return root


def make_shop(customers=3, orders=2):
    users = [
        User.objects.db_manager("server").create_user(f"user{n}", email=f"u{n}@example.org")
        for n in range(customers)
    ]
    staff = User.objects.db_manager("server").create_user("staff", is_staff=True)
    editors = Group.objects.using("server").create(name="editors")
    editors.permissions.set(Permission.objects.using("server").filter(codename__endswith="order"))
    staff.groups.add(editors)
    staff.user_permissions.set(Permission.objects.using("server").filter(codename="view_user"))
    for n, user in enumerate(users):
        customer = Customer.objects.using("server").create(user=user, name=f"customer {n}")
        for m in range(orders):
            order = Order.objects.using("server").create(
                customer=customer, created_by=staff, reference=f"R{n}-{m}"
            )
            order.watchers.set([user, staff])
            Comment.objects.using("server").create(
                content_object=order, text=f"about order {order.reference}"
            )
        Comment.objects.using("server").create(content_object=user, text=f"about {user}")
        Comment.objects.using("server").create(content_object=customer, text=f"about {customer}")
    return users


def by_identity(using: str):
    """Every shop row, with references to users and content types by natural key."""

    def user(pk):
        return None if pk is None else User.objects.using(using).get(pk=pk).username

    def target(comment):
        obj = comment.content_object
        if isinstance(obj, User):
            return ("auth.user", obj.username)
        return (obj._meta.label_lower, obj.pk)

    customers = sorted((c.pk, user(c.user_id), c.name) for c in Customer.objects.using(using).all())
    orders = sorted(
        (
            o.pk,
            o.customer_id,
            user(o.created_by_id),
            o.reference,
            sorted(u.username for u in o.watchers.all()),
        )
        for o in Order.objects.using(using).all()
    )
    comments = sorted((c.pk, target(c), c.text) for c in Comment.objects.using(using).all())
    return customers, orders, comments


def user_identity(using: str):
    return sorted(
        (
            u.username,
            u.email,
            u.is_staff,
            sorted(g.name for g in u.groups.all()),
            sorted(p.codename for p in u.user_permissions.all()),
        )
        for u in User.objects.using(using).exclude(username="root")
    )


def group_identity(using: str):
    return sorted(
        (g.name, sorted((p.content_type.model, p.codename) for p in g.permissions.all()))
        for g in Group.objects.using(using).all()
    )


@e2e
class TestReferencesAcrossRoutes:
    def test_ids_really_differ(self, laptop):
        client_cts, client_perms = ids("default")
        server_cts, server_perms = ids("server")
        assert client_cts.keys() == server_cts.keys()
        assert all(client_cts[key] != server_cts[key] for key in client_cts)
        assert all(client_perms[key] != server_perms[key] for key in client_perms)

    def test_users_route_then_shop_route_point_at_the_right_users(self, laptop, client_for):
        make_shop()
        client = client_for()
        client.sync("users")
        client.sync("orders")
        assert by_identity("default") == by_identity("server")
        assert user_identity("default") == user_identity("server")
        assert group_identity("default") == group_identity("server")
        # The laptop's own superuser is untouched, under its own id.
        root = User.objects.get(username="root")
        assert root.pk == laptop.pk and root.check_password("local-root")
        assert not Customer.objects.filter(user=root).exists()

    def test_one_transaction_for_several_routes_twice(self, laptop, client_for):
        make_shop()
        for _ in range(2):
            results = client_for().sync_many(["users", "orders"], clean=True)
            assert [r.url.rsplit("/", 1)[1] for r in results] == ["users", "orders"]
            assert by_identity("default") == by_identity("server")
            assert user_identity("default") == user_identity("server")
        assert results[1].models["shop.order"].written == 6
        # Key-identified models are merged, never cleaned.
        assert results[0].models["auth.user"].deleted == 0
        assert User.objects.filter(username="root").exists()

    def test_a_user_missing_here_is_an_error_naming_the_row(self, laptop, client_for):
        make_shop(customers=1, orders=1)
        before = by_identity("default")
        with pytest.raises(exceptions.LoadError) as raised:
            client_for().sync("orders-alone")  # without its parents: no users
        message = str(raised.value)
        assert re.search(r"shop\.Customer pk=\d+: user=\['user0'\] does not resolve", message)
        assert "no auth.User has that natural key here" in message
        assert by_identity("default") == before
        # With its parents (the default), the route brings the users it needs.
        client_for().sync("orders")
        assert by_identity("default") == by_identity("server")

    def test_generic_foreign_keys_point_at_the_same_objects(self, laptop, client_for):
        make_shop()
        client_for().sync_many(["users", "orders"])
        comments = {c.text: c.content_object for c in Comment.objects.all()}
        assert isinstance(comments["about order R1-0"], Order)
        assert comments["about order R1-0"].reference == "R1-0"
        assert isinstance(comments["about user1"], User)
        assert comments["about user1"].username == "user1"
        server_user1 = User.objects.using("server").get(username="user1")
        assert comments["about user1"].pk != server_user1.pk or laptop.pk != 1

    def test_natural_keys_are_resolved_per_batch(self, laptop, client_for, settings):
        settings.SYNCTOOL_BATCH_SIZE = 50
        users = [User.objects.db_manager("server").create_user(f"bulk{n}") for n in range(40)]
        customer = Customer.objects.using("server").create(user=users[0], name="bulk")
        for n in range(400):
            Order.objects.using("server").create(
                customer=customer, created_by=users[n % 40], reference=f"B{n}"
            )
        client_for().sync("users")
        with CaptureQueriesContext(connections["default"]) as queries:
            client_for().sync("orders")
        user_lookups = [
            q for q in queries if 'FROM "auth_user"' in q["sql"] or "FROM `auth_user`" in q["sql"]
        ]
        # One look-up per batch at most (8 batches of orders, 1 of customers),
        # never one per order.
        assert 1 <= len(user_lookups) <= 10, [q["sql"][:120] for q in user_lookups]
        assert by_identity("default") == by_identity("server")


@e2e
class TestKeyIdentifiedRows:
    def test_content_types_and_permissions_are_merged_not_copied_by_id(self, laptop, client_for):
        before_cts, before_perms = ids("default")
        client_for().sync("contenttypes", clean=True)
        client_for().sync("users", clean=True)
        after_cts, after_perms = ids("default")
        assert after_cts == before_cts
        assert after_perms == before_perms

    def test_a_natural_key_whose_order_is_not_the_constraints(self, laptop, client_for):
        assert key_paths(Shelf) == ("aisle", "number")
        shelf = Shelf.objects.using("server").create(aisle="A", number=7)
        Product.objects.using("server").create(shelf=shelf, name="hammer")
        Shelf.objects.create(aisle="Z", number=1)  # local: id 1, as the server's is
        Shelf.objects.create(aisle="A", number=7)  # the same shelf, under another id
        client_for().sync("shop", clean=True)
        product = Product.objects.get()
        assert (product.shelf.aisle, product.shelf.number) == ("A", 7)
        assert sorted(Shelf.objects.values_list("aisle", "number")) == [("A", 7), ("Z", 1)]

    def test_new_key_identified_rows_get_local_ids(self, laptop, client_for):
        for n in range(5):
            Shelf.objects.using("server").create(aisle="B", number=n)
        Shelf.objects.create(aisle="local", number=1)
        client_for().sync("shop")
        client_for().sync("shop")  # twice: merged, not duplicated
        assert Shelf.objects.count() == 6
        assert Shelf.objects.filter(aisle="B").count() == 5


@e2e
class TestExactValues:
    def test_time_primary_keys_with_five_digit_microseconds(self, client_for):
        times = [datetime.time(9, 0, 0, 12345), datetime.time(10, 0, 0, 99999)]
        slots = [TimeSlot.objects.using("server").create(start=t, label=str(t)) for t in times]
        booking = Booking.objects.using("server").create(slot=slots[0])
        booking.alternatives.set(slots)
        client_for().sync("shop")
        assert sorted(TimeSlot.objects.values_list("start", flat=True)) == times
        local = Booking.objects.get()
        assert local.slot_id == times[0]
        assert sorted(local.alternatives.values_list("start", flat=True)) == times

    def test_primary_key_zero_resets_its_sequence(self, client_for):
        if not connection.features.allows_auto_pk_0:
            pytest.skip(f"{connection.vendor} refuses 0 in an AutoField")
        Tag.objects.using("server").create(pk=0, name="zero")
        client_for().sync("blogs", clean=True)
        assert Tag.objects.get().pk == 0
        assert Tag.objects.create(name="next").pk == 1


@e2e
class TestRouteKinds:
    def test_several_apps_and_exclusions_from_settings(
        self, laptop, client_for, live_server_process
    ):
        make_shop(customers=1, orders=1)
        client = client_for(api_url=live_server_process.base_url + "/settings-sync/")
        client.sync("users")
        result = client.sync("content", clean=True)
        assert "shop.order" in result.models and "testapp.blog" in result.models
        assert "testapp.comment" not in result.models
        assert by_identity("default") == by_identity("server")

    def test_the_whole_project_in_one_route_twice(self, laptop, client_for, live_server_process):
        make_shop(customers=2, orders=1)
        Blog.objects.using("server").create(name="b", slug="b")
        client = client_for(api_url=live_server_process.base_url + "/settings-sync/")
        for _ in range(2):
            result = client.sync("everything", clean=True)
            assert by_identity("default") == by_identity("server")
            assert user_identity("default") == user_identity("server")
            assert group_identity("default") == group_identity("server")
        assert "sessions.session" not in result.models
        assert User.objects.get(username="root").check_password("local-root")
        assert Blog.objects.get().slug == "b"


@e2e
class TestAllOrNothing:
    def test_a_typo_gets_a_did_you_mean_and_nothing_is_written(self, client_for):
        Tag.objects.using("server").create(name="t")
        with pytest.raises(exceptions.RouteNotFound, match="Did you mean 'blogs'"):
            client_for().sync_many(["sites", "blgs"])
        assert not Tag.objects.exists()

    def test_one_route_named_as_a_string_is_one_route(self, client_for):
        Tag.objects.using("server").create(name="t")
        client = client_for()
        assert client.check("tags").ok
        [result] = client.sync_many("tags")
        assert result.route == "tags" and Tag.objects.get().name == "t"

    def test_a_later_route_failing_rolls_back_the_earlier_ones(self, client_for):
        Tag.objects.using("server").create(name="t")
        blog = Blog.objects.using("server").create(name="b", slug="b")
        from tests.testapp.models import Post

        Post.objects.using("server").create(
            blog=blog, title="BOOM-ON-SERVER", created=datetime.datetime.now(datetime.UTC)
        )
        with pytest.raises(exceptions.TransportError):
            client_for().sync_many(["sites", "blogs"], clean=True)
        assert not Tag.objects.exists() and not Blog.objects.exists()


def test_a_reference_to_a_key_identified_model_by_id_is_refused(db):
    """An older (or lying) server sends permissions' content types by id."""
    body = (
        b'[\n{"model": "auth.permission", "pk": 1, "fields": {"name": "x", '
        b'"content_type": 3, "codename": "x"}}\n]\n'
    )
    headers = {"X-Synctool-Models": "auth.permission"}
    before = Permission.objects.count()
    with ScriptedServer() as server:
        server.routes["/sync/perms"] = answer(body=body, headers=headers)
        from synctool.client import Client

        with pytest.raises(exceptions.LoadError, match="by primary key 3.*natural key"):
            Client(api_url=server.url + "/sync/", api_token="t").sync("perms")
    assert Permission.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_clean_conflicts_list_models_ordered_across_a_relation():
    """check_references ignores default orderings (Permission's joins its content type)."""
    from synctool.client.loader import RoutePart, SyncLoader
    from synctool.result import SyncResult

    customer_user = User.objects.create_user("c")
    customer = Customer.objects.create(user=customer_user, name="c")
    Review.objects.create(customer=customer)
    ct = ContentType.objects.create(app_label="gone", model="gone")
    Permission.objects.create(codename="x", name="x", content_type=ct)
    part = RoutePart(
        url="test",
        labels=["shop.customer"],
        result=SyncResult("test", "default"),
        objects=lambda: [],
    )
    loader = SyncLoader(using="default", parts=[part], clean=True)
    loader.cleaner.cleaned_models = [Customer, ContentType]
    with pytest.raises(exceptions.CleanConflict) as raised, transaction.atomic():
        with connection.constraint_checks_disabled():
            Customer.objects.all()._raw_delete("default")
            ContentType.objects.filter(pk=ct.pk)._raw_delete("default")
        loader.cleaner.check_references()
    message = str(raised.value)
    assert "shop.Review" in message
    assert "auth.Permission" in message


@pytest.mark.django_db(transaction=True)
def test_a_generic_foreign_key_to_a_row_that_comes_later_is_set_at_the_end():
    from synctool.client.loader import RoutePart, SyncLoader
    from synctool.result import SyncResult

    migrate_differently("default")
    objects = [
        {
            "model": "shop.comment",
            "pk": 5,
            "fields": {"content_type": ["auth", "user"], "object_id": ["later"], "text": "hi"},
        },
        {
            "model": "auth.user",
            "fields": {
                "username": "later",
                "password": "!",
                "last_login": None,
                "is_superuser": False,
                "first_name": "",
                "last_name": "",
                "email": "",
                "is_staff": False,
                "is_active": True,
                "date_joined": "2024-01-01T00:00:00Z",
                "groups": [],
                "user_permissions": [],
            },
        },
    ]
    User.objects.create_user("first")  # the new user's id is not 1
    result = SyncResult("test", "default")
    part = RoutePart(
        url="test", labels=["shop.comment", "auth.user"], result=result, objects=lambda: objects
    )
    SyncLoader(using="default", parts=[part], key_identified=["auth.user"]).run()
    comment = Comment.objects.get()
    assert comment.content_object == User.objects.get(username="later")
    assert comment.object_id == str(User.objects.get(username="later").pk)


@e2e
def test_a_natural_key_read_from_ancestors_is_matched_one_by_one(client_for):
    from tests.shop.models import Category

    assert key_paths(Category) is None  # natural_key() walks the tree: no field paths
    home = Category.objects.using("server").create(name="home")
    tools = Category.objects.using("server").create(name="tools", parent=home)
    Category.objects.using("server").create(name="hammers", parent=tools)
    Product.objects.using("server").create(
        name="claw", category=Category.objects.using("server").get(name="hammers")
    )
    # The laptop has another root "tools" (not home/tools) and home itself, under other ids.
    Category.objects.create(name="tools")
    Category.objects.create(name="unrelated")
    local_home = Category.objects.create(name="home")
    for _ in range(2):
        client_for().sync("shop")
        product = Product.objects.get()
        assert product.category.natural_key() == ("home", "tools", "hammers")
        assert Category.objects.get(name="home").pk == local_home.pk
        assert Category.objects.filter(name="tools").count() == 2  # the local root and home/tools
        assert Category.objects.count() == 5


@e2e
def test_an_undeclared_generic_key_follows_identity(laptop, client_for):
    """content_type + object_id without a GenericForeignKey (Wagtail's log entries)."""
    from tests.shop.models import LogEntry

    users = make_shop(customers=3, orders=0)
    user_type = ContentType.objects.db_manager("server").get_for_model(User)
    for user in users:
        LogEntry.objects.using("server").create(
            content_type=user_type, object_id=str(user.pk), label=f"edited {user.username}",
            # The pair under a prefix (Wagtail's reference index): another user.
            to_content_type=user_type, to_object_id=str(users[0].pk),
        )  # fmt: skip
    client_for().sync_many(["users", "shop"])
    first = User.objects.get(username=users[0].username)
    for entry in LogEntry.objects.all():
        assert entry.content_type.model_class() is User
        assert entry.label == f"edited {User.objects.get(pk=entry.object_id).username}"
        assert entry.to_content_type.model_class() is User
        assert entry.to_object_id == str(first.pk)


@e2e
def test_a_virtual_table_is_written_row_by_row(client_for):
    """SQLite's FTS5 tables (Wagtail's search index) refuse UPSERT."""
    from tests.shop.models import SearchEntry

    for n in range(3):
        SearchEntry.objects.using("server").create(title=f"t{n}", body="words " * n)
    for clean in (False, True, False):
        client_for().sync("shop", clean=clean)
        assert sorted(SearchEntry.objects.values_list("pk", "title", "body")) == sorted(
            SearchEntry.objects.using("server").values_list("pk", "title", "body")
        )


@e2e
def test_cleaning_a_child_model_never_leaves_its_parent_rows_behind(client_for):
    from tests.testapp.models import Place, Restaurant

    Restaurant.objects.using("server").create(pk=1, name="served", serves_pizza=True)
    Restaurant.objects.create(pk=1, name="also here")  # comes back with the sync
    Restaurant.objects.create(pk=50, name="laptop only")
    with pytest.raises(exceptions.CleanConflict) as raised:
        client_for().sync("restaurants", clean=True)
    assert "testapp.Place (pk 50) would stay without its testapp.Restaurant row" in str(
        raised.value
    )
    assert sorted(Restaurant.objects.values_list("pk", "name")) == [
        (1, "also here"),
        (50, "laptop only"),
    ]
    Restaurant.objects.filter(pk=50).delete()  # Django's delete takes its Place along
    client_for().sync("restaurants", clean=True)
    # The parent's fields travel with the parent (Place), which this route does not carry.
    assert list(Restaurant.objects.values_list("pk", "serves_pizza")) == [(1, True)]
    assert list(Place.objects.values_list("pk", flat=True)) == [1]


@e2e
@pytest.mark.parametrize("kind", ["clean", "incremental", "verify"])
def test_a_numeric_generic_key_to_a_deleted_user_names_the_row(laptop, client_for, kind):
    """The server finds the dangling reference after its status line: the
    client still gets its message (model, row, field), not "the connection
    was cut", and the local data stays as it was."""
    make_shop(customers=2, orders=1)
    gone = User.objects.using("server").get(username="user0")
    rating = Rating.objects.using("server").create(content_object=gone, stars=4)
    client = client_for()
    client.sync("orders", incremental=True)
    before = by_identity("default")
    # A generic relation does not cascade: deleting the user leaves the rating,
    # whose numeric object id cannot be made to point at no row.
    User.objects.using("server").filter(pk=gone.pk).delete()
    expected = (
        rf"the server stopped after \d+ objects: shop\.Rating pk={rating.pk}: "
        rf"object_id points at auth\.User pk='?{gone.pk}'?, which does not exist"
    )
    with pytest.raises(exceptions.ExportError, match=expected) as raised:
        if kind == "verify":
            client.verify("orders")
        else:
            client.sync("orders", **{kind: True})
    assert not isinstance(raised.value, exceptions.IncompleteResponse)
    assert str(raised.value).endswith(
        "delete that row on the server, or leave such rows out of the route's queryset)"
    )
    assert by_identity("default") == before


@e2e
def test_references_allowed_to_dangle_point_at_no_row_here(laptop, client_for):
    """A text generic id and a foreign key without a constraint may keep the id
    of a user deleted since (Wagtail's log entries): they arrive pointing at
    no row, never at whichever local user has that id, and the sync goes on."""
    make_shop(customers=3, orders=1)
    gone = User.objects.using("server").get(username="user1")
    about_users = ContentType.objects.db_manager("server").get_for_model(User)
    LogEntry.objects.using("server").create(
        content_type=about_users, object_id=str(gone.pk), label="deleted", user=gone
    )
    User.objects.using("server").filter(pk=gone.pk).delete()
    # The laptop has a user with production's old id.
    User.objects.filter(pk=gone.pk).delete()
    User.objects.create_user("local", pk=gone.pk)
    client = client_for()
    client.sync_many(["users", "shop"])
    entry = LogEntry.objects.get(label="deleted")
    assert (entry.object_id, entry.user_id) == ("", None)
    comment = Comment.objects.get(text__startswith="about user1")
    assert comment.object_id == ""
    # --verify agrees with what was written.
    verdicts = client.verify("shop")
    assert all(verdict.equal for verdict in verdicts.values() if verdict.compared), verdicts
    # Production's rows are as they were.
    assert LogEntry.objects.using("server").get(label="deleted").user_id == gone.pk


@e2e
def test_a_stale_content_type_of_production_is_made_here(laptop, client_for):
    """Production keeps the content type (and permissions) of a model it no
    longer has; the users route alone still syncs, making that content type
    here, in the sync's transaction."""
    gone = ContentType.objects.using("server").create(app_label="gone", model="oldmodel")
    stale = Permission.objects.using("server").create(
        codename="view_oldmodel", name="Can view old model", content_type=gone
    )
    editors = Group.objects.using("server").create(name="editors")
    editors.permissions.add(stale)
    bob = User.objects.db_manager("server").create_user("bob")
    bob.user_permissions.add(stale)
    client = client_for()

    client.sync("users", dry_run=True)
    assert not ContentType.objects.filter(app_label="gone").exists()

    result = client.sync("users")
    assert result.notes[0] == (
        "made 1 content type(s) production refers to and this database lacked: gone.oldmodel"
    )
    here = Permission.objects.get(codename="view_oldmodel")
    assert (here.content_type.app_label, here.content_type.model) == ("gone", "oldmodel")
    assert list(Group.objects.get(name="editors").permissions.all()) == [here]
    assert list(User.objects.get(username="bob").user_permissions.all()) == [here]
    assert not any(note.startswith("made") for note in client.sync("users").notes)  # once
