"""The server side, in process: auth, methods, headers, ordering, manifest."""

import base64
import datetime
import gzip
import json

import pytest
from django.test import RequestFactory, override_settings

from synctool.server.routing import Route
from tests.conftest import TOKEN
from tests.testapp.models import Author, Blog, Post, Tag

pytestmark = pytest.mark.django_db


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def blog_data():
    author = Author.objects.create(email="ann@example.org", name="Ann")
    blog = Blog.objects.create(name="Ann's", slug="anns", author=author)
    tag = Tag.objects.create(name="django")
    post = Post.objects.create(
        blog=blog,
        title="Hello",
        created=datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC),
    )
    post.tags.add(tag)
    return blog, post


def get(client, url, token=TOKEN, **headers):
    if token is not None:
        headers.setdefault("HTTP_AUTHORIZATION", basic(token))
    return client.get(url, **headers)


def body_of(response) -> list:
    return json.loads(b"".join(response.streaming_content))


class TestAuthentication:
    def test_missing_token_gets_401_with_challenge(self, client):
        response = get(client, "/sync/blogs", token=None)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic")

    @pytest.mark.parametrize(
        "header",
        [
            basic("wrong-token"),
            basic(""),
            basic("", TOKEN),  # token in the password field only
            "Basic not-base64!!",
            "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
            "Bearer ",
            "Bearer wrong",
            "Token " + TOKEN,
            basic(TOKEN + "x" * 5000),
            "Bearer " + TOKEN + "x" * 5000,
        ],
    )
    def test_bad_credentials_get_401_and_no_data(self, client, blog_data, header):
        response = client.get("/sync/blogs", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert b"Ann" not in response.content

    def test_basic_user_name_and_bearer_are_accepted(self, client, blog_data):
        assert get(client, "/sync/blogs").status_code == 200
        response = client.get("/sync/blogs", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert body_of(response)

    def test_rotation_accepts_every_listed_token(self, client):
        for token in ("old-token-0123456789abc", "new-token-0123456789abc"):
            assert get(client, "/rotated/sites", token=token).status_code == 200
        assert get(client, "/rotated/sites").status_code == 401  # the settings token

    @pytest.mark.parametrize("value", [None, "", [], [""]])
    def test_no_token_configured_refuses_everything(self, client, blog_data, value):
        with override_settings(SYNCTOOL_API_TOKEN=value):
            for url in ("/sync/", "/sync/blogs", "/settings-sync/blogs"):
                response = get(client, url)
                assert response.status_code == 403, url
                assert b"no API token is configured" in response.content

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
    def test_only_get_and_head(self, client, method):
        response = getattr(client, method)("/sync/blogs", HTTP_AUTHORIZATION=basic(TOKEN))
        assert response.status_code == 405

    def test_head_sends_headers_without_body(self, client, blog_data):
        response = client.head("/sync/blogs", HTTP_AUTHORIZATION=basic(TOKEN))
        assert response.status_code == 200
        assert response["X-Synctool-Models"]
        assert response.content == b""


class TestExport:
    def test_models_header_lists_load_order(self, client, blog_data):
        response = get(client, "/sync/blogs")
        assert response["Content-Type"] == "application/json"
        assert response["X-Synctool-Models"] == (
            "testapp.author,testapp.tag,testapp.blog,testapp.post"
        )
        assert response["Cache-Control"] == "no-store"
        models = [obj["model"] for obj in body_of(response)]
        assert models == ["testapp.author", "testapp.tag", "testapp.blog", "testapp.post"]

    def test_queryset_route_is_reordered_by_dependency(self, client, blog_data):
        # Posts first in the function; the blog's author and the posts' tags
        # come as parents, before what points at them.
        response = get(client, "/sync/blog/anns")
        announced = response["X-Synctool-Models"].split(",")
        # The two parents (in either order: neither points at the other) first.
        assert sorted(announced[:2]) == ["testapp.author", "testapp.tag"]
        assert announced[2:] == ["testapp.blog", "testapp.post"]
        assert sorted(response["X-Synctool-Parents"].split(",")) == sorted(announced[:2])
        assert response["X-Synctool-Clean"] == ""  # a subset empties no table
        assert [obj["model"] for obj in body_of(response)] == announced

    def test_unnamed_groups_and_generators(self, client, blog_data):
        blog, _ = blog_data
        response = get(client, f"/sync/posts-of-blog/{blog.pk}")
        models = [obj["model"] for obj in body_of(response)]
        assert sorted(models[:2]) == ["testapp.author", "testapp.tag"]
        assert models[2:] == ["testapp.blog", "testapp.post"]

    def test_function_receives_request(self, client):
        Tag.objects.create(name="alpha")
        Tag.objects.create(name="beta")
        response = get(client, "/sync/tags-for-user?prefix=al")
        assert [obj["fields"]["name"] for obj in body_of(response)] == ["alpha"]

    def test_seed_examples_slicing_and_modified_querysets(self, client):
        for index in range(3):
            Blog.objects.create(name=f"blog {index}", slug=f"b{index}")
        assert len(body_of(get(client, "/sync/first-blogs"))) == 2
        names = [obj["fields"]["name"] for obj in body_of(get(client, "/sync/renamed-blogs"))]
        assert names == ["BLOG 0", "BLOG 1", "BLOG 2"]

    def test_values_are_exact(self, client, blog_data):
        post = next(o for o in body_of(get(client, "/sync/blogs")) if o["model"] == "testapp.post")
        assert post["fields"]["created"] == "2024-01-02T03:04:05.678901+00:00"
        assert post["fields"]["tags"] == [Tag.objects.get().pk]

    def test_gzip_when_accepted(self, client, blog_data):
        response = get(client, "/sync/blogs", HTTP_ACCEPT_ENCODING="gzip, deflate")
        assert response["Content-Encoding"] == "gzip"
        data = json.loads(gzip.decompress(b"".join(response.streaming_content)))
        assert len(data) == 4
        plain = get(client, "/sync/blogs")
        assert not plain.has_header("Content-Encoding")

    def test_paths_are_anchored(self, client, blog_data):
        for url in ("/sync/blogsX", "/sync/xblogs", "/sync/blogs/extra", "/sync/blog/anns/x"):
            assert get(client, url).status_code == 404, url
        assert get(client, "/sync/blogs/").status_code == 200

    def test_settings_routes(self, client, blog_data):
        response = get(client, "/settings-sync/blogs")
        assert response.status_code == 200
        assert "testapp.post" in response["X-Synctool-Models"]
        response = get(client, "/settings-sync/blog/anns")
        order = response["X-Synctool-Models"].split(",")
        assert sorted(order) == ["testapp.author", "testapp.blog", "testapp.post", "testapp.tag"]
        assert order.index("testapp.author") < order.index("testapp.blog")
        assert order.index("testapp.blog") < order.index("testapp.post")
        assert order.index("testapp.tag") < order.index("testapp.post")
        assert get(client, "/settings-sync/sites").status_code == 200
        assert "auth.user" in get(client, "/settings-sync/users")["X-Synctool-Models"]


class TestManifest:
    def test_index_lists_routes_and_models(self, client):
        response = get(client, "/sync/")
        manifest = json.loads(response.content)
        assert manifest["synctool"]
        routes = {route["path"]: route for route in manifest["routes"]}
        assert routes["blogs"]["kind"] == "models"
        assert routes["blogs"]["models"] == [
            "testapp.author",
            "testapp.tag",
            "testapp.blog",
            "testapp.post",
        ]
        assert routes["users"]["natural_keys"] is True
        assert routes["blog/(?P<slug>[^/]+)"]["models"] is None  # needs URL arguments
        assert routes["first-blogs"]["models"] == ["testapp.blog"]

    def test_index_requires_token(self, client):
        assert get(client, "/sync/", token="nope").status_code == 401

    def test_index_describes_fields_migrations_and_the_database(self, client):
        manifest = json.loads(get(client, "/sync/").content)
        fields = {f["name"]: f for f in manifest["schema"]["testapp.post"]["fields"]}
        assert fields["title"] == {"name": "title", "kind": "CharField", "null": False}
        assert fields["tags"]["kind"] == "ManyToManyField"
        assert (fields["blog"]["kind"], fields["blog"]["to"]) == ("ForeignKey", "testapp.blog")
        assert fields["tags"]["to"] == "testapp.tag"
        assert "id" not in fields  # the primary key is the object's "pk"
        assert "0001_initial" in manifest["migrations"]["testapp"]
        assert manifest["database"]["vendor"] and len(manifest["database"]["id"]) == 64
        assert "auth.permission" in manifest["natural_keys"]


def test_a_route_whose_function_raises_does_not_break_the_index(client, settings):
    def broken():
        raise RuntimeError("the cache is down")

    route = Route()
    route.queryset("broken")(broken)
    route.models("fine", "testapp.Tag")
    from synctool.server.views import index_view

    request = RequestFactory().get("/?models=testapp.post", HTTP_AUTHORIZATION=basic(TOKEN))
    response = index_view(route)(request)
    assert response.status_code == 200
    manifest = json.loads(response.content)
    # The schema of a model no route lists, asked for with ?models=.
    assert set(manifest["schema"]) == {"testapp.tag", "testapp.post"}
    routes = {r["path"]: r for r in manifest["routes"]}
    assert routes["broken"]["models"] is None
    assert routes["broken"]["reason"] == "its function raised RuntimeError: the cache is down"
    assert routes["fine"]["models"] == ["testapp.tag"]


def test_route_rejects_duplicate_paths():
    route = Route()
    route.app("x", "testapp")
    with pytest.raises(Exception, match="twice"):
        route.app("x/", "sites")


def test_seed_decorator_spelling_is_harmless():
    route = Route()

    @route.app("sites", "sites")
    def anything():
        return None

    assert anything() is None
    assert [entry.kind for entry in route.entries] == ["app"]


def test_gzip_level_zero_sends_plain_json(client, blog_data, settings):
    settings.SYNCTOOL_GZIP_LEVEL = 0
    response = get(client, "/sync/blogs", HTTP_ACCEPT_ENCODING="gzip")
    assert not response.has_header("Content-Encoding")
    assert len(body_of(response)) == 4


def test_url_names_are_unique_within_a_route():
    route = Route()
    route.app("blog/(?P<slug>[^/]+)", "testapp")
    route.app("blog-(?P<slug>[^/]+)", "testapp")
    names = [pattern.name for pattern in route.urlpatterns]
    assert names == [
        "synctool_index",
        "synctool_blog_P_slug",
        "synctool_blog_P_slug_2",
        "synctool_unknown",
    ]


def test_login_required_middleware_does_not_hide_the_routes(client, blog_data, settings):
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.sessions"]
    assert get(client, "/sync/blogs").status_code == 200
    assert get(client, "/sync/").status_code == 200
    assert get(client, "/sync/blogs", token="wrong").status_code == 401
