"""Subsets that carry what they need, end to end over real HTTP.

A queryset or models route brings the rows its rows reference (recursively:
a category's ancestors, a cycle between two models, many-to-many targets,
users by natural key), and the reverse relations it follows; the result
loads into an empty database. Clean on a subset empties no table.
"""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from synctool import exceptions
from tests.conftest import TOKEN, e2e
from tests.shop.models import (
    Book,
    Category,
    Customer,
    Department,
    Employee,
    Order,
    OrderItem,
    Product,
    Shelf,
)
from tests.testapp.models import Author, Blog, Post, Tag


@pytest.fixture
def from_settings(live_server_process, client_for):
    """A client of the routes of SYNCTOOL_ROUTES (where customer/<pk> follows orders)."""
    return client_for(api_url=live_server_process.base_url + "/settings-sync/")


def pks(model, using="default"):
    return sorted(model._base_manager.using(using).values_list("pk", flat=True))


def values(model, using, *fields):
    return sorted(model._base_manager.using(using).values_list(*fields))


@pytest.fixture
def blogs():
    """Two blogs with their own authors and tags, on the server."""
    made = {}
    for slug in ("anns", "bobs"):
        author = Author.objects.using("server").create(email=f"{slug}@example.org", name=slug)
        blog = Blog.objects.using("server").create(name=slug, slug=slug, author=author)
        tag = Tag.objects.using("server").create(name=f"tag of {slug}")
        shared, _ = Tag.objects.using("server").get_or_create(name="shared")
        for n in range(3):
            post = Post.objects.using("server").create(
                blog=blog, title=f"{slug} {n}", created="2024-01-01T00:00:00Z"
            )
            post.tags.set([tag, shared])
        made[slug] = blog
    return made


@e2e
def test_the_seeds_blog_route_loads_into_an_empty_database(blogs, client_for):
    result = client_for().sync("blog/anns")
    anns = blogs["anns"]
    assert values(Blog, "default", "slug", "author__email") == [("anns", "anns@example.org")]
    assert values(Author, "default", "email") == [("anns@example.org",)]
    assert values(Tag, "default", "name") == [("shared",), ("tag of anns",)]
    assert pks(Post) == sorted(anns.post_set.using("server").values_list("pk", flat=True))
    # The blog and its posts are the route's; the author and tags came as parents.
    assert sorted(result.parents) == ["testapp.author", "testapp.tag"]
    assert result.counts("testapp.author").received == 1


@e2e
def test_a_sliced_queryset_brings_its_parents_on_every_backend(blogs, client_for):
    # MySQL/MariaDB refuse LIMIT inside IN: the slice's keys are taken first.
    client_for().sync("first-blogs")
    assert values(Blog, "default", "slug") == [("anns",), ("bobs",)]
    assert values(Author, "default", "email") == [("anns@example.org",), ("bobs@example.org",)]


@e2e
def test_parents_false_sends_only_the_routes_rows(blogs, client_for):
    with pytest.raises(exceptions.LoadError, match="author"):
        client_for().sync("first-blogs-alone")
    assert pks(Blog) == []  # nothing was written


def make_shop():
    """Two customers with orders, items, products in a category tree, on the server."""
    db = "server"
    staff = User.objects.db_manager(db).create_user("staff")
    root = Category.objects.using(db).create(name="root")
    middle = Category.objects.using(db).create(name="middle", parent=root)
    leaf = Category.objects.using(db).create(name="leaf", parent=middle)
    elsewhere = Category.objects.using(db).create(name="elsewhere")
    shelf = Shelf.objects.using(db).create(aisle="A", number=1)
    kept = Product.objects.using(db).create(name="kept", category=leaf, shelf=shelf)
    other = Product.objects.using(db).create(name="other", category=elsewhere)
    Product.objects.using(db).create(name="never ordered", category=root)
    shop = {}
    for n, product in ((1, kept), (2, other)):
        user = User.objects.db_manager(db).create_user(f"customer{n}")
        customer = Customer.objects.using(db).create(user=user, name=f"customer {n}")
        for m in range(2):
            order = Order.objects.using(db).create(
                customer=customer, created_by=staff, reference=f"R{n}-{m}"
            )
            order.watchers.set([user])
            OrderItem.objects.using(db).create(order=order, product=product, quantity=m + 1)
        shop[n] = customer
    return shop


