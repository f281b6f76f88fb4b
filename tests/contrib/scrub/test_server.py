"""synctool_contrib.scrub end to end over HTTP: scrubbed by the server process
(and by the client)."""

import json

import pytest
import requests
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group, User
from django.core.validators import validate_email

from synctool.exceptions import SynctoolError
from synctool_contrib.scrub.rules import get_scrubber
from tests.conftest import TOKEN, e2e
from tests.contrib.scrub.helpers import (
    AUTHORS,
    PLUGIN,
    RULES,
    USERS,
    fill_server,
    leaked,
    raw_body,
)  # fmt: skip
from tests.testapp.models import Author, Blog, Post
from tests.utils import database_digest


@e2e
class TestServerSideScrubbing:
    def test_no_original_value_leaves_the_server(self, scrubbing_server):
        authors, users = fill_server()
        personal = [v for row in authors + users for v in row.values()]
        for route in ("blogs", "users", "testapp"):
            for gzip in (False, True):
                body = raw_body(scrubbing_server, route, gzip=gzip)
                assert body.startswith(b"[\n")
                assert leaked(body, personal) == [], route
        # The bodies do carry the authors and users (scrubbed).
        assert raw_body(scrubbing_server, "blogs").count(b'"model":"testapp.author"') == AUTHORS
        assert raw_body(scrubbing_server, "users").count(b'"model":"auth.user"') == USERS

    def test_two_fetches_are_byte_identical(self, scrubbing_server):
        fill_server()
        for route in ("blogs", "users"):
            assert raw_body(scrubbing_server, route) == raw_body(scrubbing_server, route)

    def test_sync_keeps_uniques_and_foreign_keys(self, scrubbing_server):
        authors, users = fill_server()
        client = _client(scrubbing_server)
        client.sync("blogs")
        client.sync("users")
        local_authors = list(Author.objects.using("default").order_by("pk"))
        server_authors = list(Author.objects.using("server").order_by("pk"))
        assert [a.pk for a in local_authors] == [a.pk for a in server_authors]
        emails = [a.email for a in local_authors]
        assert len(set(emails)) == AUTHORS
        assert not {a["email"] for a in authors} & set(emails)
        assert not {a["name"] for a in authors} & {a.name for a in local_authors}
        assert not {a["phone"] for a in authors} & {a.phone for a in local_authors}
        for author in local_authors:
            validate_email(author.email)
        # Foreign keys point at the same rows as on the server.
        server_links = dict(Blog.objects.using("server").values_list("slug", "author_id"))
        local_links = dict(Blog.objects.using("default").values_list("slug", "author_id"))
        assert local_links == server_links
        # The post body mentioned the author: replaced by words of the same length class.
        for post in Post.objects.using("default"):
            assert "Zedekiah" not in post.body and "@" not in post.body
        local_users = User.objects.using("default").all()
        assert local_users.count() == USERS
        assert not {u["username"] for u in users} & set(
            local_users.values_list("username", flat=True)
        )
        assert all(not is_password_usable(u.password) for u in local_users)
        assert Group.objects.using("default").filter(name="editors").exists()  # not scrubbed

    def test_scrubbed_usernames_still_identify_users_everywhere(self, scrubbing_server, settings):
        """Users travel by natural key: a scrubbed username is scrubbed alike in every reference."""
        from tests.identity import migrate_differently
        from tests.shop.models import Comment, Customer, Order
        from tests.test_identity import make_shop

        migrate_differently("default")
        User.objects.create_superuser("root")
        make_shop(customers=3, orders=2)
        _client(scrubbing_server).sync_many(["users", "orders"])
        settings.SYNCTOOL_SCRUB = RULES  # this process computes what the server sent
        scrub_username = get_scrubber().functions(User)["username"]
        server_names = set(User.objects.using("server").values_list("username", flat=True))
        assert not server_names & set(User.objects.values_list("username", flat=True))
        for customer in Customer.objects.using("server").select_related("user"):
            local = Customer.objects.get(pk=customer.pk)
            assert local.user.username == scrub_username(customer.user.username, None)
        for order in Order.objects.using("server").prefetch_related("watchers"):
            local = Order.objects.get(pk=order.pk)
            assert sorted(u.username for u in local.watchers.all()) == sorted(
                scrub_username(u.username, None) for u in order.watchers.all()
            )
        for comment in Comment.objects.using("server").filter(content_type__model="user"):
            target = Comment.objects.get(pk=comment.pk).content_object
            assert isinstance(target, User)
            assert target.username == scrub_username(comment.content_object.username, None)

    def test_two_syncs_give_identical_databases(self, scrubbing_server):
        fill_server()
        client = _client(scrubbing_server)
        client.sync("blogs")
        client.sync("users")
        first = database_digest("default")
        client.sync("blogs", clean=True)
        client.sync("users")
        assert database_digest("default") == first

    def test_date_shift_moves_the_whole_row_consistently(self, scrubbing_server):
        fill_server()
        _client(scrubbing_server).sync("blogs")
        for local in Post.objects.using("default"):
            original = Post.objects.using("server").get(pk=local.pk).created
            assert 1 <= abs((local.created - original).days) <= 10
            assert local.created.time() == original.time()


