"""``manage.py demo_report``: what the blog holds, for the end of ``make demo``."""

from django.conf import settings
from django.core.management.base import BaseCommand

from blog.models import Author, Blog, Post, Tag


class Command(BaseCommand):
    help = "Print the blog's row counts, its images and the first authors."

    def handle(self, *args, **options):
        images = sorted((settings.MEDIA_ROOT / "posts").glob("*.png"))
        self.stdout.write(
            f"{Author.objects.count()} authors, {Blog.objects.count()} blogs, "
            f"{Post.objects.count()} posts, {Tag.objects.count()} tags; "
            f"{len(images)} images in {settings.MEDIA_ROOT}"
        )
        for author in Author.objects.order_by("pk")[:3]:
            self.stdout.write(
                f"  author {author.pk}: {author.name} <{author.email}> {author.phone}"
            )