@e2e
def test_a_customer_and_everything_it_needs(from_settings):
    shop = make_shop()
    first = shop[1]
    result = from_settings.sync(f"customer/{first.pk}")
    assert values(Customer, "default", "name") == [("customer 1",)]
    assert values(Order, "default", "reference") == [("R1-0",), ("R1-1",)]
    assert values(OrderItem, "default", "order__reference", "product__name", "quantity") == [
        ("R1-0", "kept", 1),
        ("R1-1", "kept", 2),
    ]
    assert values(Product, "default", "name") == [("kept",)]
    # The category and all its ancestors; not the other branch.
    assert values(Category, "default", "name") == [("leaf",), ("middle",), ("root",)]
    assert values(Shelf, "default", "aisle", "number") == [("A", 1)]
    # The customer's user, the staff who created the orders, the watchers.
    assert values(User, "default", "username") == [("customer1",), ("staff",)]
    assert set(result.parents) >= {"auth.user", "shop.product", "shop.category", "shop.shelf"}
    assert "shop.order" not in result.parents  # followed: the route's own


@e2e
def test_a_parent_row_comes_with_its_subtype_row_and_what_that_references(from_settings):
    """A product that is a book (a multi-table child, as django-polymorphic's
    types and Wagtail's pages are) arrives with its book row, and the product
    the book recommends comes as its parent, with its own book row when it is
    one; a book nobody ordered does not."""
    shop = make_shop()
    db = "server"
    never_ordered = Product.objects.using(db).get(name="never ordered")
    # A chain: the book recommends a book (its book row must come too), which
    # recommends a plain product.
    sequel = Book.objects.using(db).create(
        name="a sequel", isbn="978-2", recommended_with=never_ordered
    )
    book = Book.objects.using(db).create(name="a book", isbn="978-0", recommended_with=sequel)
    Book.objects.using(db).create(name="unsold book", isbn="978-1")
    order = Order.objects.using(db).filter(customer=shop[1]).first()
    OrderItem.objects.using(db).create(order=order, product=book, quantity=1)
    result = from_settings.sync(f"customer/{shop[1].pk}")
    assert values(Book, "default", "name", "isbn", "recommended_with__name") == [
        ("a book", "978-0", "a sequel"),
        ("a sequel", "978-2", "never ordered"),
    ]
    assert values(Product, "default", "name") == [
        ("a book",),
        ("a sequel",),
        ("kept",),
        ("never ordered",),
    ]
    assert {"shop.book", "shop.product"} <= set(result.parents)
    # Synced again (rows now there), nothing changes.
    from_settings.sync(f"customer/{shop[1].pk}")
    assert values(Book, "default", "pk") == sorted([(book.pk,), (sequel.pk,)])


