"""RowBuilder builds the same instances as Django's Deserializer."""

import json

import pytest
from django.apps import apps
from django.core import serializers

from synctool.client.rowload import RowBuilder, deserialize_one
from synctool.exceptions import LoadError
from synctool.wire import decode_fixture, encode_fixture
from tests.server.test_rowexport import data  # noqa: F401 - fixture
from tests.testapp.models import AllTypes, Author, Blog, Restaurant, Tag

pytestmark = pytest.mark.django_db


def wire_objects(model):
    """The objects of ``model`` as the client receives them (through JSON)."""
    objects = serializers.serialize("python", model._default_manager.order_by("pk"))
    return list(decode_fixture(encode_fixture(objects)))


def state(item):
    obj = item.object
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    return values, {k: sorted(v) for k, v in (item.m2m_data or {}).items()}


@pytest.mark.parametrize(
    "model",
    [m for m in apps.get_app_config("testapp").get_models() if not m._meta.parents],
    ids=lambda m: m.__name__,
)
def test_same_instances_as_django(data, model):  # noqa: F811
    builder = RowBuilder.for_model(model)
    objects = wire_objects(model)
    assert objects
    for obj in objects:
        fast = builder.build(json.loads(json.dumps(obj)))
        assert fast is not None, obj
        assert state(fast) == state(deserialize_one(obj, "default"))


def test_objects_it_cannot_build_go_to_django():
    builder = RowBuilder.for_model(Tag)
    assert builder.build({"model": "testapp.tag", "fields": {"name": "x"}}) is None  # no pk
    assert builder.build({"model": "testapp.tag", "pk": 1, "fields": {}}) is None  # missing
    assert builder.build({"model": "testapp.tag", "pk": 1, "fields": {"name": "x", "z": 1}}) is None
    blog = RowBuilder.for_model(apps.get_model("testapp.Blog"))
    natural = {
        "model": "testapp.blog",
        "pk": 1,
        "fields": {"name": "b", "slug": "b", "author": ["a@example.org"]},
    }
    assert blog.build(natural) is None
    assert RowBuilder.for_model(Restaurant) is None  # multi-table inheritance


@pytest.mark.parametrize(
    "fields",
    [
        {"integer": True, "big": "12", "small": 3.0, "positive": 7},
        {"char": 5, "text": "", "nullable_char": None},
        {"boolean": 1, "nullable_bool": None, "floating": 2},
        {"boolean": "True", "floating": 1.5, "char": "ünï"},
    ],
    ids=["ints", "strings", "bool-float", "strings-as-bools"],
)
def test_values_of_another_json_type_convert_as_djangos(fields):
    """A value of the type to_python() passes through skips it; any other goes through it."""
    obj = {"model": "testapp.alltypes", "pk": 1, "fields": dict(fields)}
    for field in AllTypes._meta.concrete_fields:
        if not field.primary_key and field.name not in fields:
            obj["fields"][field.name] = None if field.null else field.get_default()
    obj["fields"]["decimal"] = "0"
    fast = RowBuilder.for_model(AllTypes).build(json.loads(json.dumps(obj, default=str)))
    django = deserialize_one(json.loads(json.dumps(obj, default=str)), "default")
    assert state(fast) == state(django)
    for name in fields:
        assert type(getattr(fast.object, name)) is type(getattr(django.object, name)), name


def test_bad_values_name_the_model_the_object_and_the_field():
    builder = RowBuilder.for_model(Author)
    bad = {
        "model": "testapp.author",
        "pk": "x1",
        "fields": {"email": "e", "name": "n", "phone": ""},
    }
    with pytest.raises(LoadError, match=r"testapp.author pk='x1': field 'pk': 'x1' does not fit"):
        builder.build(bad)
    blog = RowBuilder.for_model(Blog)
    bad = {"model": "testapp.blog", "pk": 3, "fields": {"name": "n", "slug": "s", "author": "x"}}
    with pytest.raises(LoadError, match=r"testapp.blog pk=3: field 'author': 'x' does not fit"):
        blog.build(bad)


def test_instances_equal_to_init_and_signals_respected():
    from django.db.models.signals import post_init

    from synctool.client.rowload import instance_factory

    fast = instance_factory(Tag)
    assert fast is not Tag
    built = fast(5, "x")
    assert (built.pk, built.name, built._state.adding, built._state.db) == (5, "x", True, None)
    assert built.__dict__ == Tag(5, "x").__dict__ | {"_state": built._state}
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Tag)
    try:
        assert instance_factory(Tag) is Tag  # a listener sees every instance
    finally:
        post_init.disconnect(receiver, sender=Tag)