def _client(server):
    from synctool.client import Client

    return Client(api_url=server.sync_url, api_token=TOKEN)


@e2e
def test_client_side_scrubbing_matches_server_side(scrubbing_server, live_server_process, settings):
    fill_server()
    scrubbed_by_server = json.loads(raw_body(scrubbing_server, "blogs"))
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = RULES
    # The plain server sends originals; this process scrubs them before saving.
    assert b"zed.original0@" in raw_body(live_server_process, "blogs")
    _client(live_server_process).sync("blogs")
    expected = {
        obj["pk"]: obj["fields"] for obj in scrubbed_by_server if obj["model"] == "testapp.author"
    }
    local = {
        a.pk: {"email": a.email, "name": a.name, "phone": a.phone} for a in Author.objects.all()
    }
    assert local == expected  # the same key (SECRET_KEY) gives the same values on both sides


@e2e
def test_strict_server_refuses_naming_the_field(strict_server):
    fill_server()
    response = requests.get(strict_server.sync_url + "blogs", auth=(TOKEN, ""), timeout=30)
    assert response.status_code == 403
    assert "testapp.author.phone" in response.text
    assert "zed.original" not in response.text
    with pytest.raises(SynctoolError, match=r"testapp\.author\.phone"):
        _client(strict_server).sync("blogs")
    assert not Author.objects.using("default").exists()
    # A route without unscrubbed personal fields is served.
    assert requests.get(strict_server.sync_url + "sites", auth=(TOKEN, ""), timeout=30).ok


@e2e
def test_incremental_syncs_equal_clean_syncs_with_scrubbing(scrubbing_server):
    """Round after round of changes on the server, an incremental sync leaves what a
    clean sync of the scrubbed route leaves, scrubbed values included."""
    import random

    from tests.utils import model_rows

    fill_server()
    client = _client(scrubbing_server)
    rng = random.Random(7)
    client.sync("blogs", incremental=True)
    for round_ in range(3):
        authors = list(Author.objects.using("server").order_by("pk"))
        changed = rng.choice(authors)
        changed.name = f"Renamed Person {round_}"
        changed.email = f"renamed{round_}@example.org"
        changed.save(using="server")
        Post.objects.using("server").filter(
            pk=rng.choice(list(Post.objects.using("server").values_list("pk", flat=True)))
        ).delete()
        author = Author.objects.using("server").create(
            email=f"new{round_}@example.org", name=f"New Person {round_}", phone="+1 555 0100"
        )
        Blog.objects.using("server").create(
            name=f"new {round_}", slug=f"new-{round_}", author=author
        )
        result = client.sync("blogs", incremental=True)
        assert result.modes["testapp.author"] == "content"
        assert result.models["testapp.author"].received == 2
        incremental = [model_rows(model, "default") for model in (Author, Blog, Post)]
        client.sync("blogs", clean=True)
        assert [model_rows(model, "default") for model in (Author, Blog, Post)] == incremental
        # The clean sync wrote every row again: on PostgreSQL their versions
        # changed, and the next incremental sync sends them all once more.
        client.sync("blogs", incremental=True)
        assert not {a.email for a in Author.objects.using("default")} & {
            a.email for a in Author.objects.using("server")
        }