@e2e
def test_generic_relations_bring_their_objects(client_for):
    """A comment's order, a rating's book, a log entry's shelf (a generic
    relation by convention only), a comment on a comment on an order: each
    object comes with what it needs; an id that names no row, or no number,
    and a content type of a model this server lacks bring nothing."""
    from django.contrib.contenttypes.models import ContentType

    from tests.shop.models import Comment, LogEntry, Rating

    db = "server"
    shop = make_shop()
    kind = ContentType.objects.db_manager(db).get_for_model
    first_order, second_order = (
        Order.objects.using(db).get(reference="R1-0"),
        Order.objects.using(db).get(reference="R2-1"),
    )
    book = Book.objects.using(db).create(name="a rated book", isbn="978-9")
    shelf = Shelf.objects.using(db).create(aisle="B", number=7)
    gone = ContentType.objects.using(db).create(app_label="gone", model="thing")
    comment = Comment.objects.using(db)
    comment.create(content_type=kind(Order), object_id=str(first_order.pk), text="about R1-0")
    inner = comment.create(content_type=kind(Order), object_id=str(second_order.pk), text="R2-1")
    comment.create(content_type=kind(Comment), object_id=str(inner.pk), text="about a comment")
    comment.create(content_type=kind(User), object_id=str(shop[2].user_id), text="about customer2")
    comment.create(content_type=kind(Order), object_id="99999", text="about a deleted order")
    comment.create(content_type=kind(Order), object_id="not-a-key", text="about nothing")
    comment.create(content_type=gone, object_id="1", text="about a model gone")
    comment.create(content_type=kind(Product), object_id=str(book.pk), text="not brought")
    Rating.objects.using(db).create(content_type=kind(Book), object_id=book.pk, stars=5)
    LogEntry.objects.using(db).create(
        content_type=kind(Shelf), object_id=str(shelf.pk), label="kept"
    )
    result = client_for().sync("remarks")
    assert values(Comment, "default", "text") == sorted(
        [
            ("about R1-0",),
            ("R2-1",),  # the object of a comment on it, and it brings its order
            ("about a comment",),
            ("about customer2",),
            ("about a deleted order",),
            ("about nothing",),
            ("about a model gone",),
        ]
    )
    assert values(Order, "default", "reference") == [("R1-0",), ("R2-1",)]
    # The orders' own parents: their customers, and the users they point at.
    assert values(Customer, "default", "name") == [("customer 1",), ("customer 2",)]
    assert values(User, "default", "username") == [("customer1",), ("customer2",), ("staff",)]
    # A rating of a book: the book, its product row, nothing else.
    assert values(Book, "default", "name", "isbn") == [("a rated book", "978-9")]
    assert values(Product, "default", "name") == [("a rated book",)]
    assert values(Shelf, "default", "aisle", "number") == [("B", 7)]
    here = Comment.objects.get(text="about a comment")
    assert here.content_object.content_object.reference == "R2-1"
    assert Comment.objects.get(text="about customer2").content_object.username == "customer2"
    assert {"shop.order", "shop.customer", "shop.book", "shop.product", "shop.shelf"} <= set(
        result.parents
    )
    assert "shop.comment" not in result.parents  # the route's own model


@e2e
def test_follow_takes_a_generic_relation(from_settings):
    """``follow=["orders__remarks"]``: the comments on the customer's orders
    (a GenericRelation; a text object id), not those on other orders or on
    other models with the same id, and what the comments point at."""
    from django.contrib.contenttypes.models import ContentType

    from tests.shop.models import Comment

    db = "server"
    shop = make_shop()
    orders = {order.reference: order for order in Order.objects.using(db).all()}
    kind = ContentType.objects.db_manager(db).get_for_model
    for reference in ("R1-0", "R1-1", "R2-0"):
        orders[reference].remarks.create(text=f"on {reference}")
    # The same object id on another model: not a remark.
    Comment.objects.using(db).create(
        content_type=kind(Customer), object_id=str(orders["R1-0"].pk), text="on a customer"
    )
    result = from_settings.sync(f"customer/{shop[1].pk}")
    assert values(Comment, "default", "text", "object_id") == [
        ("on R1-0", str(orders["R1-0"].pk)),
        ("on R1-1", str(orders["R1-1"].pk)),
    ]
    assert [c.content_object.reference for c in Comment.objects.order_by("text")] == [
        "R1-0",
        "R1-1",
    ]
    assert "shop.comment" not in result.parents  # followed: the route's own


@e2e
def test_a_follow_path_a_queryset_route_lacks_is_named_to_the_client(client_for):
    """Known only when the route is requested: the server answers 500 and the
    client says why, not only the status."""
    with pytest.raises(exceptions.ServerError) as raised:
        client_for().sync("customers-following-nothing")
    message = str(raised.value)
    assert "HTTP 500" in message
    assert "shop.Customer has no reverse relation 'nope' (it has: " in message


@e2e
def test_list_names_the_models_whose_generic_relations_bring_rows(live_server_process):
    out = io.StringIO()
    options = {"endpoint": live_server_process.sync_url, "token": TOKEN}
    call_command("sync_data", "--list", stdout=out, **options)
    lines = out.getvalue().split("  remarks  [queryset]")[1].splitlines()
    block = " ".join(
        line.strip()
        for line in lines[
            : next(
                (n for n, line in enumerate(lines[1:], 1) if not line.startswith("      ")),
                len(lines),
            )
        ]
    )
    assert "with the rows they reference of:" in block
    named = "and the rows named by id in:"
    generic = block.split(named)[1]
    assert sorted(generic.replace(",", " ").split()) == [
        "shop.comment",
        "shop.logentry",
        "shop.rating",
    ]


