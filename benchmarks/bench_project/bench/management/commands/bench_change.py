"""``manage.py bench_change --update 0.005 --delete 0.001 --insert 0.001``: change
the benchmark data as a day of production would (random rows, seeded), for
``benchmarks/incremental_bench.py``."""

import random

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from benchmarks.bench_project.bench.management.commands.bench_build import moment, text
from benchmarks.bench_project.bench.models import Blog, Post

CHUNK = 500


class Command(BaseCommand):
    help = "Update, delete and insert a share of the benchmark's posts, at random."

    def add_arguments(self, parser):
        parser.add_argument("--update", type=float, default=0.005, help="share of posts updated")
        parser.add_argument("--delete", type=float, default=0.001, help="share of posts deleted")
        parser.add_argument("--insert", type=float, default=0.001, help="share of posts added")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, update, delete, insert, seed, **options):
        rng = random.Random(seed)
        pks = list(Post.objects.values_list("pk", flat=True).order_by("pk"))
        blogs = list(Blog.objects.values_list("pk", flat=True))
        chosen = rng.sample(pks, int(len(pks) * (update + delete)))
        updated, deleted = chosen[: int(len(pks) * update)], chosen[int(len(pks) * update) :]
        with transaction.atomic():
            for start in range(0, len(updated), CHUNK):
                # A raw UPDATE: no model save, no timestamp.
                Post.objects.filter(pk__in=updated[start : start + CHUNK]).update(
                    body=Concat(F("body"), Value(" (edited)"))
                )
            for start in range(0, len(deleted), CHUNK):
                Post.objects.filter(pk__in=deleted[start : start + CHUNK]).delete()
            Post.objects.bulk_create(
                Post(
                    blog_id=rng.choice(blogs),
                    title=text(rng, 3, 12)[:200],
                    body=text(rng, 40, 120),
                    views=rng.randrange(1_000_000),
                    published=moment(rng),
                )
                for _ in range(int(len(pks) * insert))
            )
        self.stdout.write(f"updated {len(updated)}, deleted {len(deleted)}, inserted "
                          f"{int(len(pks) * insert)}")  # fmt: skip
