"""``manage.py seed_demo``: fill an empty blog with generated data and images.

Deterministic (a fixed random seed), so every run builds the same site. Does
nothing when the database already has authors, unless ``--force``.
"""

import io
import random
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from blog.models import Author, Blog, Post, Tag

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson"]
TOPICS = ["python", "django", "databases", "testing", "performance", "security", "http", "tools"]
WORDS = [
    *["sync", "data", "stream", "query", "index", "cache", "route", "token", "model"],
    *["field", "image", "batch", "commit", "rollback", "schema", "server", "client"],
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_image(rng: random.Random, text: str) -> bytes:
    """A small PNG: a two-colour gradient with the post's number on it."""
    width, height = 320, 180
    start = [rng.randrange(256) for _ in range(3)]
    end = [rng.randrange(256) for _ in range(3)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(width):
        mix = x / (width - 1)
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(start, end, strict=True))
        draw.line([(x, 0), (x, height)], fill=colour)
    draw.rectangle([10, 10, 130, 40], fill=(255, 255, 255))
    draw.text((18, 18), text, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Fill the demo blog with generated authors, blogs, posts, tags and images."

    def add_arguments(self, parser):
        parser.add_argument("--authors", type=int, default=6)
        parser.add_argument("--posts-per-blog", type=int, default=8)
        parser.add_argument("--force", action="store_true", help="seed even if data exists")

    def handle(self, *args, **options):
        if Author.objects.exists() and not options["force"]:
            self.stdout.write("The demo blog already has data; leaving it as it is.")
            return
        rng = random.Random(2014)  # the year of django-synctool 1.0
        with transaction.atomic():
            tags = [Tag.objects.get_or_create(name=topic)[0] for topic in TOPICS]
            start = datetime(2024, 1, 1, 9, 30, 15, 123456, tzinfo=UTC)
            posts = 0
            for number in range(1, options["authors"] + 1):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                author = Author.objects.create(
                    name=f"{first} {last}",
                    email=f"{first}.{last}.{number}@example.com".lower(),
                    phone=f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                )
                blog = Blog.objects.create(
                    name=f"{first}'s notes on {rng.choice(TOPICS)}",
                    slug=f"{first}-{number}".lower(),
                    author=author,
                )
                for index in range(1, options["posts_per_blog"] + 1):
                    posts += 1
                    post = Post(
                        blog=blog,
                        title=sentence(rng, 4)[:-1],
                        body="\n\n".join(sentence(rng, 12) for _ in range(3)),
                        published=start + timedelta(days=posts, microseconds=posts),
                    )
                    # Every third post has no image: an empty name is skipped.
                    if index % 3:
                        name = f"{blog.slug}-{index}.png"
                        post.hero_image.save(
                            name, ContentFile(make_image(rng, f"post {posts}")), save=False
                        )
                    post.save()
                    post.tags.set(rng.sample(tags, k=rng.randint(1, 3)))
        self.stdout.write(
            f"Seeded {Author.objects.count()} authors, {Blog.objects.count()} blogs, "
            f"{Post.objects.count()} posts, {Tag.objects.count()} tags."
        )