@e2e
def test_a_local_subtype_row_production_lacks_is_refused_by_name(from_settings, client_for):
    """The laptop's own book has the key of production's product "kept", a
    plain product: written over, the product would stay a book here. The
    sync refuses, naming the row, and writes nothing; with the local row
    gone it goes through."""
    shop = make_shop()
    kept = Product.objects.using("server").get(name="kept")
    Book.objects.create(pk=kept.pk, name="a local book", isbn="000")
    with pytest.raises(exceptions.LoadError) as raised:
        from_settings.sync(f"customer/{shop[1].pk}")
    message = str(raised.value)
    assert f"shop.book pk={kept.pk} here extends the shop.product row" in message
    assert "production has no shop.book row for it" in message
    assert values(Product, "default", "name") == [("a local book",)]  # nothing written
    assert pks(Customer) == []
    Product.objects.filter(pk=kept.pk).delete()
    from_settings.sync(f"customer/{shop[1].pk}")
    assert values(Product, "default", "name") == [("kept",)]
    assert pks(Book) == []


@e2e
def test_a_unique_clash_in_a_subset_says_no_option_replaces_the_local_row(from_settings):
    """A local order holds reference R1-0 under another key: a subset writes
    over rows by key only, so neither --clean nor --incremental would help."""
    shop = make_shop()
    theirs = Order.objects.using("server").get(reference="R1-0")
    local_user = User.objects.create(username="local")
    local_customer = Customer.objects.create(user=local_user, name="local")
    Order.objects.create(pk=theirs.pk + 1000, customer=local_customer, reference="R1-0")
    with pytest.raises(exceptions.LoadError) as raised:
        from_settings.sync(f"customer/{shop[1].pk}")
    message = str(raised.value)
    assert "this route does not send shop.Order's table whole" in message
    assert message.endswith("change or delete it here, then sync again")
    assert "--clean" not in message
    assert values(Order, "default", "reference") == [("R1-0",)]  # nothing written


@e2e
def test_a_models_route_brings_the_rows_its_tables_reference(client_for):
    make_shop()
    client_for().sync("order-items")
    assert pks(OrderItem) == pks(OrderItem, "server")
    assert pks(Order) == pks(Order, "server")
    assert values(Product, "default", "name") == [("kept",), ("other",)]  # not "never ordered"
    assert len(pks(Category)) == 4


@e2e
def test_a_cycle_between_two_models(client_for):
    db = "server"
    first = Department.objects.using(db).create(name="first")
    head = Employee.objects.using(db).create(name="head", department=first)
    second = Department.objects.using(db).create(name="second", head=head)
    clerk = Employee.objects.using(db).create(name="clerk", department=second)
    Department.objects.using(db).create(name="unrelated")
    client_for().sync(f"employee/{clerk.pk}")
    assert values(Employee, "default", "name") == [("clerk",), ("head",)]
    assert values(Department, "default", "name") == [("first",), ("second",)]


@e2e
def test_a_subset_synced_twice_is_the_same(from_settings):
    shop = make_shop()
    client = from_settings
    client.sync(f"customer/{shop[1].pk}")
    once = {model: values(model, "default", "pk") for model in (Customer, Order, OrderItem, User)}
    client.sync(f"customer/{shop[1].pk}")
    assert {model: values(model, "default", "pk") for model in once} == once


@e2e
def test_clean_on_a_subset_empties_no_table(from_settings, client_for):
    shop = make_shop()
    local_user = User.objects.create_user("laptop-only")
    local = Customer.objects.create(user=local_user, name="local only", pk=900)
    client = from_settings
    result = client.sync("customer/99999", clean=True)  # a customer that does not exist
    assert result.received == 0
    assert result.deleted == 0
    assert result.notes == ["customer/99999: the server sent no rows"]
    assert values(Customer, "default", "name") == [("local only",)]
    assert client.sync(f"customer/{shop[2].pk}", clean=True).notes == []
    assert values(Customer, "default", "name") == [("customer 2",), ("local only",)]
    assert Customer.objects.get(pk=local.pk).user == local_user
    # A models route still empties its own tables (as the seed defines clean),
    # and only those: the parents it brought stay.
    result = client_for().sync("order-items", clean=True)
    assert result.counts("shop.orderitem").deleted == 2
    assert result.counts("shop.customer").deleted == 0
    assert values(Customer, "default", "name") == [
        ("customer 1",),
        ("customer 2",),
        ("local only",),
    ]


