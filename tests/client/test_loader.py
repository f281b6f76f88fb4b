"""SyncLoader without HTTP: batches, rows and instances, process-wide settings."""

import gc

import pytest

from synctool import hookimpl
from synctool.backends import writer as writes
from synctool.client.loader import LOAD_GC_THRESHOLD, RoutePart, SyncLoader, fewer_gc_passes
from synctool.conf import settings
from synctool.exceptions import LoadError
from synctool.result import SyncResult
from tests.testapp.models import Author, Blog, Tag


def test_the_load_collects_garbage_less_often_and_restores_the_threshold():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_gc_passes():
        assert gc.get_threshold()[0] == max(LOAD_GC_THRESHOLD, before[0])
        raise RuntimeError
    assert gc.get_threshold() == before


# --- rows of plain models, with and without instances -------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


def tag(pk, name):
    return {"model": "testapp.tag", "pk": pk, "fields": {"name": name}}


def load(objects, labels=("testapp.blog", "testapp.tag"), **options):
    result = SyncResult(url="test", using="default")
    part = RoutePart(url="test", labels=list(labels), result=result, objects=lambda: objects)
    SyncLoader(using="default", parts=[part], **options).run()
    return result


@pytest.fixture(params=[1, 10**9], ids=["fast path", "django insert"])
def threshold(request, monkeypatch):
    monkeypatch.setattr(writes, "FAST_PATH_THRESHOLD", request.param)
    monkeypatch.setattr(settings, "SYNCTOOL_BATCH_SIZE", 3)


@pytestmark_db
def test_rows_sent_twice_are_written_once_the_last_wins(threshold):
    objects = [tag(1, "a"), tag(2, "b"), tag(1, "a2"), tag(3, "c"), tag(2, "b2"), tag(4, "d")]
    result = load(objects)
    assert dict(Tag.objects.values_list("pk", "name")) == {1: "a2", 2: "b2", 3: "c", 4: "d"}
    assert result.models["testapp.tag"].received == 6


@pytestmark_db
def test_a_too_long_value_in_a_row_names_the_object(threshold):
    Tag.objects.create(name="local")
    with pytest.raises(LoadError, match=r"testapp.Tag pk=2: name has 51 characters.* allows 50"):
        load([tag(1, "a"), tag(2, "x" * 51)])
    assert list(Tag.objects.values_list("name", flat=True)) == ["local"]


@pytestmark_db
def test_rows_and_natural_key_objects_of_one_model_are_written_together(threshold):
    Author.objects.create(pk=7, email="a@example.org", name="A")
    blog = {"model": "testapp.blog", "fields": {"name": "n", "slug": "s", "author": None}}
    objects = [
        {**blog, "pk": 1},
        {**blog, "pk": 2, "fields": {**blog["fields"], "slug": "t", "author": ["a@example.org"]}},
        {**blog, "pk": 3, "fields": {**blog["fields"], "slug": "u"}},
    ]
    load(objects)
    assert list(Blog.objects.order_by("pk").values_list("pk", "author_id")) == [
        (1, None),
        (2, 7),
        (3, None),
    ]


@pytestmark_db
def test_post_save_receives_instances_built_from_rows(threshold, register_plugin):
    seen = []

    class Recorder:
        @hookimpl
        def post_save(self, model, instances, using):
            seen.extend((model, type(obj), obj.pk, obj.name) for obj in instances)

    register_plugin(Recorder())
    load([tag(1, "a"), tag(2, "b")])
    assert seen == [(Tag, Tag, 1, "a"), (Tag, Tag, 2, "b")]
    assert Tag.objects.count() == 2


@pytestmark_db
def test_a_client_hook_may_query_while_batches_are_in_flight(threshold, register_plugin):
    counts = []

    class Counter:
        @hookimpl
        def transform_object(self, obj, side):
            counts.append(Tag.objects.count())  # waits for a COPY in flight first

    register_plugin(Counter())
    load([tag(pk, f"t{pk}") for pk in range(1, 8)])
    assert dict(Tag.objects.values_list("pk", "name")) == {pk: f"t{pk}" for pk in range(1, 8)}
    # Batches of 3: the hook of object n sees the batches written before it.
    assert counts == [0, 0, 0, 3, 3, 3, 6]


def test_a_refused_batch_names_the_model_never_the_temporary_table():
    from django.db import ProgrammingError

    from synctool.client.batches import refused_batch

    error = ProgrammingError(
        'column "loyalty" of relation "synctool_testapp_tag" does not exist\nLINE 1: ...'
    )
    message = refused_batch(Tag, 12, error)
    assert message == (
        "testapp.Tag: the database refused a batch of 12 rows (ProgrammingError: column "
        '"loyalty" of relation "testapp_tag" does not exist): is this database migrated? '
        "Run `manage.py migrate`"
    )
