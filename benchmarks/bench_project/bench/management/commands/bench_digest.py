"""``manage.py bench_digest``: a content digest of every Blog and Post row, as JSON.

Rows are read in primary-key order with ``values_list`` (every column,
datetimes as aware UTC values with their microseconds) and hashed as
orjson lines. ``sha256_ms`` is the same digest with datetimes truncated to
milliseconds, which is what ``dumpdata`` keeps: it tells a correct
dumpdata/loaddata round trip from a broken one.
"""

import datetime
import hashlib

import orjson
from django.core.management.base import BaseCommand

from benchmarks.bench_project.bench.models import Blog, Post


def to_ms(value):
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    return value


def digest(model) -> dict:
    columns = [field.attname for field in model._meta.concrete_fields]
    exact, truncated = hashlib.sha256(), hashlib.sha256()
    count = 0
    rows = model._base_manager.order_by("pk").values_list(*columns)
    for row in rows.iterator(chunk_size=10000):
        count += 1
        exact.update(orjson.dumps(row) + b"\n")
        truncated.update(orjson.dumps([to_ms(value) for value in row]) + b"\n")
    return {"count": count, "sha256": exact.hexdigest(), "sha256_ms": truncated.hexdigest()}


class Command(BaseCommand):
    help = "Print a JSON digest of the benchmark tables."

    def handle(self, *args, **options):
        result = {str(model._meta): digest(model) for model in (Blog, Post)}
        self.stdout.write(orjson.dumps(result).decode())