@e2e
def test_the_command_shows_parents_in_list_and_dry_run(live_server_process):
    shop = make_shop()
    options = {"endpoint": live_server_process.sync_url, "token": TOKEN}
    out = io.StringIO()
    call_command("sync_data", "--list", stdout=out, **options)
    listing = out.getvalue()
    assert "order-items  [models]  shop.orderitem" in listing
    # The route's parents, wrapped at the terminal's width under its line.
    block = []
    for line in listing.split("order-items  [models]")[1].splitlines()[1:]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    parents = " ".join(block)
    assert parents.startswith("with the rows they reference of:") and "shop.product" in parents
    out = io.StringIO()
    options["endpoint"] = live_server_process.base_url + "/settings-sync/"
    call_command("sync_data", f"customer/{shop[1].pk}", "--dry-run", stdout=out, **options)
    shown = out.getvalue()
    assert "rows that came as parents" in shown
    assert "shop.category 3" in shown
    assert pks(Customer) == []  # a dry run


@e2e
def test_the_manifest_lists_own_models_and_parents(live_server_process, client_for):
    import requests

    manifest = requests.get(
        live_server_process.sync_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ).json()
    routes = {route["path"]: route for route in manifest["routes"]}
    items = routes["order-items"]
    assert items["models"] == ["shop.orderitem"]
    assert {"shop.order", "shop.customer", "shop.product", "shop.category", "auth.user"} <= set(
        items["parents"]
    )
    assert "parents" not in routes["shop"]  # an app route carries whole tables
    assert "shop.category" in manifest["schema"]


@e2e
def test_a_deep_tree_comes_whole_in_one_query(from_settings):
    """Nested subqueries, one per level, overflowed SQLite's parser at ten levels."""
    shop = make_shop()
    parent = Category.objects.using("server").get(name="leaf")
    for level in range(60):
        parent = Category.objects.using("server").create(name=f"deep {level}", parent=parent)
    product = Product.objects.using("server").create(name="deep product", category=parent)
    order = Order.objects.using("server").filter(customer=shop[1]).first()
    OrderItem.objects.using("server").create(order=order, product=product)
    from_settings.sync(f"customer/{shop[1].pk}")
    assert len(pks(Category)) == 63  # the 60 new levels, leaf, middle, root
    assert not Category.objects.filter(name="elsewhere").exists()


@e2e
def test_content_types_are_not_brought_permissions_are(live_server_process):
    import requests

    manifest = requests.get(
        live_server_process.sync_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ).json()
    parents = next(r for r in manifest["routes"] if r["path"] == "order-items")["parents"]
    # Made by the client when missing (their natural key is all of them).
    assert "contenttypes.contenttype" not in parents
    # Production may have some the laptop's migrations never made.
    assert "auth.permission" in parents
    assert "auth.group" in parents  # a user's groups are


@e2e
def test_a_subset_brings_a_stale_permission_of_a_users_group(from_settings):
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    shop = make_shop()
    gone = ContentType.objects.using("server").create(app_label="gone", model="oldmodel")
    stale = Permission.objects.using("server").create(
        codename="view_oldmodel", name="Can view old model", content_type=gone
    )
    editors = Group.objects.using("server").create(name="editors")
    editors.permissions.add(stale, Permission.objects.using("server").get(codename="view_user"))
    User.objects.using("server").get(username="customer1").groups.add(editors)
    result = from_settings.sync(f"customer/{shop[1].pk}")
    assert "auth.permission" in result.parents
    here = Group.objects.get(name="editors")
    assert sorted(here.permissions.values_list("content_type__app_label", "codename")) == [
        ("auth", "view_user"),
        ("gone", "view_oldmodel"),
    ]
    assert list(User.objects.get(username="customer1").groups.all()) == [here]


@e2e
def test_a_query_string_reaches_the_route_function(client_for):
    for name in ("alpha", "alpine", "beta"):
        Tag.objects.using("server").create(name=name)
    client_for().sync("tags-for-user?prefix=alpi")
    assert values(Tag, "default", "name") == [("alpine",)]
