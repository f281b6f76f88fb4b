"""``manage.py cms_seed``: fill the server's CMS with users, groups, pages, files..."""

import datetime

from django.contrib.auth.models import Group, Permission, User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from reversion import create_revision, set_comment, set_user

from tests.cms.documents.models import Collection, Document
from tests.cms.pages.models import (
    BlogPage,
    Comment,
    EventPage,
    GroupPagePermission,
    Page,
    PageRevision,
)
from tests.cms.topics.models import Topic

UTC = datetime.UTC
WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


class Command(BaseCommand):
    help = "Fill the CMS with realistic, deterministic content."

    def add_arguments(self, parser):
        parser.add_argument("--pages", type=int, default=12)

    @transaction.atomic
    def handle(self, *args, pages, **options):
        admin = User.objects.create_superuser("admin", "admin@example.org", "production-admin")
        editors = Group.objects.create(name="Editors")
        editors.permissions.set(Permission.objects.filter(content_type__app_label="pages"))
        moderators = Group.objects.create(name="Moderators")
        moderators.permissions.set(Permission.objects.filter(codename__startswith="change_"))
        authors = []
        for number in range(4):
            user = User.objects.create_user(
                f"author{number}", f"author{number}@example.org", "pw", first_name=f"A{number}"
            )
            user.groups.add(editors if number % 2 else moderators)
            user.user_permissions.add(Permission.objects.get(codename="view_document"))
            authors.append(user)

        root_collection = Collection.add_root(name="Root")
        images = root_collection.add_child(name="Images")
        reports = root_collection.add_child(name="Reports")
        documents = []
        for number in range(3):
            document = Document(
                title=f"Report {number}",
                collection=reports if number else images,
                uploaded_by=authors[number],
                created_at=WHEN + datetime.timedelta(days=number),
            )
            document.file.save(f"report-{number}.txt", ContentFile(b"report %d" % number))
            documents.append(document)

        root = Page.add_root(title="Root", slug="root", owner=admin)
        home = root.add_child(title="Home", slug="home", owner=admin)
        blog = home.add_child(title="Blog", slug="blog", owner=authors[0])
        events = home.add_child(title="Events", slug="events", owner=authors[1])
        for number in range(pages):
            post = blog.add_child(
                instance=BlogPage(
                    title=f"Post {number}",
                    slug=f"post-{number}",
                    owner=authors[number % 4],
                    locked_by=authors[(number + 1) % 4] if number % 3 == 0 else None,
                    body="ünïcode body " * (number + 1),
                    hero=documents[number % 3] if number % 2 else None,
                    published=WHEN - datetime.timedelta(hours=number, microseconds=number),
                )
            )
            post.tags.add(f"tag{number % 5}", "all")
            if number % 4 == 0:
                post.view_restrictions.add(editors)
            for revision in range(2):
                PageRevision.objects.create(
                    page=post,
                    user=authors[revision],
                    created_at=WHEN + datetime.timedelta(minutes=revision),
                    content={"title": post.title, "revision": revision, "nested": [1, 2.5, None]},
                )
            Comment.objects.create(target=post, user=authors[(number + 2) % 4], text=f"on {post}")
        for number in range(3):
            events.add_child(
                instance=EventPage(
                    title=f"Event {number}",
                    slug=f"event-{number}",
                    owner=authors[number],
                    starts=datetime.date(2025, 1, 1 + number),
                    at=datetime.time(18, 30, 0, 12345 * (number + 1)),
                )
            )
        GroupPagePermission.objects.create(
            group=editors, page=blog, permission=Permission.objects.get(codename="change_page")
        )
        GroupPagePermission.objects.create(
            group=moderators, page=home, permission=Permission.objects.get(codename="delete_page")
        )
        for user in authors:
            Comment.objects.create(target=user, user=admin, text=f"about {user.username}")
        Comment.objects.create(target=documents[0], user=authors[0], text="about a document")
        # django-reversion: versions of a comment (its user and its target, a
        # user, changed since) and of a group (its permissions changed since),
        # and of a comment whose user was deleted since.
        gone = User.objects.create_user("gone", "gone@example.org", "pw")
        with create_revision():
            set_user(admin)
            set_comment("first")
            versioned = Comment.objects.create(target=authors[1], user=authors[0], text="v1")
            Comment.objects.create(target=admin, user=gone, text="by a user deleted since")
            editors.save()
        with create_revision():
            set_user(authors[2])
            versioned.target, versioned.user, versioned.text = authors[3], authors[2], "v2"
            versioned.save()
            editors.permissions.remove(*editors.permissions.filter(codename__startswith="add_"))
            editors.save()
        gone.delete()
        # Two django-mptt trees: science (tree 1) and arts (tree 2).
        science = Topic.objects.create(slug="science")
        physics = Topic.objects.create(slug="physics", parent=science)
        Topic.objects.create(slug="quantum", parent=physics)
        Topic.objects.create(slug="biology", parent=science)
        arts = Topic.objects.create(slug="arts")
        Topic.objects.create(slug="music", parent=arts)
        Topic.objects.create(slug="painting", parent=arts)
        self.stdout.write(f"seeded {Page.objects.count()} pages")
