"""The fast row serializer produces exactly what Django's serializer does."""

import datetime
import decimal
import uuid

import pytest
from django.apps import apps
from django.core import serializers
from django.db import models

from synctool.server.rowexport import RowSerializer, row_serializer
from tests.testapp.models import (
    AllTypes,
    Author,
    Blog,
    Club,
    Comment,
    Membership,
    Node,
    Post,
    Restaurant,
    Tag,
    UUIDItem,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.fixture
def data():
    author = Author.objects.create(email="a@example.org", name="Ann", phone="+1 555")
    blog = Blog.objects.create(name="B", slug="b", author=author)
    Blog.objects.create(name="orphan", slug="o")
    tags = [Tag.objects.create(name=f"t{i}") for i in range(3)]
    for index in range(4):
        post = Post.objects.create(
            blog=blog,
            title=f"p{index}",
            created=datetime.datetime(2024, 1, 1, 0, 0, index, 7, tzinfo=UTC),
            hero_image=f"posts/p{index}.png" if index % 2 else "",
        )
        post.tags.set(tags[:index])
        Comment.objects.create(post=post, text=f"c{index}")
    AllTypes.objects.create(
        char="ü€",
        text="t\nx",
        integer=-5,
        big=2**62,
        small=3,
        positive=9,
        floating=1.5e-300,
        decimal=decimal.Decimal("-1234.5678900000"),
        boolean=True,
        nullable_bool=False,
        date=datetime.date(2000, 2, 29),
        time=datetime.time(1, 2, 3, 4),
        datetime=datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        duration=datetime.timedelta(days=2, seconds=3, microseconds=4),
        uuid=uuid.uuid4(),
        binary=b"\x00\x01",
        json={"k": [1, None]},
        nullable_char="n",
        ip="10.0.0.1",
    )
    AllTypes.objects.create()
    UUIDItem.objects.create(label="u")
    parent = Node.objects.create(name="root")
    Node.objects.create(name="leaf", parent=parent)
    Restaurant.objects.create(name="R", serves_pizza=True)
    club = Club.objects.create(name="c")
    Membership.objects.create(club=club, author=author, joined=datetime.date(2020, 5, 5))


def django_output(model):
    queryset = model._default_manager.order_by("pk")
    return serializers.serialize("python", queryset)


def normalise(objects):
    for obj in objects:
        for value in obj["fields"].values():
            if isinstance(value, list):
                value.sort()
    return objects


@pytest.mark.parametrize(
    "model", [m for m in apps.get_app_config("testapp").get_models()], ids=lambda m: m.__name__
)
def test_same_output_as_django(data, model):
    fast = row_serializer(model)
    assert fast is not None
    queryset = model._default_manager.order_by("pk")
    assert normalise(list(fast.serialize(queryset, chunk_size=2))) == normalise(
        django_output(model)
    )


def test_fields_it_cannot_reproduce_keep_djangos_path():
    class Shouting(models.CharField):
        def value_to_string(self, obj):
            return super().value_to_string(obj).upper()

    field = Shouting(max_length=5)
    field.set_attributes_from_name("loud")
    field.model = Tag
    from synctool.server.rowexport import NotPlain, converter_for

    with pytest.raises(NotPlain, match="Shouting"):
        converter_for(field)
    assert isinstance(RowSerializer(Tag), RowSerializer)
