"""``manage.py bench_build --rows N``: fill an empty database with N posts and N/100 blogs.

Deterministic (seeded), with the awkward values a round trip must keep:
microseconds that are not whole milliseconds, non-ASCII text, quotes,
backslashes, tabs and newlines, 32-bit integer extremes. PostgreSQL is
filled with COPY, other backends with executemany in one transaction.
"""

import datetime
import random

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from benchmarks.bench_project.bench.models import Blog, Post

PROSE = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua café naïve Zürich Ελλάδα 東京"
)
WORDS = [
    *PROSE.split(),
    *['"quoted"', "back\\slash", "tab\there", "new\nline", "🚀", "<b>html</b>", "'single'"],
    *["100%", "a&b"],
]
EPOCH = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
SPAN = 10 * 365 * 86400


def moment(rng: random.Random) -> datetime.datetime:
    # Microseconds never a multiple of 1000: truncation to milliseconds shows.
    micro = rng.randrange(1000) * 1000 + rng.randrange(1, 1000)
    return EPOCH + datetime.timedelta(seconds=rng.randrange(SPAN), microseconds=micro)


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def blog_rows(count: int, rng: random.Random):
    for pk in range(1, count + 1):
        yield (
            pk,
            f"Blog {pk} {text(rng, 1, 4)}"[:200],
            f"blog-{pk}",
            text(rng, 0, 40),
            moment(rng),
        )


def post_rows(count: int, blogs: int, rng: random.Random):
    extremes = (0, -1, 2**31 - 1, -(2**31))
    for pk in range(1, count + 1):
        views = extremes[pk % 4] if pk % 997 == 0 else rng.randrange(1_000_000)
        yield (
            pk,
            rng.randint(1, blogs),
            text(rng, 3, 12)[:200],
            text(rng, 40, 120),
            views,
            moment(rng),
        )


class Command(BaseCommand):
    help = "Fill the (empty, migrated) database with the benchmark data."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, required=True, help="number of Post rows")
        parser.add_argument("--seed", type=int, default=20240601)

    def handle(self, *args, rows, seed, **options):
        rng = random.Random(seed)
        blogs = max(rows // 100, 1)
        tables = [
            (Blog, ["id", "name", "slug", "description", "created"], blog_rows(blogs, rng)),
            (Post, ["id", "blog_id", "title", "body", "views", "published"], None),
        ]
        with transaction.atomic():
            for model, columns, data in tables:
                if data is None:
                    data = post_rows(rows, blogs, rng)
                self.write(model, columns, data)
            self.reset_sequences()
        self.stdout.write(f"built {blogs} blogs and {rows} posts")

    def write(self, model, columns, data):
        table = model._meta.db_table
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
                return
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"
            batch = []
            for row in data:
                batch.append(row)
                if len(batch) == 5000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)

    def reset_sequences(self):
        from django.core.management.color import no_style

        statements = connection.ops.sequence_reset_sql(no_style(), [Blog, Post])
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
