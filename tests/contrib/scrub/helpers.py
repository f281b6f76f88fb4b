"""Shared by the scrub tests: the rules, the strategy builder and the data of
the end-to-end tests."""

import datetime
import json

import requests
from django.contrib.auth.models import Group, User

from synctool_contrib.scrub import transform_object
from synctool_contrib.scrub.fields import FieldInfo
from synctool_contrib.scrub.keys import derive_key
from synctool_contrib.scrub.rules import Context
from synctool_contrib.scrub.strategies import STRATEGIES
from tests.conftest import TOKEN
from tests.testapp.models import Author, Blog, Post

PLUGIN = "synctool_contrib.scrub"
RULES = {
    "auth.user": {
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "password": "unusable_password",
        "username": "username",
    },
    "testapp.author": {"email": "email", "name": "name", "phone": "phone"},
    "testapp.post": {"created": {"date_shift": 10}, "body": "text"},
    "testapp.alltypes": {"json": "keep"},  # reviewed: test values, not personal
    "shop.logentry": {"label": "keep"},  # reviewed: labels of shop objects
    "*": {"ip": "ip"},
}
CONTEXT = Context(derive_key("unit-test-secret"), "en_US")


def build(name, option=None, *, kind="text", **info):
    """The scrub function of strategy ``name`` for a field described by ``info``."""
    field = FieldInfo(label="testapp.thing", name="f", kind=kind, **info)
    return STRATEGIES[name].build(field, option, CONTEXT)


def scrub(label, fields, pk=1):
    obj = {"model": label, "pk": pk, "fields": dict(fields)}
    transform_object(obj)
    return obj["fields"]


AUTHORS = 40
USERS = 15


def originals():
    """Distinctive personal values, so that finding one in a body means a leak."""
    authors = [
        {
            "email": f"zed.original{i}@realmail-{i}.test",
            "name": f"Zedekiah Ørigìnal{i}",
            "phone": f"+1 202 555 {1000 + i}",
        }
        for i in range(AUTHORS)
    ]
    users = [
        {
            "username": f"realuser{i}",
            "email": f"bart.quixote{i}@corp-{i}.test",
            "first_name": f"Bartholomew{i}",
            "last_name": f"Quixotè{i}",
        }
        for i in range(USERS)
    ]
    return authors, users


def fill_server():
    authors, users = originals()
    created = [Author.objects.using("server").create(**values) for values in authors]
    for index, author in enumerate(created):
        blog = Blog.objects.using("server").create(
            name=f"blog {index}", slug=f"blog-{index}", author=author
        )
        Post.objects.using("server").create(
            blog=blog,
            title=f"post {index}",
            body=f"Written by {author.name} <{author.email}>",
            created=datetime.datetime(2024, 3, 1, 12, 0, index, tzinfo=datetime.UTC),
        )
    for values in users:
        User.objects.db_manager("server").create_user(password="pw-" + values["username"], **values)
    Group.objects.using("server").create(name="editors")
    return authors, users


def raw_body(server, route, gzip=False) -> bytes:
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    response = requests.get(server.sync_url + route, auth=(TOKEN, ""), headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.content  # requests decodes gzip: these are the JSON bytes


def leaked(body: bytes, values) -> list[str]:
    found = []
    for value in values:
        forms = {value.encode(), json.dumps(value).encode()[1:-1]}  # raw and \\u-escaped
        if any(form in body for form in forms):
            found.append(value)
    return found
